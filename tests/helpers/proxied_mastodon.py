"""A fake Mastodon server behind the fault proxy, and a core whose one Mastodon account points at the proxy.

The outbox tests that need real HTTP (timeouts, refused connections, 5xx, 429) share it: every byte
goes over 127.0.0.1 through ``tests/fakes/faultproxy.py`` to ``tests/fakes/mastodon.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from services.core import Parley
from services.networks.mastodon import MastodonNetwork
from services.store.db import open_database, sqlite_url
from services.store.models import Account, Post
from tests.fakes.faultproxy import FaultProxy
from tests.fakes.mastodon import FakeMastodon

TOKEN = "proxied-token"


@dataclass
class ProxiedMastodon:
    """The fake server, the proxy in front of it, and the core with its account (not yet synced)."""

    fake: FakeMastodon
    proxy: FaultProxy
    core: Parley
    account: Account
    post_ids: list[int] = field(default_factory=list)

    @property
    def post_id(self) -> int:
        """The first mention's post id (after ``connect``)."""
        return self.post_ids[0]

    def posted(self) -> list[dict[str, Any]]:
        """Every status the server created through ``POST /api/v1/statuses``."""
        with self.fake.lock:
            return list(self.fake.posted)

    def posts_sent(self) -> int:
        """How many ``POST`` requests reached the proxy (faulted or not)."""
        return sum(1 for method, _, _ in self.proxy.history() if method == "POST")


@contextlib.contextmanager
def proxied_mastodon(
    tmp_path: Path, mentions: list[str], *, honour_idempotency: bool = True, **proxy_options: Any
) -> Iterator[ProxiedMastodon]:
    """Start the server with ``mentions`` (one customer each) and the proxy; stop both afterwards."""
    fake = FakeMastodon(token=TOKEN, honour_idempotency=honour_idempotency)
    for n, text in enumerate(mentions):
        fake.add_mention(f"customer{n}@social.example", text)
    fake.start()
    proxy = FaultProxy(fake.url, **proxy_options).start()
    core = Parley(open_database(sqlite_url(tmp_path / "parley.sqlite")), tmp_path)
    with core.db.session() as s:
        account = Account(
            network="mastodon", handle="@acme@fake.social", server_url=proxy.url, remote_user_id=fake.brand_id
        )
        s.add(account)
    try:
        yield ProxiedMastodon(fake, proxy, core, account)
    finally:
        core.db.close()
        proxy.stop()
        fake.stop()


async def connect(world: ProxiedMastodon, client: httpx.AsyncClient) -> None:
    """Route the account to a connector on ``client``, and fetch the mentions (their ids in ``post_ids``)."""
    net = MastodonNetwork(world.proxy.url, TOKEN, client=client, account_id=world.fake.brand_id)
    world.core.networks.get = lambda account: net  # type: ignore[method-assign]
    report = await world.core.sync_once()
    assert report.fetched == len(world.fake.statuses) and not report.problems
    with world.core.db.session() as s:
        world.post_ids = [int(p) for p in s.exec(select(Post.id).order_by(col(Post.created_at))) if p is not None]


async def until(pred: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (polling) until ``pred()`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
