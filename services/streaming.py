"""Live mentions over server-sent events: the frame parser, reconnect backoff and the reconnecting stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from services.errors import AuthExpired, Offline, RateLimited, UnknownOutcome
from services.networks.base import RemotePost

log = logging.getLogger(__name__)

#: Reconnect when not even a heartbeat arrived for this long (a healthy stream sends them far more often).
IDLE_TIMEOUT = 90.0
#: A connection that lived this long was healthy: the next drop starts the backoff from the beginning.
HEALTHY_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched server-sent event."""

    event: str
    data: str
    id: str | None = None


async def parse_sse(lines: AsyncIterable[str]) -> AsyncIterator[SseEvent]:
    """Server-sent events from the lines of a ``text/event-stream`` body (WHATWG "event stream interpretation").

    Lines starting with ``:`` are comments (Mastodon's ``:thump`` heartbeats) and are skipped; several ``data:``
    lines of one event are joined with newlines; an event is dispatched at the blank line that ends it, and an
    event cut off by the end of the stream is dropped, as browsers do.
    """
    event = ""
    data: list[str] = []
    last_id: str | None = None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            joined = "\n".join(data)
            if data and joined:
                yield SseEvent(event or "message", joined, last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        # "retry" and unknown fields are ignored: the reconnect pace is ours (see Backoff).


@dataclass
class Backoff:
    """Exponential reconnect delays with jitter, so many clients do not return to a server at the same instant."""

    first: float = 1.0
    factor: float = 2.0
    ceiling: float = 120.0
    #: The share of each delay that is random (0: always the full delay).
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = min(self.ceiling, self.first * self.factor**self.attempt)
        self.attempt += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """Start again from the first delay."""
        self.attempt = 0


@runtime_checkable
class StreamingNetwork(Protocol):
    """A connector that can hold a live connection to its account's notifications (Mastodon)."""

    def notification_stream(
        self, idle_timeout: float = IDLE_TIMEOUT
    ) -> AbstractAsyncContextManager[AsyncGenerator[Mapping[str, Any], None]]:
        """One connection; entering returns once the server accepted it."""
        ...

    async def mention_from_notification(self, note: Mapping[str, Any]) -> RemotePost | None:
        """The mention a notification carries, as polling would build it (None for other types)."""
        ...


def _wait_for_reset(exc: RateLimited, fallback: float) -> float:
    if exc.reset_at is None:
        return fallback
    seconds = (exc.reset_at - datetime.now(UTC)).total_seconds()
    return min(900.0, max(5.0, seconds))


async def stream_mentions(
    net: StreamingNetwork,
    *,
    on_connect: Callable[[], Awaitable[None]] | None = None,
    on_drop: Callable[[], Awaitable[None]] | None = None,
    backoff: Backoff | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
    healthy_after: float = HEALTHY_AFTER,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncGenerator[RemotePost, None]:
    """Mentions as they arrive, for as long as the caller iterates, reconnecting by itself.

    ``on_connect`` runs after every (re)connect has been accepted and before its first event is read: the
    caller's REST backfill from its stored cursor goes there, so whatever arrived while disconnected is
    fetched, and whatever arrives from then on is already queued on the open connection. A mention can
    therefore come twice (from the backfill and the stream); storing is idempotent, so that is harmless.
    ``on_drop`` runs when an accepted connection ends or breaks, before waiting to reconnect (the caller
    notes that mentions may be missing until its next backfill).

    Raises:
        AuthExpired: The token was refused (reconnecting would not help; the user must sign in again).
        Rejected: The server offers no stream here (or refused it for good): poll instead.
    """
    backoff = backoff or Backoff()
    while True:
        started = monotonic()
        delay: float | None = None
        accepted = False
        try:
            async with net.notification_stream(idle_timeout) as notes, contextlib.aclosing(notes):
                accepted = True
                if on_connect is not None:
                    await on_connect()
                async for note in notes:
                    post = await net.mention_from_notification(note)
                    if post is not None:
                        yield post
            log.info("the live stream ended; reconnecting")
        except AuthExpired:
            raise
        except RateLimited as exc:
            delay = _wait_for_reset(exc, backoff.next())
            log.info("the live stream was rate limited; reconnecting in %.0f s", delay)
        except (Offline, UnknownOutcome) as exc:
            log.info("the live stream broke: %s", exc)
        if accepted and on_drop is not None:
            await on_drop()
        if monotonic() - started >= healthy_after:
            backoff.reset()
        await sleep(delay if delay is not None else backoff.next())
