"""An outage pauses one account's sending, not each reply: one probe per pause, never the whole queue.

Refused connections, 5xx and 429 come from the fault proxy in front of the fake Mastodon server (real
HTTP on 127.0.0.1); the demo network's offline switch and scripted faults cover the rest. Also here:
what ``outbox drain`` says and exits with, and that Retry forgets the old reason.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.commands import DRAIN_NEEDS_YOU, outbox_drain, what_is_left
from services.core import Parley
from services.networks.demo import DemoWorld
from services.outbox import FIRST_PAUSE, MAX_PAUSE, DrainReport, Outbox
from services.store.models import Post
from tests.conftest import Clock
from tests.fakes.faultproxy import FaultRates
from tests.helpers.factories import clocked_core, copy_data_dir, synced_template
from tests.helpers.networks import ScriptedRegistry
from tests.helpers.proxied_mastodon import TOKEN, ProxiedMastodon, connect, proxied_mastodon, until

START = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
MENTIONS = ["Where is my parcel?", "My bill is wrong.", "No internet since Monday.", "Router keeps rebooting."]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def attempts_by_item(ob: Outbox) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for a in ob.attempts():
        out.setdefault(a["item"], []).append(a["outcome"])
    return out


# -- real HTTP: refused connections, 5xx, 429 ------------------------------------------------------


@pytest.fixture
def mastodon(tmp_path: Path) -> Iterator[ProxiedMastodon]:
    # Faults only on POST: the reads that review and reconcile go through unless the proxy is cut.
    with proxied_mastodon(tmp_path, MENTIONS, methods=["POST"], rate_limit_reset=30.0) as world:
        yield world


def queue_all(world: ProxiedMastodon, clock: Clock) -> tuple[Outbox, list[int]]:
    ob = Outbox(world.core.db, world.core.networks, clock=clock, settle=timedelta(0))
    return ob, [ob.queue(pid, f"Sorry about that, we are on it (#{n}).").id for n, pid in enumerate(world.post_ids)]


def test_a_refused_connection_pauses_the_account_and_one_reply_probes_again(mastodon: ProxiedMastodon) -> None:
    clock = Clock()

    async def go() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await connect(mastodon, client)
            ob, items = queue_all(mastodon, clock)
            mastodon.proxy.cut(1.5)  # connections are refused: the network is gone
            report = await ob.drain_once()
            (pause,) = report.paused
            assert report.offline and report.error_kind == "offline" and pause.kind == "offline"
            assert pause.failures == 1 and "cannot be reached" in pause.message
            assert report.error == f"@acme@fake.social: {pause.message}"
            assert report.sent == () and report.pending == len(items)
            assert report.next_due == pause.until and pause.until > clock.now
            tried = attempts_by_item(ob)
            assert list(tried.values()) == [["offline"]], "one reply met the outage; the others were not tried"
            # Before the pause ends nothing is tried at all, however often the sender looks.
            for _ in range(3):
                assert (await ob.drain_once()).paused == (pause,)
            assert attempts_by_item(ob) == tried
            # The pause ends while the network is still gone: one more probe, and a longer pause.
            first_wait = pause.until - clock.now
            clock.now = pause.until
            (again,) = (await ob.drain_once()).paused
            assert again.failures == 2 and again.until - clock.now >= first_wait
            assert sum(len(v) for v in attempts_by_item(ob).values()) == 2
            # The network comes back; once the pause is over every reply goes, each once.
            await until(lambda: not mastodon.proxy.offline)
            clock.now = again.until
            report = await ob.drain_once()
            assert sorted(report.sent) == sorted(items) and report.pending == 0 and report.paused == ()

    run(go())
    posted = mastodon.posted()
    assert len(posted) == len(MENTIONS) == len({p["in_reply_to_id"] for p in posted})  # each once


def test_a_5xx_pauses_the_account_and_the_reply_in_doubt_is_reconciled_first(mastodon: ProxiedMastodon) -> None:
    clock = Clock()

    async def go() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await connect(mastodon, client)
            ob, items = queue_all(mastodon, clock)
            mastodon.proxy.set_rates(FaultRates(error_before=1.0))  # every POST: 502, 503 or 504
            report = await ob.drain_once()
            (pause,) = report.paused
            assert pause.kind == report.error_kind == "unknown" and not report.offline
            # The server answered: it is failing, not gone, and the GUI's banner names it and the status.
            assert pause.server_failing and pause.status in (502, 503, 504)
            assert pause.server == httpx.URL(mastodon.account.server_url).netloc.decode()
            assert mastodon.posts_sent() == 1, "one POST met the failing server, not one per reply"
            states = [ob.get(i).state for i in items]
            assert states.count("unknown") == 1 and states.count("queued") == len(items) - 1
            await ob.drain_once()
            assert mastodon.posts_sent() == 1  # still paused: no request at all
            mastodon.proxy.set_rates(FaultRates())
            clock.now = pause.until
            report = await ob.drain_once()
            assert sorted(report.sent) == sorted(items) and report.paused == ()
            in_doubt = next(i for i, s in zip(items, states, strict=True) if s == "unknown")
            assert attempts_by_item(ob)[in_doubt][:3] == ["sending", "unknown", "reconciled: not on the network"]

    run(go())
    posted = mastodon.posted()
    assert len(posted) == len(MENTIONS) == len({p["in_reply_to_id"] for p in posted})  # none doubled


def test_a_429_pauses_the_account_until_the_network_says(mastodon: ProxiedMastodon) -> None:
    clock = Clock()

    async def go() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await connect(mastodon, client)
            ob, items = queue_all(mastodon, clock)
            mastodon.proxy.set_rates(FaultRates(rate_limit=1.0))  # 429, X-RateLimit-Reset 30 s ahead
            report = await ob.drain_once()
            (pause,) = report.paused
            assert pause.kind == report.error_kind == "rate_limited"
            assert timedelta(seconds=20) < pause.until - clock.now < timedelta(seconds=40)
            assert [ob.get(i).state for i in items] == ["queued"] * len(items)
            # A sync that worked, or Retry, lifts an outage pause, but the network said how long to wait.
            ob.resume()
            ob.retry(items[0])
            assert (await ob.drain_once()).paused == (pause,)
            assert mastodon.posts_sent() == 1
            mastodon.proxy.set_rates(FaultRates())
            clock.now = pause.until
            assert sorted((await ob.drain_once()).sent) == sorted(items)

    run(go())


def test_a_refused_sign_in_pauses_the_account_until_it_signs_in_again(mastodon: ProxiedMastodon) -> None:
    clock = Clock()

    async def go() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await connect(mastodon, client)
            ob, items = queue_all(mastodon, clock)
            with mastodon.fake.lock:
                account = mastodon.fake.tokens.pop(TOKEN)  # revoked on the server
            report = await ob.drain_once()
            (pause,) = report.paused
            assert pause.kind == report.error_kind == "signed_out" and pause.account_id == mastodon.account.id
            assert sum(len(v) for v in attempts_by_item(ob).values()) == 1
            with mastodon.fake.lock:
                mastodon.fake.tokens[TOKEN] = account  # signed in again (core.add_mastodon_account resumes)
            ob.resume([mastodon.account.id])
            assert sorted((await ob.drain_once()).sent) == sorted(items)

    run(go())


# -- the demo network: per account, resuming, and what the operator sees --------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synced_template(tmp_path_factory.mktemp("synced"), START)


class TickingClock(Clock):
    """A clock that moves on a little each time it is read, as a real one does."""

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return TickingClock(START)


@pytest.fixture
def core(template: Path, data_dir: Path, clock: Clock) -> Iterator[Parley]:
    c = clocked_core(copy_data_dir(template, data_dir), clock)
    yield c
    c.db.close()


@pytest.fixture
def world(core: Parley) -> DemoWorld:
    return core.networks.demo_world


def pid(core: Parley, remote_id: str) -> int:
    with core.db.session() as s:
        return int(s.exec(select(Post.id).where(Post.remote_id == remote_id)).one())


def account_of(core: Parley, remote_id: str) -> int:
    with core.db.session() as s:
        return int(s.exec(select(Post.account_id).where(Post.remote_id == remote_id)).one())


def test_the_pause_is_per_account(core: Parley, data_dir: Path, world: DemoWorld, clock: Clock) -> None:
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(core.db, registry, clock=clock, holder="test")
    masto = [ob.queue(pid(core, rid), f"On it ({rid}).").id for rid in ("p0001", "p0006")]
    x = [ob.queue(pid(core, rid), f"Thanks ({rid}).").id for rid in ("p0004", "p0005")]
    registry.script(account_of(core, "p0001"), "offline")
    report = run(ob.drain_once())
    assert sorted(report.sent) == sorted(x), "the other account sends on"
    assert [p.account_id for p in report.paused] == [account_of(core, "p0001")]
    assert [ob.get(i).state for i in masto] == ["queued", "queued"]
    assert ob.get(masto[0]).last_error == "Connection refused by 10.0.0.7."
    assert ob.get(masto[1]).attempts == 0 and ob.get(masto[1]).last_error is None


@pytest.mark.parametrize("kind", ["offline", "signed_out", "rate_limited"])
def test_the_report_carries_the_kind_not_just_words(
    core: Parley, data_dir: Path, world: DemoWorld, clock: Clock, kind: str
) -> None:
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(core.db, registry, clock=clock, holder="test")
    ob.queue(pid(core, "p0006"), "Sorry Lena, an engineer is on the way.")
    registry.script(account_of(core, "p0006"), kind)
    report = run(ob.drain_once())
    assert report.error_kind == kind and report.offline == (kind == "offline")
    assert report.error is not None and "@acme@demo.social" in report.error


def test_each_failure_in_a_row_doubles_the_pause_up_to_a_minute(core: Parley, world: DemoWorld, clock: Clock) -> None:
    core.outbox.queue(pid(core, "p0006"), "Sorry Lena, an engineer is on the way.")
    world.set_offline(True)
    for failures in range(1, 13):
        (pause,) = run(core.outbox.drain_once()).paused
        base = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (failures - 1))
        assert pause.failures == failures
        assert base / 2 - 0.05 <= (pause.until - clock.now).total_seconds() <= base  # the clock ticks a little
        clock.now = pause.until
    assert len(core.outbox.attempts()) == 12  # one probe per pause, in about eight minutes of outage


def test_a_sync_that_works_resumes_sending_at_once(core: Parley, world: DemoWorld, clock: Clock) -> None:
    """The GUI's path (sync, then drain): back online, replies go without waiting out the pause."""
    items = [run(core.queue_reply(pid(core, rid), f"On it ({rid}).")).id for rid in ("p0001", "p0006")]
    world.set_offline(True)
    assert run(core.drain_outbox()).offline
    clock.advance(seconds=MAX_PAUSE + 1)  # still offline after the pause: probe, pause again
    assert run(core.drain_outbox()).offline
    run(core.sync_once())  # fails (offline): the pause stays
    assert run(core.drain_outbox()).offline
    assert sum(len(v) for v in attempts_by_item(core.outbox).values()) == 2
    world.set_offline(False)
    assert not run(core.sync_once()).problems
    report = run(core.drain_outbox())  # the same instant: the pause was lifted by the sync
    assert sorted(report.sent) == sorted(items) and not report.offline


