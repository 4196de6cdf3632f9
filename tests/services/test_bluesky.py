"""Tests for the Bluesky connector against the fake PDS (httpx MockTransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.errors import AuthExpired, InvalidInput, NetworkError, Offline, RateLimited, Rejected, UnknownOutcome
from services.networks import bluesky as bsky
from services.networks.base import FetchResult, RemotePost, ReplyTarget
from services.networks.bluesky import BlueskyNetwork, MemorySessionStore, TidClock
from services.store.posts import TimelineFilter
from tests.fakes.bluesky import FakePDS
from tests.helpers.paging import Read, read_all

S32 = "234567abcdefghijklmnopqrstuvwxyz"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def fake() -> FakePDS:
    pds = FakePDS()
    pds.add_user("carol.test", "Carol", followers=310)
    pds.add_user("dave.test", "Dave", followers=12)
    return pds


def connect(
    fake: FakePDS,
    store: MemorySessionStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **kw: Any,
) -> BlueskyNetwork:
    client = httpx.AsyncClient(transport=transport or fake.transport())
    net = BlueskyNetwork(fake.url, store if store is not None else MemorySessionStore(), client=client, **kw)
    net._own_client = True  # the test hands the client over: aclose() closes it
    return net


def with_net(
    fake: FakePDS, body: Callable[[BlueskyNetwork], Awaitable[Any]], store: MemorySessionStore | None = None, **kw: Any
) -> Any:
    async def go() -> Any:
        net = connect(fake, store, **kw)
        try:
            if not (store and store.session):
                await net.login(fake.me.handle, fake.password)
            return await body(net)
        finally:
            await net.aclose()

    return run(go())


async def drain(net: BlueskyNetwork, cursor: str | None) -> tuple[list[RemotePost], str | None, int]:
    """What the sync does: new mentions, then into open gaps while there are any."""
    read = await read_all(net, cursor)
    return read.posts, read.cursor, read.calls


def in_order(posts: list[RemotePost]) -> list[str]:
    """The ids by time; each page is oldest first, a long gap arrives newest page first."""
    return [p.remote_id for p in sorted(posts, key=lambda p: p.created_at)]


def target_of(post: RemotePost) -> ReplyTarget:
    # The outbox stores raw as JSON and reads it back: do the same round trip.
    return ReplyTarget(post.remote_id, post.conversation_key, post.author.handle, json.loads(json.dumps(post.raw)))


def decode_tid(tid: str) -> int:
    value = 0
    for c in tid:
        value = value * 32 + S32.index(c)
    return value


# -- record keys -------------------------------------------------------------------------------------


def test_tids_are_13_sortable_base32_characters_that_only_grow() -> None:
    clock = TidClock(clock_id=5)
    t = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    first = clock.next(t)
    assert bsky.TID_RE.match(first) and len(first) == 13
    assert first[0] in "234567abcdefghij" and set(first) <= set(S32)
    value = decode_tid(first)
    assert value >> 63 == 0
    assert value & 0x3FF == 5
    assert value >> 10 == int(t.timestamp() * 1_000_000)
    # The same instant, and a clock that steps back, still give strictly greater keys.
    again, back = clock.next(t), clock.next(t - timedelta(seconds=30))
    assert first < again < back
    assert clock.next(t + timedelta(days=400)) > back
    # The interop examples of the TID spec decode and re-encode.
    for example in ("3jzfcijpj2z2a", "7777777777777", "3zzzzzzzzzzzz"):
        v = decode_tid(example)
        assert bsky.encode_tid(v >> 10, v & 0x3FF) == example


# -- sessions ----------------------------------------------------------------------------------------


def test_one_sign_in_then_the_stored_session_is_reused_across_restarts(fake: FakePDS) -> None:
    fake.add_post("carol.test", "@acme.test hello")
    store = MemorySessionStore()

    async def fetch(net: BlueskyNetwork) -> int:
        return len((await net.fetch_mentions(None)).posts)

    assert with_net(fake, fetch, store) == 1
    assert fake.calls["com.atproto.server.createSession"] == 1
    saved = json.dumps(store.session)
    assert fake.password not in saved
    assert set(store.session or {}) == {"accessJwt", "refreshJwt", "did", "handle"}
    for _ in range(3):  # three more starts of the app
        assert with_net(fake, fetch, store) == 1
    assert fake.calls["com.atproto.server.createSession"] == 1
    assert fake.calls["com.atproto.server.refreshSession"] == 0


def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_persisted(fake: FakePDS) -> None:
    fake.access_ttl = 600
    fake.add_post("carol.test", "@acme.test hello")
    store = MemorySessionStore()
    with_net(fake, lambda net: net.verify(), store)
    before = dict(store.session or {})
    fake.advance(700)  # the server's clock passes exp; ours does not know yet

    got = with_net(fake, lambda net: net.fetch_mentions(None), store)
    assert len(got.posts) == 1
    after = store.session or {}
    assert after["refreshJwt"] != before["refreshJwt"] and after["accessJwt"] != before["accessJwt"]
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert ("com.atproto.server.refreshSession", "") in fake.requests
    # The next start uses the refreshed pair as it is.
    with_net(fake, lambda net: net.verify(), store)
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert fake.calls["com.atproto.server.createSession"] == 1


def test_a_token_about_to_expire_is_refreshed_before_the_request(fake: FakePDS) -> None:
    fake.access_ttl = 600
    store = MemorySessionStore()
    with_net(fake, lambda net: net.verify(), store)
    later = datetime.now(UTC) + timedelta(seconds=590)  # inside the refresh margin
    fake.requests.clear()
    with_net(fake, lambda net: net.fetch_mentions(None), store, clock=lambda: later)
    names = [n for n, _ in fake.requests]
    assert names[0] == "com.atproto.server.refreshSession"
    assert "app.bsky.notification.listNotifications" in names
    assert fake.calls["com.atproto.server.refreshSession"] == 1


def test_a_refused_refresh_means_sign_in_again(fake: FakePDS) -> None:
    store = MemorySessionStore()
    with_net(fake, lambda net: net.verify(), store)
    fake.revoke_all()  # the app password was revoked
    with pytest.raises(AuthExpired, match="sign in again"):
        with_net(fake, lambda net: net.fetch_mentions(None), store)
    fake.access_ttl = 1
    store2 = MemorySessionStore()
    with_net(fake, lambda net: net.verify(), store2)
    fake.advance(10)
    fake.refresh_tokens.clear()
    with pytest.raises(AuthExpired, match="sign in again"):
        with_net(fake, lambda net: net.verify(), store2)


def test_a_pair_rotated_by_another_process_is_adopted_not_refreshed_twice(fake: FakePDS) -> None:
    fake.access_ttl = 600
    store = MemorySessionStore()
    with_net(fake, lambda net: net.verify(), store)

    async def two_processes() -> None:
        gui, cli = connect(fake, store), connect(fake, store)
        try:
            await gui.verify()
            await cli.verify()  # both hold the same pair in memory now
            fake.advance(700)
            await cli.verify()  # refreshes; the refresh token is single-use
            await gui.verify()  # its old refresh token is spent: it must take the stored pair
        finally:
            await gui.aclose()
            await cli.aclose()

    run(two_processes())
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert fake.calls["com.atproto.server.createSession"] == 1


def test_a_wrong_password_is_one_plain_sentence(fake: FakePDS) -> None:
    async def go() -> None:
        net = connect(fake)
        try:
            await net.login("acme.test", "wrong-password")
        finally:
            await net.aclose()

    with pytest.raises(AuthExpired) as info:
        run(go())
    assert "Invalid identifier or password" in str(info.value)
    assert "\n" not in str(info.value)


# -- mentions ----------------------------------------------------------------------------------------


def test_paging_follows_empty_and_short_pages_until_a_known_notification(fake: FakePDS) -> None:
    first = [fake.add_post("carol.test" if i % 2 else "dave.test", f"@acme.test question {i}") for i in range(12)]
    for _ in range(5):
        fake.add_noise("dave.test", "like")
    fake.empty_pages = 2
    fake.page_cap = 3
    store = MemorySessionStore()

    posts, cursor, calls = with_net(fake, lambda net: drain(net, None), store, page_limit=5)
    assert calls > 1  # more pages than one call reads: continued from the cursor
    assert in_order(posts) == first  # every one, once
    assert cursor and json.loads(cursor)["seen"]["uri"] == first[-1]

    later = [fake.add_post("carol.test", f"@acme.test again {i}") for i in range(4)]
    fake.requests.clear()
    posts2, cursor2, _ = with_net(fake, lambda net: drain(net, cursor), store, page_limit=5)
    assert in_order(posts2) == later and len(posts2) == 4
    assert json.loads(cursor2 or "{}")["seen"]["uri"] == later[-1]
    # It stopped at the first known notification instead of reading the whole history again.
    pages = [q for n, q in fake.requests if n == "app.bsky.notification.listNotifications"]
    assert len(pages) <= 2 * 3 + 2

    # Nothing new: no posts and the same place.
    posts3, cursor3, _ = with_net(fake, lambda net: drain(net, cursor2), store)
    assert posts3 == [] and json.loads(cursor3 or "{}")["seen"] == json.loads(cursor2 or "{}")["seen"]


def test_reasons_filtered_after_paging_give_empty_pages_that_are_followed(fake: FakePDS) -> None:
    mentions = []
    for i in range(6):
        for _ in range(7):
            fake.add_noise("dave.test", "like")
        mentions.append(fake.add_post("carol.test", f"@acme.test #{i}"))
        fake.add_noise("dave.test", "follow")
    fake.sparse = True
    fake.trailing_cursor = True
    posts, _, _ = with_net(fake, lambda net: drain(net, None), page_limit=4)
    assert in_order(posts) == mentions
    assert any(n == "app.bsky.notification.listNotifications" and "reasons=mention" in q for n, q in fake.requests)


def test_a_long_gap_is_read_a_few_pages_per_call_without_gaps_or_repeats(fake: FakePDS) -> None:
    store = MemorySessionStore()
    seed = fake.add_post("carol.test", "@acme.test first")
    _, cursor, _ = with_net(fake, lambda net: drain(net, None), store)
    gap = [fake.add_post("dave.test", f"@acme.test gap {i}") for i in range(23)]
    posts, cursor2, calls = with_net(fake, lambda net: drain(net, cursor), store, page_limit=3, max_pages=2)
    assert calls > 3
    assert sorted(p.remote_id for p in posts) == sorted(gap)
    assert len({p.remote_id for p in posts}) == len(posts)
    assert seed not in {p.remote_id for p in posts}
    assert json.loads(cursor2 or "{}") == {"v": 1, "seen": json.loads(cursor2 or "{}")["seen"]}
    assert json.loads(cursor2 or "{}")["seen"]["uri"] == gap[-1]


def test_a_saved_way_back_the_server_refuses_is_read_again_from_the_top(fake: FakePDS) -> None:
    store = MemorySessionStore()
    old = fake.add_post("carol.test", "@acme.test old")
    _, cursor, _ = with_net(fake, lambda net: drain(net, None), store)
    new = [fake.add_post("dave.test", f"@acme.test new {i}") for i in range(7)]

    async def go(net: BlueskyNetwork) -> tuple[FetchResult, Read]:
        top = await net.fetch_mentions(cursor)
        state = json.loads(top.cursor or "{}")
        state["holes"][0]["resume"] = "garbage"  # the server no longer takes the saved way back
        return top, await read_all(net, json.dumps(state))

    top, fill = with_net(fake, go, store, page_limit=2, max_pages=2)
    assert in_order(list(top.posts)) == new[-4:] and [g.kind for g in top.gaps] == ["gap"]
    # Read again from the newest, passing over what was read above the stretch: each once, none lost.
    assert fill.ids == new[:3] and old not in fill.ids
    assert not fill.gaps and json.loads(fill.cursor or "{}")["seen"]["uri"] == new[-1]


def test_a_cursor_of_the_earlier_version_mid_walk_is_read_as_one_stretch(fake: FakePDS) -> None:
    store = MemorySessionStore()
    old = fake.add_post("carol.test", "@acme.test old")
    _, cursor, _ = with_net(fake, lambda net: drain(net, None), store)
    new = [fake.add_post("dave.test", f"@acme.test new {i}") for i in range(3)]
    legacy = json.dumps(dict(json.loads(cursor or "{}"), resume="garbage", count=1))
    posts, cursor2, _ = with_net(fake, lambda net: drain(net, legacy), store)
    assert set(in_order(posts)) == set(new) and old not in {p.remote_id for p in posts}
    assert json.loads(cursor2 or "{}") == {"v": 1, "seen": json.loads(cursor2 or "{}")["seen"]}
    assert json.loads(cursor2 or "{}")["seen"]["uri"] == new[-1]


def test_a_deleted_last_seen_notification_still_stops_the_paging(fake: FakePDS) -> None:
    store = MemorySessionStore()
    old = [fake.add_post("carol.test", f"@acme.test old {i}") for i in range(3)]
    _, cursor, _ = with_net(fake, lambda net: drain(net, None), store)
    fake.notes = [n for n in fake.notes if n.uri != old[-1]]
    fake.advance(1)
    new = fake.add_post("dave.test", "@acme.test new")
    posts, _, _ = with_net(fake, lambda net: drain(net, cursor), store, page_limit=1)
    assert [p.remote_id for p in posts] == [new]


def test_mentions_become_remote_posts_with_thread_keys_urls_languages_and_followers(fake: FakePDS) -> None:
    ours = fake.add_post("acme.test", "Our broadband is back in most areas.", notify=False)
    reply = fake.add_post("carol.test", "Not in Leeds it isn't!!", reply_to=ours, langs=["en-GB"])
    deeper = fake.add_post("dave.test", "Same here @carol.test", reply_to=reply, notify=False)
    deep = fake.add_post("carol.test", "@acme.test any news?", reply_to=deeper, langs=["en"])
    quote = fake.add_post("dave.test", "Look at this", quote=ours)
    plain = fake.add_post("dave.test", "@acme.test Ça ne marche pas 😡", langs=["fr"])
    fake.add_noise("carol.test", "repost")

    posts, _, _ = with_net(fake, lambda net: drain(net, None))
    by = {p.remote_id: p for p in posts}
    assert list(by) == [reply, deep, quote, plain]
    r = by[reply]
    assert r.conversation_key == ours and r.parent_remote_id == ours
    assert r.author.handle == "carol.test" and r.author.name == "Carol" and r.author.followers == 310
    assert r.author.remote_id == fake._user("carol.test").did
    assert r.lang == "en-GB" and r.kind == "mention"
    assert r.url == f"https://bsky.app/profile/carol.test/post/{reply.rsplit('/', 1)[-1]}"
    assert r.raw["cid"] == fake.posts[reply].cid and r.raw["reason"] == "reply"
    assert r.raw["record"]["reply"]["root"] == {"uri": ours, "cid": fake.posts[ours].cid}
    assert by[deep].conversation_key == ours and by[deep].parent_remote_id == deeper
    assert by[quote].raw["reason"] == "quote" and by[quote].conversation_key == quote
    assert by[plain].text == "@acme.test Ça ne marche pas 😡" and by[plain].lang == "fr"
    assert by[plain].author.followers == 12


def test_follower_counts_are_looked_up_25_authors_at_a_time(fake: FakePDS) -> None:
    for i in range(30):
        fake.add_user(f"user{i}.test", followers=i)
        fake.add_post(f"user{i}.test", f"@acme.test hi from {i}")
    posts, _, _ = with_net(fake, lambda net: drain(net, None))
    assert len(posts) == 30
    assert {p.author.handle: p.author.followers for p in posts}["user29.test"] == 29
    lookups = [q for n, q in fake.requests if n == "app.bsky.actor.getProfiles"]
    assert len(lookups) == 2 and all(q.count("actors=") <= 25 for q in lookups)


# -- conversations -----------------------------------------------------------------------------------


def test_the_conversation_holds_ancestors_replies_and_our_answers(fake: FakePDS) -> None:
    root = fake.add_post("dave.test", "@acme.test is the app down?")
    mine = fake.add_post("acme.test", "Looking into it, Dave.", reply_to=root, notify=False)
    follow = fake.add_post("dave.test", "Still broken", reply_to=mine)
    other = fake.add_post("carol.test", "Me too", reply_to=follow, notify=False)

    async def go(net: BlueskyNetwork) -> tuple[RemotePost, ...]:
        posts, _, _ = await drain(net, None)
        target = next(p for p in posts if p.remote_id == follow)
        return await net.fetch_conversation(target_of(target))

    thread = with_net(fake, go)
    assert [p.remote_id for p in thread] == [root, mine, follow, other]
    assert [p.kind for p in thread] == ["mention", "own_reply", "mention", "mention"]
    assert all(p.conversation_key == root for p in thread)


def test_a_deleted_post_has_no_conversation(fake: FakePDS) -> None:
    uri = fake.add_post("dave.test", "@acme.test hello")

    async def go(net: BlueskyNetwork) -> tuple[RemotePost, ...]:
        posts, _, _ = await drain(net, None)
        fake.delete_post(uri)
        return await net.fetch_conversation(target_of(posts[0]))

    assert with_net(fake, go) == ()


# -- freezing a reply ---------------------------------------------------------------------------------


def fetched(fake: FakePDS, net: BlueskyNetwork) -> Callable[[str], Awaitable[RemotePost]]:
    async def get(uri: str) -> RemotePost:
        posts, _, _ = await drain(net, None)
        return next(p for p in posts if p.remote_id == uri)

    return get


def test_a_reply_record_points_at_the_thread_root_and_the_parent_with_their_cids(fake: FakePDS) -> None:
    ours = fake.add_post("acme.test", "Maintenance tonight.", notify=False)
    reply = fake.add_post("carol.test", "Which areas?", reply_to=ours)
    top = fake.add_post("dave.test", "@acme.test my router is dead")

    async def go(net: BlueskyNetwork) -> tuple[dict[str, Any], dict[str, Any]]:
        get = fetched(fake, net)
        a = net.freeze_reply(target_of(await get(reply)), "Leeds and York, Carol.", "k1")
        b = net.freeze_reply(target_of(await get(top)), "Sorry Dave, DM us.", "k2")
        return a, b

    a, b = with_net(fake, go)
    assert a["repo"] == fake.me.did and a["collection"] == "app.bsky.feed.post"
    assert "swapRecord" in a and a["swapRecord"] is None
    assert bsky.TID_RE.match(a["rkey"]) and bsky.TID_RE.match(b["rkey"]) and a["rkey"] < b["rkey"]
    rec = a["record"]
    assert rec["$type"] == "app.bsky.feed.post" and rec["text"] == "Leeds and York, Carol."
    assert rec["reply"]["root"] == {"uri": ours, "cid": fake.posts[ours].cid}
    assert rec["reply"]["parent"] == {"uri": reply, "cid": fake.posts[reply].cid}
    assert datetime.fromisoformat(rec["createdAt"]).tzinfo is not None and rec["createdAt"].endswith("Z")
    assert b["record"]["reply"]["root"] == b["record"]["reply"]["parent"] == {"uri": top, "cid": fake.posts[top].cid}
    assert "facets" not in rec


def test_facets_use_utf8_byte_offsets_with_non_ascii_text_and_emoji(fake: FakePDS) -> None:
    fake.add_user("émile.test")  # not mentioned by the post: stays plain text
    uri = fake.add_post("carol.test", "@acme.test ask @dave.test, he knows 🙂")
    text = (
        "Désolé Carol 😞👍🏽 — voir https://exemple.fr/aide?q=é. "
        "Merci @carol.test et @dave.test (@émile.test) #Panne #1 (https://ex.test/a_(b)) https://x.test/p)"
    )

    async def go(net: BlueskyNetwork) -> dict[str, Any]:
        return net.freeze_reply(target_of(await fetched(fake, net)(uri)), text, "k")

    payload = with_net(fake, go)
    encoded = text.encode("utf-8")
    got = []
    for facet in payload["record"]["facets"]:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        (feature,) = facet["features"]
        got.append((encoded[start:end].decode("utf-8"), feature))
    assert got == [
        (
            "https://exemple.fr/aide?q=é",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://exemple.fr/aide?q=é"},
        ),
        ("@carol.test", {"$type": "app.bsky.richtext.facet#mention", "did": fake._user("carol.test").did}),
        ("@dave.test", {"$type": "app.bsky.richtext.facet#mention", "did": fake._user("dave.test").did}),
        ("#Panne", {"$type": "app.bsky.richtext.facet#tag", "tag": "Panne"}),
        ("https://ex.test/a_(b)", {"$type": "app.bsky.richtext.facet#link", "uri": "https://ex.test/a_(b)"}),
        ("https://x.test/p", {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.test/p"}),
    ]
    # Byte offsets, not character offsets: the first link starts well after its character index.
    assert payload["record"]["facets"][0]["index"]["byteStart"] > text.index("https://")


def test_the_text_limits_are_300_graphemes_and_3000_bytes(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test hi")
    thumbs = "👍🏽" * 300

    async def go(net: BlueskyNetwork) -> None:
        assert net.text_limit() == 300
        assert net.text_length(thumbs) == 300 and net.text_length(thumbs + "!") == 301
        assert net.text_length("e\u0301") == 1
        target = target_of(await fetched(fake, net)(uri))
        net.freeze_reply(target, thumbs, "k")  # 300 graphemes, 2400 bytes: fine
        with pytest.raises(InvalidInput, match="3000"):
            net.freeze_reply(target, "👨‍👩‍👧‍👦" * 200, "k")  # 200 graphemes but 5000 bytes
        # A record over the limit that got past us anyway is refused by the PDS for good.
        payload = net.freeze_reply(target, "ok", "k")
        payload["record"]["text"] = thumbs + "!"
        with pytest.raises(Rejected, match="300 graphemes"):
            await net.post_reply(payload, "k")

    with_net(fake, go)


def test_a_post_without_a_cid_cannot_be_answered(fake: FakePDS) -> None:
    async def go(net: BlueskyNetwork) -> None:
        with pytest.raises(InvalidInput, match="sync"):
            net.freeze_reply(ReplyTarget("at://did:plc:x/app.bsky.feed.post/3abc", "c", "x", {}), "hi", "k")

    with_net(fake, go)


# -- sending -----------------------------------------------------------------------------------------


def test_a_retry_after_an_unknown_outcome_sends_the_same_bytes_and_makes_one_record(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test help")

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "On it, Carol 🙂", "k")
        stored = json.loads(json.dumps(payload))  # as the outbox keeps it
        fake.put_faults.append("drop-after")  # it arrives, the answer is lost
        with pytest.raises(UnknownOutcome):
            await net.post_reply(stored, "k")
        found = await net.find_reply(stored, "k")
        assert found is not None and found.remote_id == f"at://{fake.me.did}/app.bsky.feed.post/{payload['rkey']}"
        sent = await net.post_reply(json.loads(json.dumps(payload)), "k")  # the second layer: a no-op
        assert sent.remote_id == found.remote_id
        assert sent.url == f"https://bsky.app/profile/acme.test/post/{payload['rkey']}"

    with_net(fake, go)
    assert len(fake.posted) == 1 and fake.writes == 1
    bodies = [b for n, b in fake.bodies if n == "com.atproto.repo.putRecord"]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_an_answer_lost_before_arrival_is_reconciled_as_absent_and_sent_once(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test help")

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "Checking.", "k")
        fake.put_faults.extend(["drop-before", "500-before"])
        for _ in range(2):
            with pytest.raises(UnknownOutcome):
                await net.post_reply(payload, "k")
            assert await net.find_reply(payload, "k") is None
        await net.post_reply(payload, "k")
        assert await net.find_reply(payload, "k") is not None

    with_net(fake, go)
    assert len(fake.posted) == 1


def test_a_different_record_under_our_key_is_neither_ours_nor_overwritten(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test help")

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "First text", "k")
        await net.post_reply(payload, "k")
        other = json.loads(json.dumps(payload))
        other["record"]["text"] = "Second text"
        assert await net.find_reply(other, "k") is None
        with pytest.raises(Rejected, match="record key"):
            await net.post_reply(other, "k")

    with_net(fake, go)
    assert [p["record"]["text"] for p in fake.posted] == ["First text"]


def test_an_expired_token_during_a_send_is_refreshed_and_the_reply_sent_once(fake: FakePDS) -> None:
    fake.access_ttl = 600
    uri = fake.add_post("carol.test", "@acme.test help")
    store = MemorySessionStore()

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "Hello", "k")
        fake.advance(700)
        await net.post_reply(payload, "k")

    with_net(fake, go, store)
    assert len(fake.posted) == 1
    assert fake.calls["com.atproto.server.refreshSession"] == 1
    assert fake.calls["com.atproto.repo.putRecord"] == 2  # refused as expired, then sent


def test_errors_map_to_the_typed_errors(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test help")

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "Hi", "k")
        # 429 with the reset in epoch seconds.
        fake.force_429 = 1
        with pytest.raises(RateLimited) as limited:
            await net.post_reply(payload, "k")
        reset = int(fake._window_start + fake.rate_window)
        assert limited.value.reset_at == datetime.fromtimestamp(reset, UTC)
        state = net.rate_limit()
        assert state is not None and state.limit == 3000 and state.reset_at == datetime.fromtimestamp(reset, UTC)
        # A server error on a write may have been applied.
        fake.put_faults.append("500-after")
        with pytest.raises(UnknownOutcome):
            await net.post_reply(payload, "k")
        # No connection at all: nothing was sent.
        fake.offline = True
        with pytest.raises(Offline):
            await net.post_reply(payload, "k")
        with pytest.raises(Offline):
            await net.fetch_mentions(None)
        fake.offline = False
        # A refused record is final, with the server's reason.
        bad = json.loads(json.dumps(payload))
        bad["rkey"] = "not-a-tid"
        with pytest.raises(Rejected, match="Invalid record key"):
            await net.post_reply(bad, "k")
        # Reading back a key that is not there.
        missing = dict(payload, rkey=bsky.encode_tid(1, 1))
        assert await net.find_reply(missing, "k") is None

    with_net(fake, go)
    assert len(fake.posted) == 1  # the 500-after one arrived


def test_a_read_that_fails_during_reconciliation_keeps_the_reply_unknown(fake: FakePDS) -> None:
    uri = fake.add_post("carol.test", "@acme.test help")

    class Flaky(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = fake.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("com.atproto.repo.getRecord"):
                raise httpx.ReadTimeout("slow", request=request)
            return await self.inner.handle_async_request(request)

    async def go(net: BlueskyNetwork) -> None:
        payload = net.freeze_reply(target_of(await fetched(fake, net)(uri)), "Hi", "k")
        with pytest.raises(UnknownOutcome):
            await net.find_reply(payload, "k")
        fake.put_faults.append("500-before")
        with pytest.raises(UnknownOutcome):
            await net.post_reply(payload, "k")
        # A failed read outside the send path is an ordinary network error, not "maybe sent".
        with pytest.raises(NetworkError) as info:
            await net.fetch_conversation(target_of(await fetched(fake, net)(uri)))
        assert not isinstance(info.value, UnknownOutcome)

    fake.put_faults.clear()
    calls = {"n": 0}

    class ThreadTimeout(Flaky):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("getPostThread"):
                calls["n"] += 1
                raise httpx.ReadTimeout("slow", request=request)
            return await super().handle_async_request(request)

    with_net(fake, go, transport=ThreadTimeout())
    assert calls["n"] == 1


def test_verify_returns_the_account_identity(fake: FakePDS) -> None:
    me = with_net(fake, lambda net: net.verify())
    assert (me.remote_id, me.handle, me.name, me.followers) == (fake.me.did, "acme.test", "Acme Support", 1200)


def test_without_a_session_the_account_must_sign_in(fake: FakePDS) -> None:
    async def go() -> None:
        net = connect(fake)
        try:
            await net.fetch_mentions(None)
        finally:
            await net.aclose()

    with pytest.raises(AuthExpired, match="sign in"):
        run(go())


def test_pds_addresses_are_normalised() -> None:
    assert bsky.normalise_pds("http://127.0.0.1:2583/") == "http://127.0.0.1:2583"
    assert bsky.normalise_pds("bsky.social") == "https://bsky.social"
    with pytest.raises(InvalidInput):
        bsky.normalise_pds("ftp://x")


# -- through the outbox --------------------------------------------------------------------------------


@pytest.fixture
def bsky_core(data_dir: Path, fake: FakePDS) -> Iterator[tuple[Any, BlueskyNetwork]]:
    from services.core import Parley
    from services.networks.registry import NetworkRegistry
    from services.store.db import open_database, sqlite_url
    from services.store.models import Account

    store = MemorySessionStore()
    holder: dict[str, BlueskyNetwork] = {}

    class Registry(NetworkRegistry):
        def get(self, account: Account) -> Any:
            if "net" not in holder:
                holder["net"] = connect(fake, store)
            return holder["net"]

    core = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)
    core.networks = core.sync.networks = core.outbox.networks = Registry(data_dir)

    async def login() -> None:
        net = connect(fake, store)
        try:
            await net.login("acme.test", fake.password)
        finally:
            await net.aclose()

    run(login())
    with core.db.session() as s:
        s.add(Account(network="bluesky", handle="acme.test", server_url=fake.url, remote_user_id=fake.me.did))
    yield core, holder
    core.db.close()


def test_the_outbox_reconciles_a_lost_answer_and_leaves_exactly_one_reply(bsky_core: Any, fake: FakePDS) -> None:
    core, holder = bsky_core
    ours = fake.add_post("acme.test", "Outage update.", notify=False)
    carol = fake.add_post("carol.test", "Still down!", reply_to=ours)

    async def go() -> list[Any]:
        report = await core.sync_once()
        assert report.problems == () and report.fetched == 1
        rows = core.page(TimelineFilter(), None, 10)
        item = await core.queue_reply(rows[0].id, "Sorry Carol, engineers are on it: https://status.acme.test")
        fake.put_faults.append("drop-after")
        first = await core.drain_outbox()
        assert core.outbox.get(item.id).state == "unknown" and not first.sent
        for row in core.outbox_rows():
            core.outbox.retry(row.id)
        await core.drain_outbox()
        out = core.outbox_rows()
        await holder["net"].aclose()
        return out

    (row,) = run(go())
    assert row.state == "sent" and row.remote_id and row.remote_id.startswith(f"at://{fake.me.did}/")
    (record,) = fake.posted
    assert record["uri"] == row.remote_id
    assert record["record"]["reply"] == {
        "root": {"uri": ours, "cid": fake.posts[ours].cid},
        "parent": {"uri": carol, "cid": fake.posts[carol].cid},
    }
    assert fake.calls["com.atproto.repo.getRecord"] == 1


# -- @handles outside the thread ---------------------------------------------------------------------------


def mention_facets(payload: dict[str, Any]) -> dict[str, str]:
    """The mention facets of a frozen reply: the text each covers -> the DID it names."""
    encoded = payload["record"]["text"].encode("utf-8")
    out = {}
    for facet in payload["record"].get("facets", ()):
        (feature,) = facet["features"]
        if feature["$type"] == "app.bsky.richtext.facet#mention":
            out[encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()] = feature["did"]
    return out


def test_handles_the_thread_does_not_name_are_resolved_and_unknown_ones_stay_plain_text(fake: FakePDS) -> None:
    erin = fake.add_user("erin.test", "Erin")
    uri = fake.add_post("carol.test", "@acme.test my order never came")
    text = "Carol, @erin.test in billing will call you (cc @carol.test, @ghost.test, @Erin.test again)."

    async def go(net: BlueskyNetwork) -> tuple[dict[str, Any], list[str]]:
        target = target_of(await fetched(fake, net)(uri))
        fake.requests.clear()
        await net.prepare_reply(target, text)
        await net.prepare_reply(target, text)  # asked once per handle for the connector's life
        asked = [q for n, q in fake.requests if n == "com.atproto.identity.resolveHandle"]
        return net.freeze_reply(target, text, "k"), asked

    payload, asked = with_net(fake, go)
    # Carol is in the thread (no look-up); erin.test is looked up once; ghost.test does not exist.
    assert sorted(asked) == ["handle=erin.test", "handle=ghost.test"]
    assert mention_facets(payload) == {
        "@erin.test": erin,
        "@carol.test": fake._user("carol.test").did,
        "@Erin.test": erin,
    }
    assert "@ghost.test" in payload["record"]["text"]  # as typed, plain text, no broken facet


def test_a_handle_that_cannot_be_looked_up_now_still_lets_the_reply_queue(fake: FakePDS) -> None:
    erin = fake.add_user("erin.test")
    uri = fake.add_post("carol.test", "@acme.test hello")
    text = "Hi Carol, @erin.test will help."

    async def go(net: BlueskyNetwork) -> tuple[dict[str, Any], dict[str, Any]]:
        target = target_of(await fetched(fake, net)(uri))
        fake.offline = True
        await net.prepare_reply(target, text)  # no error: an offline queue is the point of the outbox
        offline = net.freeze_reply(target, text, "k1")
        fake.offline = False
        await net.prepare_reply(target, text)  # not remembered as missing: asked again
        return offline, net.freeze_reply(target, text, "k2")

    offline, online = with_net(fake, go)
    assert mention_facets(offline) == {} and mention_facets(online) == {"@erin.test": erin}


def test_a_queued_reply_links_a_handle_from_outside_the_thread(bsky_core: Any, fake: FakePDS) -> None:
    core, holder = bsky_core
    erin = fake.add_user("erin.test", "Erin")
    fake.add_post("carol.test", "@acme.test the app crashes on login")

    async def go() -> None:
        await core.sync_once()
        (row,) = core.page(TimelineFilter(), None, 10)
        await core.queue_reply(row.id, "Sorry Carol, @erin.test from our app team is on it.")
        await core.drain_outbox()
        await holder["net"].aclose()

    run(go())
    (record,) = fake.posted
    assert mention_facets(record) == {"@erin.test": erin}


def test_an_edited_reply_links_a_new_handle_from_outside_the_thread(bsky_core: Any, fake: FakePDS) -> None:
    import io

    from services import commands

    core, holder = bsky_core
    erin = fake.add_user("erin.test", "Erin")
    fake.add_post("carol.test", "@acme.test the app crashes on login")

    async def go() -> dict[str, Any]:
        await core.sync_once()
        (row,) = core.page(TimelineFilter(), None, 10)
        item = await core.queue_reply(row.id, "Sorry Carol, our app team is on it.")
        fake.requests.clear()
        out = io.StringIO()
        text = "Sorry Carol, @erin.test from our app team is on it."
        assert await commands.outbox_action(core, action="edit", item_id=item.id, text=text, out=out) == 0
        assert [q for n, q in fake.requests if n == "com.atproto.identity.resolveHandle"] == ["handle=erin.test"]
        await core.drain_outbox()
        sent = core.outbox.get(item.id)
        with pytest.raises(InvalidInput, match="cannot be edited"):  # refused before any look-up
            await core.edit_reply(item.id, "Sorry Carol, @frank.test will call.")
        assert not any(n == "com.atproto.identity.resolveHandle" and "frank" in q for n, q in fake.requests)
        await holder["net"].aclose()
        return json.loads(out.getvalue()) | {"sent": sent.state}

    edited = run(go())
    assert edited["state"] == "queued" and edited["sent"] == "sent"
    (record,) = fake.posted
    assert mention_facets(record) == {"@erin.test": erin}
