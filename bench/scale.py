"""Parley at scale: import, cold start, search, counts and memory beside bare baselines in the same run.

    python -m bench.scale gen --posts N --out FILE            # synthetic JSON lines (40-280 chars)
    python -m bench.scale import --jsonl FILE --dir D [--runs 3]  # `main.py import` vs TextBlob loop, raw insert
    python -m bench.scale query --dir D [--runs 3]             # search / timeline / Urgent count vs raw SQL
    python -m bench.scale start --dir D [--runs 5]             # first frame + peak RSS vs bench/gui_start.py
    python -m bench.scale all --posts N --dir D [--runs 3]     # all of the above, in a fresh D (make bench SCALE=N)

Every Parley figure is taken in the same run as its baseline, one after the other (never at the
same time); with ``--runs`` the pair is repeated and the median of the ratios is reported. The load
average is printed before and after each part: other work on the machine shows up there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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

#: The searches measured: (what a user types, its raw FTS5 MATCH, what it is).
SEARCHES = (
    ("refund", '"refund"*', "common word"),
    ("leeds", '"leeds"*', "rarer word"),
    ("zzyzx", '"zzyzx"*', "no match"),
    ("refund engineer", '"refund" AND "engineer"*', "two words"),
)
#: The Urgent view's condition, word for word as services/store/posts.py writes it (for its partial index).
URGENT_WHERE = "post.urgent = TRUE AND post.status IN ('new', 'open') AND post.kind != 'own_reply'"


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


def machine() -> str:
    import platform

    return f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


class Timed:
    """One subprocess run: wall time, exit status, its stdout, and CPU and peak RSS from ``os.wait4``.

    CPU counts the process and the children it waited for (an import's worker processes). Peak RSS
    from wait4 is only right when the launcher is small (a child's starts from its parent's at fork):
    the GUI scripts report their own.
    """

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1e9) -> None:
        import signal
        import tempfile

        env = dict(env if env is not None else os.environ)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            env["PARLEY_BENCH_LAUNCH"] = repr(time.time())
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
                time.sleep(0.002)
            self.wall = time.perf_counter() - t
            p.returncode = self.rc = os.waitstatus_to_exitcode(status)
            self.cpu = usage.ru_utime + usage.ru_stime
            self.rss_mib = usage.ru_maxrss / 1024
            out.seek(0)
            err.seek(0)
            self.out = out.read().decode(errors="replace")
            e = err.read().decode(errors="replace")
        if self.rc != 0:
            print(self.out[-1500:], e[-1500:], file=sys.stderr)

    def reported(self, key: str) -> float:
        """A figure the GUI scripts print as ``KEY VALUE ...`` (``first frame``, ``peak RSS``)."""
        for line in self.out.splitlines():
            if line.startswith(key + " "):
                return float(line[len(key) :].split()[0])
        raise RuntimeError(f"{key!r} was not reported (exit {self.rc})")

    def first_frame(self) -> float:
        """Seconds from launch to the grabbed first frame."""
        return self.reported("first frame")

    def peak_rss(self) -> float:
        """The process's own peak RSS in MiB (VmHWM)."""
        return self.reported("peak RSS")


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """ "median (min-max)" of a few runs."""
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


# -- import ---------------------------------------------------------------------------------------


def textblob_loop(texts: list[str]) -> tuple[float, float]:
    """(wall, CPU) of TextBlob's sentiment over every text, in this one process."""
    from textblob.en import sentiment

    t, c = time.perf_counter(), time.process_time()
    for x in texts:
        sentiment(x)
    return time.perf_counter() - t, time.process_time() - c


def raw_insert(texts: list[str], path: Path) -> float:
    """A raw ``executemany`` of the same texts into a table with FTS5 and the Urgent view's partial index."""
    path.unlink(missing_ok=True)
    raw = sqlite3.connect(path)
    raw.executescript(
        "PRAGMA journal_mode=WAL; CREATE TABLE post (id INTEGER PRIMARY KEY, rid TEXT UNIQUE, author TEXT,"
        " text TEXT, created_at TEXT, urgent INTEGER, status TEXT, kind TEXT);"
        "CREATE VIRTUAL TABLE post_fts USING fts5(text, content='post', content_rowid='id',"
        " tokenize='unicode61 remove_diacritics 2');"
    )
    rng = random.Random(3)
    start = datetime(2026, 1, 1)
    rows = [
        (f"s{i}", "u", x, str(start + timedelta(seconds=3 * i)), int(rng.random() < 0.3), "new", "mention")
        for i, x in enumerate(texts)
    ]
    t = time.perf_counter()
    with raw:
        raw.executemany(
            "INSERT INTO post (rid, author, text, created_at, urgent, status, kind) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )
        raw.execute("INSERT INTO post_fts(rowid, text) SELECT id, text FROM post")
        raw.execute(f"CREATE INDEX ix_urgent ON post(created_at, id) WHERE {URGENT_WHERE.replace('post.', '')}")
        raw.execute("CREATE INDEX ix_created ON post(created_at, id)")
    took = time.perf_counter() - t
    raw.close()
    return took


def cmd_import(a: argparse.Namespace) -> None:
    path, d = Path(a.jsonl), Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    texts = texts_of(path)
    n = len(texts)
    print(f"import of {n:,} posts; {machine()}")
    ratios_blob, ratios_cpu, ratios_raw, walls = [], [], [], []
    for run in range(a.runs):
        print(f"run {run}: load before: {uptime()}")
        blob_wall, blob_cpu = textblob_loop(texts)
        raw_wall = raw_insert(texts, d / "raw.sqlite")
        target = d / ("parley" if run == a.runs - 1 else f"parley-run{run}")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        imp = Timed([PY, "main.py", "--data-dir", str(target), "import", "--jsonl", str(path)])
        if target.name != "parley":
            shutil.rmtree(target, ignore_errors=True)
        print(f"run {run}: load after:  {uptime()}")
        print(
            f"run {run}: import {imp.wall:7.1f} s wall, {imp.cpu:7.1f} s CPU (all processes), exit {imp.rc};"
            f" TextBlob loop {blob_wall:6.1f} s wall, {blob_cpu:6.1f} s CPU; raw executemany + FTS5 {raw_wall:5.1f} s"
        )
        walls.append(imp.wall)
        ratios_blob.append(imp.wall / blob_wall)
        ratios_cpu.append(imp.cpu / blob_cpu)
        ratios_raw.append(imp.wall / raw_wall)
    print(f"import wall, s:                          {spread(walls, '{:.1f}')}  ({n / median(walls):,.0f} posts/s)")
    print(f"import wall / TextBlob loop wall:        {spread(ratios_blob)}")
    print(f"import CPU (all processes) / loop CPU:   {spread(ratios_cpu)}")
    print(f"import wall / raw executemany + FTS5:    {spread(ratios_raw, '{:.1f}')}")
    # The Parley data dir of the last run stays for `query` and `start`; the raw table too.
    keep = d / "parley" / "parley.sqlite"
    if keep.exists():
        shutil.move(str(keep), d / "parley.sqlite")
        for extra in ("parley.sqlite-wal", "parley.sqlite-shm"):
            (d / "parley" / extra).unlink(missing_ok=True)
        shutil.rmtree(d / "parley", ignore_errors=True)


# -- queries --------------------------------------------------------------------------------------


def best_ms(fn: Callable[[], object], runs: int = 7) -> float:
    best = 1e9
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def cmd_query(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    from services.core import Parley
    from services.store.db import open_database, sqlite_url
    from services.store.posts import COUNT_CAP, TimelineFilter
    from services.store.search import fts5_query

    core = Parley(open_database(sqlite_url(d / "parley.sqlite")), d)
    # The same file, read with no layer in between: the baselines are the raw SQL on Parley's own tables.
    raw = sqlite3.connect(d / "parley.sqlite")
    total = raw.execute("SELECT count(*) FROM post").fetchone()[0]
    print(f"queries over {total:,} posts; {machine()}; load: {uptime()}")
    rows: dict[str, list[tuple[float, float]]] = {}
    notes: dict[str, str] = {}

    def measure(name: str, ours: Callable[[], object], base: Callable[[], object]) -> None:
        rows.setdefault(name, []).append((best_ms(ours), best_ms(base)))

    page = 200
    ids = "SELECT rowid FROM post_fts WHERE post_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
    joined = (
        "SELECT post.* FROM post_fts JOIN post ON post.id = post_fts.rowid WHERE post_fts MATCH ?"
        " ORDER BY post_fts.rowid DESC LIMIT ?"
    )
    capped = f"SELECT count(*) FROM (SELECT 1 FROM post WHERE {URGENT_WHERE} LIMIT {COUNT_CAP})"
    for _ in range(a.runs):
        for word, match, what in SEARCHES:
            assert fts5_query(word) == match, (word, fts5_query(word))
            flt = TimelineFilter(search=word)
            found = len(core.page(flt, None, page))
            notes[f"search '{word}'"] = f"{what}, {found} rows"
            measure(
                f"search '{word}'",
                lambda flt=flt: core.page(flt, None, page),
                lambda m=match: raw.execute(ids, (m, page)).fetchall(),
            )
            measure(
                f"search '{word}' vs FTS5 + rows",
                lambda flt=flt: core.page(flt, None, page),
                lambda m=match: raw.execute(joined, (m, page)).fetchall(),
            )
        measure(
            "timeline first page",
            lambda: core.page(TimelineFilter(), None, page),
            lambda: raw.execute("SELECT * FROM post ORDER BY created_at DESC, id DESC LIMIT ?", (page,)).fetchall(),
        )
        urgent = TimelineFilter(view="urgent")
        measure("Urgent count (capped)", lambda u=urgent: core.count(u), lambda: raw.execute(capped).fetchone())
        measure(
            "Urgent count vs uncapped count(*)",
            lambda u=urgent: core.count(u),
            lambda: raw.execute(f"SELECT count(*) FROM post WHERE {URGENT_WHERE}").fetchone(),
        )
    notes["Urgent count (capped)"] = (
        f"{core.count(TimelineFilter(view='urgent'))} shown (cap {COUNT_CAP}),"
        f" {raw.execute(f'SELECT count(*) FROM post WHERE {URGENT_WHERE}').fetchone()[0]:,} urgent in all"
    )
    t = time.perf_counter()
    core.counts()
    counts_ms = (time.perf_counter() - t) * 1000
    print(f"page size {page}; best of 7 calls each, median over {a.runs} runs; sidebar counts() {counts_ms:.1f} ms")
    print(f"{'measure':<40}{'Parley ms':>11}{'raw ms':>9}{'ratio':>8}  note")
    for name, pairs in rows.items():
        ours = median([p[0] for p in pairs])
        base = median([p[1] for p in pairs])
        ratio = median([p[0] / p[1] for p in pairs])
        print(f"{name:<40}{ours:>11.2f}{base:>9.2f}{ratio:>8.2f}  {notes.get(name, '')}")
    print(f"load after: {uptime()}")
    core.db.close()
    raw.close()


# -- start ----------------------------------------------------------------------------------------


def cmd_start(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    print(f"start on {d}; {machine()}; load: {uptime()}")
    bare: list[Timed] = []
    ours: list[Timed] = []
    for i in range(a.runs):
        # Alternate so that load drifts hit both equally.
        b = Timed([PY, "bench/gui_start.py", str(shots / f"bare{i}.png")], env)
        p = Timed([PY, "bench/gui_parley_start.py", str(d), str(shots / f"parley{i}.png")], env)
        bare.append(b)
        ours.append(p)
        print(
            f"run {i}: bare first frame {b.first_frame():.3f} s (process {b.wall:.3f} s, {b.peak_rss():.0f} MiB);"
            f" Parley first frame {p.first_frame():.3f} s (process {p.wall:.3f} s, {p.peak_rss():.0f} MiB)"
        )
    print(ours[-1].out.rstrip())
    print(f"load after: {uptime()}")
    ff_ratio = [p.first_frame() / b.first_frame() for p, b in zip(ours, bare, strict=True)]
    wall_ratio = [p.wall / b.wall for p, b in zip(ours, bare, strict=True)]
    print(
        f"first frame, s: Parley {spread([p.first_frame() for p in ours], '{:.3f}')}, "
        f"bare {spread([b.first_frame() for b in bare], '{:.3f}')}; ratio {spread(ff_ratio)}"
    )
    print(
        f"whole process (start, paint, exit), s: Parley {spread([p.wall for p in ours], '{:.3f}')}, "
        f"bare {spread([b.wall for b in bare], '{:.3f}')}; ratio {spread(wall_ratio)}"
    )
    pr, br = max(p.peak_rss() for p in ours), max(b.peak_rss() for b in bare)
    print(f"peak RSS, max of runs: Parley {pr:.0f} MiB, bare {br:.0f} MiB, difference {pr - br:.0f} MiB")


def cmd_all(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    data = d / "posts.jsonl"
    if not data.exists() or sum(1 for _ in open(data, encoding="utf-8")) != a.posts:
        gen(a.posts, data)
    cmd_import(argparse.Namespace(jsonl=data, dir=d, runs=a.runs))
    cmd_query(argparse.Namespace(dir=d, runs=a.runs))
    cmd_start(argparse.Namespace(dir=d, runs=max(a.runs, 5), shots=str(d / "shots")))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--posts", type=int, default=1_000_000)
    g.add_argument("--out", type=Path, required=True)
    i = sub.add_parser("import")
    i.add_argument("--jsonl", required=True)
    i.add_argument("--dir", required=True)
    i.add_argument("--runs", type=int, default=1)
    q = sub.add_parser("query")
    q.add_argument("--dir", required=True)
    q.add_argument("--runs", type=int, default=3)
    s = sub.add_parser("start")
    s.add_argument("--dir", required=True)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--shots", default="/tmp/parley-scale-shots")
    al = sub.add_parser("all")
    al.add_argument("--posts", type=int, default=1_000_000)
    al.add_argument("--dir", required=True)
    al.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.cmd == "gen":
        t = time.perf_counter()
        gen(a.posts, a.out)
        print(f"wrote {a.posts:,} lines to {a.out} in {time.perf_counter() - t:.1f} s")
    else:
        {"import": cmd_import, "query": cmd_query, "start": cmd_start, "all": cmd_all}[a.cmd](a)


if __name__ == "__main__":
    main()
