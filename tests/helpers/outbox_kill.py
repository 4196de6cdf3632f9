"""The kill-and-restart harness of the outbox: fake Mastodon, fault proxy, CLI drains killed at random.

Shared by ``tests/e2e/test_outbox_kill.py`` (1,000 replies) and ``bench/outbox_soak.py`` (10,000).

``prepare()`` builds the world once, the way a user would, through the command line: a fake Mastodon
server runs in this process on 127.0.0.1 with the fault proxy in front of it (faults off), ``accounts
add mastodon`` points Parley at the proxy (the token on stdin), ``sync --once`` fetches the mentions
and ``reply --batch`` queues one reply to each. The data dir and the server's state are kept.

``OutboxKillSoak`` then runs one mode on a copy of that world (so both modes start from the same
queue): a fresh server loaded from the saved state, honouring ``Idempotency-Key`` or ignoring it, and
a fresh proxy on the same port with the faults on. ``outbox drain --timeout T`` runs as a subprocess
and gets SIGKILL at a seeded random moment, again and again, until one drain exits 0 by itself.
Finally every mention must have exactly one reply at the server, with the queued text, and
``outbox list --json`` must show every item sent with that reply's id.

Why the mentions arrive in two steps: on an account's first sync the connector takes only the newest
page (older history is not a care backlog), so one mention is seeded, the account is synced once to
set its cursor, and then the real mentions are added and fetched forward from that cursor.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
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
            reset_before=0.006,
            reset_after=0.01,
            delay=0.006,
            error_before=0.006,
            error_after=0.01,
            rate_limit=0.005,
            outage=0.003,
        )
    )
    min_delay: float = 0.2
    max_delay: float = 1.0
    settle: float = 2.0
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
        return (
            not (self.duplicates or self.lost or self.wrong_text or self.stray or self.not_sent or self.mismatched_ids)
            and self.delivered == self.config.replies
        )

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


class IndexedFakeMastodon(FakeMastodon):
    """The fake server with a parent -> replies index, so a thread look-up stays cheap at 20,000 statuses.

    ``FakeMastodon._children`` groups every status on each thread look-up, which is fine for unit tests
    and dominates a 10,000-reply run; this keeps the grouping up to date instead. The answers are the same.
    """

    _replies: dict[str, list[str]] | None = None

    def _index(self) -> dict[str, list[str]]:
        if self._replies is None:
            self._replies = defaultdict(list, super()._children())
        return self._replies

    def _create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        status: dict[str, Any] = super()._create(*args, **kwargs)
        if self._replies is not None and status["in_reply_to_id"]:
            self._replies[str(status["in_reply_to_id"])].append(str(status["id"]))
        return status

    def _children(self) -> dict[str, list[str]]:
        with self.lock:
            return self._index()


class SoakError(AssertionError):
    """A step of the set-up or a drain failed in a way the harness does not expect."""


def cli_env(settle: float | None = None) -> dict[str, str]:
    """The environment of every CLI run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["PARLEY_INSECURE_FILE_SECRETS"] = "1"
    # The token goes to the labelled test file, never to a keyring on this machine; no proxy from the
    # environment may stand between Parley and 127.0.0.1.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["NO_PROXY"] = "*"
    env["PYTHONUTF8"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if settle is not None:
        env["PARLEY_OUTBOX_SETTLE"] = str(settle)
    return env


def cli_argv(data_dir: Path, *args: str) -> list[str]:
    """``python main.py --data-dir DIR ARGS...``."""
    return [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data_dir), *args]


def cli(data_dir: Path, *args: str, stdin: str | None = None, settle: float | None = None) -> str:
    """Run one CLI command to its end; its stdout, or SoakError with its stderr."""
    done = subprocess.run(
        cli_argv(data_dir, *args),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cli_env(settle),
        timeout=900,
    )
    if done.returncode != 0:
        raise SoakError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Prepared:
    """A world set up once and restored for every run: Parley's data dir, the server's state, the proxy's port.

    The account in the data dir points at the proxy's address, so each run listens on the same port.
    """

    root: Path
    proxy_port: int
    #: mention remote id -> (Parley post id, the reply text queued for it)
    expected: dict[str, tuple[int, str]]
    seconds: float

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def fake_state(self) -> Path:
        return self.root / "fake-mastodon.json"


