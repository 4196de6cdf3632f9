"""Tests for services.outbox: stored before sending, never lost, never doubled (design section 4)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.core import Parley
from services.errors import InvalidInput, NotFound
from services.networks.demo import DemoWorld
from services.outbox import LEASE_TTL, MAX_BACKOFF, MAX_PAUSE, Outbox, OutboxRow, backoff
from services.store.db import open_database, sqlite_url
from services.store.models import Lease, OutboxItem, Post
from services.store.posts import TimelineFilter
from tests.conftest import Clock
from tests.helpers.factories import clocked_core, copy_data_dir, remote_post, synced_template
from tests.helpers.networks import Crash, InFlight, ScriptedRegistry


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


START = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synced_template(tmp_path_factory.mktemp("synced"), START)


@pytest.fixture
def core(template: Path, data_dir: Path, clock: Clock) -> Iterator[Parley]:
    """A clocked core with the mini community synced (a copy of one synced data dir)."""
    c = clocked_core(copy_data_dir(template, data_dir), clock)
    assert c.count(TimelineFilter()) == 6
    yield c
    c.db.close()


@pytest.fixture
def world(core: Parley) -> DemoWorld:
    return core.networks.demo_world


@pytest.fixture
def registry(core: Parley, data_dir: Path, world: DemoWorld) -> ScriptedRegistry:
    return ScriptedRegistry(data_dir, world)


@pytest.fixture
def outbox(core: Parley, registry: ScriptedRegistry, clock: Clock) -> Outbox:
    """The outbox under test, sending through the real demo network (wrapped to script faults)."""
    return Outbox(core.db, registry, clock=clock, holder="test-sender")


def pid(core: Parley, remote_id: str) -> int:
    with core.db.session() as s:
        found = s.exec(select(Post.id).where(Post.remote_id == remote_id)).first()
    assert found is not None
    return int(found)


def account_of(core: Parley, remote_id: str) -> int:
    with core.db.session() as s:
        post = s.exec(select(Post).where(Post.remote_id == remote_id)).one()
    return post.account_id


def drain(ob: Outbox) -> Any:
    return run(ob.drain_once())


def drain_until_idle(ob: Outbox, clock: Clock, rounds: int = 12) -> None:
    for _ in range(rounds):
        if drain(ob).pending == 0:
            return
        clock.advance(seconds=MAX_BACKOFF + 1)
    raise AssertionError(f"still pending: {[r.state for r in ob.rows()]}")


def outcomes(ob: Outbox, item_id: int) -> list[str]:
    return [a["outcome"] for a in ob.attempts(item_id)]


def item(ob: Outbox, item_id: int) -> OutboxRow:
    return ob.get(item_id)


def raw_item(core: Parley, item_id: int) -> OutboxItem:
    with core.db.session() as s:
        found = s.get(OutboxItem, item_id)
        assert found is not None
        return found


def force_state(core: Parley, item_id: int, state: str) -> None:
    with core.db.session() as s:
        found = s.get(OutboxItem, item_id)
        assert found is not None
        found.state = state
        s.add(found)


# -- queueing ---------------------------------------------------------------------------------------


def test_a_reply_is_written_down_before_any_send(
    core: Parley, outbox: Outbox, world: DemoWorld, data_dir: Path
) -> None:
    world.set_offline(True)  # nothing could be sent even if something tried
    post = pid(core, "p0006")
    row = outbox.queue(post, "  Sorry Lena, an engineer is on the way.  ", operator="ana")
    assert row.state == "queued" and row.attempts == 0 and row.remote_id is None
    assert row.text == "Sorry Lena, an engineer is on the way."
    assert world.replies_count() == 0
    # Committed: another connection (another process) sees it, with its frozen key and payload.
    other = open_database(sqlite_url(data_dir / "parley.sqlite"))
    try:
        with other.session() as s:
            stored = s.get(OutboxItem, row.id)
            assert stored is not None
            payload = json.loads(stored.payload)
            assert payload["text"] == row.text and payload["in_reply_to"] == "p0006"
            assert payload["client_key"] == stored.client_key and stored.client_key
            assert stored.operator == "ana"
    finally:
        other.close()
    assert core.rows_by_id([post])[0].status == "open"
    assert core.rows_by_id([post])[0].outbox_state == "queued"
    assert outbox.pending_count() == 1


@pytest.mark.parametrize(
    ("remote_id", "text", "error", "match"),
    [
        ("p0006", "", InvalidInput, "empty"),
        ("p0006", "   \n ", InvalidInput, "empty"),
        ("p0006", "a" * 501, InvalidInput, "501 characters"),
        ("p0005", "日" * 141, InvalidInput, "282 characters"),  # the X-style account weighs CJK double
        ("b001", "replying to ourselves", InvalidInput, "own reply"),
    ],
)
def test_queue_refuses_what_cannot_be_sent_in_plain_words(
    core: Parley, outbox: Outbox, remote_id: str, text: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        outbox.queue(pid(core, remote_id), text)
    assert outbox.rows() == []


def test_queue_for_a_missing_post_is_not_found(outbox: Outbox) -> None:
    with pytest.raises(NotFound, match="no post 9999"):
        outbox.queue(9999, "hello")


# -- sending ---------------------------------------------------------------------------------------


def test_drain_sends_stores_our_reply_and_marks_the_conversation_answered(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry
) -> None:
    post = pid(core, "p0006")
    assert core.count(TimelineFilter(view="unanswered")) == 5
    queued = outbox.queue(post, "Sorry Lena, an engineer is on the way.")
    report = drain(outbox)
    assert report.sent == (queued.id,) and report.pending == 0 and not report.offline
    sent = item(outbox, queued.id)
    assert sent.state == "sent" and sent.remote_id and sent.attempts == 1 and sent.last_error is None
    assert world.replies_count() == 1
    assert registry.deliveries() == {raw_item(core, queued.id).client_key: 1}
    thread = core.conversation(post)
    own = [r for r in thread if r.kind == "own_reply"]
    assert len(own) == 1
    assert own[0].remote_id == sent.remote_id and own[0].text == sent.text
    assert own[0].status == "done"
    original = core.rows_by_id([post])[0]
    assert original.answered and original.outbox_state == "sent"
    assert core.count(TimelineFilter(view="unanswered")) == 4
    # Our reply is never counted as an incoming post, and a later sync does not duplicate it.
    assert core.count(TimelineFilter()) == 6
    run(core.sync_once())
    assert len([r for r in core.conversation(post) if r.kind == "own_reply"]) == 1
    assert drain(outbox).sent == ()  # nothing left, nothing sent twice
    assert world.replies_count() == 1
    assert outcomes(outbox, queued.id) == ["sending", "sent"]


def test_offline_keeps_the_reply_queued_with_a_plain_reason_then_sends_it(
    core: Parley, outbox: Outbox, world: DemoWorld, clock: Clock
) -> None:
    queued = outbox.queue(pid(core, "p0003"), "We know about the outage in your street.")
    world.set_offline(True)
    report = drain(outbox)
    assert report.offline and report.sent == () and report.pending == 1
    assert report.error and "offline" in report.error
    row = item(outbox, queued.id)
    assert row.state == "queued" and row.remote_id is None
    assert row.last_error and "offline" in row.last_error and "\n" not in row.last_error
    assert "Traceback" not in row.last_error and "Error" not in row.last_error.split()[0]
    assert world.replies_count() == 0
    assert outcomes(outbox, queued.id) == ["offline"]
    # Still offline: no hammering, it stays queued.
    clock.advance(seconds=10)
    assert drain(outbox).offline
    world.set_offline(False)
    clock.advance(seconds=10)
    report = drain(outbox)
    assert report.sent == (queued.id,) and report.pending == 0
    row = item(outbox, queued.id)
    assert row.state == "sent" and row.last_error is None and row.attempts == 1
    assert world.replies_count() == 1


def test_an_unknown_outcome_after_delivery_is_reconciled_without_a_second_send(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry, clock: Clock
) -> None:
    queued = outbox.queue(pid(core, "p0001"), "Your refund was issued today.")
    registry.script(account_of(core, "p0001"), "after")
    report = drain(outbox)
    assert report.sent == () and report.pending == 1
    row = item(outbox, queued.id)
    assert row.state == "unknown" and row.last_error and "arrived" in row.last_error
    assert world.replies_count() == 1  # it did arrive
    # Not retried before its backoff.
    assert drain(outbox).sent == ()
    clock.advance(seconds=MAX_BACKOFF + 1)
    report = drain(outbox)
    assert report.sent == (queued.id,)
    row = item(outbox, queued.id)
    assert row.state == "sent" and row.attempts == 1
    assert world.replies_count() == 1
    assert registry.deliveries() == {raw_item(core, queued.id).client_key: 1}
    assert row.remote_id == world.find_reply(raw_item(core, queued.id).client_key).remote_id  # type: ignore[union-attr]
    assert outcomes(outbox, queued.id) == ["sending", "unknown", "reconciled: the reply had arrived"]


def test_an_unknown_outcome_before_delivery_is_reconciled_and_sent_once(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry, clock: Clock
) -> None:
    queued = outbox.queue(pid(core, "p0001"), "Your refund was issued today.")
    registry.script(account_of(core, "p0001"), "before")
    drain(outbox)
    assert item(outbox, queued.id).state == "unknown"
    assert world.replies_count() == 0
    clock.advance(seconds=MAX_BACKOFF + 1)
    assert drain(outbox).sent == (queued.id,)
    assert item(outbox, queued.id).attempts == 2
    assert world.replies_count() == 1
    assert outcomes(outbox, queued.id) == [
        "sending",
        "unknown",
        "reconciled: not on the network",
        "sending",
        "sent",
    ]


def test_demo_faults_never_lose_or_double_a_reply(core: Parley, world: DemoWorld, clock: Clock) -> None:
    """The demo network's own random faults (before and after delivery), on every reply."""
    ob = core.outbox
    targets = ["p0001", "p0003", "p0004", "p0005", "p0006"]
    items = [ob.queue(pid(core, rid), f"Thanks for reaching out ({rid}).") for rid in targets]
    world.set_fault_rate(1.0)
    report = drain(ob)
    # Each account meets one fault, then pauses: its other replies are not thrown at a failing server.
    states = [item(ob, i.id).state for i in items]
    assert sorted(states) == ["queued", "queued", "unknown", "unknown", "unknown"]
    assert {p.account_id for p in report.paused} == {a.id for a in core.accounts()}
    assert {p.kind for p in report.paused} == {"unknown"} and report.error_kind == "unknown"
    for _ in range(3):  # still failing after each pause: one more failure per account, never the whole queue
        before = sum(a["outcome"] == "unknown" for a in ob.attempts())
        clock.advance(seconds=MAX_PAUSE + 1)
        drain(ob)
        assert sum(a["outcome"] == "unknown" for a in ob.attempts()) - before <= len(core.accounts())
    world.set_fault_rate(0.0)
    drain_until_idle(ob, clock)
    assert {item(ob, i.id).state for i in items} == {"sent"}
    assert world.replies_count() == len(items)
    for i in items:
        key = raw_item(core, i.id).client_key
        found = world.find_reply(key)
        assert found is not None and found.remote_id == item(ob, i.id).remote_id


