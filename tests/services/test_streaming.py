"""Live mentions over server-sent events: frames, heartbeats, reconnects with backfill, no duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.changes import Changes
from services.core import Parley
from services.errors import AuthExpired, Rejected
from services.networks.mastodon import MastodonNetwork, streaming_base
from services.store.db import open_database, sqlite_url
from services.store.models import Account, Post
from services.streaming import Backoff, SseEvent, parse_sse, stream_mentions
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.proxied_mastodon import until

STREAM = "/api/v1/streaming/user/notification"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def events(*items: str) -> list[SseEvent]:
    return [e async for e in parse_sse(lines(*items))]


def fast_backoff() -> Backoff:
    return Backoff(first=0.01, factor=1.0, ceiling=0.01, jitter=0.0)


@pytest.fixture
def served() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    fake.add_account("maria", domain="social.example", display_name="Maria")
    with fake.serving():
        yield fake


@pytest.fixture
def core(data_dir: Path) -> Iterator[Parley]:
    c = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)
    yield c
    c.db.close()


async def account_of(core: Parley, served: FakeMastodon) -> Account:
    """Add the fake's brand account (connectors must then be closed on the same event loop)."""
    row = await core.add_mastodon_account(served.url, "test-token")
    with core.db.session() as s:
        account = s.get(Account, row.id)
    assert account is not None
    return account


def stored(core: Parley) -> list[Post]:
    with core.db.session() as s:
        return list(s.exec(select(Post)))


# -- the frame parser ------------------------------------------------------------------------------------


def test_frames_heartbeats_and_multi_line_data() -> None:
    got = run(
        events(
            ":thump",
            "event: notification",
            'data: {"id": "1",',
            'data:  "type": "mention"}',
            "",
            ":thump",
            ":)",
            "",
            "event: delete",
            "id: 7",
            "data: 110",
            "",
            "data: no event name",
            "",
            "event: filters_changed",
            "data",
            "",
            "event: update",
            "data: cut off by the end of the stream",
        )
    )
    assert got == [
        SseEvent("notification", '{"id": "1",\n "type": "mention"}'),
        SseEvent("delete", "110", "7"),
        SseEvent("message", "no event name", "7"),  # the last event id carries over
    ]
    assert json.loads(got[0].data) == {"id": "1", "type": "mention"}


def test_crlf_line_ends_and_a_space_after_the_colon_is_optional() -> None:
    got = run(events("event:notification\r\n", "data:{}\r\n", "\r\n"))
    assert got == [SseEvent("notification", "{}")]


def test_backoff_doubles_up_to_the_ceiling_and_resets() -> None:
    b = Backoff(first=1, factor=2, ceiling=8, jitter=0)
    assert [b.next() for _ in range(5)] == [1, 2, 4, 8, 8]
    b.reset()
    assert b.next() == 1
    jittered = Backoff(first=10, jitter=0.5)
    assert 5 <= jittered.next() <= 10 and 10 <= jittered.next() <= 20


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wss://streaming.mastodon.social", "https://streaming.mastodon.social"),
        ("wss://streaming.example/", "https://streaming.example"),
        ("ws://127.0.0.1:4000", "http://127.0.0.1:4000"),
        ("ws://streaming.example", "https://api.example"),  # the token never goes over plain ws to another host
        ("", "https://api.example"),
        (None, "https://api.example"),
        ("gopher://x", "https://api.example"),
    ],
)
def test_the_streaming_host_comes_from_the_instance(value: Any, expected: str) -> None:
    assert streaming_base(value, "https://api.example") == expected


# -- one connection against the fake server ------------------------------------------------------------


def test_a_pushed_mention_arrives_and_heartbeats_and_other_events_are_skipped(served: FakeMastodon) -> None:
    async def go() -> None:
        net = MastodonNetwork(served.url, "test-token")
        try:
            async with net.notification_stream(5.0) as notes:
                served.wait_for_streams(1)
                served.heartbeat()
                served.push_raw("event: update\ndata: {}\n\n")
                served.add_notification("favourite", "maria@social.example")
                status = served.add_mention("maria@social.example", "my order is late")
                # A notification split over several data: lines (allowed by the format).
                body = json.dumps({"id": "99999", "type": "follow", "account": {"id": "2"}}, indent=1)
                served.push_raw("event: notification\n" + "".join(f"data: {x}\n" for x in body.split("\n")) + "\n")
                got = [await anext(notes) for _ in range(3)]
            assert [n["type"] for n in got] == ["favourite", "mention", "follow"]
            post = await net.mention_from_notification(got[1])
            assert post is not None and post.remote_id == status["id"] and post.text.endswith("my order is late")
            assert post.raw["notification_id"] == got[1]["id"]
            assert await net.mention_from_notification(got[0]) is None
        finally:
            await net.aclose()

    run(go())


