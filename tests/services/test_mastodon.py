"""Tests for the Mastodon connector against the fake server (httpx MockTransport)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.errors import (
    AuthExpired,
    InvalidInput,
    Offline,
    RateLimited,
    Rejected,
    SecretsUnavailable,
    UnknownOutcome,
)
from services.networks.base import Network, RemotePost, ReplyTarget
from services.networks.mastodon import MastodonNetwork, id_key, normalise_url, parse_reset
from services.networks.mastodon_cursor import MastodonCursor
from services.secrets import Secret
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.paging import read_all

BASE = "https://fake.social"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 14, 12, 0, 7, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> FakeMastodon:
    return FakeMastodon()


def with_net(
    fake: FakeMastodon,
    body: Callable[[MastodonNetwork], Awaitable[Any]],
    *,
    token: Any = "test-token",
    transport: httpx.AsyncBaseTransport | None = None,
    **kw: Any,
) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(transport=transport or fake.transport()) as client:
            net = MastodonNetwork(BASE, token, client=client, **kw)
            try:
                return await body(net)
            finally:
                await net.aclose()

    return run(go())


def target_of(post: RemotePost) -> ReplyTarget:
    return ReplyTarget(post.remote_id, post.conversation_key, post.author.handle, post.raw)


async def drain(net: MastodonNetwork, cursor: str | None) -> tuple[list[RemotePost], str | None, int]:
    """Page like the sync service: until a page says there is no more, then into open gaps."""
    read = await read_all(net, cursor)
    return read.posts, read.cursor, read.calls


def seen(cursor: str | None) -> str | None:
    """The newest notification id a cursor has handed over."""
    return MastodonCursor.parse(cursor).seen


# -- identity, limits --------------------------------------------------------------------------------


def test_is_a_network(fake: FakeMastodon) -> None:
    with_net(fake, lambda net: _assert_network(net))


async def _assert_network(net: MastodonNetwork) -> None:
    assert isinstance(net, Network)


def test_verify_reads_identity_and_instance_limit() -> None:
    fake = FakeMastodon(max_characters=1000)

    async def body(net: MastodonNetwork) -> None:
        me = await net.verify()
        assert me.handle == "@acme@fake.social"
        assert me.remote_id == fake.brand_id == net.account_id
        assert me.name == "Acme Support"
        assert net.text_limit() == 1000

    with_net(fake, body)


def test_limit_defaults_to_500_without_instance_info(fake: FakeMastodon) -> None:
    fake.fail_next("GET", r"^/api/v[12]/instance$", status=404, body={"error": "Record not found"}, times=2)

    async def body(net: MastodonNetwork) -> None:
        await net.verify()
        assert net.text_limit() == 500
        assert (
            net.text_length("@someone@far.example.org hi https://example.com/" + "x" * 80) == len("@someone hi ") + 23
        )

    with_net(fake, body)


def test_bad_token_is_auth_expired(fake: FakeMastodon) -> None:
    async def body(net: MastodonNetwork) -> None:
        with pytest.raises(AuthExpired, match="access token is invalid"):
            await net.verify()

    with_net(fake, body, token="wrong")


def test_token_is_loaded_once_off_the_loop_and_never_shown(fake: FakeMastodon) -> None:
    calls: list[str] = []

    def load() -> Secret:
        calls.append("load")
        return Secret("test-token")

    async def body(net: MastodonNetwork) -> None:
        await net.verify()
        await net.fetch_mentions(None)
        assert "test-token" not in repr(net)

    with_net(fake, body, token=load)
    assert calls == ["load"]


def test_missing_token_is_auth_expired(fake: FakeMastodon) -> None:
    async def body(net: MastodonNetwork) -> None:
        with pytest.raises(AuthExpired, match="add the account again"):
            await net.fetch_mentions(None)

    with_net(fake, body, token=lambda: None)


def test_a_locked_keyring_stops_the_account_like_a_refused_token(fake: FakeMastodon) -> None:
    def locked() -> Secret:
        raise SecretsUnavailable("The system keyring could not read the account secret; unlock it.")

    async def body(net: MastodonNetwork) -> None:
        with pytest.raises(AuthExpired, match="unlock"):
            await net.fetch_mentions(None)

    with_net(fake, body, token=locked)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("https://mastodon.social/", "https://mastodon.social"),
        ("https://Mastodon.Social/@me", "https://mastodon.social"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_normalise_url(typed: str, expected: str) -> None:
    assert normalise_url(typed) == expected


@pytest.mark.parametrize("typed", ["", "ftp://x.example", "http://mastodon.social", "https://"])
def test_normalise_url_refuses(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_url(typed)


# -- mentions ------------------------------------------------------------------------------------------


def test_first_connect_takes_the_newest_page_oldest_first(fake: FakeMastodon) -> None:
    ids = [fake.add_mention(text=f"problem {n}")["id"] for n in range(50)]

    async def body(net: MastodonNetwork) -> None:
        page = await net.fetch_mentions(None)
        assert [p.remote_id for p in page.posts] == ids[-40:]
        assert page.more is False
        assert seen(page.cursor) == fake.notifications[-1]["id"]
        # The older ten are left for the history fill, which reads back from the oldest of the page.
        assert [g.kind for g in page.gaps] == ["history"]
        rest = await net.fill_gap(page.cursor or "")
        assert [p.remote_id for p in rest.posts] == ids[:10] and not rest.gaps and not rest.more

    with_net(fake, body)


def test_cursor_orders_ids_by_length_then_text(fake: FakeMastodon) -> None:
    # Notification ids run 9990 ... 10001: as plain strings "9999" would sort after "10001".
    for n in range(12):
        fake.add_mention(text=f"n{n}")

    async def body(net: MastodonNetwork) -> None:
        page = await net.fetch_mentions(None)
        assert seen(page.cursor) == "10001"
        assert [p.raw["notification_id"] for p in page.posts] == sorted(
            (p.raw["notification_id"] for p in page.posts), key=id_key
        )
        assert page.posts[-1].text.endswith("n11")

    with_net(fake, body)
    assert id_key("9999") < id_key("10001")


def test_paging_with_min_id_follows_until_caught_up(fake: FakeMastodon) -> None:
    fake.add_mention(text="before")

    async def body(net: MastodonNetwork) -> None:
        first = await read_all(net, None)
        assert len(first.posts) == 1 and not first.gaps
        expected = [fake.add_mention(text=f"while away {n}")["id"] for n in range(95)]
        fake.requests.clear()
        posts, cursor, pages = await drain(net, first.cursor)
        assert [p.remote_id for p in posts] == expected
        assert pages == 3  # 40 + 40 + 15
        assert seen(cursor) == fake.notifications[-1]["id"]
        asked = [dict(q) for m, path, q, _ in fake.requests if path == "/api/v1/notifications"]
        min_ids = [q["min_id"] for q in asked if "min_id" in q]
        assert min_ids[0] == seen(first.cursor) and len(set(min_ids)) == 3
        # One look between the cursor and the first full page proved the server honours min_id; no more after.
        probes = [q for q in asked if "since_id" in q]
        assert probes == [
            {
                "types[]": "mention",
                "limit": "1",
                "max_id": posts[0].raw["notification_id"],
                "since_id": seen(first.cursor),
            }
        ]
        assert all(("types[]", "mention") in q for _, path, q, _ in fake.requests if path == "/api/v1/notifications")
        again = await net.fetch_mentions(cursor)
        assert again.posts == () and again.cursor == cursor and not again.more and not again.gaps

    with_net(fake, body)


def test_a_full_last_page_ends_with_an_empty_one(fake: FakeMastodon) -> None:
    fake.add_mention(text="start")

    async def body(net: MastodonNetwork) -> None:
        cursor = (await net.fetch_mentions(None)).cursor
        for n in range(40):
            fake.add_mention(text=f"m{n}")
        posts, _, pages = await drain(net, cursor)
        assert len(posts) == 40 and pages == 2

    with_net(fake, body)


def test_nothing_is_skipped_after_an_offline_stretch(fake: FakeMastodon) -> None:
    fake.add_mention(text="first")

    async def body(net: MastodonNetwork) -> None:
        cursor = (await net.fetch_mentions(None)).cursor
        arrived = [fake.add_mention(text=f"during outage {n}")["id"] for n in range(45)]
        fake.fail_next("GET", "/api/v1/notifications", exc=httpx.ConnectError, times=3)
        for _ in range(3):
            with pytest.raises(Offline):
                await net.fetch_mentions(cursor)
        arrived.append(fake.add_mention(text="after")["id"])
        posts, _, _ = await drain(net, cursor)
        assert [p.remote_id for p in posts] == arrived

    with_net(fake, body)


def test_other_notification_types_are_skipped_but_passed_over(fake: FakeMastodon) -> None:
    fake.add_mention(text="one")

    def strip_types(request: httpx.Request) -> httpx.Response:
        # A server older than 3.5 ignores types[]: the client must filter and still move on.
        url = request.url.copy_remove_param("types[]")
        inner = fake.transport()
        return inner.handle_request(httpx.Request(request.method, url, headers=request.headers))

    async def body(net: MastodonNetwork) -> None:
        cursor = (await net.fetch_mentions(None)).cursor
        status = fake.add_mention(text="two")
        fav = fake.add_notification("favourite", "bob@elsewhere.example", status["id"])
        follow = fake.add_notification("follow", "carol@elsewhere.example")
        page = await net.fetch_mentions(cursor)
        assert [p.text for p in page.posts] == ["@acme two"]
        top = seen(page.cursor)
        assert top == follow and id_key(top) > id_key(fav)

    with_net(fake, body, transport=httpx.MockTransport(strip_types))


def test_post_mapping(fake: FakeMastodon) -> None:
    fake.add_account("maria", domain="social.example", display_name="Maria K.", followers=312)
    fake.add_account("spam", domain="bots.example", bot=True)
    fake.add_mention(
        "maria@social.example",
        "My router died\n\nsee https://status.example.com/incidents/2026/03/14/very-long-slug #outage",
        spoiler_text="rant",
        language="de",
        visibility="private",
    )

    async def body(net: MastodonNetwork) -> None:
        (post,) = (await net.fetch_mentions(None)).posts
        assert post.author.handle == "@maria@social.example"
        assert post.author.name == "Maria K." and post.author.followers == 312 and not post.author.is_bot
        assert post.text == (
            "CW: rant\n\n@acme My router died\n\n"
            "see https://status.example.com/incidents/2026/03/14/very-long-slug #outage"
        )
        assert post.lang == "de" and post.kind == "mention"
        assert post.url and post.url.startswith("https://social.example/@maria/")
        assert post.created_at.tzinfo is not None
        assert post.conversation_key == post.remote_id and post.parent_remote_id is None
        assert post.raw["visibility"] == "private" and post.raw["acct"] == "maria@social.example"
        assert post.raw["in_reply_to_id"] is None and post.raw["mentions"] == ["acme"]

    with_net(fake, body)


def test_conversation_key_is_the_thread_root(fake: FakeMastodon) -> None:
    root = fake.add_status("maria@social.example", "an unrelated post about routers")
    ours = fake.add_status("acme", "@maria@social.example we can help", in_reply_to=root["id"])

    async def body(net: MastodonNetwork) -> None:
        first = fake.add_mention("maria@social.example", "it is still broken", in_reply_to=ours["id"])
        second = fake.add_mention("maria@social.example", "hello?", in_reply_to=first["id"])
        fake.requests.clear()
        posts = (await net.fetch_mentions(None)).posts
        assert [p.conversation_key for p in posts] == [root["id"], root["id"]]
        assert [p.parent_remote_id for p in posts] == [ours["id"], first["id"]]
        assert posts[1].remote_id == second["id"]
        contexts = [path for _, path, _, _ in fake.requests if path.endswith("/context")]
        assert len(contexts) == 1  # the second reply's root came from what the first look-up taught

    with_net(fake, body)


def test_root_falls_back_to_the_parent_when_the_thread_is_unreadable(fake: FakeMastodon) -> None:
    parent = fake.add_status("maria@social.example", "original")
    fake.add_mention("maria@social.example", "reply", in_reply_to=parent["id"])
    fake.fail_next("GET", "/context$", status=404, body={"error": "Record not found"})

    async def body(net: MastodonNetwork) -> None:
        (post,) = (await net.fetch_mentions(None)).posts
        assert post.conversation_key == parent["id"]

    with_net(fake, body)


def test_fetch_conversation_marks_our_own_posts(fake: FakeMastodon) -> None:
    m = fake.add_mention("maria@social.example", "help")
    ours = fake.add_status("acme", "@maria@social.example on it", in_reply_to=m["id"])
    fake.add_mention("maria@social.example", "thanks", in_reply_to=ours["id"])

    async def body(net: MastodonNetwork) -> None:
        posts = (await net.fetch_mentions(None)).posts
        thread = await net.fetch_conversation(target_of(posts[0]))
        assert [(p.remote_id, p.kind) for p in thread][:2] == [(m["id"], "mention"), (ours["id"], "own_reply")]
        assert len(thread) == 3 and {p.conversation_key for p in thread} == {m["id"]}
        fake.delete_status(m["id"])
        assert await net.fetch_conversation(target_of(posts[0])) == ()

    with_net(fake, body)


# -- replies -----------------------------------------------------------------------------------------


def _first_post(net: MastodonNetwork) -> Awaitable[RemotePost]:
    async def go() -> RemotePost:
        return (await net.fetch_mentions(None)).posts[-1]

    return go()


def test_reply_payload_mentions_the_author_and_keeps_visibility(fake: FakeMastodon) -> None:
    fake.add_mention("maria@social.example", "private problem", visibility="private", spoiler_text="billing")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "  Sorry about that, DM us  ", "k1")
        assert payload == {
            "status": "@maria@social.example Sorry about that, DM us",
            "in_reply_to_id": post.remote_id,
            "visibility": "private",
            "spoiler_text": "billing",
            "language": "en",
        }
        again = net.freeze_reply(target_of(post), "@Maria@Social.example thanks", "k2")
        assert again["status"] == "@Maria@Social.example thanks"  # already addressed: no second mention
        # A bare @maria would reach a local "maria", not the customer: the full acct is added.
        assert net.freeze_reply(target_of(post), "@maria hi", "k3")["status"].startswith("@maria@social.example ")

    with_net(fake, body)


@pytest.mark.parametrize(
    ("original", "sent"), [("public", "public"), ("unlisted", "unlisted"), ("direct", "direct"), (None, "unlisted")]
)
def test_reply_visibility_is_never_wider(fake: FakeMastodon, original: str | None, sent: str) -> None:
    net = MastodonNetwork(BASE, "t", client=httpx.AsyncClient(transport=fake.transport()))
    raw = {"acct": "maria@social.example", "visibility": original}
    payload = net.freeze_reply(ReplyTarget("1", "1", "@maria@social.example", raw), "hi", "k")
    assert payload["visibility"] == sent
    run(net._client.aclose())


def test_reply_too_long_with_the_mention_is_refused_at_queue_time(fake: FakeMastodon) -> None:
    net = MastodonNetwork(BASE, "t", client=httpx.AsyncClient(transport=fake.transport()), max_characters=20)
    target = ReplyTarget("1", "1", "@maria@social.example", {"acct": "maria@social.example", "spoiler_text": "cw"})
    with pytest.raises(InvalidInput, match="content warning"):
        net.freeze_reply(target, "x" * 12, "k")  # "@maria " + 12 + "cw" = 21
    run(net._client.aclose())


def test_post_reply_sends_the_key_and_retries_return_the_first_status(fake: FakeMastodon) -> None:
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "On it", "key-123")
        fake.fail_next("POST", "/api/v1/statuses", status=503, deliver=True)
        with pytest.raises(UnknownOutcome):
            await net.post_reply(payload, "key-123")
        fake.fail_next("POST", "/api/v1/statuses", exc=httpx.ReadTimeout, deliver=True)
        with pytest.raises(UnknownOutcome):
            await net.post_reply(payload, "key-123")
        sent = await net.post_reply(payload, "key-123")
        assert len(fake.posted) == 1
        assert sent.remote_id == fake.posted[0]["status_id"]
        assert sent.url and sent.url.endswith(sent.remote_id)
        keys = [key for method, path, _, key in fake.requests if method == "POST"]
        assert keys == ["key-123"] * 3
        assert [a["outcome"] for a in fake.attempts] == ["created", "replayed", "replayed"]
        assert fake.posted[0]["in_reply_to_id"] == post.remote_id

    with_net(fake, body)


def test_json_body_is_what_mastodon_expects(fake: FakeMastodon) -> None:
    seen: list[httpx.Request] = []
    inner = fake.transport()

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return inner.handle_request(request)

    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "ok", "k")
        await net.post_reply({**payload, "local_note": "not for the wire"}, "k")

    with_net(fake, body, transport=httpx.MockTransport(spy))
    post = next(r for r in seen if r.method == "POST")
    assert post.headers["Idempotency-Key"] == "k"
    assert post.headers["Authorization"] == "Bearer test-token"
    assert post.headers["Content-Type"] == "application/json"
    assert b"local_note" not in post.content


# -- errors ------------------------------------------------------------------------------------------


def _reply_error(fake: FakeMastodon, **fault: Any) -> Exception:
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> Exception:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "ok", "k")
        if fault:
            fake.fail_next("POST", "/api/v1/statuses", **fault)
        try:
            await net.post_reply(payload, "k")
        except Exception as exc:
            return exc
        raise AssertionError("no error")

    result: Exception = with_net(fake, body)
    return result


def test_401_on_send_is_auth_expired(fake: FakeMastodon) -> None:
    exc = _reply_error(fake, status=401, body={"error": "The access token was revoked"})
    assert isinstance(exc, AuthExpired) and "revoked" in str(exc)


def test_403_scope_is_auth_expired(fake: FakeMastodon) -> None:
    exc = _reply_error(fake, status=403, body={"error": "This action is outside the authorized scopes"})
    assert isinstance(exc, AuthExpired)


def test_404_is_rejected_as_gone(fake: FakeMastodon) -> None:
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "ok", "k")
        fake.delete_status(post.remote_id)
        with pytest.raises(Rejected, match="no longer exists"):
            await net.post_reply(payload, "k")

    with_net(fake, body)
    assert fake.posted == []


def test_422_carries_the_servers_reason() -> None:
    fake = FakeMastodon(max_characters=10)
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        with pytest.raises(Rejected, match="Text character limit of 10 exceeded"):
            await net.post_reply({"status": "far too long for ten", "in_reply_to_id": post.remote_id}, "k")
        with pytest.raises(Rejected, match="Text can't be blank"):
            await net.post_reply({"status": "   ", "in_reply_to_id": post.remote_id}, "k2")

    with_net(fake, body, max_characters=10)
    assert fake.posted == []


@pytest.mark.parametrize("reset_format", ["iso", "epoch"])
def test_429_gives_the_reset_time(reset_format: str) -> None:
    clock = Clock()
    fake = FakeMastodon(clock=clock, reset_format=reset_format, rate_limit=5, rate_window=300)

    async def body(net: MastodonNetwork) -> None:
        await net.verify()
        fake.exhaust_rate_limit()
        with pytest.raises(RateLimited) as info:
            await net.fetch_mentions(None)
        assert info.value.reset_at == datetime(2026, 3, 14, 12, 5, tzinfo=UTC)
        state = net.rate_limit()
        assert state is not None and state.limit == 5 and state.remaining == 0

    with_net(fake, body, clock=clock)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500, "body": {"error": "Internal server error"}}, UnknownOutcome),
        ({"status": 502, "body": {"error": "Bad gateway"}}, UnknownOutcome),
        ({"status": 503, "body": {"error": "There was a temporary problem serving your request"}}, UnknownOutcome),
        ({"exc": httpx.ReadTimeout}, UnknownOutcome),
        ({"exc": httpx.WriteTimeout}, UnknownOutcome),
        ({"exc": httpx.ReadError}, UnknownOutcome),
        ({"exc": httpx.RemoteProtocolError}, UnknownOutcome),
        ({"exc": httpx.ConnectError}, Offline),
        ({"exc": httpx.ConnectTimeout}, Offline),
        ({"exc": httpx.PoolTimeout}, Offline),
    ],
)
def test_send_failures_map_to_typed_errors(fake: FakeMastodon, fault: dict[str, Any], error: type) -> None:
    exc = _reply_error(fake, **fault)
    assert type(exc) is error
    assert "test-token" not in str(exc)


def test_read_failures_are_offline_not_unknown(fake: FakeMastodon) -> None:
    async def body(net: MastodonNetwork) -> None:
        fake.fail_next("GET", "/api/v1/notifications", status=502)
        with pytest.raises(Offline, match="HTTP 502"):
            await net.fetch_mentions(None)
        fake.fail_next("GET", "/api/v1/notifications", exc=httpx.ReadTimeout)
        with pytest.raises(Offline):
            await net.fetch_mentions(None)

    with_net(fake, body)


def test_a_concurrent_duplicate_gets_503_and_then_the_original() -> None:
    fake = FakeMastodon()
    fake.add_mention("maria@social.example", "help")
    fake.post_delay = 0.3

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "ok", "k")
        first, second = await asyncio.gather(
            net.post_reply(payload, "k"),
            _later(0.1, net.post_reply(payload, "k")),
            return_exceptions=True,
        )
        assert not isinstance(first, BaseException)
        assert isinstance(second, UnknownOutcome)
        assert (await net.post_reply(payload, "k")).remote_id == first.remote_id
        assert len(fake.posted) == 1

    with fake.serving():

        async def go() -> None:
            async with httpx.AsyncClient() as client:
                net = MastodonNetwork(fake.url, "test-token", client=client)
                await body(net)

        run(go())


async def _later(delay: float, coro: Awaitable[Any]) -> Any:
    await asyncio.sleep(delay)
    return await coro


# -- reconciling an unknown send --------------------------------------------------------------------


def test_reconcile_finds_an_arrived_reply_and_none_otherwise() -> None:
    fake = FakeMastodon(honour_idempotency=False)  # the second layer is the reconcile, not the key
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "We're on it: https://status.example.com/a/very/long/path", "k")
        assert await net.find_reply(payload, "k") is None
        fake.fail_next("POST", "/api/v1/statuses", exc=httpx.ReadTimeout, deliver=True)
        with pytest.raises(UnknownOutcome):
            await net.post_reply(payload, "k")
        found = await net.find_reply(payload, "k")
        assert found is not None and found.remote_id == fake.posted[0]["status_id"]
        other = net.freeze_reply(target_of(post), "A different answer", "k2")
        assert await net.find_reply(other, "k2") is None

    with_net(fake, body)


def test_reconcile_reads_our_statuses_when_the_post_is_gone(fake: FakeMastodon) -> None:
    fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "Answer", "k")
        await net.post_reply(payload, "k")
        for n in range(45):  # push our reply to the second page of our statuses
            fake.add_status("acme", f"announcement {n}")
        fake.fail_next("GET", "/context$", status=404, body={"error": "Record not found"})
        found = await net.find_reply(payload, "k")
        assert found is not None and found.remote_id == fake.posted[0]["status_id"]

    with_net(fake, body)


def test_reconcile_finds_a_direct_reply(fake: FakeMastodon) -> None:
    fake.add_mention("maria@social.example", "my account number is 1234", visibility="direct")

    async def body(net: MastodonNetwork) -> None:
        post = await _first_post(net)
        payload = net.freeze_reply(target_of(post), "Thanks, fixed", "k")
        assert payload["visibility"] == "direct"
        sent = await net.post_reply(payload, "k")
        found = await net.find_reply(payload, "k")
        assert found is not None and found.remote_id == sent.remote_id
        # Through our own statuses too: the author sees their direct ones there.
        fake.fail_next("GET", "/context$", status=404, body={"error": "Record not found"})
        again = await net.find_reply(payload, "k")
        assert again is not None and again.remote_id == sent.remote_id

    with_net(fake, body)


# -- rate-limit parsing ------------------------------------------------------------------------------


def test_parse_reset_iso_epoch_and_skew() -> None:
    now = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    assert parse_reset("2026-03-14T12:05:00.000000Z") == datetime(2026, 3, 14, 12, 5, tzinfo=UTC)
    assert parse_reset("2026-03-14T12:05:00+00:00") == datetime(2026, 3, 14, 12, 5, tzinfo=UTC)
    assert parse_reset(str(int(datetime(2026, 3, 14, 12, 5, tzinfo=UTC).timestamp()))) == datetime(
        2026, 3, 14, 12, 5, tzinfo=UTC
    )
    assert parse_reset("30", now=now) == now + timedelta(seconds=30)
    # The server's clock runs 10 minutes ahead: the wait is what the server means, in our time.
    skewed = parse_reset("2026-03-14T12:15:00Z", "Sat, 14 Mar 2026 12:10:00 GMT", now)
    assert skewed == now + timedelta(minutes=5)
    assert parse_reset("soon") is None and parse_reset(None) is None


def test_rate_limit_state_is_read_from_every_answer(fake: FakeMastodon) -> None:
    async def body(net: MastodonNetwork) -> None:
        assert net.rate_limit() is None
        await net.verify()
        first = net.rate_limit()
        await net.fetch_mentions(None)
        second = net.rate_limit()
        assert first is not None and second is not None
        assert first.limit == 300 and second.remaining is not None and first.remaining is not None
        assert second.remaining < first.remaining
        assert second.reset_at is not None and second.reset_at > datetime.now(UTC) - timedelta(seconds=5)

    with_net(fake, body)


# -- the fake itself (used by other suites as a separate process) ------------------------------------


def test_fake_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "masto.json"
    fake = FakeMastodon(state_path=state)
    m = fake.add_mention("maria@social.example", "help")

    async def body(net: MastodonNetwork) -> None:
        payload = net.freeze_reply(target_of((await net.fetch_mentions(None)).posts[0]), "ok", "key-a")
        await net.post_reply(payload, "key-a")

    with_net(fake, body)
    again = FakeMastodon(state_path=state)
    assert [p["idempotency_key"] for p in again.posted] == ["key-a"]
    assert again.replies_to(m["id"], "acme")[0]["id"] == fake.posted[0]["status_id"]

    async def retry(net: MastodonNetwork) -> None:
        sent = await net.post_reply({"status": "ok", "in_reply_to_id": m["id"]}, "key-a")
        assert sent.remote_id == fake.posted[0]["status_id"]  # the key is remembered across the restart

    with_net(again, retry)
    assert len(again.posted) == 1


def test_fake_runs_as_a_program(tmp_path: Path) -> None:
    state = tmp_path / "masto.json"

    def start() -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.mastodon",
                "--state",
                str(state),
                "--seed",
                "3",
                "--ignore-idempotency",
            ],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        return proc, line.rsplit(" ", 1)[1].strip()

    proc, url = start()
    try:
        with httpx.Client(base_url=url, trust_env=False) as client:
            auth = {"Authorization": "Bearer test-token", "Idempotency-Key": "k"}
            notes = client.get("/api/v1/notifications", headers=auth).json()
            assert len(notes) == 3
            body = {"status": "@customer0@social.example hi", "in_reply_to_id": notes[0]["status"]["id"]}
            client.post("/api/v1/statuses", json=body, headers=auth).raise_for_status()
            client.post("/api/v1/statuses", json=body, headers=auth).raise_for_status()  # key ignored
    finally:
        proc.kill()  # like kill -9: the state was written before each answer
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    proc, url = start()
    try:
        with httpx.Client(base_url=url, trust_env=False) as client:
            posted = client.get("/_fake/posted").json()
            assert [p["idempotency_key"] for p in posted] == ["k", "k"]
            assert len(client.get("/api/v1/notifications", headers={"Authorization": "Bearer test-token"}).json()) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        proc.stdout.close()
