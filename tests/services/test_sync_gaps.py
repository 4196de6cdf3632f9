"""The sync's history and gaps end to end through the core: stored, filled on later syncs, shown in health."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services import commands
from services import sync as sync_mod
from services.core import Parley
from services.gaps import read_gaps
from services.store.models import Account, Post
from services.streaming import Backoff
from tests.conftest import Clock
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.factories import bare_core
from tests.helpers.proxied_mastodon import until


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def core(data_dir: Path, clock: Clock) -> Iterator[Parley]:
    c = bare_core(data_dir, clock)
    yield c
    c.db.close()


@pytest.fixture
def served() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    fake.add_account("maria", domain="social.example", display_name="Maria")
    with fake.serving():
        yield fake


def stored_ids(core: Parley) -> list[str]:
    with core.db.session() as s:
        return [p.remote_id for p in s.exec(select(Post))]


def accounts_json(core: Parley) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert run(commands.accounts_list(core, as_json=True, out=out)) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def syncing(core: Parley, fake: FakeMastodon, passes: int) -> list[int]:
    """Add the fake's account, then sync ``passes`` times; how many posts each pass fetched."""
    try:
        await core.add_mastodon_account(fake.url, "test-token")
        fetched = []
        for _ in range(passes):
            report = await core.sync_once()
            assert report.problems == ()
            fetched.append(report.fetched)
        return fetched
    finally:
        await core.networks.aclose()


def test_a_new_account_reads_the_chosen_history_in_its_first_sync(core: Parley, served: FakeMastodon) -> None:
    now = datetime.now(UTC)
    old = [served.add_mention("maria@social.example", f"old {n}", at=now - timedelta(days=3))["id"] for n in range(3)]
    recent = [
        served.add_mention("maria@social.example", f"recent {n}", at=now - timedelta(hours=20, minutes=-n))["id"]
        for n in range(90)
    ]
    core.save_setting("history", "1d")
    assert run(syncing(core, served, 1)) == [90]
    assert sorted(stored_ids(core)) == sorted(recent) and not set(old) & set(stored_ids(core))
    [line] = accounts_json(core)
    assert line["gaps"] == [] and line["gap"] is None


def test_a_gap_is_shown_until_later_syncs_fill_it(
    core: Parley, served: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = served.add_mention("maria@social.example", "seen")["id"]
    monkeypatch.setattr(sync_mod, "FILL_CALLS", 1)  # one page into a gap per sync: it stays open a while
    assert run(syncing(core, served, 1)) == [1]
    served.ignore_min_id = True
    away = [served.add_mention("maria@social.example", f"away {n}")["id"] for n in range(130)]

    assert run(syncing(core, served, 1)) == [80]  # the newest page, and one page into the gap
    [health] = core.health()
    [gap] = health.gaps
    assert gap.kind == "gap" and gap.start is not None and gap.end is not None and gap.start <= gap.end
    assert health.headline == health.gap_note and health.gap_note
    assert health.gap_note.startswith("Mentions may be missing between ") and health.gap_note.endswith("; filling.")
    [line] = accounts_json(core)
    assert line["gap"] == health.gap_note and [g["kind"] for g in line["gaps"]] == ["gap"]

    assert run(syncing(core, served, 2)) == [40, 10]
    assert sorted(stored_ids(core)) == sorted([seen, *away]) and len(set(stored_ids(core))) == 131
    [health] = core.health()
    assert health.gaps == () and health.headline is None
    assert accounts_json(core)[0]["gap"] is None


def test_a_dropped_stream_is_a_gap_until_the_reconnect_backfill_catches_up(core: Parley, served: FakeMastodon) -> None:
    seen_while_down: list[tuple[str, ...]] = []
    account_ids: list[int] = []

    async def sleep(seconds: float) -> None:
        # The connection is down now: the account shows a gap until the backfill proves nothing was missed.
        if not seen_while_down:
            with core.db.session() as s:
                seen_while_down.append(tuple(g.kind for g in read_gaps(s, account_ids[0])))
        await asyncio.sleep(0.01)

    async def go() -> None:
        row = await core.add_mastodon_account(served.url, "test-token")
        account_ids.append(row.id)
        with core.db.session() as s:
            account = s.get(Account, row.id)
        assert account is not None
        backoff = Backoff(first=0.01, factor=1.0, ceiling=0.01, jitter=0.0)
        task = asyncio.ensure_future(core.sync.stream_account(account, backoff=backoff, sleep=sleep))
        try:
            await until(lambda: served.stream_connects == 1 and bool(served.open_streams))
            served.drop_streams()
            await until(lambda: served.stream_connects == 2 and bool(served.open_streams))
            await until(lambda: core.health()[0].gaps == ())
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await core.networks.aclose()

    run(go())
    assert seen_while_down == [("stream",)]
