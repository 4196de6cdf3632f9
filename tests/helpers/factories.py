"""Builders for the services tests: remote posts, accounts, synthetic demo datasets, clocked cores."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from services.core import Parley
from services.networks import demo
from services.networks.base import RemoteAuthor, RemotePost
from services.store.db import Database, open_database, sqlite_url
from services.store.models import Account, Post

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

ALICE = RemoteAuthor("u-alice", "alice@example.social", "Alice", 120)
BOB = RemoteAuthor("u-bob", "bob.bsky.social", "Bob", 35_000)
BRAND = RemoteAuthor("brand", "acme", "Acme Connect", 48_000)


def remote_post(
    rid: str,
    text: str = "hello there",
    *,
    at: datetime = T0,
    author: RemoteAuthor = ALICE,
    conversation: str | None = None,
    parent: str | None = None,
    kind: str = "mention",
    lang: str | None = "en",
) -> RemotePost:
    """A post as a connector would hand it over."""
    return RemotePost(
        remote_id=rid,
        author=author,
        text=text,
        created_at=at,
        conversation_key=conversation or rid,
        parent_remote_id=parent,
        url=f"https://example.social/{rid}",
        lang=lang,
        kind=kind,
        raw={"id": rid},
    )


def add_account(db: Database, handle: str = "@acme@example.social", network: str = "mastodon") -> Account:
    """Store a plain account (not connected to anything) and return it."""
    with db.session() as s:
        acc = Account(network=network, handle=handle, server_url=f"https://{network}.example")
        s.add(acc)
        s.flush()
        s.refresh(acc)
        return acc


def post_id(db: Database, remote_id: str) -> int:
    """The stored id of a post, by its remote id."""
    with db.session() as s:
        found = s.exec(select(Post.id).where(Post.remote_id == remote_id)).first()
    assert found is not None, f"post {remote_id} is not stored"
    return int(found)


# -- synthetic demo communities -------------------------------------------------------------------

ACCOUNTS = [
    {"key": "masto", "flavor": "mastodon", "handle": "@acme@demo.social", "display_name": "Acme Support"},
    {"key": "bsky", "flavor": "bluesky", "handle": "acme.demo.bsky", "display_name": "Acme"},
    {"key": "x", "flavor": "x", "handle": "@AcmeHelp", "display_name": "Acme Help"},
]
AUTHORS = [
    {"id": "brand", "handle": "acme", "name": "Acme Connect", "followers": 48000},
    {"id": "c1", "handle": "cara", "name": "Cara", "followers": 10},
    {"id": "c2", "handle": "dev", "name": "Dev", "followers": 20000},
]
TEXTS = (
    "still no internet since this morning, please help",
    "thanks, the engineer fixed it",
    "when will the outage in my street be fixed?",
    "third time asking about my refund",
)


def community(minutes: Iterable[float], accounts: tuple[str, ...] = ("masto",)) -> dict[str, Any]:
    """A written community with one post per entry of ``minutes`` (ties allowed), spread over accounts."""
    posts = []
    for n, m in enumerate(minutes):
        posts.append(
            {
                "id": f"s{n:04d}",
                "account": accounts[n % len(accounts)],
                "author": "c1" if n % 2 else "c2",
                "minutes": m,
                "lang": "en",
                "reply_to": None,
                "text": f"{TEXTS[n % len(TEXTS)]} #{n}",
            }
        )
    return {"brand": {"name": "Acme"}, "accounts": ACCOUNTS, "authors": AUTHORS, "posts": posts}


def write_community(path: Path, data: dict[str, Any]) -> Path:
    """Write a community JSON file (for ``PARLEY_DEMO_DATASET``) and return its path."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def dataset(data: dict[str, Any], tmp: Path) -> demo.Dataset:
    """Load a community through the real loader."""
    return demo.load_dataset(write_community(tmp / "community.json", data))


