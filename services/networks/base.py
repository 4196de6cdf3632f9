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


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One page of mentions and where to continue from."""

    posts: tuple[RemotePost, ...]
    cursor: str | None
    more: bool = False


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

    async def fetch_mentions(self, cursor: str | None) -> FetchResult:
        """Fetch the next page of mentions newer than ``cursor`` (oldest first)."""
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