def test_a_crash_while_sending_is_reconciled_by_the_next_sender_never_doubled(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry, clock: Clock, data_dir: Path
) -> None:
    delivered = outbox.queue(pid(core, "p0006"), "An engineer is on the way.")
    registry.script(account_of(core, "p0006"), "crash")
    with pytest.raises(Crash):
        drain(outbox)
    assert item(outbox, delivered.id).state == "sending"
    assert world.replies_count() == 1
    # The app restarts: a new sender (another holder, same database) picks it up.
    restarted_registry = ScriptedRegistry(data_dir, world)
    restarted = Outbox(core.db, restarted_registry, clock=clock, holder="after-restart")
    report = drain(restarted)
    assert report.sent == (delivered.id,)
    assert item(restarted, delivered.id).state == "sent"
    assert world.replies_count() == 1
    assert restarted_registry.deliveries() == {}  # found, not sent again
    assert "reconciled: the reply had arrived" in outcomes(restarted, delivered.id)


def test_kill_9_in_sending_before_delivery_waits_for_the_lease_then_sends_once(
    core: Parley, world: DemoWorld, clock: Clock, data_dir: Path
) -> None:
    queued = core.outbox.queue(pid(core, "p0003"), "We know about the outage.")
    account = account_of(core, "p0003")
    # The dead process had marked it sending and held the lease; nothing reached the network.
    force_state(core, queued.id, "sending")
    with core.db.session() as s:
        s.add(Lease(name=f"outbox:{account}", holder="dead-process", expires_at=clock.now + LEASE_TTL))
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(core.db, registry, clock=clock, holder="new-process")
    assert drain(ob).sent == ()  # the lease is still held: hands off
    assert item(ob, queued.id).state == "sending"
    # Later (the lease has expired, and a request the dead sender might have made cannot still arrive):
    clock.advance(seconds=MAX_BACKOFF + 1)
    assert drain(ob).sent == (queued.id,)
    assert world.replies_count() == 1
    assert sum(registry.deliveries().values()) == 1
    assert outcomes(ob, queued.id)[:1] == ["reconciled: not on the network"]