def test_retry_forgets_the_old_reason_and_tries_now(
    core: Parley, data_dir: Path, world: DemoWorld, clock: Clock
) -> None:
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(core.db, registry, clock=clock, holder="test")
    refused = ob.queue(pid(core, "p0005"), "Thanks!")
    registry.script(account_of(core, "p0005"), "reject")
    run(ob.drain_once())
    assert ob.get(refused.id).state == "failed" and ob.get(refused.id).last_error
    row = ob.retry(refused.id)
    assert row.state == "queued" and row.last_error is None  # the new reason shows after the next attempt
    world.set_offline(True)
    run(ob.drain_once())
    after = ob.get(refused.id)
    assert after.state == "queued" and after.last_error and "offline" in after.last_error
    # Retry while the account is paused: it is tried at once, not after the pause.
    world.set_offline(False)
    assert ob.retry(refused.id).last_error is None
    assert run(ob.drain_once()).sent == (refused.id,)


def test_retry_of_a_held_reply_drops_the_review_reason(core: Parley, world: DemoWorld, clock: Clock) -> None:
    ob = core.outbox
    held = ob.queue(pid(core, "p0006"), "Sorry Lena, we are on it.")
    clock.advance(seconds=5)
    world.accept_reply("masto", {"in_reply_to": "p0006", "conversation": "p0006", "text": "Sam here."}, "colleague")
    run(ob.drain_once())
    assert ob.get(held.id).state == "needs_review" and ob.get(held.id).review_reason
    row = ob.retry(held.id, send_anyway=True)
    assert row.state == "queued" and row.review_reason is None and row.last_error is None
    assert run(ob.drain_once()).sent == (held.id,)


