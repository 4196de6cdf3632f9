"""Parley at scale: import, cold start, search, counts and memory beside bare baselines.

    python -m bench.scale gen --posts N --out FILE       # synthetic JSON lines (40-280 chars)
    python -m bench.scale import --jsonl FILE --dir D    # `main.py import` (subprocess) vs TextBlob loop, raw FTS5
    python -m bench.scale query --dir D                  # search / urgent count vs raw FTS5 / raw count(*)
    python -m bench.scale start --dir D [--runs 3]       # start to painted timeline + peak RSS vs bench/gui_start.py

Every Parley figure is taken in the same run as its baseline; copy the printed lines into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

OPENERS = [
    "@acme",
    "hey @acme",
    "@acme hi,",
    "@acme_help",
    "so @acme",
    "@acme why",
    "@acme seriously,",
    "thanks @acme",
]
PHRASES = (
    "my router keeps dropping the connection every evening",
    "still waiting for the refund you promised two weeks ago",
    "charged twice for the same bill this month",
    "the engineer never turned up and nobody called",
    "third time I ask and still no answer",
    "internet outage again in the whole street",
    "love the new app, so fast now",
    "great support today, thank you Sam",
    "why is my bill higher than last month?",
    "roaming charges make no sense at all",
    "cancel my contract please, I am done",
    "the delivery was left in the rain",
    "wifi is slow since the upgrade",
    "phone line dead since Tuesday",
    "fibre upgrade went smoothly, cheers",
    "how do I change my plan online?",
    "order cancelled without any explanation",
    "please help, nobody answers the phone",
    "price went up again without a letter",
    "mobile data not working abroad",
    "been on hold for an hour",
    "the chat bot just loops",
    "any news on the outage in Leeds?",
    "brilliant service from the shop team",
)


def gen(n: int, path: Path, seed: int = 11) -> None:
    """N import lines, 40-280 characters of text each, ~N/8 authors (a Zipf-ish repeat), time order."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n_authors = max(1, n // 8)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            target = rng.randint(40, 280)
            text = rng.choice(OPENERS)
            while len(text) < target:
                text += " " + rng.choice(PHRASES)
            text = text[:target].rstrip()
            # Heavy repeaters: a quarter of posts come from the first 1% of authors.
            a = rng.randint(1, max(1, n_authors // 100)) if rng.random() < 0.25 else rng.randint(1, n_authors)
            fh.write(
                json.dumps(
                    {
                        "network": "bench",
                        "account": "@acme",
                        "remote_id": f"s{i}",
                        "author": f"user{a}",
                        "text": text,
                        "created_at": (start + timedelta(seconds=3 * i)).isoformat(),
                    }
                )
                + "\n"
            )


def texts_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_timed(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1e9, show: bool = False
) -> tuple[float, int, int]:
    """(wall s, exit status, peak RSS KiB of the child process itself, from os.wait4); killed after ``timeout``."""
    import signal
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t > timeout:
                os.kill(p.pid, signal.SIGKILL)
                _, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o, e = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if show:
            print(o.rstrip())
        if rc != 0:
            print(o[-1500:], e[-1500:], file=sys.stderr)
    return wall, rc, usage.ru_maxrss


def cmd_import(a: argparse.Namespace) -> None:
    path, d = Path(a.jsonl), Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    print("load before:", uptime())
    texts = texts_of(path)
    n = len(texts)
    from textblob.en import sentiment

    t = time.perf_counter()
    for x in texts:
        sentiment(x)
    t_blob = time.perf_counter() - t
    raw_path = d / "raw.sqlite"
    raw_path.unlink(missing_ok=True)
    raw = sqlite3.connect(raw_path)
    raw.executescript(
        "PRAGMA journal_mode=WAL; CREATE TABLE p (id INTEGER PRIMARY KEY, rid TEXT UNIQUE, author TEXT, text TEXT,"
        " urgent INTEGER, status TEXT);"
        "CREATE VIRTUAL TABLE f USING fts5(text, content='p', content_rowid='id');"
    )
    rng = random.Random(3)
    rows = [(f"s{i}", "u", x, int(rng.random() < 0.05), "new") for i, x in enumerate(texts)]
    t = time.perf_counter()
    with raw:
        raw.executemany("INSERT INTO p (rid, author, text, urgent, status) VALUES (?, ?, ?, ?, ?)", rows)
        raw.execute("INSERT INTO f(rowid, text) SELECT id, text FROM p")
        raw.execute("CREATE INDEX p_urgent ON p(id) WHERE urgent = 1 AND status IN ('new', 'open')")
    t_raw = time.perf_counter() - t
    raw.close()
    del rows, texts
    print("load before import:", uptime())
    wall, rc, rss = run_timed([PY, "main.py", "--data-dir", str(d), "import", "--jsonl", str(path)])
    print("load after:", uptime())
    print(f"posts: {n:,}  (import exit {rc}, peak RSS of the main process {rss / 1024:.0f} MiB)")
    print(f"import --jsonl (subprocess wall)    {wall:8.1f} s  ({n / wall:,.0f} posts/s)")
    print(f"bare TextBlob loop                  {t_blob:8.1f} s  ratio {wall / t_blob:.2f}")
    print(f"raw executemany + FTS5 (+1 index)   {t_raw:8.1f} s  ratio {wall / t_raw:.1f}")


def _best(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = 1e9
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cmd_query(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    print("load:", uptime())
    from services.core import Parley
    from services.store.db import open_database, sqlite_url
    from services.store.posts import TimelineFilter

    raw = sqlite3.connect(d / "raw.sqlite")
    core = Parley(open_database(sqlite_url(d / "parley.sqlite")), d)
    # First (cold-ish) call, then best of 5.
    out = []
    for label, word, fts in (
        ("common word", "refund", '"refund"'),
        ("rare word, 183 posts", "workin", '"workin"'),
        ("no match", "zzyzx", '"zzyzx"'),
        ("two words", "refund engineer", '"refund" AND "engineer"*'),
    ):
        flt = TimelineFilter(search=word)
        t = time.perf_counter()
        rows = core.page(flt, None, 200)
        first = time.perf_counter() - t
        ours = _best(lambda flt=flt: core.page(flt, None, 200))
        q = f"SELECT rowid FROM f WHERE f MATCH '{fts}' ORDER BY rowid DESC LIMIT 200"
        base = _best(lambda q=q: raw.execute(q).fetchall())
        base_rows = raw.execute(q).fetchall()
        out.append((f"search '{word}' ({label}), first page", ours, base, first, len(rows), len(base_rows)))
        qr = "SELECT p.* FROM f JOIN p ON p.id = f.rowid WHERE f MATCH '" + fts + "' ORDER BY f.rowid DESC LIMIT 200"
        base_r = _best(lambda qr=qr: raw.execute(qr).fetchall())
        out.append(("  same, vs raw FTS5 + fetching the rows", ours, base_r, first, len(rows), len(base_rows)))
    t = time.perf_counter()
    page = core.page(TimelineFilter(), None, 200)
    first = time.perf_counter() - t
    ours = _best(lambda: core.page(TimelineFilter(), None, 200))
    base = _best(lambda: raw.execute("SELECT * FROM p ORDER BY id DESC LIMIT 200").fetchall())
    out.append(("timeline first page (200 rows)", ours, base, first, len(page), 200))
    urgent = TimelineFilter(view="urgent")
    t = time.perf_counter()
    n_urgent = core.count(urgent)
    first = time.perf_counter() - t
    ours = _best(lambda: core.count(urgent))
    uq = "SELECT count(*) FROM p WHERE urgent = 1 AND status IN ('new', 'open')"
    base = _best(lambda: raw.execute(uq).fetchone())
    out.append(("Urgent view count (capped)", ours, base, first, n_urgent, raw.execute(uq).fetchone()[0]))
    uq_cap = "SELECT count(*) FROM (SELECT 1 FROM p WHERE urgent = 1 AND status IN ('new', 'open') LIMIT 10000)"
    base = _best(lambda: raw.execute(uq_cap).fetchone())
    out.append(("Urgent count vs raw capped count(*)", ours, base, first, n_urgent, raw.execute(uq_cap).fetchone()[0]))
    t = time.perf_counter()
    cs = core.counts()
    t_counts = time.perf_counter() - t
    total = raw.execute("SELECT count(*) FROM p").fetchone()[0]
    print(f"posts: {total:,}; counts(): {t_counts * 1000:.1f} ms first call -> {cs}")
    print(f"{'measure':<44}{'Parley ms':>10}{'raw ms':>9}{'ratio':>7}{'1st ms':>8}  rows (ours/raw)")
    for name, o, b, f, r1, r2 in out:
        print(f"{name:<44}{o * 1000:>10.2f}{b * 1000:>9.2f}{o / b:>7.1f}{f * 1000:>8.1f}  {r1}/{r2}")
    core.db.close()


def cmd_start(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    print("load:", uptime())
    res: dict[str, list[tuple[float, int]]] = {"parley": [], "bare": []}
    for i in range(a.runs):
        # Alternate so that load drifts hit both equally.
        w, rc, rss = run_timed([PY, "bench/gui_start.py", str(shots / f"bare{i}.png")], env)
        res["bare"].append((w, rss))
        print(f"bare window   run {i}: {w:6.2f} s  peak RSS {rss / 1024:6.0f} MiB  exit {rc}")
        w, rc, rss = run_timed(
            [PY, "bench/gui_parley_start.py", str(d), str(shots / f"parley{i}.png")], env, show=(i == a.runs - 1)
        )
        res["parley"].append((w, rss))
        print(f"Parley paint  run {i}: {w:6.2f} s  peak RSS {rss / 1024:6.0f} MiB  exit {rc}")
    print("load after:", uptime())
    pw = sorted(x[0] for x in res["parley"])
    bw = sorted(x[0] for x in res["bare"])
    pr = max(x[1] for x in res["parley"]) / 1024
    br = max(x[1] for x in res["bare"]) / 1024
    print(
        f"start, median: Parley {pw[len(pw) // 2]:.2f} s, bare {bw[len(bw) // 2]:.2f} s, "
        f"ratio {pw[len(pw) // 2] / bw[len(bw) // 2]:.2f} (best {pw[0]:.2f} / {bw[0]:.2f} = {pw[0] / bw[0]:.2f})"
    )
    print(f"peak RSS, max: Parley {pr:.0f} MiB, bare {br:.0f} MiB, difference {pr - br:.0f} MiB")
    if a.screenshot_timeout > 0:
        w, rc, rss = run_timed(
            [PY, "main.py", "--data-dir", str(d), "--screenshot", str(shots / "main-screenshot.png")],
            env,
            timeout=a.screenshot_timeout,
        )
        print(
            f"main.py --screenshot (also waits for a sync and the first urgent conversation): {w:.2f} s, exit {rc}"
            f"{' (killed at the timeout)' if rc < 0 else ''}, peak RSS {rss / 1024:.0f} MiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--posts", type=int, default=1_000_000)
    g.add_argument("--out", type=Path, required=True)
    i = sub.add_parser("import")
    i.add_argument("--jsonl", required=True)
    i.add_argument("--dir", required=True)
    q = sub.add_parser("query")
    q.add_argument("--dir", required=True)
    s = sub.add_parser("start")
    s.add_argument("--dir", required=True)
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("--shots", default="/tmp/parley-scale-shots")
    s.add_argument("--screenshot-timeout", type=float, default=100.0, help="also time main.py --screenshot (0: skip)")
    a = ap.parse_args()
    if a.cmd == "gen":
        t = time.perf_counter()
        gen(a.posts, a.out)
        print(f"wrote {a.posts:,} lines to {a.out} in {time.perf_counter() - t:.1f} s")
    elif a.cmd == "import":
        cmd_import(a)
    elif a.cmd == "query":
        cmd_query(a)
    else:
        cmd_start(a)


if __name__ == "__main__":
    main()
