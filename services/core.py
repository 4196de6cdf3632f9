"""The core facade the GUI's view-models and the CLI both use: one object per open database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from services import settings as settings_mod
from services.changes import Changes
from services.corrections import CorrectionIndex
from services.errors import InvalidInput, NotFound
from services.networks import demo
from services.networks.base import History, RemoteAuthor, ReplyPreparing, ReplyTarget
from services.networks.registry import NetworkRegistry
from services.outbox import EDITABLE, PENDING, DrainReport, Outbox, OutboxRow, target_of
from services.secrets import Secret, account_key
from services.store import corrections as corrections_store
from services.store import posts as store
from services.store.db import Database
from services.store.models import STATUSES, Account, Author, Post, SyncCursor, is_archive
from services.store.posts import PageKey, PostRow, TimelineFilter
from services.store.types import utcnow
from services.sync import STREAM as MENTIONS_STREAM
from services.sync import SyncReport, SyncService
from services.textlength import graphemes
from services.triage import Triage

# The connectors (and httpx), the import pipeline (multiprocessing) and account health are imported
# where they are used: none of them is needed to paint the first window.
if TYPE_CHECKING:
    import httpx

    from services import health as health_mod
    from services.mastodon_auth import MastodonSignIn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An account as the sidebar, status bar and ``accounts list`` show it."""

    id: int
    network: str
    handle: str
    display_name: str
    label: str
    last_sync_at: datetime | None
    last_error: str | None
    last_error_kind: str | None
    #: The reply limit the account itself states (a demo flavour's, a server's own); None: the network's.
    own_limit: int | None
    server_url: str = ""  # where the account lives: the server, instance or PDS address
    #: It only holds posts imported from an archive: never synced, never answered, never failing.
    archive: bool = False

    @property
    def char_limit(self) -> int | None:
        """How long a reply may be on this account (None: unknown network)."""
        if self.own_limit is not None:
            return self.own_limit
        # The connector is imported here, when a limit is asked for, not with the list of accounts
        # (which the first window shows): it brings httpx with it.
        if self.network == "mastodon":
            from services.networks import mastodon

            return mastodon.DEFAULT_LIMIT
        if self.network == "bluesky":
            from services.networks import bluesky

            return bluesky.TEXT_LIMIT
        return None

    @property
    def needs_sign_in(self) -> bool:
        """Whether the network refused the account's credentials (the GUI shows "sign in again")."""
        return self.last_error_kind == "signed_out"

    def to_json(self) -> dict[str, Any]:
        """One ``accounts list --json`` line."""
        return {
            "id": self.id,
            "network": self.network,
            "handle": self.handle,
            "name": self.display_name,
            "label": self.label,
            "last_sync": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_error": self.last_error,
            "archive": self.archive,
        }