def test_the_stream_uses_the_host_the_instance_names(served: FakeMastodon) -> None:
    port = served.url.rsplit(":", 1)[1]
    served.streaming_url = f"ws://localhost:{port}"

    async def go() -> None:
        net = MastodonNetwork(served.url, "test-token")
        try:
            async with net.notification_stream(5.0):
                served.wait_for_streams(1)
                assert served.open_streams[0].host == f"localhost:{port}"
        finally:
            await net.aclose()

    run(go())


def test_a_refused_token_and_a_missing_stream_are_typed(served: FakeMastodon) -> None:
    async def go() -> None:
        net = MastodonNetwork(served.url, "test-token")
        bad = MastodonNetwork(served.url, "revoked")
        try:
            served.tokens["revoked"] = served.brand_id  # valid for the instance call, then revoked
            await bad.load_instance()
            del served.tokens["revoked"]
            with pytest.raises(AuthExpired):
                async with bad.notification_stream(5.0):
                    pass
            served.fail_next("GET", STREAM, status=404, body={"error": "Not Found"})
            with pytest.raises(Rejected):
                async with net.notification_stream(5.0):
                    pass
        finally:
            await net.aclose()
            await bad.aclose()

    run(go())


# -- reconnecting ---------------------------------------------------------------------------------------


def test_every_reconnect_runs_the_backfill_first(served: FakeMastodon) -> None:
    async def go() -> None:
        net = MastodonNetwork(served.url, "test-token")
        connects: list[int] = []

        async def backfill() -> None:
            connects.append(len(served.open_streams))  # the stream is already open when it runs

        posts = stream_mentions(net, on_connect=backfill, backoff=fast_backoff(), idle_timeout=5.0)
        try:
            served_first = asyncio.ensure_future(anext(posts))
            await until(lambda: len(connects) == 1)
            served.drop_streams()
            await until(lambda: len(connects) == 2)
            served.end_streams()  # a clean end reconnects as well
            await until(lambda: len(connects) == 3)
            served.add_mention("maria@social.example", "hello?")
            post = await asyncio.wait_for(served_first, 5)
            assert post.text.endswith("hello?")
            assert connects == [1, 1, 1] and served.stream_connects == 3
        finally:
            await posts.aclose()
            await net.aclose()

    run(go())


def test_silence_past_the_idle_timeout_reconnects_but_heartbeats_keep_it_open(served: FakeMastodon) -> None:
    async def go() -> None:
        net = MastodonNetwork(served.url, "test-token")
        connects: list[float] = []

        async def backfill() -> None:
            connects.append(asyncio.get_running_loop().time())

        served.stream_heartbeat = 0.05
        posts = stream_mentions(net, on_connect=backfill, backoff=fast_backoff(), idle_timeout=0.3)
        task = asyncio.ensure_future(anext(posts))
        try:
            await asyncio.sleep(0.7)
            assert len(connects) == 1  # heartbeats every 0.05 s: never idle
            served.stream_heartbeat = 30.0
            served.drop_streams()  # the next connection gets no heartbeats at all
            await until(lambda: len(connects) >= 3, 5)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await posts.aclose()
            await net.aclose()

    run(go())


# -- SyncService.stream_account: the same ingest path as polling --------------------------------------