# -- a core whose clock (and demo world) the test drives ------------------------------------------


def bare_core(data_dir: Path, clock: Callable[[], datetime]) -> Parley:
    """A ``Parley`` on SQLite in ``data_dir`` that follows ``clock``, with no accounts yet."""
    return Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir, clock=clock)


def clocked_core(data_dir: Path, clock: Callable[[], datetime], *, speed: float = 1.0) -> Parley:
    """A ``Parley`` on SQLite in ``data_dir`` whose core and demo world both follow ``clock``."""
    core = bare_core(data_dir, clock)
    attach_world(core.networks, data_dir, clock, speed=speed)
    core.add_demo_accounts()
    return core


def attach_world(registry: Any, data_dir: Path, clock: Callable[[], datetime], *, speed: float = 1.0) -> demo.DemoWorld:
    """Give a network registry a demo world that follows ``clock`` (before its first use)."""
    world = demo.DemoWorld(data_dir / "demo-network.sqlite", clock=clock, speed=speed, latency=0)
    registry._demo_world = world  # the registry builds one lazily; tests need the clock in it
    return world


def minutes(n: float) -> timedelta:
    """``n`` minutes."""
    return timedelta(minutes=n)


MINI_COMMUNITY = Path(__file__).resolve().parents[1] / "data" / "mini_community.json"


def synced_template(directory: Path, start: datetime) -> Path:
    """A data dir with the mini community synced at ``start``, to copy into each test (module fixtures)."""
    import asyncio
    import os

    from tests.conftest import Clock

    saved = {k: os.environ.get(k) for k in ("PARLEY_DEMO_DATASET", "PARLEY_DEMO_LATENCY")}
    os.environ["PARLEY_DEMO_DATASET"], os.environ["PARLEY_DEMO_LATENCY"] = str(MINI_COMMUNITY), "0"
    try:
        core = clocked_core(directory, Clock(start))
        try:
            report = asyncio.run(core.sync_once())
            assert report.fetched == 7 and not report.problems
        finally:
            core.db.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return directory


def copy_data_dir(template: Path, target: Path) -> Path:
    """Copy a template data dir's databases into ``target``."""
    import shutil

    for f in template.iterdir():
        if f.is_file() and f.name.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm")):
            shutil.copy2(f, target / f.name)
    return target


# -- posts for the corrections tests: a complaint, its near twin, a milder cousin, and unrelated ones ----

PARCEL = "@acme my parcel tracking says delivered but nothing arrived. Third time I ask, where is my refund?!"
PARCEL_AGAIN = "@shop parcel tracking says delivered but nothing arrived, third time asking for my refund!!"
PARCEL_MILD = "@shop parcel tracking says delivered but nothing arrived"
GIFT_CARD = "@acme the gift card code from your newsletter does not work at checkout"
OUTAGE = "@acme whole street has had no internet since 7am. Working from home is impossible."
PRAISE = "@acme thanks, the engineer was brilliant today!"


def import_texts(core: Parley, texts: Sequence[str], *, at: datetime | None = None, workers: int = 1) -> list[int]:
    """Import one post per text (each by its own author, a minute apart) the way ``import --jsonl`` does.

    By default the last one is written just now, so no post has waited long enough to say so.
    Returns the new posts' ids in the order of ``texts``.
    """
    start = at or core.clock() - timedelta(minutes=len(texts))
    before = core.max_post_id()
    lines = [
        json.dumps(
            {
                "network": "mastodon",
                "account": "@acme@masto.example",
                "remote_id": f"t{before + n}",
                "author": f"writer{before + n}",
                "text": text,
                "created_at": (start + timedelta(minutes=n)).isoformat(),
            }
        )
        for n, text in enumerate(texts)
    ]
    new, _, errors = core.import_lines(lines, workers=workers)
    assert not errors and new == len(texts), (new, errors)
    return list(range(before + 1, before + 1 + new))