def test_two_outboxes_draining_at_once_send_each_reply_exactly_once(
    core: Parley, world: DemoWorld, clock: Clock, data_dir: Path
) -> None:
    targets = ["p0001", "p0002", "p0003", "p0004", "p0005", "p0006"]
    queued = [core.outbox.queue(pid(core, rid), f"Reply {n} for {rid}") for n, rid in enumerate(targets)]
    queued += [core.outbox.queue(pid(core, "p0006"), "And a second note for Lena.")]
    world.latency = 0.005
    in_flight, delivered = InFlight(), []
    outboxes = []
    databases = []
    for holder in ("operator-a", "operator-b"):
        database = open_database(sqlite_url(data_dir / "parley.sqlite"))  # like a second process
        databases.append(database)
        reg = ScriptedRegistry(data_dir, world, delay=0.01, in_flight=in_flight, delivered=delivered)
        outboxes.append(Outbox(database, reg, clock=clock, holder=holder))

    async def both() -> None:
        for _ in range(10):
            reports = await asyncio.gather(*(ob.drain_once() for ob in outboxes))
            if all(r.pending == 0 for r in reports):
                return
        raise AssertionError("the queue did not drain")

    try:
        run(both())
    finally:
        for database in databases:
            database.close()
    assert sorted(delivered) == sorted(raw_item(core, q.id).client_key for q in queued)
    assert len(delivered) == len(set(delivered)) == len(queued)
    assert world.replies_count() == len(queued)
    assert max(in_flight.peak.values()) == 1, "two senders sent for one account at once"
    assert {item(core.outbox, q.id).state for q in queued} == {"sent"}
    assert all(item(core.outbox, q.id).attempts == 1 for q in queued)


