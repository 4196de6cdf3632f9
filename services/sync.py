"""Fetching new mentions: stored cursors, paging until caught up, triage on arrival."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.changes import Changes
from services.errors import AuthExpired, InvalidInput, NetworkError, ParleyError
from services.gaps import cursor_row, read_gaps, write_gaps
from services.networks.base import Gap, GapFilling, History, Network, RemotePost
from services.networks.registry import NetworkRegistry
from services.store.db import Database
from services.store.models import Account, SyncCursor, is_archive
from services.store.posts import ingest, rescore_open, wake_snoozed
from services.store.types import utcnow
from services.streaming import IDLE_TIMEOUT, Backoff, StreamingNetwork, stream_mentions
from services.triage import Triage

log = logging.getLogger(__name__)

STREAM = "mentions"
#: A safety stop for one account in one sync (pages of up to 100 posts).
MAX_PAGES = 200
#: Calls into gaps per account and sync, after the new mentions: a big gap fills over a few syncs
#: instead of holding up the others (and the rate budget).
FILL_CALLS = 25


@dataclass(frozen=True, slots=True)
class AccountProblem:
    """Why one account could not be synced, in plain words."""

    account_id: int
    handle: str
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    """The result of one sync over every account."""

    changes: Changes = field(default_factory=Changes)
    fetched: int = 0
    problems: tuple[AccountProblem, ...] = ()


class SyncService:
    """Polls every connected account from its stored cursor (an imported archive has nothing to fetch)."""

    def __init__(
        self,
        db: Database,
        networks: NetworkRegistry,
        triage: Callable[[], Triage],
        clock: Callable[[], datetime] = utcnow,
        history: Callable[[], History] | None = None,
    ) -> None:
        self.db = db
        self.networks = networks
        self.triage = triage
        self.clock = clock
        #: How far back the first sync of a new account reads (the "history" setting); None: each network's default.
        self.history = history

    def _accounts(self) -> list[Account]:
        with self.db.session() as s:
            found = s.exec(select(Account).where(col(Account.enabled) == True))  # noqa: E712
            return [a for a in found if not is_archive(a)]

    def _cursor(self, account_id: int) -> str | None:
        with self.db.session() as s:
            row = cursor_row(s, account_id, STREAM)
            return row.cursor if row else None

    def _store(
        self, account: Account, posts: list[RemotePost], cursor: str | None, gaps: tuple[Gap, ...] | None = None
    ) -> list[int]:
        """Store a page and move the cursor in one transaction, so a crash never skips posts.

        ``gaps`` (when given) replaces the account's open gaps, in the same transaction as the cursor
        that holds the connector's way into them.
        """
        now = self.clock()
        with self.db.session() as s:
            ids = ingest(s, account, posts, self.triage(), now)
            _touch_cursor(s, account, cursor=cursor, now=now, error=None)
            if gaps is not None:
                write_gaps(s, account, gaps)
            acc = s.get(Account, account.id)
            assert acc is not None
            acc.last_sync_at, acc.last_error, acc.last_error_kind = now, None, None
            s.add(acc)
            return ids

    def _fail(self, account: Account, exc: ParleyError) -> None:
        with self.db.session() as s:
            _touch_cursor(s, account, cursor=None, now=None, error=str(exc))
            acc = s.get(Account, account.id)
            assert acc is not None
            acc.last_error, acc.last_error_kind = str(exc), exc.kind
            s.add(acc)

    def _wake_and_rescore(self) -> list[int]:
        """Snoozed posts whose time came reopen; open posts get their waiting time rescored."""
        with self.db.session() as s:
            now = self.clock()
            return wake_snoozed(s, now) + rescore_open(s, self.triage(), now)

    async def sync_account(self, account: Account) -> tuple[list[int], AccountProblem | None]:
        """Fetch every page newer than the stored cursor of one account."""
        assert account.id is not None
        new_ids: list[int] = []
        try:
            network = self.networks.get(account)
            await self._fetch_new(account, network, new_ids)
        except ParleyError as exc:
            if not isinstance(exc, NetworkError):
                log.warning("sync of %s: %s", account.handle, exc)
            await self.db.run(self._fail, account, exc)
            return new_ids, AccountProblem(account.id, account.handle, exc.kind, str(exc))
        return new_ids, None

    async def _fetch_new(self, account: Account, network: Network, new_ids: list[int]) -> None:
        """Page from the stored cursor until caught up, then read into open gaps, storing as it goes.

        New mentions come first; gaps (and a new account's history) are read after them, ``FILL_CALLS``
        at most per sync, so the newest never wait behind an old stretch. Ids land in ``new_ids`` even on error.
        """
        assert account.id is not None
        cursor = await self.db.run(self._cursor, account.id)
        history = self.history() if self.history is not None else None
        gaps: tuple[Gap, ...] = ()
        for _ in range(MAX_PAGES):
            page = await network.fetch_mentions(cursor, history)
            new_ids += await self.db.run(self._store, account, list(page.posts), page.cursor, page.gaps)
            cursor, gaps = page.cursor, page.gaps
            if not page.more:
                break
        if not gaps or cursor is None or not isinstance(network, GapFilling):
            return
        for _ in range(FILL_CALLS):
            page = await network.fill_gap(cursor)
            new_ids += await self.db.run(self._store, account, list(page.posts), page.cursor, page.gaps)
            cursor = page.cursor
            if not page.more or cursor is None:
                break

    def _note_stream_gap(self, account: Account) -> None:
        """The live connection dropped: until a sync catches up, mentions since now may be missing here."""
        assert account.id is not None
        with self.db.session() as s:
            gaps = read_gaps(s, account.id)
            if not any(g.kind == "stream" for g in gaps):
                write_gaps(s, account, (*gaps, Gap(self.clock(), None, "stream")))

    def supports_streaming(self, account: Account) -> bool:
        """Whether the account's network can hold a live connection (else it is only polled)."""
        try:
            return isinstance(self.networks.get(account), StreamingNetwork)
        except ParleyError:
            return False

    async def stream_account(
        self,
        account: Account,
        on_new: Callable[[Changes], Awaitable[Any] | Any] | None = None,
        *,
        backoff: Backoff | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """Keep one account live until cancelled: mentions are stored as they stream in, triaged like polled ones.

        On every (re)connect the REST backfill runs from the stored cursor first (the same path as
        ``sync_account``), so nothing said while disconnected is skipped; a post that comes both ways is
        stored once. Each batch of new posts is reported to ``on_new`` (a function or a coroutine function).
        Keep the periodic ``sync_once`` running beside it: polling stays the safety net, and it is cheap
        because both paths share the cursor and skip what is stored.

        Raises:
            AuthExpired: The token was refused (recorded on the account: the GUI asks to sign in again).
            Rejected: The server offers no stream: keep polling this account.
            InvalidInput: The account's network cannot stream at all, or the account is an imported archive.
        """
        assert account.id is not None
        if is_archive(account):
            raise InvalidInput(f"{account.handle} holds an imported archive; there is nothing to follow live.")
        network = self.networks.get(account)
        if not isinstance(network, StreamingNetwork):
            raise InvalidInput(f"{account.handle} cannot be followed live; its mentions are polled.")
        account_ids = frozenset({account.id})

        async def report(ids: list[int]) -> None:
            if ids and on_new is not None:
                result = on_new(Changes(new_posts=frozenset(ids), accounts=account_ids))
                if inspect.isawaitable(result):
                    await result

        async def backfill() -> None:
            new_ids: list[int] = []
            try:
                await self._fetch_new(account, network, new_ids)
            except ParleyError as exc:
                await self.db.run(self._fail, account, exc)
                raise
            finally:
                await report(new_ids)

        async def dropped() -> None:
            await self.db.run(self._note_stream_gap, account)

        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        posts = stream_mentions(
            network, on_connect=backfill, on_drop=dropped, backoff=backoff, idle_timeout=idle_timeout, **extra
        )
        try:
            async with contextlib.aclosing(posts):
                async for post in posts:
                    # No cursor move: only the backfill, which reads every page in order, may advance it.
                    await report(await self.db.run(self._store, account, [post], None))
        except AuthExpired as exc:
            await self.db.run(self._fail, account, exc)
            raise

    async def sync_once(self) -> SyncReport:
        """One pass over every connected account (``changes.accounts`` names the ones it tried)."""
        new_ids: list[int] = []
        problems: list[AccountProblem] = []
        accounts = await self.db.run(self._accounts)
        for account in accounts:
            ids, problem = await self.sync_account(account)
            new_ids += ids
            if problem:
                problems.append(problem)
        woken = await self.db.run(self._wake_and_rescore)
        changes = Changes(
            new_posts=frozenset(new_ids),
            updated_posts=frozenset(woken),
            accounts=frozenset(a.id for a in accounts if a.id is not None),
        )
        return SyncReport(changes, len(new_ids), tuple(problems))


def _touch_cursor(s: Session, account: Account, *, cursor: str | None, now: datetime | None, error: str | None) -> None:
    assert account.id is not None
    row = cursor_row(s, account.id, STREAM)
    if row is None:
        row = SyncCursor(account_id=account.id, stream=STREAM)
    if cursor is not None:
        row.cursor = cursor
    if now is not None:
        row.last_success = now
    row.last_error = error
    s.add(row)
