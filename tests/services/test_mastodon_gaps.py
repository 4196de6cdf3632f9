"""Mastodon history on first connect and gaps behind the cursor, against the fake server's paging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.errors import Offline
from services.networks.base import History
from services.networks.mastodon import PAGE_SIZE, MastodonNetwork
from services.networks.mastodon_cursor import MastodonCursor
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.paging import read_all, read_new

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def with_net(fake: FakeMastodon, body: Callable[[MastodonNetwork], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(transport=fake.transport()) as client:
            net = MastodonNetwork("https://fake.social", "test-token", client=client, clock=lambda: NOW)
            return await body(net)

    return asyncio.run(go())


def mentions_at(fake: FakeMastodon, ages: list[timedelta]) -> list[str]:
    """A mention per age (oldest first); returns the status ids."""
    return [fake.add_mention(text=f"aged {age}", at=NOW - age)["id"] for age in ages]


def notification_requests(fake: FakeMastodon) -> list[dict[str, str]]:
    return [dict(q) for _, path, q, _ in fake.requests if path == "/api/v1/notifications"]


# -- history on first connect ----------------------------------------------------------------------------


def test_history_reads_back_to_the_cut_off_over_several_pages_then_pages_forward() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    old = mentions_at(fake, [timedelta(days=3) - timedelta(minutes=n) for n in range(5)])
    recent = mentions_at(fake, [timedelta(hours=20) - timedelta(minutes=10 * n) for n in range(100)])

    async def body(net: MastodonNetwork) -> None:
        first = await read_new(net, None, History(NOW - timedelta(days=1)))
        # The newest page first, and the rest of the day left as history to read back into.
        assert first.ids == recent[-PAGE_SIZE:] and [g.kind for g in first.gaps] == ["history"]
        assert first.gaps[0].start == NOW - timedelta(days=1)
        done = await read_all(net, first.cursor)
        assert sorted(done.ids + first.ids) == sorted(recent) and not set(done.ids) & set(old)
        assert not done.gaps
        # From then on the cursor pages forward from the newest, as before.
        later = fake.add_mention(text="after the history")["id"]
        again = await read_all(net, done.cursor)
        assert again.ids == [later]

    with_net(fake, body)
    backwards = [q for q in notification_requests(fake) if "max_id" in q]
    assert len(backwards) == 2  # 40 + 40 + 20: then the short page ends the history


def test_history_takes_at_most_its_cap_of_the_newest_mentions() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    ids = mentions_at(fake, [timedelta(hours=10) - timedelta(minutes=n) for n in range(130)])

    async def body(net: MastodonNetwork) -> None:
        done = await read_all(net, None, History(NOW - timedelta(days=30), limit=50))
        assert sorted(done.ids) == sorted(ids[-50:]) and not done.gaps

    with_net(fake, body)


def test_no_history_starts_at_the_newest_and_an_empty_account_misses_nothing_later() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    mentions_at(fake, [timedelta(hours=2), timedelta(hours=1)])
    empty = FakeMastodon(clock=lambda: NOW)

    async def body(net: MastodonNetwork) -> None:
        none = await read_all(net, None, History(NOW, limit=0))
        assert none.ids == [] and MastodonCursor.parse(none.cursor).seen == fake.notifications[-1]["id"]
        fresh = fake.add_mention(text="new")["id"]
        assert (await read_all(net, none.cursor)).ids == [fresh]

    async def on_empty(net: MastodonNetwork) -> None:
        start = await read_all(net, None, History(NOW, limit=0))
        assert start.ids == [] and start.cursor
        # The first mention ever comes after the account was added: it is new, not old history.
        first = empty.add_mention(text="first ever", at=NOW + timedelta(minutes=5))["id"]
        assert (await read_all(net, start.cursor, History(NOW + timedelta(hours=1), limit=0))).ids == [first]

    with_net(fake, body)
    with_net(empty, on_empty)


# -- gaps ------------------------------------------------------------------------------------------------


def test_a_server_that_ignores_min_id_leaves_a_gap_that_is_filled_without_repeats() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    fake.add_mention(text="seen")

    async def body(net: MastodonNetwork) -> None:
        start = await read_all(net, None)
        fake.ignore_min_id = True  # an old server: min_id is not understood, the newest page comes back
        away = [fake.add_mention(text=f"while away {n}")["id"] for n in range(100)]
        top = await read_new(net, start.cursor)
        assert top.ids == away[-PAGE_SIZE:]
        [gap] = top.gaps
        assert gap.kind == "gap" and gap.end is not None
        # The probe found something between the cursor and the page: the gap is read back down to the cursor.
        rest = await read_all(net, top.cursor)
        assert sorted(top.ids + rest.ids) == sorted(away) and len(set(rest.ids)) == len(rest.ids)
        assert not set(rest.ids) & set(top.ids) and not rest.gaps
        assert MastodonCursor.parse(rest.cursor).seen == fake.notifications[-1]["id"]

    with_net(fake, body)


def test_a_cursor_the_server_no_longer_holds_restarts_from_the_newest_with_a_gap() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    last = fake.add_mention(text="the last one we saw")

    async def body(net: MastodonNetwork) -> None:
        start = await read_all(net, None)
        fake.lookup_ids = True
        fake.delete_status(last["id"])  # its notification goes with it: the cursor points at nothing
        away = [fake.add_mention(text=f"while away {n}")["id"] for n in range(60)]
        top = await read_new(net, start.cursor)
        assert top.ids == away[-PAGE_SIZE:] and [g.kind for g in top.gaps] == ["gap"]
        rest = await read_all(net, top.cursor)
        assert sorted(top.ids + rest.ids) == sorted(away) and not rest.gaps

    with_net(fake, body)
    refused = [q for q in notification_requests(fake) if q.get("min_id")]
    assert refused  # the refused forward page was asked for, then the newest page instead


def test_a_gap_interrupted_by_an_outage_is_resumed_where_it_stopped() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    fake.add_mention(text="seen")

    async def body(net: MastodonNetwork) -> None:
        start = await read_all(net, None)
        fake.ignore_min_id = True
        away = [fake.add_mention(text=f"m{n}")["id"] for n in range(130)]
        top = await read_new(net, start.cursor)
        one = await net.fill_gap(top.cursor or "")
        assert one.more and one.gaps and len(one.posts) == PAGE_SIZE
        fake.fail_next("GET", "/api/v1/notifications", exc=httpx.ConnectError)
        with pytest.raises(Offline):
            await net.fill_gap(one.cursor or "")
        rest = await read_all(net, one.cursor)
        got = top.ids + [p.remote_id for p in one.posts] + rest.ids
        assert sorted(got) == sorted(away) and len(got) == len(set(got)) and not rest.gaps

    with_net(fake, body)


def test_a_full_forward_page_on_a_server_that_honours_min_id_needs_one_look_only() -> None:
    fake = FakeMastodon(clock=lambda: NOW)
    fake.add_mention(text="seen")

    async def body(net: MastodonNetwork) -> None:
        cursor = (await read_all(net, None)).cursor
        for round_ in range(3):
            for n in range(PAGE_SIZE + 5):
                fake.add_mention(text=f"r{round_} m{n}")
            read = await read_all(net, cursor)
            assert len(read.ids) == PAGE_SIZE + 5 and not read.gaps
            cursor = read.cursor

    with_net(fake, body)
    assert len([q for q in notification_requests(fake) if "since_id" in q]) == 1
