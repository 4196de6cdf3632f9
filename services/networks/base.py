"""The one Protocol every network implements, and the plain values it trades in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class RemoteAuthor:
    """An author as a network describes them."""

    remote_id: str
    handle: str
    name: str = ""
    followers: int | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class RemotePost:
    """A post as fetched from a network, before it is stored."""

    remote_id: str
    author: RemoteAuthor
    text: str
    created_at: datetime
    conversation_key: str
    parent_remote_id: str | None = None
    url: str | None = None
    lang: str | None = None
    kind: str = "mention"
    is_repost: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)


#: The most mentions the first sync of a new account reads back, however long the chosen history:
#: a busy account's month must not stall its first sync (nor spend its rate budget).
HISTORY_CAP = 1000


@dataclass(frozen=True, slots=True)
class History:
    """How far back the first sync of an account reads (the "history to fetch" setting)."""

    #: Nothing older than this (None: no time bound, only ``limit``).
    since: datetime | None
    #: At most this many mentions, the newest ones (0: none, only where to start from).
    limit: int = HISTORY_CAP


def stored_time(value: Any) -> datetime | None:
    """A time stored as ISO 8601 text (None when missing or unreadable: what holds it is kept)."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of time whose mentions may not all be stored yet; later syncs read into it.

    ``kind`` says why: ``gap`` (a sync could not prove it joined up with what is stored),
    ``history`` (the first sync's backfill is still reading back), ``stream`` (the live connection dropped
    and no sync has caught up since).
    """

    start: datetime | None
    end: datetime | None
    kind: str = "gap"

    def to_json(self) -> dict[str, str | None]:
        """As stored and as ``accounts list --json`` shows it."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Gap:
        """Back from ``to_json`` (unreadable times become None: the gap itself is kept)."""
        return cls(stored_time(data.get("start")), stored_time(data.get("end")), str(data.get("kind") or "gap"))


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One page of mentions, where to continue from, and the gaps still open after it."""

    posts: tuple[RemotePost, ...]
    cursor: str | None
    more: bool = False
    #: Every gap the connector still has to read into (its own state is in ``cursor``).
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What a connector needs to know about the post being answered."""

    remote_id: str
    conversation_key: str
    author_handle: str
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SentReply:
    """A reply the network has, with its id there."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """The request budget a network last reported."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@runtime_checkable
class Network(Protocol):
    """A connector for one account on one network.

    Every method raises only the typed errors of ``services.errors``: ``AuthExpired``,
    ``RateLimited``, ``Rejected`` (final), ``UnknownOutcome`` (maybe sent) and ``Offline``.
    """

    name: str

    async def verify(self) -> RemoteAuthor:
        """Check the credentials and return the account's own identity."""
        ...

    async def fetch_mentions(self, cursor: str | None, history: History | None = None) -> FetchResult:
        """Fetch the next page of mentions newer than ``cursor`` (oldest first).

        ``history`` applies only while nothing has been fetched yet (the first sync): how far back to
        read (None: the connector's default).
        """
        ...

    async def fetch_conversation(self, target: ReplyTarget) -> tuple[RemotePost, ...]:
        """The whole conversation around a post, oldest first."""
        ...

    def freeze_reply(self, target: ReplyTarget, text: str, client_key: str) -> dict[str, Any]:
        """The exact payload that every attempt of this reply will send."""
        ...

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        """Send a frozen reply once."""
        ...

    async def find_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply | None:
        """Reconcile an unknown send: our reply if the network has it, else None."""
        ...

    def text_length(self, text: str) -> int:
        """The length of ``text`` as this network counts it."""
        ...

    def text_limit(self) -> int:
        """The most characters a reply may have here."""
        ...

    def rate_limit(self) -> RateLimitState | None:
        """The last reported request budget, if any."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class ReplyPreparing(Protocol):
    """A connector that looks something up on the network before a reply is frozen (Bluesky: @handles)."""

    async def prepare_reply(self, target: ReplyTarget, text: str) -> None:
        """Look up what ``freeze_reply`` will need for this text; never fails for want of the network."""
        ...


@runtime_checkable
class GapFilling(Protocol):
    """A connector that can leave gaps behind its cursor (``FetchResult.gaps``) and read into them later."""

    async def fill_gap(self, cursor: str) -> FetchResult:
        """Read the next stretch of the newest open gap; ``more`` while gaps remain."""
        ...