class Parley:
    """Everything Parley does with one database and one data dir."""

    def __init__(self, db: Database, data_dir: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.data_dir = data_dir
        self.clock = clock
        self.networks = NetworkRegistry(data_dir)
        self._settings: dict[str, Any] = self.load_settings()
        self._triage: Triage | None = None
        self._corrections_seen: tuple[int, int] | None = None
        self.sync = SyncService(db, self.networks, self.triage, clock, history=self.history)
        self.outbox = Outbox(db, self.networks, clock=clock)

    # -- settings and triage ---------------------------------------------------------------------

    def load_settings(self) -> dict[str, Any]:
        """Read every setting from the database."""
        with self.db.session() as s:
            return settings_mod.get_all(s)

    @property
    def settings(self) -> dict[str, Any]:
        """The current settings (a copy)."""
        return dict(self._settings)

    def save_setting(self, key: str, value: Any) -> Changes:
        """Validate and store one setting."""
        with self.db.session() as s:
            self._settings[key] = settings_mod.put(s, key, value)
        if key == "urgency_threshold" and self._triage is not None:
            self._triage.threshold = float(self._settings[key])
        return Changes(settings=True)

    def history(self) -> History:
        """How far back the first sync of a newly added account reads (the "history" setting, from now)."""
        return settings_mod.history(str(self._settings["history"]), self.clock())

    def triage(self) -> Triage:
        """The scorer with the stored corrections (TextBlob loads on first use, off the path to the first window)."""
        if self._triage is None:
            triage = Triage(threshold=float(self._settings["urgency_threshold"]))
            self.refresh_corrections(triage)
            self._triage = triage
        return self._triage

    # -- operator corrections --------------------------------------------------------------------

    def refresh_corrections(self, triage: Triage | None = None) -> bool:
        """Load the corrections again if they changed (a teammate's, in team mode); returns whether they did."""
        triage = triage or self._triage
        if triage is None:
            return False  # loaded with the scorer on first use
        with self.db.session() as s:
            seen = corrections_store.signature(s)
            if seen == self._corrections_seen and triage.corrections is not None:
                return False
            triage.corrections = corrections_store.load_index(s)
        self._corrections_seen = seen
        return True

    def correct(self, post_id: int, verdict: str, operator: str | None = None) -> corrections_store.Outcome:
        """An operator's verdict ("urgent", "not_urgent", "not_negative") on a post (blocking).

        The post takes it at once; open posts like it are scored again with the new correction.
        ``operator`` defaults to the "operator" setting.
        """
        threshold = self.triage().threshold
        with self.db.session() as s:
            outcome = corrections_store.correct(s, post_id, verdict, self._operator(operator), self.clock(), threshold)
        self._use_corrections(outcome.index)
        return outcome

    def undo_correction(self, post_id: int, operator: str | None = None) -> corrections_store.Outcome:
        """Withdraw the correction of a post (blocking); it and the posts like it are scored again."""
        threshold = self.triage().threshold
        with self.db.session() as s:
            outcome = corrections_store.undo(s, post_id, self._operator(operator), self.clock(), threshold)
        self._use_corrections(outcome.index)
        return outcome

    def corrections(
        self, *, include_withdrawn: bool = False, post_id: int | None = None
    ) -> list[corrections_store.CorrectionRow]:
        """Corrections, newest first (the active ones unless ``include_withdrawn``)."""
        with self.db.session() as s:
            return corrections_store.rows(s, include_withdrawn=include_withdrawn, post_id=post_id)

    def _operator(self, name: str | None) -> str:
        return (name if name is not None else str(self._settings.get("operator") or "")).strip()

    def _use_corrections(self, index: CorrectionIndex) -> None:
        self.triage().corrections = index
        with self.db.session() as s:
            self._corrections_seen = corrections_store.signature(s)

    # -- accounts --------------------------------------------------------------------------------

    def add_demo_accounts(self) -> list[int]:
        """Add the demo network's accounts (idempotent); returns their ids."""
        data = demo.load_dataset()
        ids: list[int] = []
        with self.db.session() as s:
            for acc in data.accounts:
                found = s.exec(
                    select(Account).where(
                        col(Account.network) == demo.NETWORK,
                        col(Account.server_url) == demo.SERVER_URL,
                        col(Account.handle) == acc.handle,
                    )
                ).first()
                if found is None:
                    found = Account(
                        network=demo.NETWORK,
                        handle=acc.handle,
                        display_name=acc.display_name,
                        server_url=demo.SERVER_URL,
                        remote_user_id="brand",
                        config=json.dumps({"key": acc.key, "flavour": acc.flavour}),
                    )
                    s.add(found)
                    s.flush()
                assert found.id is not None
                ids.append(found.id)
        return ids

    def mastodon_sign_in(self, instance: str, **options: Any) -> MastodonSignIn:
        """A browser sign-in to a Mastodon instance that adds the account when finished (see ``MastodonSignIn``)."""
        from services.mastodon_auth import MastodonSignIn

        return MastodonSignIn(instance, self.data_dir, core=self, **options)

    async def add_mastodon_account(
        self, instance: str, token: str | Secret, *, client: httpx.AsyncClient | None = None
    ) -> AccountRow:
        """Check a Mastodon access token against its server, keep it in the keyring, and add the account.

        Adding an account that exists already replaces its token (the way to recover from a revoked one).

        Raises:
            InvalidInput: The address or the token is unusable as given.
            SecretsUnavailable: There is nowhere safe to keep the token.
            Offline, AuthExpired, Rejected: The server cannot be reached or refused the token.
        """
        from services.networks import mastodon

        secret = token if isinstance(token, Secret) else Secret(token.strip())
        if not secret:
            raise InvalidInput("The access token is empty; pipe it in with --token-stdin.")
        base_url = mastodon.normalise_url(instance)
        store = self.networks.secrets
        # Fail before talking to the server when the token could not be kept anyway.
        await asyncio.to_thread(store.check)
        net = mastodon.MastodonNetwork(base_url, secret, client=client)
        try:
            me = await net.verify()
        finally:
            await net.aclose()
        assert net.account_id is not None
        config = {
            "max_characters": net.text_limit(),
            "domain": net.domain,
        }
        # The token is stored before the row exists, so an account is never without its secret.
        await asyncio.to_thread(store.set, account_key(mastodon.NETWORK, base_url, me.handle), secret)
        account_id = await self.db.run(self._upsert_account, mastodon.NETWORK, base_url, me, config)
        return next(a for a in self.accounts() if a.id == account_id)

    async def add_bluesky_account(self, pds: str, handle: str, password: str | Secret) -> AccountRow:
        """Sign in to a Bluesky PDS once with an app password, keep only the session, and add the account.

        The password is used for this one createSession and then dropped: the session (a token pair
        that is refreshed, not re-created, on later starts) goes to the keyring. Adding an account
        that exists already replaces its session (the way to recover from a revoked app password).

        Raises:
            InvalidInput: The address, handle or password is unusable as given.
            SecretsUnavailable: There is nowhere safe to keep the session.
            Offline, AuthExpired, Rejected, RateLimited: The PDS cannot be reached or refused the sign-in.
        """
        from services.networks import bluesky

        secret = password if isinstance(password, Secret) else Secret(password.strip())
        if not secret:
            raise InvalidInput("The app password is empty; pipe it in with --password-stdin.")
        ident = handle.strip().lstrip("@")
        if not ident:
            raise InvalidInput("Give the account's handle, for example --handle acme.bsky.social.")
        pds_url = bluesky.normalise_pds(pds)
        secrets = self.networks.secrets
        # Fail before signing in when the session could not be kept: createSession is rate-limited.
        await asyncio.to_thread(secrets.check)
        net = bluesky.BlueskyNetwork(pds_url, bluesky.MemorySessionStore())
        try:
            session = await net.login(ident, secret.reveal())
            me = await net.verify()
        finally:
            await net.aclose()
        # The session is stored before the row exists, so an account is never without it.
        store = bluesky.SecretSessionStore(secrets, bluesky.session_key(pds_url, session.did))
        await asyncio.to_thread(store.save, session.to_wire())
        account_id = await self.db.run(self._upsert_account, bluesky.NETWORK, pds_url, me, {})
        return next(a for a in self.accounts() if a.id == account_id)

    def _upsert_account(self, network: str, server_url: str, me: RemoteAuthor, config: dict[str, Any]) -> int:
        with self.db.session() as s:
            found = s.exec(
                select(Account).where(
                    col(Account.network) == network,
                    col(Account.server_url) == server_url,
                    col(Account.handle) == me.handle,
                )
            ).first()
            if found is None:
                found = Account(network=network, handle=me.handle, server_url=server_url)
            found.display_name = me.name
            found.remote_user_id = me.remote_id
            found.config = json.dumps(config)
            found.enabled = True
            found.last_error = found.last_error_kind = None
            s.add(found)
            s.flush()
            assert found.id is not None
            account_id = found.id
        # A connector built with the old token must not be reused.
        self.networks.forget(account_id)
        self.outbox.resume([account_id])  # its replies waited for this sign-in
        return account_id

    def accounts(self) -> list[AccountRow]:
        """Every account, in the order they were added."""
        with self.db.session() as s:
            rows = list(s.exec(select(Account).order_by(col(Account.id))))
        out = []
        for a in rows:
            assert a.id is not None
            config = json.loads(a.config or "{}")
            label = a.network.capitalize()
            limit: int | None = None
            if a.network == demo.NETWORK:
                counter = demo.FLAVOURS.get(str(config.get("flavour")), demo.FLAVOURS["mastodon"])
                label, limit = f"Demo · {counter[2]}", counter[1]
            elif a.network == "mastodon" and isinstance(config.get("max_characters"), int):  # the server's own
                limit = config["max_characters"]
            archive = is_archive(a)
            if archive:
                label = f"{label} · imported archive"
            out.append(
                AccountRow(
                    a.id,
                    a.network,
                    a.handle,
                    a.display_name,
                    label,
                    a.last_sync_at,
                    # An error an archive picked up before it was known as one (a stream tried) is stale.
                    None if archive else a.last_error,
                    None if archive else a.last_error_kind,
                    limit,
                    a.server_url,
                    archive,
                )
            )
        return out

    def account(self, account_id: int) -> AccountRow | None:
        """One account as ``accounts()`` shows it (None: there is no such account)."""
        return next((a for a in self.accounts() if a.id == account_id), None)

    def health(self) -> list[health_mod.AccountHealth]:
        """Every account's health: last sync, last error, sign-in state, rate budget, unusual silence.

        Blocking (it reads Bluesky sessions from the keyring): call it off the GUI thread.
        """
        from services import health as health_mod

        return health_mod.collect(self.db, self.networks, self.clock())

    async def stream_account(self, account_id: int, on_new: Callable[[Changes], Any] | None = None) -> None:
        """Follow one account live until cancelled (see ``SyncService.stream_account``)."""
        with self.db.session() as s:
            account = s.get(Account, account_id)
        if account is None:
            raise NotFound(f"There is no account {account_id}.")
        await self.sync.stream_account(account, on_new)

    def has_accounts(self) -> bool:
        """Whether any account exists (else the GUI shows the welcome screen)."""
        with self.db.session() as s:
            return s.exec(select(col(Account.id))).first() is not None

    # -- timeline (blocking reads; fast indexed queries) ----------------------------------------

    def page(self, flt: TimelineFilter, after: PageKey | None = None, limit: int = 200) -> list[PostRow]:
        """One page of a timeline, newest first."""
        with self.db.session() as s:
            return store.page(s, flt, after, limit)

    def rows_newer_than(self, flt: TimelineFilter, min_id: int) -> list[PostRow]:
        """New arrivals that a timeline should insert."""
        with self.db.session() as s:
            return store.rows_newer_than(s, flt, min_id)

    def rows_by_id(self, ids: Iterable[int]) -> list[PostRow]:
        """Fresh copies of these posts."""
        with self.db.session() as s:
            return store.rows_by_id(s, list(ids))

    def matching(self, flt: TimelineFilter, ids: Iterable[int]) -> set[int]:
        """Which of ``ids`` a filter keeps."""
        with self.db.session() as s:
            return store.matches(s, flt, list(ids))

    def max_post_id(self) -> int:
        """The newest stored post id."""
        with self.db.session() as s:
            return store.max_id(s)

    def count(self, flt: TimelineFilter) -> int:
        """How many posts a filter shows."""
        with self.db.session() as s:
            return store.count(s, flt)

    def counts(self, operator: str = "") -> dict[str, int]:
        """Counts for the sidebar: views, networks (``net:NAME``) and accounts (``acc:ID``), open posts only.

        Each count stops at ``store.COUNT_CAP``; a network's count is the sum of its accounts'.
        """
        out: dict[str, int] = {}
        with self.db.session() as s:
            for view in store.VIEWS:
                out[view] = store.count(s, TimelineFilter(view=view, operator=operator))
            for account_id, network in s.exec(select(col(Account.id), col(Account.network))):
                n = store.count(s, TimelineFilter(view="open", account_id=account_id))
                out[f"acc:{account_id}"] = n
                out[f"net:{network}"] = min(store.COUNT_CAP, out.get(f"net:{network}", 0) + n)
        return out

    def conversation(self, post_id: int) -> list[PostRow]:
        """The stored thread around a post, oldest first."""
        with self.db.session() as s:
            return store.conversation(s, post_id)

    def author_history(self, post_id: int, limit: int = 20) -> list[PostRow]:
        """The author's other posts, newest first."""
        with self.db.session() as s:
            return store.author_history(s, post_id, limit)

    def char_limit(self, post_id: int) -> tuple[int, Callable[[str], int]]:
        """The reply limit and the counting rule of the account a post came to."""
        with self.db.session() as s:
            post = s.get(Post, post_id)
            if post is None:
                raise NotFound(f"There is no post {post_id}.")
            account = s.get(Account, post.account_id)
            assert account is not None
        if is_archive(account):
            # Imported from an archive: readable, never answerable (queue_reply refuses it too).
            return 0, graphemes
        net = self.networks.get(account)
        return net.text_limit(), net.text_length

    def last_syncs(self) -> dict[int, datetime | None]:
        """When each account last synced successfully."""
        with self.db.session() as s:
            rows = s.exec(select(SyncCursor).where(col(SyncCursor.stream) == MENTIONS_STREAM))
            return {c.account_id: c.last_success for c in rows}

    # -- actions ----------------------------------------------------------------------------------

    def set_status(self, ids: Iterable[int], status: str, snoozed_until: datetime | None = None) -> Changes:
        """Mark posts new, open, snoozed, done or ignored."""
        if status not in STATUSES:
            raise InvalidInput(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        if status == "snoozed" and snoozed_until is None:
            raise InvalidInput("Say until when to snooze.")
        with self.db.session() as s:
            changed = store.set_status(s, list(ids), status, snoozed_until)
        return Changes(updated_posts=frozenset(changed))

    async def sync_once(self) -> SyncReport:
        """Fetch new mentions from every account (with the corrections teammates made meanwhile).

        An account that answered may send again at once (its outbox pause, if any, is lifted).
        """
        await self.db.run(self.refresh_corrections)  # a teammate's corrections count from this pass on
        report = await self.sync.sync_once()
        failed = {p.account_id for p in report.problems}
        if 0 not in failed:  # 0: a problem not tied to one account says nothing about the others
            answered = [a.id for a in await self.db.run(self.accounts) if a.id not in failed and not a.archive]
            await self.db.run(self.outbox.resume, answered)
        return report

    async def queue_reply(self, post_id: int, text: str) -> OutboxRow:
        """Queue a reply (stored before any send)."""
        found = await self.db.run(self._reply_target, post_id)  # None: the queue says why in its own words
        if found is not None:
            _refuse_archive(post_id, found[0])
            await self._prepare_reply(*found, text)
        operator = str(self._settings.get("operator") or "") or None
        return await self.db.run(self.outbox.queue, post_id, text, operator)

    async def edit_reply(self, item_id: int, text: str) -> OutboxRow:
        """Change a reply that is not on the network yet, looking up what its new text needs as a new reply does.

        Raises:
            NotFound: There is no such reply.
            InvalidInput: It cannot be changed any more (sending or sent), or the new text is unusable.
        """
        row = await self.db.run(self.outbox.get, item_id)
        if row.state in EDITABLE:  # else the edit below says why, without asking the network first
            found = await self.db.run(self._reply_target, row.post_id)
            if found is not None:
                await self._prepare_reply(*found, text)
        return await self.db.run(self.outbox.edit, item_id, text)

    async def _prepare_reply(self, account: Account, target: ReplyTarget, text: str) -> None:
        """Let the connector look up what the frozen reply needs first (Bluesky: the DIDs of @handles)."""
        network = self.networks.get(account)
        if isinstance(network, ReplyPreparing):
            await network.prepare_reply(target, text)

    def _reply_target(self, post_id: int) -> tuple[Account, ReplyTarget] | None:
        """The account a post came in on and the connector's view of the post (None: no such post)."""
        with self.db.session() as s:
            post = s.get(Post, post_id)
            account = s.get(Account, post.account_id) if post is not None else None
            author = s.get(Author, post.author_id) if post is not None else None
            if post is None or account is None or author is None:
                return None
            return account, target_of(post, author)

    async def drain_outbox(self) -> DrainReport:
        """Send every due reply once (an account in an outage waits; see ``Outbox.resume``)."""
        return await self.outbox.drain_once()

    def pending_replies(self) -> int:
        """Replies not yet sent."""
        return self.outbox.pending_count()

    def outbox_rows(self, states: tuple[str, ...] | None = None) -> list[OutboxRow]:
        """Outbox items, newest first."""
        return self.outbox.rows(states)

    # -- import and export -----------------------------------------------------------------------

    def export_rows(self, batch: int = 2000) -> Iterator[PostRow]:
        """Every stored post, oldest first, for ``export``."""
        after = 0
        while True:
            with self.db.session() as s:
                found = s.scalars(select(col(Post.id)).where(col(Post.id) > after).order_by(col(Post.id)).limit(batch))
                ids = [int(i) for i in found if i is not None]
                if not ids:
                    return
                rows = sorted(store.rows_by_id(s, ids), key=lambda r: r.id)
            yield from rows
            after = ids[-1]

    def import_lines(
        self, lines: Iterable[str], *, expected: int | None = None, workers: int | None = None
    ) -> tuple[int, int, list[str]]:
        """Import JSON lines (an export or another archive), each post triaged; returns (new, skipped, errors).

        Large imports triage in worker processes on every core while this one stores.
        """
        from services.importer import Importer

        result = Importer(self.db, self.triage(), self.clock, workers).run(lines, expected=expected)
        return result.new, result.skipped, list(result.errors)

    async def aclose(self) -> None:
        """Close connectors and the database."""
        await self.networks.aclose()
        self.db.close()


def _refuse_archive(post_id: int, account: Account) -> None:
    """Refuse a reply that could never be sent: its post came from an archive, not a connected account."""
    if is_archive(account):
        raise InvalidInput(
            f"Post {post_id} was imported from an archive and {account.handle} is not a connected account, "
            "so Parley cannot reply to it."
        )


__all__ = ["PENDING", "AccountRow", "Author", "Parley"]
