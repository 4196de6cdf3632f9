"""Measure ingest, triage, timeline and search against bare baselines in the same run.

    python -m bench.run [--posts N]

Each figure is printed beside its baseline and the ratio; copy the table into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = (
    "router internet outage refund bill charged twice still waiting engineer thanks great app "
    "broken slow wifi mobile roaming contract cancel cancelled order delivery support phone line "
    "please help today again third time nobody answers love fast fibre upgrade price"
).split()


def synthetic_lines(n: int, seed: int = 7) -> list[str]:
    """N import lines of plausible customer posts, in time order."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        text = "@acme " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
        out.append(
            json.dumps(
                {
                    "network": "bench",
                    "account": "@acme",
                    "remote_id": f"b{i}",
                    "author": f"user{rng.randint(1, n // 20 + 1)}",
                    "text": text,
                    "created_at": (start + timedelta(seconds=30 * i)).isoformat(),
                }
            )
        )
    return out


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=100_000)
    args = ap.parse_args()
    from services.core import Parley
    from services.store.db import open_database, sqlite_url
    from services.store.posts import TimelineFilter
    from services.triage import Triage, TriageInput

    lines = synthetic_lines(args.posts)
    texts = [json.loads(line)["text"] for line in lines]
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # Baselines: TextBlob alone over the texts; a raw executemany insert with FTS5.
        from textblob.en import sentiment

        t_blob = timed(lambda: [sentiment(t) for t in texts])
        raw = sqlite3.connect(d / "raw.sqlite")
        raw.executescript(
            "PRAGMA journal_mode=WAL; CREATE TABLE p (id INTEGER PRIMARY KEY, rid TEXT UNIQUE, author TEXT, text TEXT);"
            "CREATE VIRTUAL TABLE f USING fts5(text, content='p', content_rowid='id');"
        )
        rows = [(f"b{i}", "u", t) for i, t in enumerate(texts)]

        def raw_insert() -> None:
            with raw:
                raw.executemany("INSERT INTO p (rid, author, text) VALUES (?, ?, ?)", rows)
                raw.execute("INSERT INTO f(rowid, text) SELECT id, text FROM p")

        t_raw = timed(raw_insert)
        t_triage = timed(lambda: Triage().score_many([TriageInput(text=t) for t in texts]))

        core = Parley(open_database(sqlite_url(d / "parley.sqlite")), d)
        t_import = timed(lambda: core.import_lines(lines))
        t_page = timed(lambda: core.page(TimelineFilter(), None, 200))
        t_urgent = timed(lambda: core.count(TimelineFilter(view="urgent")))
        t_search = timed(lambda: core.page(TimelineFilter(search="refund engineer"), None, 200))
        t_raw_search = timed(
            lambda: raw.execute(
                'SELECT rowid FROM f WHERE f MATCH \'"refund" AND "engineer"*\' ORDER BY rowid DESC LIMIT 200'
            ).fetchall()
        )
        core.db.close()
        raw.close()

    n = args.posts
    print(f"posts: {n:,}")
    print(f"{'measure':<40}{'Parley':>10}{'baseline':>10}{'ratio':>8}")
    for name, ours, base in (
        ("import --jsonl (with triage) vs TextBlob loop", t_import, t_blob),
        ("import --jsonl vs raw executemany + FTS5", t_import, t_raw),
        ("triage.score_many vs TextBlob loop", t_triage, t_blob),
        ("search (first page) vs raw FTS5", t_search, t_raw_search),
    ):
        print(f"{name:<40}{ours:>9.3f}s{base:>9.3f}s{ours / base:>8.2f}")
    print(f"{'timeline first page (200 rows)':<40}{t_page * 1000:>8.1f}ms")
    print(f"{'urgent view count':<40}{t_urgent * 1000:>8.1f}ms")


if __name__ == "__main__":
    main()
