"""The built-in demo network: a simulated community that posts over time and accepts replies.

It is a real implementation of the ``Network`` Protocol, not a test double: its "server" keeps its
state (when the demo started, the replies it accepted, whether it is offline) in a small SQLite
file in the data dir, so the GUI and several CLI processes see one consistent world.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from services.errors import Offline, Rejected, UnknownOutcome
from services.networks.base import (
    FetchResult,
    History,
    RateLimitState,
    RemoteAuthor,
    RemotePost,
    ReplyTarget,
    SentReply,
)
from services.textlength import bluesky_length, mastodon_length, x_length

NETWORK = "demo"
DATASET = Path(__file__).resolve().parents[2] / "resources" / "demo" / "community.json"
SERVER_URL = "demo://acme-connect"

#: How each demo flavour counts and limits a reply, like the network it imitates.
FLAVOURS: dict[str, tuple[Callable[[str], int], int, str]] = {
    "mastodon": (mastodon_length, 500, "Mastodon-style"),
    "bluesky": (bluesky_length, 300, "Bluesky-style"),
    "x": (x_length, 280, "X-style"),
}

# What customers write back after an answer (the demo adds one now and then).
_FOLLOW_UPS = (
    "Thanks for getting back to me so quickly!",
    "OK, I've sent you a DM with my account number.",
    "That worked, cheers. Internet is back.",
    "Still not fixed, but thanks for the update.",
    "Appreciate it. Let's see if the engineer actually turns up this time.",
    "Done, DM sent. Please sort this out today.",
)

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """One of the brand's demo accounts."""

    key: str
    flavour: str
    handle: str
    display_name: str


@dataclass(frozen=True, slots=True)
class DemoPost:
    """One written post of the demo community."""

    seq: int
    id: str
    account: str
    author: str
    minutes: float
    lang: str | None
    reply_to: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """The written community: accounts, authors and posts."""

    accounts: tuple[DemoAccount, ...]
    authors: Mapping[str, RemoteAuthor]
    posts: tuple[DemoPost, ...]
    by_id: Mapping[str, DemoPost]

    def root_of(self, post_id: str) -> str:
        """The first post of the thread ``post_id`` belongs to."""
        seen: set[str] = set()
        while (parent := self.by_id[post_id].reply_to) and parent in self.by_id and post_id not in seen:
            seen.add(post_id)
            post_id = parent
        return post_id


def load_dataset(path: Path | None = None) -> Dataset:
    """Read the written community (``resources/demo``, or ``PARLEY_DEMO_DATASET`` for tests)."""
    return _load(path or Path(os.environ.get("PARLEY_DEMO_DATASET") or DATASET))


