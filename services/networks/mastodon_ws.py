"""The Mastodon streaming API over WebSocket: the way in when a server's server-sent events fail.

From mastodon/documentation ``content/en/methods/streaming.md``: one connection to ``/api/v1/streaming``
(``wss://``, or the host ``configuration.urls.streaming`` names) with ``stream=user:notification``, the
token in the ``Authorization`` header; each message is JSON ``{"stream": [...], "event": ..., "payload": ...}``
whose ``payload`` is itself JSON in a string; a refused token closes the connection at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from services.errors import AuthExpired, Offline, RateLimited, Rejected

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

log = logging.getLogger(__name__)

WS_PATH = "/api/v1/streaming"
WS_STREAM = "user:notification"


def websocket_url(base: str) -> str:
    """``wss://host/api/v1/streaming?stream=user:notification`` from the streaming host's http(s) base."""
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{WS_PATH}?stream={WS_STREAM}"


@contextlib.asynccontextmanager
async def websocket_notifications(
    base: str, authorization: str, user_agent: str, idle_timeout: float
) -> AsyncIterator[AsyncGenerator[Mapping[str, Any], None]]:
    """One WebSocket connection to the account's notifications; entering returns once the server accepted it.

    Iterating yields each notification's JSON; it ends when the server closes cleanly and raises ``Offline``
    when the connection breaks. Silence is caught by the protocol's own pings: a server that stops
    answering them within ``idle_timeout`` counts as broken.

    Raises:
        AuthExpired: The token was refused.
        RateLimited: The server asked us to wait.
        Rejected: The server offers no WebSocket stream here.
        Offline: The streaming host cannot be reached.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

    url = websocket_url(base)
    host = urlsplit(url).netloc
    keepalive = max(1.0, idle_timeout / 3)
    try:
        conn = await connect(
            url,
            additional_headers={"Authorization": authorization},
            user_agent_header=user_agent,
            open_timeout=10,
            ping_interval=keepalive,
            ping_timeout=keepalive,
            max_size=4 * 2**20,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 401:
            raise AuthExpired(
                f"{host} refused the access token for the live connection; add the account again."
            ) from None
        if status == 429:
            raise RateLimited(f"{host} asked us to slow down before opening a live connection.") from None
        if status >= 500:
            raise Offline(f"{host} could not open a live connection (HTTP {status}).") from None
        raise Rejected(f"{host} offers no WebSocket stream (HTTP {status}); its mentions are polled instead.") from None
    except InvalidURI:
        raise Rejected(f"{url} is not a usable streaming address.") from None
    except InvalidHandshake as exc:
        raise Rejected(f"{host} did not open a WebSocket ({type(exc).__name__}).") from None
    except (OSError, TimeoutError) as exc:
        raise Offline(f"The live connection to {host} could not be opened ({type(exc).__name__}).") from None
    try:
        yield _notifications(conn, host)
    finally:
        await conn.close()


async def _notifications(conn: ClientConnection, host: str) -> AsyncGenerator[Mapping[str, Any], None]:
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in conn:  # ends on a clean close
            note = _notification(message, host)
            if note is not None:
                yield note
    except ConnectionClosed as exc:
        # A reset, a missed pong, a close with an error code: all "reconnect".
        raise Offline(
            f"The live connection to {host} broke ({exc.rcvd.code if exc.rcvd else 'no close frame'})."
        ) from None


def _notification(message: str | bytes, host: str) -> Mapping[str, Any] | None:
    """The notification one message carries (None for other events, errors and anything unreadable)."""
    try:
        event = json.loads(message)
    except ValueError:
        log.warning("a message on the live connection to %s was not JSON; skipped", host)
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        log.warning("the live connection to %s reported: %s", host, event.get("error"))
        return None
    if event.get("event") != "notification":
        return None
    payload = event.get("payload")
    try:
        note = json.loads(payload) if isinstance(payload, str) else payload  # JSON in a string, parsed twice
    except ValueError:
        log.warning("a streamed notification from %s was not JSON; skipped", host)
        return None
    return note if isinstance(note, dict) and note.get("id") else None