def test_streamed_mentions_are_stored_once_and_gaps_are_backfilled(served: FakeMastodon, core: Parley) -> None:
    before = served.add_mention("maria@social.example", "said before the app was running")
    reported: list[Changes] = []
    gap_mention: dict[str, Any] = {}
    live: dict[str, Any] = {}

    async def sleep(seconds: float) -> None:
        # The connection is down: a customer writes now, and only the backfill can bring it.
        if not gap_mention:
            gap_mention.update(served.add_mention("maria@social.example", "said while disconnected"))
        await asyncio.sleep(0.01)

    async def go() -> None:
        account = await account_of(core, served)
        task = asyncio.ensure_future(
            core.sync.stream_account(account, reported.append, backoff=fast_backoff(), sleep=sleep)
        )
        try:
            await until(lambda: any(p.remote_id == before["id"] for p in stored(core)) and bool(served.open_streams))
            live.update(served.add_mention("maria@social.example", "said while connected"))
            await until(lambda: any(p.remote_id == live["id"] for p in stored(core)))
            # Reconnect: the backfill (cursor unmoved by the stream) returns the live mention again.
            served.drop_streams()
            await until(lambda: bool(gap_mention) and any(p.remote_id == gap_mention["id"] for p in stored(core)))
            await until(lambda: served.stream_connects == 2 and bool(served.open_streams))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await core.networks.aclose()
        ids = [p.remote_id for p in stored(core)]
        assert sorted(ids) == sorted({before["id"], live["id"], gap_mention["id"]})
        # The reconnect's backfill started below the live mention, so it came twice and was stored once.
        pages = [dict(q) for _, path, q, _ in served.requests if path == "/api/v1/notifications"]
        live_note = next(str(n["id"]) for n in served.notifications if n["status_id"] == live["id"])
        resumed = pages[1].get("min_id")
        assert resumed is not None and (len(resumed), resumed) < (len(live_note), live_note)
        new_ids = [i for c in reported for i in c.new_posts]
        assert len(new_ids) == len(set(new_ids)) == 3
        assert all(c.accounts == {account.id} for c in reported)
        for p in stored(core):
            assert p.scored_at is not None  # triaged like polled posts
        assert core.accounts()[0].last_sync_at is not None

    run(go())


def test_stream_account_stops_on_a_refused_token_and_marks_the_account(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        account = await account_of(core, served)
        served.tokens.clear()  # revoked on the server
        try:
            with pytest.raises(AuthExpired):
                await core.stream_account(account.id or 0)
        finally:
            await core.networks.aclose()

    run(go())
    row = core.accounts()[0]
    assert row.last_error_kind == "signed_out" and row.needs_sign_in
    assert core.health()[0].needs_sign_in


def test_accounts_that_cannot_stream_say_so(core: Parley) -> None:
    ids = core.add_demo_accounts()
    with core.db.session() as s:
        demo_account = s.get(Account, ids[0])
    assert demo_account is not None
    assert not core.sync.supports_streaming(demo_account)
    from services.errors import InvalidInput

    with pytest.raises(InvalidInput, match="polled"):
        run(core.sync.stream_account(demo_account))


# -- the WebSocket API, when the event stream fails --------------------------------------------------------


def test_when_the_event_stream_fails_mentions_come_over_the_websocket_api(served: FakeMastodon, core: Parley) -> None:
    served.start_websocket()  # the streaming host speaks WebSocket only: its event-stream path is a 404
    before = served.add_mention("maria@social.example", "said before the app was running")
    live: dict[str, Any] = {}
    reported: list[Changes] = []

    async def go() -> None:
        account = await account_of(core, served)
        task = asyncio.ensure_future(core.sync.stream_account(account, reported.append, backoff=fast_backoff()))
        try:
            await until(lambda: any(p.remote_id == before["id"] for p in stored(core)) and bool(served.open_streams))
            assert all(s.websocket for s in served.open_streams)
            live.update(served.add_mention("maria@social.example", "said while connected"))
            await until(lambda: any(p.remote_id == live["id"] for p in stored(core)))
            served.drop_streams()  # a broken connection: reconnect (straight to WebSocket) with a backfill
            await until(lambda: served.stream_connects == 2 and bool(served.open_streams))
            late = served.add_mention("maria@social.example", "said after the reconnect")
            await until(lambda: any(p.remote_id == late["id"] for p in stored(core)))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await core.networks.aclose()

    run(go())
    ids = [p.remote_id for p in stored(core)]
    assert len(ids) == len(set(ids)) == 3
    paths = [path for _, path, _, _ in served.requests if "streaming" in path]
    # One look at the event stream, then only the WebSocket API (authorised by header, not in the URL).
    assert paths.count(STREAM) == 1 and paths.count("/api/v1/streaming") == 2
    ws_queries = [dict(q) for _, path, q, _ in served.requests if path == "/api/v1/streaming"]
    assert ws_queries == [{"stream": "user:notification"}] * 2


def test_a_refused_token_on_the_websocket_api_means_sign_in_again(served: FakeMastodon, core: Parley) -> None:
    served.start_websocket()

    async def go() -> None:
        account = await account_of(core, served)
        served.tokens.clear()
        try:
            with pytest.raises(AuthExpired):
                await core.sync.stream_account(account, backoff=fast_backoff())
        finally:
            await core.networks.aclose()

    run(go())
    assert core.accounts()[0].needs_sign_in
