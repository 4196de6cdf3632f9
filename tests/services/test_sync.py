"""Tests for services.sync: triage on arrival, no duplicates, offline accounts, atomic cursors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from services import sync as sync_mod
from services.core import Parley
from services.networks.demo import DemoWorld
from services.store.models import Account, Post, SyncCursor
from services.store.posts import TimelineFilter
from tests.conftest import Clock
from tests.helpers.factories import clocked_core, community, post_id, write_community


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def core(data_dir: Path, clock: Clock) -> Iterator[Parley]:
    c = clocked_core(data_dir, clock)
    yield c
    c.db.close()


@pytest.fixture
def world(core: Parley) -> DemoWorld:
    return core.networks.demo_world


def stored(core: Parley) -> dict[str, Post]:
    with core.db.session() as s:
        return {p.remote_id: p for p in s.exec(select(Post))}


def cursors(core: Parley) -> dict[int, SyncCursor]:
    with core.db.session() as s:
        return {c.account_id: c for c in s.exec(select(SyncCursor))}


def test_sync_once_stores_every_post_triaged_and_a_second_sync_adds_nothing(core: Parley, clock: Clock) -> None:
    report = run(core.sync_once())
    assert report.problems == ()
    assert report.fetched == 7
    posts = stored(core)
    assert set(posts) == {"p0001", "b001", "p0002", "p0006", "p0003", "p0004", "p0005"}
    assert report.changes.new_posts == {p.id for p in posts.values()}
    for p in posts.values():
        assert -1 <= p.sentiment <= 1 and 0 <= p.urgency <= 1
        assert p.scored_at is not None
    for complaint in ("p0001", "p0003", "p0006"):
        rows = core.rows_by_id([posts[complaint].id])
        assert rows[0].negative, complaint
        assert rows[0].reasons, f"{complaint} is a complaint and must say why"
    assert posts["p0003"].urgent  # a whole street offline, large audience
    assert not posts["p0005"].negative and not posts["p0005"].urgent
    # Threads and our own earlier answer.
    assert posts["b001"].kind == "own_reply" and posts["b001"].status == "done"
    assert posts["p0002"].conversation_key == "p0001"
    assert posts["p0001"].answered and not posts["p0002"].answered
    # Accounts and cursors record the success.
    for acc in core.accounts():
        assert acc.last_sync_at == clock.now and acc.last_error is None
    assert all(c.cursor and c.last_success == clock.now and c.last_error is None for c in cursors(core).values())
    assert len(cursors(core)) == 3

    again = run(core.sync_once())
    assert again.fetched == 0 and not again.changes.new_posts and again.problems == ()
    assert len(stored(core)) == 7


def test_posts_written_later_arrive_on_later_syncs(core: Parley, clock: Clock) -> None:
    run(core.sync_once())
    clock.advance(minutes=3)
    report = run(core.sync_once())
    assert report.fetched == 1
    later = stored(core)["p0007"]
    assert later.conversation_key == "p0003" and later.parent_remote_id == "p0003"
    clock.advance(minutes=2)
    assert run(core.sync_once()).fetched == 1  # p0008
    assert run(core.sync_once()).fetched == 0
    assert len(stored(core)) == 9


def test_offline_is_a_plain_account_problem_and_sync_recovers(core: Parley, world: DemoWorld, clock: Clock) -> None:
    world.set_offline(True)
    report = run(core.sync_once())
    assert report.fetched == 0
    assert len(report.problems) == 3
    handles = {a.handle for a in core.accounts()}
    for problem in report.problems:
        assert problem.kind == "offline"
        assert problem.handle in handles
        assert "offline" in problem.message and "\n" not in problem.message
    for acc in core.accounts():
        assert acc.last_error and "offline" in acc.last_error
        assert acc.last_error_kind == "offline"
        assert acc.last_sync_at is None
    assert all(c.cursor is None and c.last_error for c in cursors(core).values())
    assert stored(core) == {}

    world.set_offline(False)
    clock.advance(seconds=30)
    report = run(core.sync_once())
    assert report.problems == () and report.fetched == 7
    for acc in core.accounts():
        assert acc.last_error is None and acc.last_error_kind is None and acc.last_sync_at == clock.now
    assert all(c.last_error is None for c in cursors(core).values())


def test_going_offline_after_a_sync_keeps_what_was_stored(core: Parley, world: DemoWorld, clock: Clock) -> None:
    run(core.sync_once())
    before = {k: c.cursor for k, c in cursors(core).items()}
    world.set_offline(True)
    clock.advance(minutes=5)
    report = run(core.sync_once())
    assert {p.kind for p in report.problems} == {"offline"}
    assert {k: c.cursor for k, c in cursors(core).items()} == before
    assert all(c.last_success is not None for c in cursors(core).values())
    world.set_offline(False)
    assert run(core.sync_once()).fetched == 2  # what arrived meanwhile is not lost
    assert len(stored(core)) == 9


def test_an_account_that_cannot_connect_does_not_stop_the_others(core: Parley) -> None:
    with core.db.session() as s:
        s.add(Account(network="friendica", handle="@acme@friendica.example", server_url="https://f.example"))
    report = run(core.sync_once())
    assert report.fetched == 7
    assert [p.handle for p in report.problems] == ["@acme@friendica.example"]
    assert "friendica" in report.problems[0].message
    broken = next(a for a in core.accounts() if a.network == "friendica")
    assert broken.last_error and broken.last_error_kind == "error"


def test_the_cursor_moves_in_the_same_transaction_as_the_posts(core: Parley, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sync_mod._touch_cursor

    def cursor_then_crash(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("the disk went away after the cursor moved")

    monkeypatch.setattr(sync_mod, "_touch_cursor", cursor_then_crash)
    with pytest.raises(RuntimeError):
        run(core.sync_once())
    # Neither the posts nor the cursor of that page were kept.
    assert stored(core) == {}
    assert all(c.cursor is None for c in cursors(core).values())

    real_ingest = sync_mod.ingest

    def ingest_then_crash(*args: Any, **kwargs: Any) -> list[int]:
        real_ingest(*args, **kwargs)
        raise RuntimeError("killed after the posts were written")

    monkeypatch.setattr(sync_mod, "_touch_cursor", real)
    monkeypatch.setattr(sync_mod, "ingest", ingest_then_crash)
    with pytest.raises(RuntimeError):
        run(core.sync_once())
    assert stored(core) == {}
    assert all(c.cursor is None for c in cursors(core).values())

    monkeypatch.setattr(sync_mod, "ingest", real_ingest)
    assert run(core.sync_once()).fetched == 7


def test_a_crash_between_pages_resumes_where_the_last_stored_page_ended(
    tmp_path: Path, data_dir: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PARLEY_DEMO_DATASET", str(write_community(tmp_path / "big.json", community([-200 + n for n in range(130)])))
    )
    c = clocked_core(data_dir, clock)
    try:
        real = sync_mod.ingest
        calls = {"n": 0}

        def second_page_dies(*args: Any, **kwargs: Any) -> list[int]:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("killed during the second page")
            return real(*args, **kwargs)

        monkeypatch.setattr(sync_mod, "ingest", second_page_dies)
        with pytest.raises(RuntimeError):
            run(c.sync_once())
        first_page = stored(c)
        assert len(first_page) == 50
        masto = next(a.id for a in c.accounts() if a.handle == "@acme@demo.social")
        assert cursors(c)[masto].cursor is not None

        monkeypatch.setattr(sync_mod, "ingest", real)
        report = run(c.sync_once())
        assert report.fetched == 80 and report.problems == ()
        everything = stored(c)
        assert set(everything) == {f"s{n:04d}" for n in range(130)}
        with c.db.session() as s:
            assert s.execute(text("SELECT count(*) FROM post")).scalar_one() == 130
    finally:
        c.db.close()


def test_snoozed_posts_wake_up_during_sync(core: Parley, clock: Clock) -> None:
    run(core.sync_once())
    pid = post_id(core.db, "p0006")
    core.set_status([pid], "snoozed", clock.now + timedelta(minutes=10))
    assert core.count(TimelineFilter(view="snoozed")) == 1
    clock.advance(minutes=9)
    assert pid not in run(core.sync_once()).changes.updated_posts
    clock.advance(minutes=2)
    report = run(core.sync_once())
    assert pid in report.changes.updated_posts
    assert core.rows_by_id([pid])[0].status == "open"
    assert core.count(TimelineFilter(view="snoozed")) == 0
