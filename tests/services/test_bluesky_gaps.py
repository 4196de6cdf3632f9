"""Bluesky history on first connect and gaps behind the cursor, against the fake PDS's listNotifications."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.errors import RateLimited
from services.networks.base import History
from services.networks.bluesky import BlueskyNetwork, MemorySessionStore
from tests.fakes.bluesky import FakePDS
from tests.helpers.paging import read_all, read_new


@pytest.fixture
def fake() -> FakePDS:
    pds = FakePDS()
    pds.add_user("carol.test", "Carol", followers=310)
    return pds


def with_net(fake: FakePDS, body: Callable[[BlueskyNetwork], Awaitable[Any]], **kw: Any) -> Any:
    async def go() -> Any:
        client = httpx.AsyncClient(transport=fake.transport())
        net = BlueskyNetwork(fake.url, MemorySessionStore(), client=client, **kw)
        net._own_client = True
        try:
            await net.login(fake.me.handle, fake.password)
            return await body(net)
        finally:
            await net.aclose()

    return asyncio.run(go())


def posts_aged(fake: FakePDS, age: timedelta, count: int, label: str) -> list[str]:
    """``count`` mentions indexed about ``age`` ago (oldest first); the server's clock comes back after."""
    saved = fake.offset
    fake.offset = saved - age.total_seconds()
    try:
        return [fake.add_post("carol.test", f"@acme.test {label} {n}") for n in range(count)]
    finally:
        fake.offset = saved


def since(age: timedelta) -> datetime:
    return datetime.now(UTC) - age


# -- history on first connect ----------------------------------------------------------------------------


def test_history_reads_back_to_the_cut_off_newest_first(fake: FakePDS) -> None:
    old = posts_aged(fake, timedelta(days=3), 5, "old")
    recent = posts_aged(fake, timedelta(hours=20), 50, "recent")

    async def body(net: BlueskyNetwork) -> None:
        first = await read_new(net, None, History(since(timedelta(days=1))))
        assert first.ids == recent[-20:]  # two pages of ten: the newest come first
        [gap] = first.gaps
        assert gap.kind == "history" and gap.start is not None and gap.end is not None and gap.start < gap.end
        rest = await read_all(net, first.cursor)
        assert sorted(first.ids + rest.ids) == sorted(recent) and not set(rest.ids) & set(old)
        assert not rest.gaps and json.loads(rest.cursor or "{}")["seen"]["uri"] == recent[-1]
        later = fake.add_post("carol.test", "@acme.test after the history")
        assert (await read_all(net, rest.cursor)).ids == [later]

    with_net(fake, body, page_limit=10, max_pages=2)


def test_history_takes_at_most_its_cap_of_the_newest(fake: FakePDS) -> None:
    recent = posts_aged(fake, timedelta(hours=5), 40, "recent")

    async def body(net: BlueskyNetwork) -> None:
        done = await read_all(net, None, History(since(timedelta(days=30)), limit=15))
        assert sorted(done.ids) == sorted(recent[-15:]) and not done.gaps

    with_net(fake, body, page_limit=4, max_pages=2)


def test_no_history_starts_at_the_newest_and_an_empty_account_misses_nothing_later(fake: FakePDS) -> None:
    posts_aged(fake, timedelta(hours=1), 3, "before")

    async def body(net: BlueskyNetwork) -> None:
        start = await read_all(net, None, History(datetime.now(UTC), limit=0))
        assert start.ids == [] and json.loads(start.cursor or "{}")["seen"]
        new = fake.add_post("carol.test", "@acme.test new")
        assert (await read_all(net, start.cursor)).ids == [new]

    with_net(fake, body)

    empty = FakePDS()
    empty.add_user("carol.test")

    async def on_empty(net: BlueskyNetwork) -> None:
        start = await read_all(net, None, History(datetime.now(UTC), limit=0))
        assert start.ids == [] and json.loads(start.cursor or "{}")["since"]
        empty.advance(60)
        first = empty.add_post("carol.test", "@acme.test first ever")
        # Later syncs pass a later cut-off: the account's own start decides what is new.
        assert (await read_all(net, start.cursor, History(datetime.now(UTC) + timedelta(hours=1), 0))).ids == [first]

    with_net(empty, on_empty)


# -- gaps ------------------------------------------------------------------------------------------------


def test_a_long_offline_spell_gives_the_newest_first_and_a_gap_that_closes(fake: FakePDS) -> None:
    fake.add_post("carol.test", "@acme.test seen")

    async def body(net: BlueskyNetwork) -> None:
        start = await read_all(net, None)
        away = [fake.add_post("carol.test", f"@acme.test away {n}") for n in range(25)]
        top = await read_new(net, start.cursor)
        # The walk down stopped after its pages without meeting the last one seen: a gap, the newest in hand.
        assert top.ids == away[-6:]
        [gap] = top.gaps
        assert gap.kind == "gap" and gap.start is not None and gap.end is not None and gap.start < gap.end
        rest = await read_all(net, top.cursor)
        got = top.ids + rest.ids
        assert sorted(got) == sorted(away) and len(got) == len(set(got)) and not rest.gaps

    with_net(fake, body, page_limit=3, max_pages=2)


def test_an_error_while_filling_keeps_the_gap_and_the_next_fill_resumes(fake: FakePDS) -> None:
    fake.add_post("carol.test", "@acme.test seen")

    async def body(net: BlueskyNetwork) -> None:
        start = await read_all(net, None)
        away = [fake.add_post("carol.test", f"@acme.test away {n}") for n in range(20)]
        top = await read_new(net, start.cursor)
        one = await net.fill_gap(top.cursor or "")
        assert one.more and one.gaps
        fake.force_429 = 1
        with pytest.raises(RateLimited):
            await net.fill_gap(one.cursor or "")
        rest = await read_all(net, one.cursor)
        got = top.ids + [p.remote_id for p in one.posts] + rest.ids
        assert sorted(got) == sorted(away) and len(got) == len(set(got)) and not rest.gaps

    with_net(fake, body, page_limit=2, max_pages=2)


def test_more_gaps_than_kept_are_merged_and_still_filled(fake: FakePDS) -> None:
    fake.add_post("carol.test", "@acme.test seen")

    async def body(net: BlueskyNetwork) -> None:
        cursor = (await read_all(net, None)).cursor
        sent: list[str] = []
        got: list[str] = []
        for round_ in range(9):  # each offline spell is longer than one walk: a gap each time, never filled
            sent += [fake.add_post("carol.test", f"@acme.test r{round_} {n}") for n in range(4)]
            top = await read_new(net, cursor)
            got += top.ids
            cursor = top.cursor
        assert 1 < len(json.loads(cursor or "{}")["holes"]) <= 6
        rest = await read_all(net, cursor)
        assert set(got + rest.ids) == set(sent) and not rest.gaps

    with_net(fake, body, page_limit=1, max_pages=2)