def test_the_send_lease_is_exclusive_renewable_and_expires(core: Parley, clock: Clock, data_dir: Path) -> None:
    a = Outbox(core.db, core.networks, clock=clock, holder="a")
    b = Outbox(core.db, core.networks, clock=clock, holder="b")
    account = core.accounts()[0].id
    assert a._acquire(account)
    assert not b._acquire(account)
    clock.advance(seconds=30)
    assert a._acquire(account)  # renewed
    clock.advance(seconds=45)
    assert not b._acquire(account)  # renewal moved the expiry
    clock.advance(seconds=16)
    assert b._acquire(account)  # a stopped renewing: expired
    assert not a._acquire(account)
    b._release(account)
    assert a._acquire(account)
    other_account = core.accounts()[1].id
    assert b._acquire(other_account)  # leases are per account


def test_replies_in_one_conversation_go_out_in_order(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry, clock: Clock
) -> None:
    first = outbox.queue(pid(core, "p0001"), "First: we found your refund.")
    second = outbox.queue(pid(core, "p0002"), "Second: it is on its way.")  # same conversation (p0001)
    elsewhere = outbox.queue(pid(core, "p0006"), "Meanwhile, in another conversation.")
    registry.script(account_of(core, "p0001"), "before")  # the first one times out
    report = drain(outbox)
    assert item(outbox, first.id).state == "unknown"
    assert report.sent == () and item(outbox, elsewhere.id).state == "queued", "a timeout pauses the account"
    clock.advance(seconds=2)  # past the first short pause, long before the timed-out send may be judged absent
    report = drain(outbox)
    assert item(outbox, first.id).state == "unknown"  # looked for, not there yet: it waits for the settle time
    assert item(outbox, second.id).state == "queued", "must wait for the earlier reply of its conversation"
    assert item(outbox, elsewhere.id).state == "sent", "other conversations are not held up"
    assert report.sent == (elsewhere.id,)
    clock.advance(seconds=MAX_BACKOFF + 1)
    drain_until_idle(outbox, clock)
    keys = {raw_item(core, i.id).client_key: name for i, name in ((first, "1"), (second, "2"), (elsewhere, "x"))}
    assert [keys[k] for k in registry.delivered] == ["x", "1", "2"]
    assert world.replies_count() == 3


