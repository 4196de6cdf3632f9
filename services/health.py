"""Account health for the sidebar and ``accounts list``: sync state, sign-in, rate budget, unusual silence."""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from services.errors import ParleyError
from services.gaps import gap_words, read_gaps
from services.networks.base import Gap
from services.store.db import Database
from services.store.models import KIND_OWN_REPLY, Account, Post, is_archive

if TYPE_CHECKING:  # the health panel's words are read with the first window; the connectors load later
    from services.networks.registry import NetworkRegistry

log = logging.getLogger(__name__)

#: Fewer recent mentions than this say nothing about an account's usual pace.
MIN_MENTIONS = 6
#: How many recent mentions, and how far back, the usual pace is learnt from.
HISTORY = 200
HISTORY_WINDOW = timedelta(days=30)
#: Never raise the silence alarm before this, however busy the account usually is.
MIN_SILENCE = timedelta(minutes=30)
#: The share of usual gaps that are shorter than the alarm threshold.
PERCENTILE = 0.9
#: What the sign-in of an imported archive is, in words.
ARCHIVE_NOTE = "Imported from an archive; not connected to the network."


def words(span: timedelta) -> str:
    """A duration as a person says it: "under a minute", "20 min", "5 h", "3 days"."""
    seconds = span.total_seconds()
    if seconds < 60:
        return "under a minute"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


@dataclass(frozen=True, slots=True)
class Silence:
    """How long an account has been quiet, against how quiet it usually gets."""

    last_mention_at: datetime | None
    silent_for: timedelta | None
    #: The median gap between recent mentions ("usually every ...").
    typical_gap: timedelta | None
    #: The gap that ``PERCENTILE`` of recent gaps stay under (or ``MIN_SILENCE``): quieter than this is unusual.
    threshold: timedelta | None
    alarm: str | None


def silence(
    mention_times: Sequence[datetime],
    now: datetime,
    *,
    min_mentions: int = MIN_MENTIONS,
    floor: timedelta = MIN_SILENCE,
    percentile: float = PERCENTILE,
) -> Silence:
    """Whether the time since the newest mention is longer than this account's usual gaps.

    The threshold is the ``percentile`` of the gaps between recent mentions, and at least ``floor``;
    the words name the median gap, which is what "usually" means to a person.
    """
    times = sorted(mention_times)
    if not times:
        return Silence(None, None, None, None, None)
    last = times[-1]
    quiet = max(timedelta(0), now - last)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if len(times) < min_mentions or not gaps:
        return Silence(last, quiet, None, None, None)
    ordered = sorted(gaps)
    # Nearest-rank percentile: a real gap this account has had, not an interpolation.
    rank = min(len(ordered) - 1, max(0, round(percentile * len(ordered)) - 1))
    threshold = max(ordered[rank], floor)
    typical = timedelta(seconds=statistics.median(g.total_seconds() for g in ordered))
    alarm = None
    if quiet > threshold:
        alarm = f"No mentions for {words(quiet)}; usually every {words(typical)}"
    return Silence(last, quiet, typical, threshold, alarm)


@dataclass(frozen=True, slots=True)
class AccountHealth:
    """One account's health in plain values (no secrets: only when a session expires, never the session)."""

    account_id: int
    network: str
    handle: str
    last_sync_at: datetime | None
    last_error: str | None
    last_error_kind: str | None
    #: The credentials were refused, or the saved session ran out: show "sign in again".
    needs_sign_in: bool
    #: When the sign-in stops working by itself (None: it does not expire, or it is unknown).
    session_expires_at: datetime | None
    session_note: str
    rate_limit: int | None
    rate_remaining: int | None
    rate_reset_at: datetime | None
    last_mention_at: datetime | None
    typical_gap: timedelta | None
    silent_for: timedelta | None
    silent_alarm: str | None
    #: Stretches whose mentions may not all be stored yet (later syncs read into them).
    gaps: tuple[Gap, ...] = ()
    #: It only holds posts imported from an archive: nothing is fetched, so nothing can fail.
    archive: bool = False

    @property
    def gap_note(self) -> str | None:
        """The open gaps in words (None when there are none)."""
        return " ".join(gap_words(g) for g in self.gaps) or None

    @property
    def headline(self) -> str | None:
        """The one problem to show first, in words (None when all is well)."""
        if self.needs_sign_in:
            return f"{self.handle} needs to be signed in again. {self.last_error or self.session_note}".strip()
        if self.last_error:
            return self.last_error
        return self.gap_note or self.silent_alarm

    def to_json(self) -> dict[str, Any]:
        """The health fields of an ``accounts list --json`` line."""
        return {
            "last_sync": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_error": self.last_error,
            "last_error_kind": self.last_error_kind,
            "needs_sign_in": self.needs_sign_in,
            "session_expires": self.session_expires_at.isoformat() if self.session_expires_at else None,
            "rate_limit": self.rate_limit,
            "rate_remaining": self.rate_remaining,
            "rate_reset": self.rate_reset_at.isoformat() if self.rate_reset_at else None,
            "last_mention": self.last_mention_at.isoformat() if self.last_mention_at else None,
            "silent_alarm": self.silent_alarm,
            "gaps": [g.to_json() for g in self.gaps],
            "gap": self.gap_note,
            "archive": self.archive,
        }