def prepare(replies: int, root: Path) -> Prepared:
    """Account, mentions, sync and the queued replies, through the CLI and the proxy (without faults)."""
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    fake = IndexedFakeMastodon(token=TOKEN, rate_limit=10**9, rate_window=3600.0)
    fake.start()
    proxy = FaultProxy(fake.url).start()
    try:
        fake.add_mention("first@social.example", "Hello, is anyone there?")
        cli(data_dir, "accounts", "add", "mastodon", "--instance", proxy.url, "--token-stdin", stdin=TOKEN + "\n")
        cli(data_dir, "sync", "--once")  # the first sync takes only the newest page and sets the cursor
        texts: dict[str, str] = {}
        for n in range(replies):
            status = fake.add_mention(
                f"customer{n % 97}@social.example", f"Order {100000 + n} has not arrived yet, any news?"
            )
            texts[str(status["id"])] = f"Sorry for the wait! Order {100000 + n} left our warehouse today (ref R{n})."
        while not cli(data_dir, "sync", "--once").startswith("0 new"):
            pass
        ids: dict[str, int] = {}
        for line in cli(data_dir, "timeline", "--json", "--limit", str(replies + 100)).splitlines():
            row = json.loads(line)
            if row["remote_id"] in texts:
                ids[row["remote_id"]] = int(row["id"])
        if set(ids) != set(texts):
            raise SoakError(f"sync fetched {len(ids)} of the {len(texts)} mentions")
        batch = root / "replies.jsonl"
        with open(batch, "w", encoding="utf-8") as fh:
            for rid, text in texts.items():
                fh.write(json.dumps({"post": ids[rid], "text": text}) + "\n")
        queued = cli(data_dir, "reply", "--batch", str(batch)).splitlines()
        if len(queued) != len(texts):
            raise SoakError(f"reply --batch queued {len(queued)} of {len(texts)} replies")
        # The server's state, to load into a fresh server for each run (the runs keep it in memory).
        with fake.lock:
            fake.state_path = root / "fake-mastodon.json"
            fake._save()  # the fake's documented state file, written once here
            fake.state_path = None
        return Prepared(root, proxy.port, {rid: (ids[rid], texts[rid]) for rid in texts}, time.monotonic() - started)
    finally:
        proxy.stop()
        fake.stop()


class OutboxKillSoak:
    """One run on a copy of a prepared world: drain under faults and kills, then check the server."""

    def __init__(
        self, config: SoakConfig, prepared: Prepared, workdir: Path, log: Callable[[str], None] = print
    ) -> None:
        if len(prepared.expected) != config.replies:
            raise ValueError(f"prepared for {len(prepared.expected)} replies, configured for {config.replies}")
        self.config = config
        self.prepared = prepared
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log = log
        self.fake = IndexedFakeMastodon(
            state_path=prepared.fake_state,
            honour_idempotency=config.honour_idempotency,
            rate_limit=10**9,
            rate_window=3600.0,
        )
        self.fake.state_path = None  # loaded; from here on the state lives in memory only
        self.proxy = FaultProxy(
            "http://127.0.0.1:1",  # replaced in __enter__, once the fake has a port
            seed=config.seed,
            port=prepared.proxy_port,
            min_delay=config.min_delay,
            max_delay=config.max_delay,
            outage_seconds=config.outage_seconds,
            rate_limit_reset=config.rate_limit_reset,
        )
        self.result = SoakResult(config, setup_seconds=prepared.seconds)

    def __enter__(self) -> OutboxKillSoak:
        shutil.copytree(self.prepared.data_dir, self.data_dir)
        self.fake.start()
        self.proxy.upstream_port = int(self.fake.url.rsplit(":", 1)[1])
        self.proxy.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.stop()
        self.fake.stop()

    def cli(self, *args: str) -> str:
        return cli(self.data_dir, *args, settle=self.config.settle)

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
                cli_argv(self.data_dir, "outbox", "drain", "--timeout", str(cfg.drain_timeout)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=cli_env(cfg.settle),
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
        """Compare what the server got with what was queued, and with what ``outbox list --json`` says."""
        res = self.result
        expected = self.prepared.expected
        with self.fake.lock:
            posted = [dict(p) for p in self.fake.posted]
            res.server_attempts = dict(Counter(str(a.get("outcome")) for a in self.fake.attempts))
        by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in posted:
            by_parent[str(p["in_reply_to_id"])].append(p)
        res.stray = [str(p["status_id"]) for p in posted if str(p["in_reply_to_id"]) not in expected]
        for rid, (_, text) in expected.items():
            got = by_parent.get(rid, [])
            if not got:
                res.lost.append(rid)
                continue
            if len(got) > 1:
                res.duplicates[rid] = len(got)
            if any(not str(p["text"]).endswith(text) for p in got):  # the connector puts the @mention first
                res.wrong_text.append(rid)
        res.delivered = sum(1 for rid in expected if by_parent.get(rid))
        mention_of = {post_id: rid for rid, (post_id, _) in expected.items()}
        states: Counter[str] = Counter()
        rows = [json.loads(line) for line in self.cli("outbox", "list", "--json").splitlines()]
        for row in rows:
            states[row["state"]] += 1
            parent = mention_of.get(int(row["post"]), "")
            ids = {str(p["status_id"]) for p in by_parent.get(parent, [])}
            if row["state"] == "sent" and row["remote_id"] not in ids:
                res.mismatched_ids.append(int(row["id"]))
        res.not_sent = {s: n for s, n in states.items() if s != "sent"}
        if len(rows) != len(expected):
            res.not_sent["missing_rows"] = len(expected) - len(rows)
        res.outcomes = dict(
            Counter(json.loads(line)["outcome"] for line in self.cli("outbox", "attempts").splitlines())
        )
        return res

    def run(self) -> SoakResult:
        """Drain under kills and faults, then verify."""
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
