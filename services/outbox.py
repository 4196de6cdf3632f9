"""The durable reply queue (design section 4): written before sending, never lost, never doubled.

States: queued -> sending -> sent; sending -> unknown on a timeout, reset or 5xx; unknown -> sent
when reconciliation finds the reply, -> queued when it proves it absent; failed for a final refusal;
needs_review when the conversation changed under us; cancelled by the operator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, text, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from services.errors import (
    AuthExpired,
    InvalidInput,
    NetworkError,
    NotFound,
    Offline,
    RateLimited,
    Rejected,
)
from services.networks.base import Network, RateLimitState, RemoteAuthor, RemotePost, ReplyTarget, SentReply
from services.networks.registry import NetworkRegistry
from services.store.db import Database
from services.store.models import KIND_OWN_REPLY, Account, Author, Lease, OutboxAttempt, OutboxItem, Post
from services.store.posts import mark_answered
from services.store.search import index_posts
from services.store.types import utcnow

log = logging.getLogger(__name__)

QUEUED, SENDING, UNKNOWN, SENT, FAILED, NEEDS_REVIEW, CANCELLED = (
    "queued",
    "sending",
    "unknown",
    "sent",
    "failed",
    "needs_review",
    "cancelled",
)
STATES = (QUEUED, SENDING, UNKNOWN, SENT, FAILED, NEEDS_REVIEW, CANCELLED)
#: States with work left for a sender.
PENDING = (QUEUED, SENDING, UNKNOWN)
#: States the operator may edit or cancel (nothing of these can be on the network).
EDITABLE = (QUEUED, FAILED, NEEDS_REVIEW)
LEASE_TTL = timedelta(seconds=60)
MAX_BACKOFF = 300.0
#: The longest an account's sending pauses in an outage before one reply probes again: the CLI has
#: no other sign that the network is back. In the GUI a sync that works, or Retry, lifts it sooner.
MAX_PAUSE = 60.0
#: The first pause after a failure. One reset or 5xx is common and usually over at once, so the queue
#: stalls only briefly; each failure in a row doubles it, reaching MAX_PAUSE after about nine.
FIRST_PAUSE = 0.25
#: Pause kinds in the order a person should hear about them (the GUI's banner, the CLI's reason).
PAUSE_ORDER = ("offline", "signed_out", "rate_limited", "unknown")
#: The longest single pause for pacing; the drain loop comes back for the rest.
MAX_PACE = 30.0
#: How long a request we gave up on (timeout, reset, 5xx, or a sender killed mid-send) may still be
#: travelling before it lands: proxies, load balancers and a busy server's queue can hold it. If it
#: landed after reconciliation had found it absent, a re-send would double the reply on every server
#: that ignores Idempotency-Key. So a reconciliation may confirm a reply at any time, but its "absent"
#: verdict only lets the item be sent again once this long has passed since we gave up on the request
#: (``_unknown_since``). A minute is longer than the usual proxy timeouts (nginx's default is 60 s).
#: ``PARLEY_OUTBOX_SETTLE`` (seconds) overrides it; tests/e2e/test_outbox_kill.py holds requests in a
#: fault proxy for longer than a sender lives to prove the rule.
UNKNOWN_SETTLE = timedelta(seconds=60)
#: The payload key (local, never sent) that records when we gave up on a send that may still arrive.
UNKNOWN_SINCE = "_unknown_since"


def settle_from_env() -> timedelta:
    """``PARLEY_OUTBOX_SETTLE`` in seconds, else ``UNKNOWN_SETTLE``."""
    raw = os.environ.get("PARLEY_OUTBOX_SETTLE", "").strip()
    try:
        return timedelta(seconds=max(0.0, float(raw))) if raw else UNKNOWN_SETTLE
    except ValueError:
        log.warning("PARLEY_OUTBOX_SETTLE=%r is not a number of seconds; using %s", raw, UNKNOWN_SETTLE)
        return UNKNOWN_SETTLE


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox item as the panel and the CLI show it."""

    id: int
    post_id: int
    account_id: int
    account_handle: str
    network: str
    conversation_key: str
    text: str
    state: str
    remote_id: str | None
    remote_url: str | None
    attempts: int
    last_error: str | None
    review_reason: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    in_reply_to: str

    def to_json(self) -> dict[str, Any]:
        """The contract's outbox line (design section 6)."""
        return {
            "id": self.id,
            "post": self.post_id,
            "account": self.account_handle,
            "network": self.network,
            "state": self.state,
            "text": self.text,
            "remote_id": self.remote_id,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "review_reason": self.review_reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AccountPause:
    """Why one account's sending stopped, and until when none of its replies is tried.

    A server that cannot be reached, refuses the account's sign-in, asks to slow down or fails with
    an unknown outcome would fail every reply of that account the same way: one failure pauses them
    all, and the first reply due after ``until`` probes again.
    """

    account_id: int
    handle: str
    kind: str  # a ParleyError kind: offline, signed_out, rate_limited, unknown...
    message: str
    until: datetime
    failures: int  # in a row, since this account last sent a reply
    server: str = ""  # the host that failed, as people write it (mastodon.example)
    #: The HTTP status of the server's answer, when it answered (a 5xx: the server itself is failing).
    status: int | None = None

    @property
    def server_failing(self) -> bool:
        """Whether the server answered, with a 5xx: it is up but failing, and this machine is online."""
        return self.status is not None and self.status >= 500

    @property
    def text(self) -> str:
        """The reason in one line, naming the account."""
        return f"{self.handle}: {self.message}"


@dataclass(frozen=True, slots=True)
class DrainReport:
    """What one pass over the queue did, and what is left."""

    sent: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()
    pending: int = 0
    next_due: datetime | None = None
    #: Accounts whose sending waits out an outage now, most pressing first.
    paused: tuple[AccountPause, ...] = ()
    #: Replies nothing will send by itself: held for review, or refused for good.
    needs_review: int = 0
    failed: int = 0

    @property
    def error_kind(self) -> str | None:
        """The ``ParleyError`` kind of the most pressing pause (the GUI picks its banner from it)."""
        return self.paused[0].kind if self.paused else None

    @property
    def error(self) -> str | None:
        """The most pressing pause in one line, naming the account."""
        return self.paused[0].text if self.paused else None

    @property
    def offline(self) -> bool:
        """Whether an account's server could not be reached."""
        return any(p.kind == "offline" for p in self.paused)


def pacing_delay(state: RateLimitState | None, now: datetime) -> float:
    """Seconds to wait before the next send so the remaining budget lasts until the window resets.

    Nothing is held back while more than a fifth of the budget is left; below that, sends are
    spaced evenly over the time to the reset; with nothing left, wait for the reset itself.
    """
    if state is None or state.remaining is None or state.reset_at is None:
        return 0.0
    window = (state.reset_at - now).total_seconds()
    if window <= 0:
        return 0.0
    if state.remaining <= 0:
        return window
    if state.limit and state.remaining > state.limit / 5:
        return 0.0
    return window / state.remaining


def backoff(
    attempts: int, rng: random.Random | None = None, *, cap: float = MAX_BACKOFF, unit: float = 1.0
) -> timedelta:
    """Exponential backoff with jitter (between half and all of ``unit * 2 ** attempts`` seconds), capped."""
    base = min(cap, unit * 2.0 ** max(0, attempts))
    return timedelta(seconds=(rng or random).uniform(base / 2, base))


def _pause_rank(kind: str) -> int:
    return PAUSE_ORDER.index(kind) if kind in PAUSE_ORDER else len(PAUSE_ORDER)


def target_of(post: Post, author: Author) -> ReplyTarget:
    """The connector's view of the post being answered."""
    try:
        raw = json.loads(post.raw or "{}")
    except ValueError:
        raw = {}
    return ReplyTarget(post.remote_id, post.conversation_key, author.handle, raw)


class Outbox:
    """Queue, edit, cancel and send replies."""

    def __init__(
        self,
        db: Database,
        networks: NetworkRegistry,
        *,
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        settle: timedelta | None = None,
    ) -> None:
        self.db = db
        self.networks = networks
        self.clock = clock
        #: See ``UNKNOWN_SETTLE``.
        self.settle = settle_from_env() if settle is None else settle
        # Who holds a send lease: host, process and a random part (two GUIs on one host differ).
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # Per account, in memory: another process probes once on its own and then pauses too.
        # The lock: drains run on the event loop, resume() and retry() on the database worker.
        self._pauses: dict[int, AccountPause] = {}
        self._pause_lock = threading.Lock()

    # -- operator actions (blocking; run them on the DB worker) ---------------------------------

    def _network_for(self, session: Session, account_id: int) -> tuple[Account, Network]:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound(f"Account {account_id} does not exist.")
        return account, self.networks.get(account)

    def check_text(self, network: Network, text_: str) -> str:
        """Reject an empty or too long reply before it is queued."""
        body = text_.strip()
        if not body:
            raise InvalidInput("The reply is empty.")
        length, limit = network.text_length(body), network.text_limit()
        if length > limit:
            raise InvalidInput(f"The reply is {length} characters; this account allows {limit}.")
        return body

    def queue(self, post_id: int, text_: str, operator: str | None = None) -> OutboxRow:
        """Write a reply to the queue (the only place it is written before any send)."""
        with self.db.session() as s:
            post = s.get(Post, post_id)
            if post is None:
                raise NotFound(f"There is no post {post_id}.")
            if post.kind == KIND_OWN_REPLY:
                raise InvalidInput(f"Post {post_id} is our own reply; answer the customer's post instead.")
            author = s.get(Author, post.author_id)
            assert author is not None
            _, network = self._network_for(s, post.account_id)
            body = self.check_text(network, text_)
            key = str(uuid.uuid4())
            now = self.clock()
            item = OutboxItem(
                post_id=post_id,
                account_id=post.account_id,
                conversation_key=post.conversation_key,
                text=body,
                client_key=key,
                payload=json.dumps(network.freeze_reply(target_of(post, author), body, key)),
                state=QUEUED,
                operator=operator or None,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
            )
            s.add(item)
            s.flush()
            if post.status == "new":
                post.status = "open"
                s.add(post)
            assert item.id is not None
            item_id = item.id
        return self.get(item_id)

    def edit(self, item_id: int, text_: str) -> OutboxRow:
        """Change a reply that cannot be on the network yet; it gets a fresh key and goes back to queued."""
        with self.db.session() as s:
            item = self._item(s, item_id)
            if item.state not in EDITABLE:
                raise InvalidInput(f"A reply that is {item.state.replace('_', ' ')} cannot be edited.")
            post = s.get(Post, item.post_id)
            author = s.get(Author, post.author_id) if post else None
            assert post is not None and author is not None
            _, network = self._network_for(s, item.account_id)
            body = self.check_text(network, text_)
            # A new text is a new reply: a fresh idempotency key so no server returns the old one.
            item.client_key = str(uuid.uuid4())
            item.payload = json.dumps(network.freeze_reply(target_of(post, author), body, item.client_key))
            item.text = body
            self._set(item, QUEUED, error=None)
            item.review_reason = None
            s.add(item)
        return self.get(item_id)

    def cancel(self, item_id: int) -> OutboxRow:
        """Cancel a reply that is not (and cannot be) on the network."""
        with self.db.session() as s:
            item = self._item(s, item_id)
            if item.state not in EDITABLE:
                raise InvalidInput(f"A reply that is {item.state.replace('_', ' ')} cannot be cancelled.")
            self._set(item, CANCELLED)
            s.add(item)
        return self.get(item_id)

    def retry(self, item_id: int, *, send_anyway: bool = False) -> OutboxRow:
        """Put a failed or held reply back in the queue (``send_anyway`` skips the conversation check)."""
        with self.db.session() as s:
            item = self._item(s, item_id)
            if item.state not in (FAILED, NEEDS_REVIEW, QUEUED, UNKNOWN):
                raise InvalidInput(f"A reply that is {item.state.replace('_', ' ')} cannot be retried.")
            # The old reason goes: the panel shows a reason only once the next attempt has one.
            if item.state == UNKNOWN:  # an unknown item keeps its state: it must be reconciled first
                item.last_error = None
                item.updated_at = self.clock()
            else:
                self._set(item, QUEUED)
            item.review_reason = None
            payload = json.loads(item.payload)
            payload["_send_anyway"] = send_anyway or payload.get("_send_anyway", False)
            item.payload = json.dumps(payload)
            item.next_attempt_at = self.clock()
            s.add(item)
            account_id = item.account_id
        self.resume([account_id])  # "try now" means now, not after the account's outage pause
        return self.get(item_id)

    def _item(self, s: Session, item_id: int) -> OutboxItem:
        item = s.get(OutboxItem, item_id)
        if item is None:
            raise NotFound(f"There is no outbox item {item_id}.")
        return item

    def _set(self, item: OutboxItem, state: str, *, error: str | None = None) -> None:
        item.state = state
        item.last_error = error
        item.updated_at = self.clock()

    # -- reading --------------------------------------------------------------------------------

    def rows(self, states: Sequence[str] | None = None, limit: int | None = 500) -> list[OutboxRow]:
        """Outbox items, newest first (``limit=None``: all of them)."""
        with self.db.session() as s:
            q = _rows_query().order_by(col(OutboxItem.id).desc()).limit(limit)
            if states:
                q = q.where(col(OutboxItem.state).in_(states))
            return [_row(i, h, n, r) for i, h, n, r in s.execute(q)]

    def get(self, item_id: int) -> OutboxRow:
        """One item."""
        with self.db.session() as s:
            found = s.execute(_rows_query().where(col(OutboxItem.id) == item_id)).first()
            if found is None:
                raise NotFound(f"There is no outbox item {item_id}.")
            return _row(*found)

    def attempts(self, item_id: int | None = None) -> list[dict[str, Any]]:
        """Every recorded send attempt (for export and the details view)."""
        with self.db.session() as s:
            q = select(OutboxAttempt).order_by(col(OutboxAttempt.id))
            if item_id is not None:
                q = q.where(col(OutboxAttempt.item_id) == item_id)
            return [
                {
                    "item": a.item_id,
                    "at": a.at.isoformat(),
                    "request": a.request_summary,
                    "status": a.status,
                    "outcome": a.outcome,
                    "detail": a.detail,
                }
                for a in s.scalars(q)
            ]

    def pending_count(self) -> int:
        """Replies still to send (queued, sending, or unknown)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).where(col(OutboxItem.state).in_(PENDING))) or 0)

    # -- sending --------------------------------------------------------------------------------

    def _acquire(self, account_id: int) -> bool:
        """Take or renew the send lease of one account; False if another live sender holds it."""
        name = f"outbox:{account_id}"
        now = self.clock()
        with self.db.session() as s:
            dialect = s.get_bind().dialect.name
            verb = "INSERT OR IGNORE" if dialect == "sqlite" else "INSERT"
            tail = "" if dialect == "sqlite" else " ON CONFLICT (name) DO NOTHING"
            s.execute(
                text(f"{verb} INTO lease (name, holder, expires_at) VALUES (:n, '', :t){tail}"),
                {"n": name, "t": now.replace(tzinfo=None) - timedelta(seconds=1)},
            )
            got = s.execute(
                update(Lease)
                .where(
                    col(Lease.name) == name,
                    or_(col(Lease.holder) == self.holder, col(Lease.expires_at) < now),
                )
                .values(holder=self.holder, expires_at=now + LEASE_TTL)
            )
            if getattr(got, "rowcount", 0):
                return True
            holder = s.scalar(select(col(Lease.holder)).where(col(Lease.name) == name))
            if holder and _holder_is_dead(holder):
                # A sender on this machine was killed: take its lease now rather than after the TTL.
                log.info("taking the send lease of %s from a process that is gone (%s)", name, holder)
                got = s.execute(
                    update(Lease)
                    .where(col(Lease.name) == name, col(Lease.holder) == holder)
                    .values(holder=self.holder, expires_at=now + LEASE_TTL)
                )
                return bool(getattr(got, "rowcount", 0))
            return False

    def _release(self, account_id: int) -> None:
        with self.db.session() as s:
            s.execute(
                update(Lease)
                .where(col(Lease.name) == f"outbox:{account_id}", col(Lease.holder) == self.holder)
                .values(expires_at=self.clock() - timedelta(seconds=1))
            )

    def _accounts_with_work(self) -> list[int]:
        with self.db.session() as s:
            q = select(col(OutboxItem.account_id)).where(col(OutboxItem.state).in_(PENDING)).distinct()
            return sorted(int(a) for a in s.scalars(q))

    def _recover_sending(self, account_id: int) -> None:
        """An item left in ``sending`` by a sender that died may have arrived: it is unknown now."""
        with self.db.session() as s:
            for item in s.scalars(
                select(OutboxItem).where(col(OutboxItem.account_id) == account_id, col(OutboxItem.state) == SENDING)
            ):
                # The dead sender's request may still be on its way. It wrote ``sending`` just before
                # handing the request over (which takes at most its connect time), so the settle time
                # counts from then; a sender that died before that sent nothing at all.
                _gave_up(item, min(item.updated_at, self.clock()))
                self._set(item, UNKNOWN, error="The app stopped while sending; checking whether it arrived.")
                item.next_attempt_at = self.clock()
                s.add(item)

    def _next_item(self, account_id: int) -> OutboxItem | None:
        """The oldest due item whose conversation has nothing earlier still pending."""
        now = self.clock()
        # One query rather than loading every pending item per send (that made a 10,000-reply queue
        # quadratic): the head of each conversation is its oldest pending reply; later ones wait for it.
        heads = (
            select(func.min(col(OutboxItem.id)))
            .where(col(OutboxItem.account_id) == account_id, col(OutboxItem.state).in_(PENDING))
            .group_by(col(OutboxItem.conversation_key))
        )
        with self.db.session() as s:
            return s.scalars(
                select(OutboxItem)
                .where(
                    col(OutboxItem.id).in_(heads),
                    or_(col(OutboxItem.next_attempt_at).is_(None), col(OutboxItem.next_attempt_at) <= now),
                )
                .order_by(col(OutboxItem.id))
                .limit(1)
            ).first()

    def _record(
        self,
        item_id: int,
        state: str,
        *,
        outcome: str,
        status: str = "",
        detail: str | None = None,
        error: str | None = None,
        sent: SentReply | None = None,
        delay: timedelta | None = None,
        until: datetime | None = None,
        review: str | None = None,
        count_attempt: bool = False,
    ) -> None:
        """Move an item to ``state`` and write the attempt row, in one transaction."""
        now = self.clock()
        with self.db.session() as s:
            if sent is not None and state == SENT:
                # The reply as a post of the conversation is stored in the same transaction, so a
                # crash can never leave a sent item without its answered conversation.
                self._store_sent(s, item_id, sent)
            item = self._item(s, item_id)
            if item.state == SENDING and state == UNKNOWN:
                _gave_up(item, now)  # the request may still arrive: see UNKNOWN_SETTLE
            self._set(item, state, error=error)
            if count_attempt:
                item.attempts += 1
            if sent is not None:
                item.remote_id, item.remote_url, item.sent_at = sent.remote_id, sent.url, now
            if review is not None:
                item.review_reason = review
            # ``until``: exactly a pause's end, which resume() looks for to bring the reply forward.
            item.next_attempt_at = until or (now + delay if delay else now)
            s.add(item)
            summary = f"reply to post {item.post_id} ({len(item.text)} chars, key {item.client_key[:8]})"
            s.add(
                OutboxAttempt(
                    item_id=item_id,
                    at=now,
                    request_summary=summary,
                    status=status,
                    outcome=outcome,
                    detail=detail,
                )
            )

    def _store_sent(self, s: Session, item_id: int, sent: SentReply) -> None:
        """Keep our reply as a post of the conversation and mark the conversation answered."""
        item = self._item(s, item_id)
        account = s.get(Account, item.account_id)
        post = s.get(Post, item.post_id)
        assert account is not None and account.id is not None and post is not None
        brand = _brand_author(s, account)
        own = Post(
            account_id=account.id,
            network=account.network,
            remote_id=sent.remote_id,
            conversation_key=item.conversation_key,
            parent_remote_id=post.remote_id,
            author_id=brand,
            text=item.text,
            url=sent.url,
            created_at=self.clock(),
            kind=KIND_OWN_REPLY,
            status="done",
            answered=True,
        )
        exists = s.scalar(
            select(col(Post.id)).where(col(Post.account_id) == account.id, col(Post.remote_id) == sent.remote_id)
        )
        if exists is None:
            s.add(own)
            s.flush()
            assert own.id is not None
            index_posts(s, [own.id])
        mark_answered(
            s,
            account.id,
            [RemotePost(sent.remote_id, RemoteAuthor("", ""), "", self.clock(), item.conversation_key)],
        )

    async def drain_once(self) -> DrainReport:
        """Send what is due now, account by account; returns what changed and what is left."""
        sent: list[int] = []
        changed: list[int] = []
        for account_id in await self.db.run(self._accounts_with_work):
            if self._pause_of(account_id) is not None:
                continue  # waiting out an outage: no request until the pause ends or resume() lifts it
            if not await self.db.run(self._acquire, account_id):
                continue  # another process or operator is sending for this account
            try:
                await self.db.run(self._recover_sending, account_id)
                await self._drain_account(account_id, sent, changed)
            finally:
                await self.db.run(self._release, account_id)
        return await self.db.run(self._report, tuple(sent), tuple(changed))

    def _report(self, sent: tuple[int, ...], changed: tuple[int, ...]) -> DrainReport:
        # Counted in SQL, in one query: this runs after every pass, and a long queue made it the slowest step.
        with self.db.session() as s:
            rows = s.execute(
                select(
                    col(OutboxItem.account_id),
                    col(OutboxItem.state),
                    func.count(),
                    func.min(col(OutboxItem.next_attempt_at)),
                )
                .where(col(OutboxItem.state).in_((*PENDING, FAILED, NEEDS_REVIEW)))
                .group_by(col(OutboxItem.account_id), col(OutboxItem.state))
            ).all()
        paused = self._active_pauses(self.clock())
        until = {p.account_id: p.until for p in paused}
        pending, held = 0, {FAILED: 0, NEEDS_REVIEW: 0}
        due: datetime | None = None
        for account_id, state, count, first in rows:
            if state not in PENDING:
                held[state] += int(count)
                continue
            pending += int(count)
            # A paused account's replies are due when its pause ends, whatever their own time says.
            ends = until.get(account_id)
            at = max(first, ends) if first is not None and ends is not None else first or ends
            if at is not None and (due is None or at < due):
                due = at
        return DrainReport(sent, changed, pending, due, paused, held[NEEDS_REVIEW], held[FAILED])

    # -- outage pauses (per account) ------------------------------------------------------------

    def _pause_of(self, account_id: int) -> AccountPause | None:
        """The account's pause while it lasts."""
        with self._pause_lock:
            pause = self._pauses.get(account_id)
        return pause if pause is not None and pause.until > self.clock() else None

    def _active_pauses(self, now: datetime) -> tuple[AccountPause, ...]:
        with self._pause_lock:
            active = [p for p in self._pauses.values() if p.until > now]
        return tuple(sorted(active, key=lambda p: (_pause_rank(p.kind), p.account_id)))

    def _pause(self, account: Account, exc: NetworkError) -> AccountPause:
        """Stop sending for ``account`` after ``exc``: every failure in a row doubles the wait, up to ``MAX_PAUSE``."""
        assert account.id is not None
        now = self.clock()
        with self._pause_lock:
            before = self._pauses.get(account.id)
            failures = before.failures + 1 if before else 1
            if isinstance(exc, RateLimited) and exc.reset_at is not None:
                wait = max(exc.reset_at - now, timedelta(seconds=1))  # the network said when
            else:
                wait = backoff(failures - 1, cap=MAX_PAUSE, unit=FIRST_PAUSE)
            server = urlsplit(account.server_url).netloc or account.server_url
            pause = AccountPause(
                account.id, account.handle, exc.kind, str(exc), now + wait, failures, server, exc.status
            )
            self._pauses[account.id] = pause
        log.info("sending for %s paused for %.0f s: %s", account.handle, wait.total_seconds(), exc.kind)
        return pause

    def _sent_for(self, account_id: int) -> None:
        """A reply went out: the account's outage is over."""
        with self._pause_lock:
            self._pauses.pop(account_id, None)

    def resume(self, account_ids: Iterable[int] | None = None) -> None:
        """The network is known to be back for these accounts (None: every one): send again at once.

        A sync that worked, a sign-in or an operator's Retry says so. A rate limit stays: the network
        itself said how long to wait. Blocking (the reply that met the outage waits in the database
        for the pause's end): run it on the DB worker.
        """
        with self._pause_lock:
            chosen = list(self._pauses) if account_ids is None else list(account_ids)
            lifted = [p for p in (self._pauses.get(a) for a in chosen) if p and p.kind != RateLimited.kind]
            for pause in lifted:
                del self._pauses[pause.account_id]
        if not lifted:
            return
        with self.db.session() as s:
            for pause in lifted:
                s.execute(
                    update(OutboxItem)
                    .where(
                        col(OutboxItem.account_id) == pause.account_id,
                        col(OutboxItem.state).in_(PENDING),
                        col(OutboxItem.next_attempt_at) == pause.until,
                    )
                    .values(next_attempt_at=self.clock())
                )

    async def _drain_account(self, account_id: int, sent: list[int], changed: list[int]) -> None:
        """Send the due items of one account while holding its lease, until none is due or it pauses."""
        account, network = await self.db.run(self._account_network, account_id)
        while True:
            if not await self.db.run(self._acquire, account_id):  # renew; lost means someone took over
                return
            item = await self.db.run(self._next_item, account_id)
            if item is None:
                return
            assert item.id is not None
            changed.append(item.id)
            payload = json.loads(item.payload)
            # Which step failed decides the next state: a failure while reconciling or sending leaves
            # the reply possibly on the network (unknown); one while re-reading the conversation does not.
            phase = "reconcile" if item.state == UNKNOWN else "review"
            try:
                if phase == "reconcile":
                    found = await network.find_reply(payload, item.client_key)
                    if found is not None:
                        await self._mark_sent(account_id, item.id, found, "reconciled: the reply had arrived")
                        sent.append(item.id)
                        continue
                    settled = _settles_at(payload, self.settle)
                    if settled is not None and self.clock() < settled:
                        # Absent for now, but the request we gave up on may still land: look again
                        # once it cannot be travelling any more (UNKNOWN_SETTLE), never re-send before.
                        await self.db.run(
                            self._record,
                            item.id,
                            UNKNOWN,
                            outcome="reconciled: not there yet",
                            error=item.last_error,
                            delay=settled - self.clock(),
                        )
                        continue
                    # Requeued: the doubt is settled, so its reason goes with it.
                    await self.db.run(self._record, item.id, QUEUED, outcome="reconciled: not on the network")
                    phase = "review"
                if not payload.get("_send_anyway"):
                    reason = await self._review_reason(account_id, item, network)
                    if reason:
                        await self.db.run(
                            self._record, item.id, NEEDS_REVIEW, outcome="held for review", review=reason, error=reason
                        )
                        continue
                await self.db.run(self._record, item.id, SENDING, outcome="sending", count_attempt=True)
                phase = "send"
                wire = {k: v for k, v in payload.items() if not k.startswith("_")}
                reply = await network.post_reply(wire, item.client_key)
            except Rejected as exc:  # a final refusal of this one reply: the others may go
                if phase == "send":
                    await self.db.run(
                        self._record, item.id, FAILED, outcome="rejected", detail=str(exc), error=str(exc)
                    )
                elif phase == "review":
                    await self.db.run(
                        self._record, item.id, NEEDS_REVIEW, outcome="held for review", review=str(exc), error=str(exc)
                    )
                else:
                    await self._record_error(item.id, UNKNOWN, exc, backoff(item.attempts))
                continue
            except NetworkError as exc:
                # Offline, signed out, rate limited, unknown outcome: the account's other replies would
                # meet the same, so they all wait, and this one is tried again when the pause ends.
                # Offline, AuthExpired and RateLimited are raised only when no request could have
                # arrived (a 429 refused the request itself); an unknown outcome may have arrived.
                never_arrived = isinstance(exc, (Offline, AuthExpired, RateLimited))
                state = QUEUED if phase == "review" or (phase == "send" and never_arrived) else UNKNOWN
                pause = self._pause(account, exc)
                await self.db.run(
                    self._record, item.id, state, outcome=exc.kind, detail=str(exc), error=str(exc), until=pause.until
                )
                return
            await self._mark_sent(account_id, item.id, reply, "sent")
            sent.append(item.id)
            pause_s = pacing_delay(network.rate_limit(), self.clock())
            if pause_s > 0:
                # Spread the rest of the budget over the time left rather than hit the limit.
                await asyncio.sleep(min(pause_s, MAX_PACE))

    def _account_network(self, account_id: int) -> tuple[Account, Network]:
        with self.db.session() as s:
            return self._network_for(s, account_id)

    async def _record_error(self, item_id: int, state: str, exc: NetworkError, delay: timedelta) -> None:
        await self.db.run(self._record, item_id, state, outcome=exc.kind, detail=str(exc), error=str(exc), delay=delay)

    async def _mark_sent(self, account_id: int, item_id: int, reply: SentReply, outcome: str) -> None:
        await self.db.run(self._record, item_id, SENT, outcome=outcome, status="ok", sent=reply)
        self._sent_for(account_id)

    async def _review_reason(self, account_id: int, item: OutboxItem, network: Network) -> str | None:
        """Re-read the conversation: hold the reply if the post is gone or someone else answered."""
        target = await self.db.run(self._target, item.post_id)
        thread = await network.fetch_conversation(target)
        if not any(p.remote_id == target.remote_id for p in thread):
            return "The post being answered was deleted."
        answers = [p.remote_id for p in thread if p.kind == KIND_OWN_REPLY and p.created_at >= item.created_at]
        if not answers:
            return None
        ours = await self.db.run(self._our_remote_ids, account_id, answers)
        if any(rid not in ours for rid in answers):
            return "Someone else already answered this conversation."
        return None

    def _target(self, post_id: int) -> ReplyTarget:
        with self.db.session() as s:
            post = s.get(Post, post_id)
            assert post is not None
            author = s.get(Author, post.author_id)
            assert author is not None
            return target_of(post, author)

    def _our_remote_ids(self, account_id: int, among: Sequence[str]) -> set[str]:
        """Which of ``among`` are replies this outbox sent (only those are looked up, not every one)."""
        with self.db.session() as s:
            q = select(col(OutboxItem.remote_id)).where(
                col(OutboxItem.account_id) == account_id, col(OutboxItem.remote_id).in_(list(among))
            )
            return {r for r in s.scalars(q) if r}


def _gave_up(item: OutboxItem, at: datetime) -> None:
    """Note in the item's local payload keys when we stopped waiting for a send that may still land."""
    payload = json.loads(item.payload)
    payload[UNKNOWN_SINCE] = at.isoformat()
    item.payload = json.dumps(payload)


def _settles_at(payload: dict[str, Any], settle: timedelta) -> datetime | None:
    """When a request we gave up on can no longer arrive (None: no send of this item is in doubt)."""
    since = payload.get(UNKNOWN_SINCE)
    if not isinstance(since, str):
        return None
    try:
        return datetime.fromisoformat(since) + settle
    except ValueError:
        return None


def _holder_is_dead(holder: str) -> bool:
    """Whether a lease holder ("host:pid:nonce") was a process on this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def _brand_author(s: Session, account: Account) -> int:
    """The author row that stands for our own account."""
    rid = account.remote_user_id or f"self:{account.id}"
    found = s.scalar(select(col(Author.id)).where(col(Author.network) == account.network, col(Author.remote_id) == rid))
    if found is not None:
        return int(found)
    author = Author(network=account.network, remote_id=rid, handle=account.handle, name=account.display_name)
    s.add(author)
    s.flush()
    assert author.id is not None
    return author.id


def _rows_query() -> Select[OutboxItem, str, str, str]:
    """Outbox items with what ``_row`` needs beside them: the account's handle and network, the post answered."""
    return (
        select(OutboxItem, col(Account.handle), col(Account.network), col(Post.remote_id))
        .join(Account, col(Account.id) == col(OutboxItem.account_id))
        .join(Post, col(Post.id) == col(OutboxItem.post_id))
    )


def _row(item: OutboxItem, handle: str, network: str, in_reply_to: str) -> OutboxRow:
    assert item.id is not None
    return OutboxRow(
        id=item.id,
        post_id=item.post_id,
        account_id=item.account_id,
        account_handle=handle,
        network=network,
        conversation_key=item.conversation_key,
        text=item.text,
        state=item.state,
        remote_id=item.remote_id,
        remote_url=item.remote_url,
        attempts=item.attempts,
        last_error=item.last_error,
        review_reason=item.review_reason,
        created_at=item.created_at,
        updated_at=item.updated_at,
        next_attempt_at=item.next_attempt_at,
        in_reply_to=in_reply_to,
    )
