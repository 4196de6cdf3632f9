"""Fixtures for the view-model tests: a qasync loop and a core with more posts than one page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.views.qtasync import qloop  # noqa: F401 (a fixture)

BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def import_posts(core: Any, n: int, *, start: int = 0, minutes: float = 1.0, offset: float = 0.0) -> list[int]:
    """Import ``n`` posts to one Mastodon account, one every ``minutes``; returns the new ids."""
    before = core.max_post_id()
    lines = [
        json.dumps(
            {
                "network": "mastodon",
                "remote_id": f"m{i}",
                "author": f"user{i % 37}",
                "text": f"post {i}: where is my refund, this is the third time I ask" if i % 5 == 0 else f"hello {i}",
                "created_at": (BASE + timedelta(minutes=offset + i * minutes)).isoformat(),
                "account": "@brand@masto.example",
            }
        )
        for i in range(start, start + n)
    ]
    new, _, errors = core.import_lines(lines, workers=1)  # in-process triage: no worker processes in GUI tests
    assert not errors and new == n
    return list(range(before + 1, core.max_post_id() + 1))


@pytest.fixture
def big_core(data_dir: Path) -> Iterator[Any]:
    """A core with 450 imported posts (more than two pages) and no network accounts."""
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    c = Parley(open_database(sqlite_url(data_dir / "big.sqlite")), data_dir)
    import_posts(c, 450)
    yield c
    c.db.close()