def _mention_times(s: Session, account_id: int, now: datetime) -> list[datetime]:
    stmt = (
        select(col(Post.created_at))
        .where(
            col(Post.account_id) == account_id,
            col(Post.kind) != KIND_OWN_REPLY,
            col(Post.created_at) >= now - HISTORY_WINDOW,
        )
        .order_by(col(Post.created_at).desc())
        .limit(HISTORY)
    )
    return list(s.exec(stmt))


def _session(account: Account, registry: NetworkRegistry, now: datetime) -> tuple[datetime | None, str, bool]:
    """When the sign-in expires, in words, and whether it already has (keyring reads: blocking)."""
    from services.networks import bluesky, mastodon

    if is_archive(account):  # no sign-in was ever made, and none is needed
        return None, ARCHIVE_NOTE, False
    if account.network == mastodon.NETWORK:
        return None, "Mastodon tokens do not expire; they stop only when revoked.", False
    if account.network != bluesky.NETWORK:
        return None, "", False
    store = bluesky.SecretSessionStore(
        registry.secrets, bluesky.session_key(account.server_url, account.remote_user_id or account.handle)
    )
    try:
        saved = store.load()
    except ParleyError as exc:  # a locked keyring: say so, but it is not a refused sign-in
        return None, str(exc), False
    refresh = saved.get("refreshJwt") if saved else None
    if not isinstance(refresh, str) or not refresh:
        return None, "No saved session; sign in again.", True
    # Only the expiry claim is read; the token itself never leaves this function.
    expires = bluesky.jwt_expiry(refresh)
    if expires is None:
        return None, "The saved session's expiry cannot be read.", False
    if expires <= now:
        return expires, "The saved session has expired; sign in again.", True
    return expires, f"The session lasts another {words(expires - now)} unless it is used.", False


def account_health(s: Session, account: Account, registry: NetworkRegistry, now: datetime) -> AccountHealth:
    """The health of one account."""
    assert account.id is not None
    expires, note, expired = _session(account, registry, now)
    limit = remaining = None
    reset = None
    # Only a connector that has talked to its server knows a budget; building one here would learn nothing.
    network = registry.cached(account.id)
    rate = network.rate_limit() if network is not None else None
    if rate is not None:
        limit, remaining, reset = rate.limit, rate.remaining, rate.reset_at
        if reset is not None and reset <= now and limit is not None:
            # The window passed since the last request: the whole budget is back.
            remaining, reset = limit, None
    quiet = silence(_mention_times(s, account.id, now), now)
    archive = is_archive(account)
    # An archive is never synced: an error it picked up before it was known as one is stale.
    error, error_kind = (None, None) if archive else (account.last_error, account.last_error_kind)
    # An archive gets no new mentions by design; while syncs fail, the error is the news.
    quiet_matters = not archive and error is None
    return AccountHealth(
        account_id=account.id,
        network=account.network,
        handle=account.handle,
        last_sync_at=account.last_sync_at,
        last_error=error,
        last_error_kind=error_kind,
        needs_sign_in=error_kind == "signed_out" or expired,
        session_expires_at=expires,
        session_note=note,
        rate_limit=limit,
        rate_remaining=remaining,
        rate_reset_at=reset,
        last_mention_at=quiet.last_mention_at,
        typical_gap=quiet.typical_gap,
        silent_for=quiet.silent_for,
        silent_alarm=quiet.alarm if quiet_matters else None,
        gaps=read_gaps(s, account.id),
        archive=archive,
    )


def collect(db: Database, registry: NetworkRegistry, now: datetime) -> list[AccountHealth]:
    """Every account's health, in the order the accounts were added."""
    with db.session() as s:
        accounts = list(s.exec(select(Account).order_by(col(Account.id))))
        return [account_health(s, a, registry, now) for a in accounts]