# -- review, rejection, editing --------------------------------------------------------------------


def test_someone_else_answering_first_holds_the_reply_for_review_and_send_anyway_sends(
    core: Parley, outbox: Outbox, world: DemoWorld, clock: Clock
) -> None:
    queued = outbox.queue(pid(core, "p0006"), "Sorry Lena, we are on it.")
    clock.advance(seconds=5)
    # A colleague answers the same conversation from another tool.
    world.accept_reply(
        "masto", {"in_reply_to": "p0006", "conversation": "p0006", "text": "Handled by Sam."}, "colleague-key"
    )
    report = drain(outbox)
    assert report.sent == ()
    row = item(outbox, queued.id)
    assert row.state == "needs_review"
    assert row.review_reason and "already answered" in row.review_reason
    assert world.replies_count() == 1
    assert outbox.pending_count() == 0  # nothing goes out by itself
    clock.advance(seconds=60)
    assert drain(outbox).sent == ()
    outbox.retry(queued.id, send_anyway=True)
    assert drain(outbox).sent == (queued.id,)
    assert item(outbox, queued.id).state == "sent"
    assert world.replies_count() == 2


def test_an_answer_written_before_queueing_does_not_hold_the_reply(
    core: Parley, outbox: Outbox, world: DemoWorld, clock: Clock
) -> None:
    world.accept_reply(
        "masto", {"in_reply_to": "p0006", "conversation": "p0006", "text": "Earlier note."}, "earlier-key"
    )
    clock.advance(seconds=5)
    queued = outbox.queue(pid(core, "p0006"), "And a follow-up from us.")
    assert drain(outbox).sent == (queued.id,)


def test_a_post_gone_from_the_network_is_held_then_rejected_with_the_reason(
    core: Parley, outbox: Outbox, world: DemoWorld, clock: Clock
) -> None:
    account = core.accounts()[0]
    with core.db.session() as s:
        from services.store import posts as store
        from services.store.models import Account

        acc = s.get(Account, account.id)
        assert acc is not None
        store.ingest(
            s, acc, [remote_post("ghost", "a post the network no longer has", at=clock.now)], core.triage(), clock.now
        )
    queued = outbox.queue(pid(core, "ghost"), "Answering a ghost.")
    drain(outbox)
    row = item(outbox, queued.id)
    assert row.state == "needs_review" and row.review_reason and "deleted" in row.review_reason
    outbox.retry(queued.id, send_anyway=True)
    drain(outbox)
    row = item(outbox, queued.id)
    assert row.state == "failed"
    assert row.last_error == "The post being answered no longer exists."
    assert outbox.pending_count() == 0
    assert world.replies_count() == 0
    assert outcomes(outbox, queued.id)[-1] == "rejected"


def test_a_rejected_reply_fails_with_the_reason_and_can_be_edited_and_sent(
    core: Parley, outbox: Outbox, world: DemoWorld, registry: ScriptedRegistry
) -> None:
    queued = outbox.queue(pid(core, "p0005"), "Thanks!")
    registry.script(account_of(core, "p0005"), "reject")
    drain(outbox)
    row = item(outbox, queued.id)
    assert row.state == "failed" and row.last_error == "The network refused the reply: duplicate content."
    assert drain(outbox).sent == ()  # a final refusal is not retried by itself
    old_key = raw_item(core, queued.id).client_key
    edited = outbox.edit(queued.id, "Thanks so much, glad the engineer helped!")
    assert edited.state == "queued" and edited.last_error is None
    assert raw_item(core, queued.id).client_key != old_key
    assert drain(outbox).sent == (queued.id,)
    assert world.find_reply(old_key) is None
    assert world.replies_count() == 1


