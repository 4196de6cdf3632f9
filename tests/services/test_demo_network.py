"""Tests for the demo network: the written community, time, the cursor, offline, replies and faults."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.errors import Offline, Rejected, UnknownOutcome
from services.networks import demo
from services.networks.base import FetchResult, History, Network, RemotePost, ReplyTarget
from services.networks.demo import DemoNetwork, DemoWorld
from tests.conftest import Clock
from tests.helpers.factories import community, dataset

REPO = Path(__file__).resolve().parents[2]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def world(tmp_path: Path, clock: Clock) -> DemoWorld:
    return DemoWorld(tmp_path / "demo-network.sqlite", clock=clock, speed=1.0, latency=0)


def fetch_all(net: DemoNetwork, cursor: str | None) -> tuple[list[RemotePost], str | None, int]:
    """Every page newer than ``cursor``: the posts, the new cursor and how many pages it took."""
    posts: list[RemotePost] = []
    pages = 0
    while True:
        page: FetchResult = run(net.fetch_mentions(cursor))
        pages += 1
        posts += page.posts
        cursor = page.cursor
        if not page.more:
            return posts, cursor, pages


def reply_payload(net: DemoNetwork, remote_id: str, conversation: str, text: str, key: str) -> dict[str, Any]:
    return net.freeze_reply(ReplyTarget(remote_id, conversation, "someone"), text, key)


def key_with_follow_up(wanted: bool, prefix: str = "key") -> str:
    """A client key for which the demo customer does (or does not) write back."""
    for n in range(1000):
        key = f"{prefix}-{n}"
        if (int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 3 == 0) == wanted:
            return key
    raise AssertionError("no such key")


# -- the written community ------------------------------------------------------------------------


def test_the_test_dataset_loads() -> None:
    data = demo.load_dataset()
    assert [a.key for a in data.accounts] == ["masto", "bsky", "x"]
    assert {a.flavour for a in data.accounts} == {"mastodon", "bluesky", "x"}
    assert "brand" in data.authors and data.authors["a2"].followers == 52000
    assert len(data.posts) == 9
    assert [p.seq for p in data.posts] == list(range(1, 10))
    assert [p.minutes for p in data.posts] == sorted(p.minutes for p in data.posts)
    assert data.root_of("p0002") == "p0001"  # p0002 -> b001 -> p0001
    assert data.root_of("p0007") == "p0003"
    assert data.root_of("p0004") == "p0004"


def test_the_shipped_community_is_complete_and_consistent() -> None:
    data = demo.load_dataset(demo.DATASET)
    assert len(data.posts) >= 200, "the demo should feel like a real inbox"
    assert len({p.lang for p in data.posts if p.lang}) >= 3, "several languages"
    assert {a.key for a in data.accounts} >= {"masto", "bsky", "x"}
    keys = {a.key for a in data.accounts}
    assert len({p.id for p in data.posts}) == len(data.posts), "post ids are unique"
    for p in data.posts:
        assert p.account in keys, p.id
        assert p.author in data.authors, p.id
        assert p.text.strip(), p.id
        if p.reply_to:
            assert p.reply_to in data.by_id, f"{p.id} answers a post that does not exist"
            assert data.by_id[p.reply_to].account == p.account, f"{p.id} answers across accounts"
    assert any(p.minutes <= 0 for p in data.posts), "history to show at start"
    assert any(p.minutes > 0 for p in data.posts), "posts that arrive while the demo runs"
    assert any(p.author == "brand" for p in data.posts), "some threads were already answered"


# -- time -----------------------------------------------------------------------------------------


def test_history_is_there_at_start_and_future_posts_arrive_as_the_clock_advances(
    world: DemoWorld, clock: Clock
) -> None:
    bsky, x = DemoNetwork(world, "bsky"), DemoNetwork(world, "x")
    posts, cursor, _ = fetch_all(bsky, None)
    assert [p.remote_id for p in posts] == ["p0003"]
    assert posts[0].created_at == world.epoch - timedelta(minutes=120)
    xs, x_cursor, _ = fetch_all(x, None)
    assert [p.remote_id for p in xs] == ["p0004", "p0005"]
    clock.advance(minutes=1)
    assert fetch_all(bsky, cursor)[0] == []
    clock.advance(minutes=1)
    arrived, cursor2, _ = fetch_all(bsky, cursor)
    assert [p.remote_id for p in arrived] == ["p0007"]
    assert arrived[0].conversation_key == "p0003" and arrived[0].parent_remote_id == "p0003"
    assert cursor2 != cursor
    assert fetch_all(x, x_cursor)[0] == []  # p0008 comes at minute 4
    clock.advance(minutes=2)
    assert [p.remote_id for p in fetch_all(x, x_cursor)[0]] == ["p0008"]


def test_the_first_sync_reads_only_the_chosen_history(tmp_path: Path) -> None:
    # Minutes from the demo's start: two days back, five hours back, then four in the last hour.
    data = dataset(community([-2880, -300, -50, -40, -30, -20]), tmp_path)
    clock = Clock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))
    world = DemoWorld(tmp_path / "w.sqlite", data, clock=clock, speed=1.0, latency=0)
    net = DemoNetwork(world, "masto")

    def first(history: History) -> tuple[list[str], str | None]:
        page = run(net.fetch_mentions(None, history))
        return [p.remote_id for p in page.posts], page.cursor

    assert first(History(clock.now - timedelta(days=1)))[0] == ["s0001", "s0002", "s0003", "s0004", "s0005"]
    assert first(History(clock.now - timedelta(days=1), limit=2))[0] == ["s0004", "s0005"]
    none, cursor = first(History(clock.now, limit=0))
    assert none == [] and cursor is not None
    # The cursor stands at the newest post: only what comes later arrives.
    assert fetch_all(net, cursor)[0] == []


def test_speed_compresses_the_future(tmp_path: Path, clock: Clock) -> None:
    fast = DemoWorld(tmp_path / "fast.sqlite", clock=clock, speed=20.0, latency=0)
    bsky = DemoNetwork(fast, "bsky")
    _, cursor, _ = fetch_all(bsky, None)
    clock.advance(seconds=5)
    assert fetch_all(bsky, cursor)[0] == []
    clock.advance(seconds=1)  # minute 2 at 20x = 6 s
    assert [p.remote_id for p in fetch_all(bsky, cursor)[0]] == ["p0007"]


def test_the_epoch_is_kept_in_the_state_file(tmp_path: Path, clock: Clock) -> None:
    first = DemoWorld(tmp_path / "w.sqlite", clock=clock, speed=1.0, latency=0)
    epoch = first.epoch
    clock.advance(hours=3)
    again = DemoWorld(tmp_path / "w.sqlite", clock=clock, speed=1.0, latency=0)
    assert again.epoch == epoch
    # Three hours in, every written post of the mini community is visible.
    assert len(fetch_all(DemoNetwork(again, "masto"), None)[0]) == 4


# -- the cursor -----------------------------------------------------------------------------------


def test_pages_split_inside_a_run_of_equal_timestamps_without_loss(tmp_path: Path, clock: Clock) -> None:
    data = dataset(community([-5.0] * 120 + [-1.0] * 3), tmp_path)
    world = DemoWorld(tmp_path / "w.sqlite", data, clock=clock, speed=1.0, latency=0)
    posts, _, pages = fetch_all(DemoNetwork(world, "masto"), None)
    assert pages == 3  # 50 + 50 + 23
    ids = [p.remote_id for p in posts]
    assert len(ids) == len(set(ids)) == 123
    assert set(ids) == {p.id for p in data.posts}


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    minutes=st.lists(st.integers(-30, 30), min_size=1, max_size=140),
    steps=st.lists(st.tuples(st.integers(0, 900), st.booleans()), max_size=12),
)
def test_the_cursor_never_skips_or_repeats_across_pages_and_time(
    tmp_path_factory: pytest.TempPathFactory, minutes: list[int], steps: list[tuple[int, bool]]
) -> None:
    tmp = tmp_path_factory.mktemp("cursor")
    data = dataset(community([float(m) for m in minutes]), tmp)
    clock = Clock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))
    world = DemoWorld(tmp / "w.sqlite", data, clock=clock, speed=1.0, latency=0)
    net = DemoNetwork(world, "masto")
    seen: list[RemotePost] = []
    cursor: str | None = None
    follow_ups: set[str] = set()
    for n, (seconds, reply) in enumerate(steps):
        posts, cursor, _ = fetch_all(net, cursor)
        seen += posts
        if reply and seen:
            # Answer the latest customer post: a follow-up may join the stream later.
            target = seen[-1]
            key = key_with_follow_up(n % 2 == 0, prefix=f"k{n}")
            run(net.post_reply(reply_payload(net, target.remote_id, target.conversation_key, "on it", key), key))
            if n % 2 == 0 and target.remote_id in data.by_id:
                follow_ups.add("f-" + key[:12])
        clock.advance(seconds=seconds)
    clock.advance(hours=2)  # everything written and every follow-up is visible now
    posts, cursor, _ = fetch_all(net, cursor)
    seen += posts
    ids = [p.remote_id for p in seen]
    assert len(ids) == len(set(ids)), "a post came twice"
    assert set(ids) == {p.id for p in data.posts} | follow_ups, "a post was skipped"
    times = [p.created_at for p in seen]
    assert times == sorted(times), "the stream is oldest first"
    assert fetch_all(net, cursor)[0] == []


# -- offline ---------------------------------------------------------------------------------------


def test_offline_stops_every_call_and_is_shared_between_worlds_on_one_state_file(
    world: DemoWorld, tmp_path: Path, clock: Clock
) -> None:
    other = DemoWorld(tmp_path / "demo-network.sqlite", clock=clock, speed=1.0, latency=0)
    net = DemoNetwork(world, "masto")
    world.set_offline(True)
    assert other.offline
    payload = reply_payload(net, "p0006", "p0006", "We are on it", "k-offline")
    calls: list[Coroutine[Any, Any, Any]] = [
        net.fetch_mentions(None),
        net.verify(),
        net.fetch_conversation(ReplyTarget("p0006", "p0006", "lena_w")),
        net.post_reply(payload, "k-offline"),
        net.find_reply(payload, "k-offline"),
    ]
    for call in calls:
        with pytest.raises(Offline) as err:
            run(call)
        assert "offline" in str(err.value)
    assert world.replies_count() == 0
    other.set_offline(False)
    assert not world.offline
    assert len(fetch_all(net, None)[0]) == 4


def test_offline_is_shared_with_another_process(world: DemoWorld) -> None:
    code = (
        "import sys; from pathlib import Path; from services.networks.demo import DemoWorld; "
        "DemoWorld(Path(sys.argv[1])).set_offline(True)"
    )
    subprocess.run([sys.executable, "-c", code, str(world.path)], cwd=REPO, check=True, timeout=60)
    assert world.offline
    with pytest.raises(Offline):
        run(DemoNetwork(world, "x").fetch_mentions(None))


def test_the_offline_environment_switch(world: DemoWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DEMO_OFFLINE", "1")
    assert world.offline
    with pytest.raises(Offline):
        run(DemoNetwork(world, "bsky").fetch_mentions(None))


# -- replies ---------------------------------------------------------------------------------------


def test_replies_are_idempotent_per_client_key(world: DemoWorld, tmp_path: Path, clock: Clock) -> None:
    net = DemoNetwork(world, "masto")
    payload = reply_payload(net, "p0006", "p0006", "Sorry Lena, an engineer is on the way.", "key-1")
    first = run(net.post_reply(payload, "key-1"))
    again = run(net.post_reply(payload, "key-1"))
    assert first == again
    assert world.replies_count() == 1
    # Another process (another world on the same file) gets the same answer for the same key.
    other = DemoNetwork(DemoWorld(tmp_path / "demo-network.sqlite", clock=clock, latency=0), "masto")
    assert run(other.post_reply(payload, "key-1")) == first
    assert run(other.find_reply(payload, "key-1")) == first
    assert run(net.find_reply(payload, "key-never-sent")) is None
    second = run(net.post_reply(reply_payload(net, "p0006", "p0006", "Another reply", "key-2"), "key-2"))
    assert second.remote_id != first.remote_id
    assert world.replies_count() == 2
    thread = run(net.fetch_conversation(ReplyTarget("p0006", "p0006", "lena_w")))
    ours = [p for p in thread if p.kind == "own_reply"]
    assert sorted(p.remote_id for p in ours) == sorted([first.remote_id, second.remote_id])
    assert thread[0].remote_id == "p0006"


@pytest.mark.parametrize(
    ("account", "text", "ok"),
    [
        ("masto", "a" * 500, True),
        ("masto", "a" * 501, False),
        # Mastodon counts a URL as 23 whatever its length.
        ("masto", "a" * 470 + " https://example.com/" + "p" * 200, True),
        ("masto", "a" * 480 + " https://example.com/x", False),
        ("bsky", "👨‍👩‍👧" * 300, True),  # graphemes, not code points
        ("bsky", "é" * 301, False),
        ("x", "日" * 140, True),  # CJK weighs 2
        ("x", "日" * 141, False),
    ],
)
def test_too_long_replies_are_rejected_by_each_flavour(world: DemoWorld, account: str, text: str, ok: bool) -> None:
    net = DemoNetwork(world, account)
    target = {"masto": "p0006", "bsky": "p0003", "x": "p0005"}[account]
    payload = reply_payload(net, target, target, text, f"len-{account}-{ok}")
    if ok:
        assert run(net.post_reply(payload, f"len-{account}-{ok}")).remote_id
        assert world.replies_count() == 1
    else:
        with pytest.raises(Rejected) as err:
            run(net.post_reply(payload, f"len-{account}-{ok}"))
        assert str(net.text_limit()) in str(err.value)
        assert world.replies_count() == 0


def test_limits_of_each_flavour(world: DemoWorld) -> None:
    limits = {key: DemoNetwork(world, key).text_limit() for key in ("masto", "bsky", "x")}
    assert limits == {"masto": 500, "bsky": 300, "x": 280}
    assert isinstance(DemoNetwork(world, "masto"), Network)


@pytest.mark.parametrize(
    ("account", "target"),
    [
        ("masto", "no-such-post"),
        ("x", "p0008"),  # written, but not visible yet (minute 4)
        ("masto", "p0003"),  # a post of another account
    ],
)
def test_replying_to_a_post_that_is_not_there_is_rejected(world: DemoWorld, account: str, target: str) -> None:
    net = DemoNetwork(world, account)
    with pytest.raises(Rejected, match="no longer exists"):
        run(net.post_reply(reply_payload(net, target, target, "hello", "k"), "k"))
    assert world.replies_count() == 0


def test_answered_customers_sometimes_write_back_later_in_the_conversation(world: DemoWorld, clock: Clock) -> None:
    net = DemoNetwork(world, "masto")
    _, cursor, _ = fetch_all(net, None)
    writes_back = key_with_follow_up(True)
    silent = key_with_follow_up(False)
    run(net.post_reply(reply_payload(net, "p0006", "p0006", "Sorry, on it", writes_back), writes_back))
    run(net.post_reply(reply_payload(net, "p0006", "p0006", "Update soon", writes_back), writes_back))  # replayed
    run(net.post_reply(reply_payload(net, "p0002", "p0001", "Thanks Maria", silent), silent))
    run(net.post_reply(reply_payload(net, "b001", "p0001", "(our own post)", "k-brand"), "k-brand"))
    clock.advance(seconds=19)
    assert fetch_all(net, cursor)[0] == [], "a follow-up takes at least 20 s"
    clock.advance(seconds=41)
    arrived, _, _ = fetch_all(net, cursor)
    assert len(arrived) == 1, "one follow-up per answered key, none for silent keys or own posts"
    follow = arrived[0]
    assert follow.remote_id == "f-" + writes_back[:12]
    assert follow.author.handle == "lena_w"
    assert follow.conversation_key == "p0006" and follow.parent_remote_id == "p0006"
    assert follow.text.startswith("@acme@demo.social ")
    assert follow.kind == "mention"
    thread = run(net.fetch_conversation(ReplyTarget("p0006", "p0006", "lena_w")))
    assert [p.kind for p in thread] == ["mention", "own_reply", "mention"]


# -- faults ----------------------------------------------------------------------------------------


def test_faults_are_unknown_outcomes_that_reconciliation_can_settle(world: DemoWorld, tmp_path: Path) -> None:
    world.set_fault_rate(1.0)
    assert DemoWorld(tmp_path / "demo-network.sqlite", latency=0).fault_rate == 1.0  # shared
    net = DemoNetwork(world, "x")
    arrived = 0
    for n in range(12):
        key = f"fault-{n}"
        payload = reply_payload(net, "p0005", "p0005", f"Glad to hear it! {n}", key)
        with pytest.raises(UnknownOutcome) as err:
            run(net.post_reply(payload, key))
        found = run(net.find_reply(payload, key))
        if "may have arrived" in str(err.value):
            assert found is not None
            arrived += 1
        else:
            assert "did not arrive" in str(err.value)
            assert found is None
    assert world.replies_count() == arrived
    world.set_fault_rate(0)
    payload = reply_payload(net, "p0005", "p0005", "Glad to hear it!", "fault-final")
    assert run(net.post_reply(payload, "fault-final")).remote_id


def test_the_fault_rate_is_clamped(world: DemoWorld) -> None:
    world.set_fault_rate(7)
    assert world.fault_rate == 1.0
    world.set_fault_rate(-2)
    assert world.fault_rate == 0.0
    assert world.maybe_fault() is None
