"""Repeat contacts: the author history an import keeps from batch to batch counts what the database holds, once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from services import importer
from services.core import Parley
from services.store.contacts import AuthorHistory
from services.store.db import Database, open_database, sqlite_url
from services.store.models import Post
from tests.helpers.factories import T0, add_account, remote_post

REPEAT = re.compile(r"repeat contact \((\d+)\w\w\)")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(sqlite_url(tmp_path / "p.sqlite"))
    yield database
    database.close()


def store_posts(db: Database, *posts_at: tuple[str, datetime]) -> None:
    from services.store.posts import ingest
    from services.triage import Triage

    account = add_account(db)
    with db.session() as s:
        ingest(s, account, [remote_post(rid, at=at) for rid, at in posts_at], Triage(), T0)


def test_counts_posts_in_a_half_open_window_from_the_database_and_added_ones(db: Database) -> None:
    store_posts(db, ("a", T0), ("b", T0 + timedelta(hours=1)), ("c", T0 + timedelta(days=3)))
    history = AuthorHistory()
    with db.session() as s:
        history.load(s, [1], T0)
    assert history.count(1, T0, T0 + timedelta(hours=1)) == 1  # the end is left out
    assert history.count(1, T0, T0 + timedelta(hours=1, microseconds=1)) == 2
    assert history.count(1, T0 + timedelta(days=1), T0 + timedelta(days=7)) == 1
    history.add(1, T0 + timedelta(days=2))
    assert history.count(1, T0 + timedelta(days=1), T0 + timedelta(days=7)) == 2
    assert history.count(2, T0, T0 + timedelta(days=7)) == 0  # an author nobody has read


def test_reads_only_up_to_its_first_id_and_reads_back_further_without_counting_twice(db: Database) -> None:
    store_posts(db, ("old", T0 - timedelta(days=5)), ("a", T0), ("b", T0 + timedelta(hours=2)))
    history = AuthorHistory(until_id=2)  # "b" (id 3) was stored by this run: it is added, not read
    with db.session() as s:
        history.load(s, [1], T0)
        assert history.count(1, T0 - timedelta(days=30), T0 + timedelta(days=1)) == 1
        history.load(s, [1], T0)  # nothing new to read
        history.load(s, [1], T0 - timedelta(days=10))  # an older batch: only the older part is read
    assert history.count(1, T0 - timedelta(days=30), T0 + timedelta(days=1)) == 2


def archive(n: int, *, reverse: bool = False) -> list[str]:
    """Posts by four authors, hours apart, each thread its own post: repeat contacts cross batches."""
    start = datetime(2026, 2, 1, tzinfo=UTC)
    out = [
        json.dumps(
            {
                "network": "archive",
                "account": "@acme",
                "remote_id": f"r{i}",
                "author": f"user{i % 4}",
                "text": f"@acme still waiting for my refund, day {i}",
                "created_at": (start + timedelta(hours=3 * i)).isoformat(),
            }
        )
        for i in range(n)
    ]
    return out[::-1] if reverse else out


def repeats(core: Parley) -> dict[str, int]:
    with core.db.session() as s:
        found: dict[str, int] = {}
        for post in s.exec(select(Post)):
            m = REPEAT.search(post.reasons)
            found[post.remote_id] = int(m.group(1)) if m else 1
    return found


def open_core(d: Path) -> Parley:
    d.mkdir()
    return Parley(open_database(sqlite_url(d / "p.sqlite")), d)


def test_an_archive_counts_every_earlier_contact_once_across_batches_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = 60
    monkeypatch.setattr(importer, "BATCH", batch)
    n = batch + 40  # two batches: the second batch's authors were met in the first
    names = ("forward", "backward", "halves", "halves_backward")
    forward, backward, halves, halves_backward = (open_core(tmp_path / name) for name in names)
    try:
        lines = archive(n)
        forward.import_lines(lines, workers=1)
        counted = repeats(forward)
        # A week of posts 3 h apart by four authors: each author's 14 earlier posts of the week count.
        assert counted["r0"] == 1 and counted[f"r{n - 1}"] == 15
        # Two runs count what one run counts: the second reads the first run's posts back from the database.
        halves.import_lines(lines[: n // 2], workers=1)
        halves.import_lines(lines[n // 2 :], workers=1)
        assert repeats(halves) == counted
        # Newest first: a post's earlier contacts are all there once its own batch or run comes, so the
        # older posts count what they count in time order (the newer ones came before their history).
        backward.import_lines(archive(n, reverse=True), workers=1)
        older = {f"r{i}" for i in range(n - batch)}
        assert {k: v for k, v in repeats(backward).items() if k in older} == {k: counted[k] for k in older}
        halves_backward.import_lines(lines[n // 2 :], workers=1)
        halves_backward.import_lines(lines[: n // 2], workers=1)
        first_half = {f"r{i}" for i in range(n // 2)}
        got = repeats(halves_backward)
        assert {k: got[k] for k in first_half} == {k: counted[k] for k in first_half}
    finally:
        for core in (forward, backward, halves, halves_backward):
            core.db.close()
