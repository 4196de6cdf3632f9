"""The settle rule: a request that lands after its sender gave up (or died) is never sent twice.

A fake Mastodon server that ignores Idempotency-Key sits behind the fault proxy, which holds the
reply's POST for ``HOLD`` seconds: longer than the client waits, and forwarded all the same. The
outbox looks for the reply while it is still held. With a settle time longer than the hold, the
"absent" verdict keeps the item unknown and the late reply is found afterwards; with no settle time
(the control) the outbox sends again and the server shows the reply twice, so the rule is what
prevents the double, not luck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.outbox import UNKNOWN_SETTLE, Outbox, settle_from_env
from tests.fakes.faultproxy import FaultRates
from tests.helpers.proxied_mastodon import ProxiedMastodon, connect, proxied_mastodon, until

#: How long the proxy holds the reply's POST, and how long the client waits for an answer.
HOLD, CLIENT_TIMEOUT = 3.0, 0.3


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ProxiedMastodon]:
    # Only POSTs get faults: the reads that reconcile and review go straight through.
    with proxied_mastodon(
        tmp_path,
        ["My parcel is a week late."],
        honour_idempotency=False,
        min_delay=HOLD,
        max_delay=HOLD,
        methods=["POST"],
    ) as w:
        yield w


def outcomes(ob: Outbox, item_id: int) -> list[str]:
    return [a["outcome"] for a in ob.attempts(item_id)]


async def timed_out_then_looked_for_too_early(world: ProxiedMastodon, settle: float) -> tuple[Outbox, int]:
    """Send once (the POST is held past the client's timeout), then reconcile while it is still held."""
    ob = Outbox(world.core.db, world.core.networks, settle=timedelta(seconds=settle))
    item = ob.queue(world.post_id, "Sorry Maria, it is on its way.")
    world.proxy.set_rates(FaultRates(delay=1.0))
    await ob.drain_once()
    assert ob.get(item.id).state == "unknown"
    assert world.posted() == [], "the POST is still held in the proxy"
    world.proxy.set_rates(FaultRates())
    ob.retry(item.id)  # look now (an operator's "retry" does the same)
    await ob.drain_once()
    return ob, item.id


def test_a_reply_that_lands_after_an_absent_verdict_is_found_not_sent_again(world: ProxiedMastodon) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
            await connect(world, client)
            ob, item_id = await timed_out_then_looked_for_too_early(world, settle=HOLD + 1.0)
            assert ob.get(item_id).state == "unknown", "absent, but the request may still land: no re-send"
            assert outcomes(ob, item_id) == ["sending", "unknown", "reconciled: not there yet"]
            await until(lambda: len(world.posted()) == 1)  # the held POST lands after the client gave up
            ob.retry(item_id)
            assert (await ob.drain_once()).sent == (item_id,)
            assert outcomes(ob, item_id)[-1] == "reconciled: the reply had arrived"
            assert ob.get(item_id).remote_id == world.posted()[0]["status_id"]

    asyncio.run(go())
    assert len(world.posted()) == 1
    assert world.proxy.counters()["delayed_client_gone"] == 1


def test_without_a_settle_time_the_late_reply_is_doubled(world: ProxiedMastodon) -> None:
    """The control: the same interleaving with no settle time sends the reply twice."""

    async def go() -> None:
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
            await connect(world, client)
            ob, item_id = await timed_out_then_looked_for_too_early(world, settle=0.0)
            assert ob.get(item_id).state == "sent"
            assert outcomes(ob, item_id)[:3] == ["sending", "unknown", "reconciled: not on the network"]
            await until(lambda: len(world.posted()) == 2)

    asyncio.run(go())
    assert len({p["status_id"] for p in world.posted()}) == 2


def test_a_sender_that_died_mid_send_is_reconciled_after_the_settle_time(world: ProxiedMastodon) -> None:
    """Like ``kill -9`` while the POST is held: the next sender must not re-send before it could land."""

    async def go() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await connect(world, client)
            dying = Outbox(world.core.db, world.core.networks, holder="dying", settle=timedelta(seconds=HOLD + 1))
            item = dying.queue(world.post_id, "Sorry Maria, it is on its way.")
            world.proxy.set_rates(FaultRates(delay=1.0))
            task = asyncio.create_task(dying.drain_once())
            await until(lambda: world.proxy.counters().get("delay") == 1)
            task.cancel()  # the sender dies with its POST in flight (the proxy still forwards it)
            with pytest.raises(asyncio.CancelledError):
                await task
            assert dying.get(item.id).state == "sending"
            world.proxy.set_rates(FaultRates())
            after = Outbox(world.core.db, world.core.networks, holder="restarted", settle=timedelta(seconds=HOLD + 1))
            await after.drain_once()
            assert after.get(item.id).state == "unknown"
            assert outcomes(after, item.id)[-1] == "reconciled: not there yet"
            await until(lambda: len(world.posted()) == 1)
            after.retry(item.id)
            assert (await after.drain_once()).sent == (item.id,)

    asyncio.run(go())
    assert len(world.posted()) == 1


def test_the_settle_time_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_OUTBOX_SETTLE", raising=False)
    assert settle_from_env() == UNKNOWN_SETTLE == timedelta(seconds=60)
    monkeypatch.setenv("PARLEY_OUTBOX_SETTLE", "2.5")
    assert settle_from_env() == timedelta(seconds=2.5)
    monkeypatch.setenv("PARLEY_OUTBOX_SETTLE", "-1")
    assert settle_from_env() == timedelta(0)
    monkeypatch.setenv("PARLEY_OUTBOX_SETTLE", "soon")
    assert settle_from_env() == UNKNOWN_SETTLE
