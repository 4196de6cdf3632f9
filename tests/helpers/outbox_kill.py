"""The kill-and-restart harness of the outbox: fake Mastodon, fault proxy, CLI drains killed at random.

Shared by ``tests/e2e/test_outbox_kill.py`` (1,000 replies) and ``bench/outbox_soak.py`` (10,000).

The set-up is the user's own path through the command line: a fake Mastodon server runs in this
process on 127.0.0.1, the fault proxy sits in front of it, ``accounts add mastodon`` points Parley at
the proxy (token on stdin), ``sync --once`` fetches the mentions and ``reply --batch`` queues one reply
to each. Then, with faults on, ``outbox drain --timeout T`` runs as a subprocess and is sent SIGKILL
at a seeded random moment, again and again, until one drain exits 0 by itself. Finally every mention
must have received exactly one reply at the server, and ``outbox list --json`` must show every item
sent with the server's id.

Why the mentions arrive in two steps: on an account's first sync the connector takes only the newest
page (older history is not a care backlog), so one mention is seeded, the account is synced once to
set its cursor, and then the real mentions are added and fetched forward from that cursor.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.faultproxy import FaultProxy, FaultRates
from tests.fakes.mastodon import FakeMastodon

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "soak-token"


@dataclass(frozen=True)
class SoakConfig:
    """The settings of one run.

    ``settle`` is handed to the drains as ``PARLEY_OUTBOX_SETTLE``: how long the outbox waits before it
    reconciles an unknown send. It must be longer than the proxy's ``max_delay`` (the longest a request
    can travel after its sender gave up or died), or a late arrival could follow an "absent" verdict.
    """

    replies: int = 1000
    honour_idempotency: bool = True
    seed: int = 1
    rates: FaultRates = field(
        default_factory=lambda: FaultRates(
            reset_before=0.01,
            reset_after=0.02,
            delay=0.02,
            error_before=0.01,
            error_after=0.02,
            rate_limit=0.01,
            outage=0.002,
        )
    )
    min_delay: float = 0.3
    max_delay: float = 1.5
    settle: float = 2.5
    outage_seconds: tuple[float, float] = (0.3, 1.0)
    rate_limit_reset: float = 0.5
    #: SIGKILL a drain this many seconds after its start (uniform in the range).
    kill_after: tuple[float, float] = (2.5, 6.0)
    #: Stop killing after this many kills, so the run ends (the last drain runs to its end).
    max_kills: int = 25
    drain_timeout: float = 120.0
    #: Give up (and fail) when the drains have not finished after this long.
    deadline: float = 600.0


@dataclass
class SoakResult:
    """What a run found."""

    config: SoakConfig
    delivered: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    wrong_text: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    not_sent: dict[str, int] = field(default_factory=dict)
    mismatched_ids: list[int] = field(default_factory=list)
    drains: int = 0
    kills: int = 0
    drain_seconds: float = 0.0
    setup_seconds: float = 0.0
    proxy: dict[str, int] = field(default_factory=dict)
    server_attempts: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def replies_per_second(self) -> float:
        """Replies delivered per second of draining (kills and restarts included)."""
        return self.delivered / self.drain_seconds if self.drain_seconds else 0.0

    @property
    def ok(self) -> bool:
        """Every reply arrived exactly once and the outbox knows it."""
        return not (
            self.duplicates or self.lost or self.wrong_text or self.stray or self.not_sent or self.mismatched_ids
        ) and self.delivered == self.config.replies

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-able dict."""
        return {
            "mode": "honoured" if self.config.honour_idempotency else "ignored",
            "replies": self.config.replies,
            "delivered": self.delivered,
            "duplicates": sum(n - 1 for n in self.duplicates.values()),
            "lost": len(self.lost),
            "wrong_text": len(self.wrong_text),
            "stray": len(self.stray),
            "not_sent": self.not_sent,
            "mismatched_ids": len(self.mismatched_ids),
            "drains": self.drains,
            "kills": self.kills,
            "setup_s": round(self.setup_seconds, 1),
            "drain_s": round(self.drain_seconds, 1),
            "replies_per_s": round(self.replies_per_second, 1),
            "proxy": self.proxy,
            "server_attempts": self.server_attempts,
            "outbox_outcomes": self.outcomes,
        }


