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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.core import Parley
from services.networks.mastodon import MastodonNetwork
from services.outbox import UNKNOWN_SETTLE, Outbox, settle_from_env
from services.store.db import open_database, sqlite_url
from services.store.models import Account, Post
from tests.fakes.faultproxy import FaultProxy, FaultRates
from tests.fakes.mastodon import FakeMastodon

TOKEN = "settle-token"
#: How long the proxy holds the reply's POST, and how long the client waits for an answer.
HOLD, CLIENT_TIMEOUT = 3.0, 0.3


@dataclass
class World:
    fake: FakeMastodon
    proxy: FaultProxy
    core: Parley
    post_id: int
    account: Account

    def posted(self) -> list[dict[str, Any]]:
        with self.fake.lock:
            return list(self.fake.posted)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake = FakeMastodon(token=TOKEN, honour_idempotency=False)
    fake.add_mention("maria@social.example", "My parcel is a week late.")
    fake.start()
    # Only POSTs get faults: the reads that reconcile and review go straight through.
    proxy = FaultProxy(fake.url, min_delay=HOLD, max_delay=HOLD, methods=["POST"]).start()
    core = Parley(open_database(sqlite_url(tmp_path / "parley.sqlite")), tmp_path)
    with core.db.session() as s:
        account = Account(
            network="mastodon", handle="@acme@fake.social", server_url=proxy.url, remote_user_id=fake.brand_id
        )
        s.add(account)
    try:
        yield World(fake, proxy, core, 0, account)
    finally:
        core.db.close()
        proxy.stop()
        fake.stop()


async def connect(world: World, client: httpx.AsyncClient) -> None:
    """Route the account to a connector with a short timeout, and fetch the one mention."""
    net = MastodonNetwork(world.proxy.url, TOKEN, client=client, account_id=world.fake.brand_id)
    world.core.networks.get = lambda account: net  # type: ignore[method-assign]
    report = await world.core.sync_once()
    assert report.fetched == 1 and not report.problems
    with world.core.db.session() as s:
        (post_id,) = [p for p in s.exec(select(Post.id)) if p is not None]
    world.post_id = post_id


async def until(pred: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def outcomes(ob: Outbox, item_id: int) -> list[str]:
    return [a["outcome"] for a in ob.attempts(item_id)]


async def timed_out_then_looked_for_too_early(world: World, settle: float) -> tuple[Outbox, int]:
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


def test_a_reply_that_lands_after_an_absent_verdict_is_found_not_sent_again(world: World) -> None:
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


def test_without_a_settle_time_the_late_reply_is_doubled(world: World) -> None:
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


def test_a_sender_that_died_mid_send_is_reconciled_after_the_settle_time(world: World) -> None:
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