def test_edit_changes_key_and_text_only_in_editable_states(
    core: Parley, outbox: Outbox, registry: ScriptedRegistry
) -> None:
    queued = outbox.queue(pid(core, "p0006"), "First draft.")
    before = raw_item(core, queued.id)
    edited = outbox.edit(queued.id, "  Second draft.  ")
    after = raw_item(core, queued.id)
    assert edited.text == "Second draft." and edited.state == "queued"
    assert after.client_key != before.client_key
    payload = json.loads(after.payload)
    assert payload["text"] == "Second draft." and payload["client_key"] == after.client_key
    with pytest.raises(InvalidInput, match="empty"):
        outbox.edit(queued.id, " ")
    with pytest.raises(InvalidInput, match="501"):
        outbox.edit(queued.id, "b" * 501)
    assert raw_item(core, queued.id).text == "Second draft."  # a refused edit changes nothing
    for state in ("sending", "unknown", "sent", "cancelled"):
        force_state(core, queued.id, state)
        key = raw_item(core, queued.id).client_key
        with pytest.raises(InvalidInput, match="cannot be edited"):
            outbox.edit(queued.id, "Third draft.")
        assert raw_item(core, queued.id).client_key == key
        assert raw_item(core, queued.id).text == "Second draft."
    for state in ("failed", "needs_review"):
        force_state(core, queued.id, state)
        assert outbox.edit(queued.id, f"Edited while {state}.").state == "queued"
    with pytest.raises(NotFound):
        outbox.edit(424242, "nothing")


def test_cancel(core: Parley, outbox: Outbox, world: DemoWorld) -> None:
    keep = outbox.queue(pid(core, "p0003"), "We are on it.")
    drop = outbox.queue(pid(core, "p0006"), "Never mind.")
    assert outbox.cancel(drop.id).state == "cancelled"
    report = drain(outbox)
    assert report.sent == (keep.id,)
    assert item(outbox, drop.id).state == "cancelled"
    assert world.replies_count() == 1
    with pytest.raises(InvalidInput, match="cannot be cancelled"):
        outbox.cancel(keep.id)  # already sent
    with pytest.raises(InvalidInput):
        outbox.edit(drop.id, "changed my mind")
    with pytest.raises(NotFound):
        outbox.cancel(424242)


def test_retry_rules(core: Parley, outbox: Outbox) -> None:
    queued = outbox.queue(pid(core, "p0003"), "We are on it.")
    drain(outbox)
    with pytest.raises(InvalidInput, match="cannot be retried"):
        outbox.retry(queued.id)
    force_state(core, queued.id, "unknown")
    assert outbox.retry(queued.id).state == "unknown"  # must be reconciled, never blindly re-sent


def test_every_attempt_is_recorded_without_secrets_or_the_reply_itself(
    core: Parley, outbox: Outbox, registry: ScriptedRegistry, world: DemoWorld, clock: Clock
) -> None:
    text = "Private details: your account 12345 is fixed."
    queued = outbox.queue(pid(core, "p0001"), text)
    registry.script(account_of(core, "p0001"), "before", "after")
    world.set_offline(True)
    drain(outbox)
    world.set_offline(False)
    drain_until_idle(outbox, clock)
    key = raw_item(core, queued.id).client_key
    attempts = outbox.attempts(queued.id)
    assert [a["outcome"] for a in attempts] == [
        "offline",
        "sending",
        "unknown",
        "reconciled: not on the network",
        "sending",
        "unknown",
        "reconciled: the reply had arrived",
    ]
    for a in attempts:
        assert set(a) >= {"item", "at", "request", "status", "outcome", "detail"}
        assert a["item"] == queued.id and a["at"]
        blob = json.dumps(a).lower()
        assert key not in blob, "the full idempotency key is not logged"
        assert "12345" not in blob and text.lower() not in blob
        for secret in ("token", "password", "bearer", "authorization", "cookie"):
            assert secret not in blob
    assert item(outbox, queued.id).attempts == 2
    assert world.replies_count() == 1


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempts in range(0, 20):
        delay = backoff(attempts, rng).total_seconds()
        base = min(MAX_BACKOFF, 2.0**attempts)
        assert base / 2 <= delay <= base
    assert backoff(50, rng) <= timedelta(seconds=MAX_BACKOFF)