class SoakError(AssertionError):
    """A step of the set-up or a drain failed in a way the harness does not expect."""


class OutboxKillSoak:
    """One run: build the world, drain under kills and faults, and check what reached the server."""

    def __init__(self, config: SoakConfig, workdir: Path | None = None, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="parley-soak-"))
        self.data_dir = self.workdir / "data"
        self.log = log
        self.fake = FakeMastodon(
            token=TOKEN, honour_idempotency=config.honour_idempotency, rate_limit=10**9, rate_window=3600.0
        )
        self.proxy = FaultProxy(
            "http://127.0.0.1:1",  # replaced in start(), once the fake has a port
            seed=config.seed,
            min_delay=config.min_delay,
            max_delay=config.max_delay,
            outage_seconds=config.outage_seconds,
            rate_limit_reset=config.rate_limit_reset,
        )
        self.expected: dict[str, str] = {}  # mention remote id -> the reply text queued for it
        self.result = SoakResult(config)

    # -- the world ------------------------------------------------------------------------------

    def __enter__(self) -> OutboxKillSoak:
        self.fake.start()
        port = int(self.fake.url.rsplit(":", 1)[1])
        self.proxy.upstream_port = port
        self.proxy.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.stop()
        self.fake.stop()

    def env(self) -> dict[str, str]:
        """The environment of every CLI run."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env["PARLEY_INSECURE_FILE_SECRETS"] = "1"
        env["PARLEY_OUTBOX_SETTLE"] = str(self.config.settle)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "main.py"), "--data-dir", str(self.data_dir), *args]

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        """Run one CLI command to its end; its stdout, or SoakError with its stderr."""
        done = subprocess.run(
            self.argv(*args), input=stdin, capture_output=True, text=True, cwd=ROOT, env=self.env(), timeout=timeout
        )
        if done.returncode != 0:
            raise SoakError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def set_up(self) -> None:
        """Account, mentions, sync and the queued replies (no faults while setting up)."""
        started = time.monotonic()
        self.proxy.set_rates(FaultRates())
        self.fake.add_mention("first@social.example", "Hello, is anyone there?")
        self.cli("accounts", "add", "mastodon", "--instance", self.proxy.url, "--token-stdin", stdin=TOKEN + "\n")
        self.cli("sync", "--once")
        texts: dict[str, str] = {}
        for n in range(self.config.replies):
            status = self.fake.add_mention(
                f"customer{n % 97}@social.example", f"Order {100000 + n} has not arrived yet, any news?"
            )
            texts[str(status["id"])] = f"Sorry for the wait! Order {100000 + n} left our warehouse today (ref R{n})."
        while True:
            out = self.cli("sync", "--once")
            if out.startswith("0 new"):
                break
        ids: dict[str, int] = {}
        for line in self.cli("timeline", "--json", "--limit", str(self.config.replies + 100)).splitlines():
            row = json.loads(line)
            if row["remote_id"] in texts:
                ids[row["remote_id"]] = int(row["id"])
        missing = set(texts) - set(ids)
        if missing:
            raise SoakError(f"sync did not fetch {len(missing)} of the {len(texts)} mentions")
        batch = self.workdir / "replies.jsonl"
        with open(batch, "w", encoding="utf-8") as fh:
            for rid, text in texts.items():
                fh.write(json.dumps({"post": ids[rid], "text": text}) + "\n")
        queued = self.cli("reply", "--batch", str(batch)).splitlines()
        if len(queued) != len(texts):
            raise SoakError(f"reply --batch queued {len(queued)} of {len(texts)} replies")
        self.expected = texts
        self.result.setup_seconds = time.monotonic() - started

    # -- draining under kills -------------------------------------------------------------------

    def drain_with_kills(self) -> None:
        """Start drains and SIGKILL them at seeded random moments until one exits 0 by itself."""
        cfg = self.config
        rng = random.Random(cfg.seed)
        self.proxy.set_rates(cfg.rates)
        started = time.monotonic()
        while True:
            if time.monotonic() - started > cfg.deadline:
                raise SoakError(f"the drains did not finish within {cfg.deadline:.0f} s")
            proc = subprocess.Popen(
                self.argv("outbox", "drain", "--timeout", str(cfg.drain_timeout)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=self.env(),
            )
            self.result.drains += 1
            kill_at = rng.uniform(*cfg.kill_after) if self.result.kills < cfg.max_kills else None
            try:
                code = proc.wait(timeout=kill_at)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                assert proc.stderr is not None
                proc.stderr.close()
                self.result.kills += 1
                continue
            _, err = proc.communicate()
            if code == 0:
                break
            if code != 1:  # 1 = the timeout passed with replies left: run another drain
                raise SoakError(f"outbox drain exited {code}: {err.strip()}\n{self.log_tail()}")
            self.log(f"drain {self.result.drains} ended with work left: {err.strip()}")
        self.result.drain_seconds = time.monotonic() - started
        self.proxy.set_rates(FaultRates())
        self.result.proxy = self.proxy.counters()

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir / "parley.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    # -- checking -------------------------------------------------------------------------------

    def verify(self) -> SoakResult:
        """Compare what the server got with what was queued, and with what the outbox says."""
        res = self.result
        with self.fake.lock:
            posted = [dict(p) for p in self.fake.posted]
            res.server_attempts = dict(Counter(str(a.get("outcome")) for a in self.fake.attempts))
        by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in posted:
            by_parent[str(p["in_reply_to_id"])].append(p)
        res.stray = [str(p["status_id"]) for p in posted if str(p["in_reply_to_id"]) not in self.expected]
        for rid, text in self.expected.items():
            got = by_parent.get(rid, [])
            if not got:
                res.lost.append(rid)
                continue
            if len(got) > 1:
                res.duplicates[rid] = len(got)
            if any(not str(p["text"]).endswith(text) for p in got):
                res.wrong_text.append(rid)
        res.delivered = sum(1 for rid in self.expected if by_parent.get(rid))
        status_of = {rid: {str(p["status_id"]) for p in got} for rid, got in by_parent.items()}
        states: Counter[str] = Counter()
        rows = [json.loads(line) for line in self.cli("outbox", "list", "--json").splitlines()]
        mention_of = self._mention_ids()
        for row in rows:
            states[row["state"]] += 1
            rid = mention_of.get(int(row["post"]))
            if row["state"] == "sent" and (rid is None or row["remote_id"] not in status_of.get(rid, set())):
                res.mismatched_ids.append(int(row["id"]))
        res.not_sent = {s: n for s, n in states.items() if s != "sent"}
        if len(rows) != len(self.expected):
            res.not_sent["missing_rows"] = len(self.expected) - len(rows)
        res.outcomes = dict(
            Counter(json.loads(line)["outcome"] for line in self.cli("outbox", "attempts").splitlines())
        )
        return res

    def _mention_ids(self) -> dict[int, str]:
        out = self.cli("timeline", "--json", "--limit", str(self.config.replies * 3 + 100))
        return {int(r["id"]): str(r["remote_id"]) for r in map(json.loads, out.splitlines())}

    def run(self) -> SoakResult:
        """Set up, drain under kills, verify."""
        self.set_up()
        self.drain_with_kills()
        return self.verify()


def describe(result: SoakResult) -> str:
    """A readable account of a failed run."""
    s = result.summary()
    parts = [json.dumps(s, sort_keys=True)]
    if result.duplicates:
        parts.append(f"doubled (mention -> copies): {dict(list(result.duplicates.items())[:10])}")
    if result.lost:
        parts.append(f"lost: {result.lost[:10]}")
    return "\n".join(parts)