def test_retry_of_a_reply_in_doubt_keeps_it_in_doubt_without_the_old_reason(
    core: Parley, data_dir: Path, world: DemoWorld, clock: Clock
) -> None:
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(core.db, registry, clock=clock, holder="test")
    doubt = ob.queue(pid(core, "p0001"), "Your refund was issued today.")
    registry.script(account_of(core, "p0001"), "after")
    run(ob.drain_once())
    assert ob.get(doubt.id).state == "unknown" and ob.get(doubt.id).last_error
    row = ob.retry(doubt.id)
    assert row.state == "unknown" and row.last_error is None  # reconciled first, never blindly re-sent
    assert run(ob.drain_once()).sent == (doubt.id,)
    assert world.replies_count() == 1


# -- what ``outbox drain`` says ------------------------------------------------------------------


def drain_command(core: Parley, seconds: float | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(outbox_drain(core, seconds=seconds, out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_drain_exits_0_only_when_nothing_is_left(core: Parley) -> None:
    run(core.queue_reply(pid(core, "p0003"), "We know about the outage."))
    assert drain_command(core) == (0, "1 sent; nothing left to send\n", "")


def test_drain_with_only_held_and_failed_replies_left_says_so_and_fails(
    core: Parley, data_dir: Path, world: DemoWorld, clock: Clock
) -> None:
    registry = ScriptedRegistry(data_dir, world)
    core.outbox = Outbox(core.db, registry, clock=clock, holder="test")
    for rid in ("p0003", "p0004", "p0005"):
        run(core.queue_reply(pid(core, rid), f"Reply to {rid}."))
    registry.script(account_of(core, "p0004"), "reject", "reject")  # both replies of the X-style account
    clock.advance(seconds=5)
    world.accept_reply("bsky", {"in_reply_to": "p0003", "conversation": "p0003", "text": "Sam here."}, "colleague")
    code, out, err = drain_command(core)
    assert code == DRAIN_NEEDS_YOU != 1
    assert out == "0 sent\n"
    assert err == "parley: 1 reply needs review, 2 failed; see `outbox list`.\n"


def test_drain_timeout_says_what_is_left_and_why(core: Parley, world: DemoWorld) -> None:
    for rid in ("p0003", "p0006"):
        run(core.queue_reply(pid(core, rid), f"Reply to {rid}."))
    world.set_offline(True)
    code, out, err = drain_command(core, seconds=0.2)
    assert code == 1 and out == "0 sent\n"
    assert err.startswith("parley: 2 replies still to send (") and err.endswith("; see `outbox list`.\n")
    assert "offline" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("pending", "review", "failed", "words"),
    [
        (3, 2, 1, "3 replies still to send, 2 need review, 1 failed"),
        (1, 0, 0, "1 reply still to send"),
        (0, 1, 0, "1 reply needs review"),
        (0, 2, 1, "2 replies need review, 1 failed"),
        (0, 0, 2, "2 replies failed"),
        (0, 0, 0, "nothing left to send"),
    ],
)
def test_what_is_left_in_words(pending: int, review: int, failed: int, words: str) -> None:
    assert what_is_left(DrainReport(pending=pending, needs_review=review, failed=failed)) == words
