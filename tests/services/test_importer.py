"""Bulk import: the parallel pipeline stores exactly what the one-process path stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from services.core import Parley
from services.importer import BATCH
from services.store.db import open_database, sqlite_url
from services.store.models import Post

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=60)
PHRASES = (
    "still waiting for my refund",
    "thanks, the engineer was great",
    "no internet since this morning, I work from home",
    "third time I ask about my bill",
    "how do I change my plan?",
)


def lines(n: int) -> list[str]:
    # Few authors and long threads, so repeat contacts and thread sizes cross batch boundaries.
    return [
        json.dumps(
            {
                "network": "archive",
                "account": "@acme",
                "remote_id": f"r{i}",
                "author": f"user{i % 37}",
                "text": f"@acme {PHRASES[i % len(PHRASES)]} (#{i})",
                "created_at": (START + timedelta(minutes=7 * i)).isoformat(),
                "conversation": f"c{i % 101}",
            }
        )
        for i in range(n)
    ]


def snapshot(core: Parley) -> dict[str, tuple[object, ...]]:
    with core.db.session() as s:
        return {
            p.remote_id: (p.sentiment, p.negative, p.urgency, p.urgent, p.reasons, p.answered)
            for p in s.exec(select(Post))
        }


def open_core(d: Path) -> Parley:
    d.mkdir()
    # A fixed clock: with the real one, "waited 265 d" turns into "266 d" for a few posts between two imports.
    return Parley(open_database(sqlite_url(d / "p.sqlite")), d, clock=lambda: NOW)


def test_parallel_import_matches_the_sequential_one(tmp_path: Path) -> None:
    data = lines(BATCH * 3 + 123)
    one, two = open_core(tmp_path / "one"), open_core(tmp_path / "two")
    try:
        assert one.import_lines(data, workers=1) == (len(data), 0, [])
        assert two.import_lines(data, workers=2, expected=len(data)) == (len(data), 0, [])
        a, b = snapshot(one), snapshot(two)
        assert len(a) == len(data) == len(b)
        # Posts still being scored in the workers cannot yet count as "earlier urgent post" of their
        # thread (one batch in flight, seen from the next two); every other part of every score is the same.
        differ = {k for k in a if a[k] != b[k]}
        assert all("escalated_thread" in a[k][4] + b[k][4] for k in differ)
        assert len(differ) <= 2 * BATCH
        # Context crossed batches: the same author keeps counting as a repeat contact late in the file.
        assert "repeat contact" in a[f"r{len(data) - 1}"][4]
        # Importing again adds nothing, on either path.
        assert two.import_lines(data, workers=2, expected=len(data)) == (0, len(data), [])
        assert one.import_lines(data, workers=1) == (0, len(data), [])
    finally:
        one.db.close()
        two.db.close()


def test_bad_lines_are_reported_and_the_rest_imported(tmp_path: Path) -> None:
    core = open_core(tmp_path / "d")
    try:
        good = lines(3)
        bad = ["not json", json.dumps({"network": "x"}), json.dumps([1, 2]), ""]
        new, skipped, errors = core.import_lines([good[0], *bad, good[1], good[2]], workers=1)
        assert (new, skipped) == (3, 0)
        assert len(errors) == 3 and all(e.startswith("line ") for e in errors)
    finally:
        core.db.close()


def test_a_reply_to_an_imported_post_is_refused_in_plain_words(tmp_path: Path) -> None:
    import asyncio

    import pytest

    from services.errors import InvalidInput

    core = open_core(tmp_path / "d")
    try:
        core.import_lines(lines(1), workers=1)
        with pytest.raises(InvalidInput, match="imported from an archive"):
            asyncio.run(core.queue_reply(1, "Sorry about that"))
        assert core.outbox_rows() == []
    finally:
        core.db.close()