@cache
def _load(path: Path) -> Dataset:
    data = json.loads(path.read_text(encoding="utf-8"))
    accounts = tuple(
        DemoAccount(a["key"], a["flavor"], a["handle"], a.get("display_name", "")) for a in data["accounts"]
    )
    authors = {
        a["id"]: RemoteAuthor(
            remote_id=a["id"],
            handle=a["handle"],
            name=a.get("name", ""),
            followers=a.get("followers"),
            is_bot=bool(a.get("bot", False)),
        )
        for a in data["authors"]
    }
    raw_posts = sorted(data["posts"], key=lambda p: float(p["minutes"]))
    posts = tuple(
        DemoPost(
            seq=i,
            id=p["id"],
            account=p["account"],
            author=p["author"],
            minutes=float(p["minutes"]),
            lang=p.get("lang"),
            reply_to=p.get("reply_to"),
            text=p["text"],
        )
        for i, p in enumerate(raw_posts, start=1)
    )
    return Dataset(accounts, authors, posts, {p.id: p for p in posts})


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class DemoWorld:
    """The simulated server shared by the demo accounts of one data dir."""

    def __init__(
        self,
        state_path: Path,
        dataset: Dataset | None = None,
        *,
        speed: float | None = None,
        latency: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = state_path
        self.dataset = dataset or load_dataset()
        # Demo minutes per real minute for the posts that arrive while the demo runs.
        self.speed = speed if speed is not None else _env_float("PARLEY_DEMO_SPEED", 20.0)
        self.latency = latency if latency is not None else _env_float("PARLEY_DEMO_LATENCY", 0.15)
        self.clock = clock
        self._rng = random.Random()
        with self._db() as db:
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS reply (
                    id TEXT PRIMARY KEY, client_key TEXT UNIQUE NOT NULL, account TEXT NOT NULL,
                    in_reply_to TEXT NOT NULL, conversation TEXT NOT NULL, text TEXT NOT NULL,
                    created_at TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS extra (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, account TEXT NOT NULL,
                    author TEXT NOT NULL, reply_to TEXT NOT NULL, conversation TEXT NOT NULL,
                    text TEXT NOT NULL, visible_at TEXT NOT NULL);
                """
            )
            db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (self.clock().isoformat(),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('offline', '0')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('faults', '0')")

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            if conn.in_transaction:  # executescript() commits on its own
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _meta(self, key: str) -> str:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else ""

    def _set_meta(self, key: str, value: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def epoch(self) -> datetime:
        """When this demo world started."""
        return datetime.fromisoformat(self._meta("epoch"))

    @property
    def offline(self) -> bool:
        """Whether the demo network is switched off (by the user, or PARLEY_DEMO_OFFLINE=1)."""
        return os.environ.get("PARLEY_DEMO_OFFLINE") == "1" or self._meta("offline") == "1"

    def set_offline(self, offline: bool) -> None:
        """Switch the demo network off or on, for every process using this data dir."""
        self._set_meta("offline", "1" if offline else "0")

    @property
    def fault_rate(self) -> float:
        """The share of sends that end in an unknown outcome (for trying the outbox)."""
        env = os.environ.get("PARLEY_DEMO_FAULTS")
        return float(env) if env else float(self._meta("faults") or 0)

    def set_fault_rate(self, rate: float) -> None:
        """Make a share of sends time out (half of them after the reply arrived)."""
        self._set_meta("faults", str(max(0.0, min(1.0, rate))))

    def visible_at(self, post: DemoPost, epoch: datetime) -> datetime:
        """When a written post appears: history at its time, the rest sped up after the start."""
        if post.minutes <= 0:
            return epoch + timedelta(minutes=post.minutes)
        return epoch + timedelta(seconds=post.minutes * 60 / max(self.speed, 1e-6))

    def check_online(self) -> None:
        """Raise ``Offline`` when the demo network is switched off."""
        if self.offline:
            raise Offline("The demo network is offline (switch it back on from the Network menu).")

    # -- what the server holds ---------------------------------------------------------------

    def _items(self, account: str, now: datetime) -> list[tuple[datetime, int, RemotePost]]:
        """Every post of ``account`` visible at ``now``, with its arrival key."""
        epoch = self.epoch
        data = self.dataset
        items: list[tuple[datetime, int, RemotePost]] = []
        for p in data.posts:
            if p.account != account:
                continue
            at = self.visible_at(p, epoch)
            if at <= now:
                items.append((at, p.seq, self._remote(p.id, p.author, p.text, at, p.lang, p.reply_to)))
        with self._db() as db:
            rows = db.execute(
                "SELECT seq, id, author, reply_to, conversation, text, visible_at FROM extra WHERE account = ?",
                (account,),
            ).fetchall()
        for seq, pid, author, reply_to, conv, text, vis in rows:
            at = datetime.fromisoformat(vis)
            if at <= now:
                post = self._remote(pid, author, text, at, None, reply_to, conversation=conv)
                items.append((at, len(data.posts) + seq, post))
        items.sort(key=lambda t: (t[0], t[1]))
        return items

    def _remote(
        self,
        pid: str,
        author_id: str,
        text: str,
        at: datetime,
        lang: str | None,
        reply_to: str | None,
        conversation: str | None = None,
    ) -> RemotePost:
        author = self.dataset.authors.get(author_id) or RemoteAuthor(author_id, author_id)
        own = author_id == "brand"
        conv = conversation or (self.dataset.root_of(pid) if pid in self.dataset.by_id else pid)
        return RemotePost(
            remote_id=pid,
            author=author,
            text=text,
            created_at=at,
            conversation_key=conv,
            parent_remote_id=reply_to,
            url=f"{SERVER_URL}/post/{pid}",
            lang=lang,
            kind="own_reply" if own else "mention",
            raw={"id": pid, "author": author_id, "text": text, "reply_to": reply_to},
        )

    def mentions(self, account: str, cursor: str | None, history: History | None = None) -> FetchResult:
        """Posts that arrived after ``cursor``, oldest first, one page at a time.

        Without a cursor, ``history`` says how far back the first sync reads: older posts are passed
        over, and so are all but the newest ``history.limit`` (the cursor still ends at the newest).
        """
        now = self.clock()
        after: tuple[datetime, int] | None = None
        if cursor:
            at, _, seq = cursor.rpartition("|")
            after = (datetime.fromisoformat(at), int(seq))
        items = [it for it in self._items(account, now) if after is None or (it[0], it[1]) > after]
        if after is None and history is not None and items:
            newest = items[-1]
            if history.since is not None:
                items = [it for it in items if it[0] >= history.since]
            items = items[max(0, len(items) - history.limit) :] if history.limit > 0 else []
            if not items:
                return FetchResult((), f"{newest[0].isoformat()}|{newest[1]}", False)
        page, more = items[:PAGE_SIZE], len(items) > PAGE_SIZE
        if not page:
            return FetchResult((), cursor, False)
        last_at, last_seq, _ = page[-1]
        return FetchResult(tuple(p for _, _, p in page), f"{last_at.isoformat()}|{last_seq}", more)

    def conversation(self, account: str, conversation_key: str) -> tuple[RemotePost, ...]:
        """Every visible post of one conversation, our accepted replies included."""
        visible = self._items(account, self.clock())
        posts = [p for _, _, p in visible if p.conversation_key == conversation_key]
        brand = self.dataset.authors.get("brand") or RemoteAuthor("brand", "acme")
        with self._db() as db:
            rows = db.execute(
                "SELECT id, in_reply_to, text, created_at FROM reply WHERE account = ? AND conversation = ?",
                (account, conversation_key),
            ).fetchall()
        for rid, parent, text, created in rows:
            posts.append(
                RemotePost(
                    remote_id=rid,
                    author=brand,
                    text=text,
                    created_at=datetime.fromisoformat(created),
                    conversation_key=conversation_key,
                    parent_remote_id=parent,
                    url=f"{SERVER_URL}/post/{rid}",
                    kind="own_reply",
                )
            )
        posts.sort(key=lambda p: p.created_at)
        return tuple(posts)

    def exists(self, account: str, remote_id: str) -> bool:
        """Whether the post being answered is (still) there."""
        return any(p.remote_id == remote_id for _, _, p in self._items(account, self.clock()))

    def accept_reply(self, account: str, payload: Mapping[str, Any], client_key: str) -> SentReply:
        """Store a reply once per client key (the demo honours idempotency keys)."""
        now = self.clock()
        with self._db() as db:
            row = db.execute("SELECT id FROM reply WHERE client_key = ?", (client_key,)).fetchone()
            if row:
                return SentReply(row[0], f"{SERVER_URL}/post/{row[0]}")
            rid = "r-" + uuid.uuid4().hex[:12]
            db.execute(
                "INSERT INTO reply VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    client_key,
                    account,
                    payload["in_reply_to"],
                    payload["conversation"],
                    payload["text"],
                    now.isoformat(),
                ),
            )
            self._maybe_follow_up(db, account, payload, client_key, now)
        return SentReply(rid, f"{SERVER_URL}/post/{rid}")

    def _maybe_follow_up(
        self, db: sqlite3.Connection, account: str, payload: Mapping[str, Any], key: str, now: datetime
    ) -> None:
        target = self.dataset.by_id.get(str(payload["in_reply_to"]))
        if target is None or target.author == "brand":
            return
        digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        if digest % 3:  # one answered customer in three writes back
            return
        text = _FOLLOW_UPS[digest % len(_FOLLOW_UPS)]
        handle = next((a.handle for a in self.dataset.accounts if a.key == account), "")
        db.execute(
            "INSERT OR IGNORE INTO extra (id, account, author, reply_to, conversation, text, visible_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "f-" + key[:12],
                account,
                target.author,
                target.id,
                payload["conversation"],
                f"{handle} {text}".strip(),
                (now + timedelta(seconds=20 + digest % 40)).isoformat(),
            ),
        )

    def find_reply(self, client_key: str) -> SentReply | None:
        """Our reply with this client key, if the server has it."""
        with self._db() as db:
            row = db.execute("SELECT id FROM reply WHERE client_key = ?", (client_key,)).fetchone()
        return SentReply(row[0], f"{SERVER_URL}/post/{row[0]}") if row else None

    def replies_count(self) -> int:
        """How many replies the server holds (for tests and the soak benchmark)."""
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM reply").fetchone()[0])

    def maybe_fault(self) -> str | None:
        """Decide whether this send fails: None, "before" or "after" it arrives."""
        rate = self.fault_rate
        if rate <= 0 or self._rng.random() >= rate:
            return None
        return self._rng.choice(("before", "after"))


class DemoNetwork:
    """One demo account, speaking to the shared ``DemoWorld``."""

    name = NETWORK

    def __init__(self, world: DemoWorld, account_key: str) -> None:
        self.world = world
        self.account = next(a for a in world.dataset.accounts if a.key == account_key)
        self._count, self._limit, _ = FLAVOURS.get(self.account.flavour, FLAVOURS["mastodon"])

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        await asyncio.sleep(self.world.latency)
        self.world.check_online()
        return await asyncio.to_thread(fn, *args)

    async def verify(self) -> RemoteAuthor:
        self.world.check_online()
        return RemoteAuthor("brand", self.account.handle, self.account.display_name)

    async def fetch_mentions(self, cursor: str | None, history: History | None = None) -> FetchResult:
        result: FetchResult = await self._call(self.world.mentions, self.account.key, cursor, history)
        return result

    async def fetch_conversation(self, target: ReplyTarget) -> tuple[RemotePost, ...]:
        posts: tuple[RemotePost, ...] = await self._call(
            self.world.conversation, self.account.key, target.conversation_key
        )
        return posts

    def freeze_reply(self, target: ReplyTarget, text: str, client_key: str) -> dict[str, Any]:
        return {
            "in_reply_to": target.remote_id,
            "conversation": target.conversation_key,
            "text": text,
            "client_key": client_key,
        }

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        await asyncio.sleep(self.world.latency)
        self.world.check_online()
        length = self.text_length(str(payload["text"]))
        if length > self._limit:
            raise Rejected(f"The reply is {length} characters; this account allows {self._limit}.")
        if not await asyncio.to_thread(self.world.exists, self.account.key, str(payload["in_reply_to"])):
            raise Rejected("The post being answered no longer exists.")
        fault = self.world.maybe_fault()
        if fault == "before":
            raise UnknownOutcome("The demo network timed out (the reply did not arrive).")
        sent = await asyncio.to_thread(self.world.accept_reply, self.account.key, payload, client_key)
        if fault == "after":
            raise UnknownOutcome("The demo network timed out (the reply may have arrived).")
        return sent

    async def find_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply | None:
        found: SentReply | None = await self._call(self.world.find_reply, client_key)
        return found

    def text_length(self, text: str) -> int:
        return self._count(text)

    def text_limit(self) -> int:
        return self._limit

    def rate_limit(self) -> RateLimitState | None:
        return None

    async def aclose(self) -> None:
        return None
