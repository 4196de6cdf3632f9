"""The Mastodon connector: mentions from notifications, replies with an Idempotency-Key, over httpx."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import httpx

from services.errors import (
    AuthExpired,
    InvalidInput,
    Offline,
    RateLimited,
    Rejected,
    SecretsUnavailable,
    UnknownOutcome,
)
from services.htmltext import html_to_text
from services.networks.base import (
    HISTORY_CAP,
    FetchResult,
    History,
    RateLimitState,
    RemoteAuthor,
    RemotePost,
    ReplyTarget,
    SentReply,
)
from services.networks.mastodon_cursor import Hole, MastodonCursor
from services.networks.mastodon_ws import websocket_notifications
from services.secrets import Secret
from services.streaming import IDLE_TIMEOUT, parse_sse
from services.textlength import graphemes, mastodon_length

log = logging.getLogger(__name__)

NETWORK = "mastodon"
DEFAULT_LIMIT = 500
DEFAULT_URL_CHARS = 23
#: Notifications per page (Mastodon 4.1+ allows up to 80; older servers cap lower and we page on).
PAGE_SIZE = 40
#: How many of our own recent statuses a reconcile reads back when the thread view does not show it.
RECONCILE_PAGES = 3
#: Thread look-ups allowed per page while reading into a gap or history (each one costs a request of the
#: rate budget; beyond it a reply is grouped under its parent instead of the thread's first post).
FILL_LOOKUPS = 8
#: Answers to a forward page that mean "this server no longer knows the cursor" (some Mastodon-API servers
#: look the id up instead of comparing it).
CURSOR_REFUSED = frozenset({404, 410, 422})
TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
#: The server-sent-events stream of the token's notifications (needs read:notifications).
STREAM_PATH = "/api/v1/streaming/user/notification"
USER_AGENT = "Parley/0.1 (social customer care)"

#: Visibilities from the widest to the narrowest.
VISIBILITIES = ("public", "unlisted", "private", "direct")
_REPLY_FIELDS = ("status", "in_reply_to_id", "visibility", "spoiler_text", "language", "sensitive")

TokenSource = str | Secret | Callable[[], "str | Secret | None"]


def id_key(remote_id: str) -> tuple[int, str]:
    """Sort key for Mastodon ids: opaque strings, but numeric ones order by (length, text)."""
    return (len(remote_id), remote_id)


def normalise_url(url: str) -> str:
    """``https://host`` from what a person typed (``host``, ``https://host/``, ``https://host/@me``...).

    Raises:
        InvalidInput: The address is not an https address (plain http is only accepted for this machine).
    """
    text = url.strip()
    if not text:
        raise InvalidInput("Give the address of your Mastodon server, like https://mastodon.social.")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or " " in host:
        raise InvalidInput(f"{url!r} is not a server address; use one like https://mastodon.social.")
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        # The token would cross the network in clear text.
        raise InvalidInput(f"Use an https:// address for {host}; Parley does not send tokens over plain http.")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


def parse_reset(value: str | None, date: str | None = None, now: datetime | None = None) -> datetime | None:
    """When a rate-limit window resets, in our clock.

    Mastodon sends an ISO 8601 time; GoToSocial-style servers send epoch seconds. When the response's
    ``Date`` header is there, the server's clock skew is taken out (as Mastodon.py does).
    """
    if not value:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            number = float(text)
            # Small numbers are "seconds from now" (some proxies and forks send that).
            if number < 1_000_000_000:
                return (now or datetime.now(UTC)) + timedelta(seconds=number)
            reset = datetime.fromtimestamp(number, UTC)
        else:
            reset = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if reset.tzinfo is None:
                reset = reset.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    if date:
        try:
            server_now = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            server_now = None
        if server_now is not None and server_now.tzinfo is not None:
            return (now or datetime.now(UTC)) + (reset - server_now)
    return reset


def _parse_time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error_text(response: httpx.Response) -> str:
    """The server's ``{"error": ...}`` message, or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = str(body["error"])
        detail = body.get("error_description")
        return f"{message} ({detail})" if isinstance(detail, str) and detail else message
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


class _NoEventStream(Rejected):
    """The server's event stream is missing or is not one (the WebSocket API may still be there)."""


class _Refused(Rejected):
    """A final refusal with the HTTP status it came with (to tell a refused cursor from other refusals)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


class MastodonNetwork:
    """One Mastodon account, spoken to over the REST API.

    Args:
        base_url: The server, like ``https://mastodon.social``.
        token: The access token, a ``Secret``, or a function that loads it (called once, off the loop).
        client: An ``httpx.AsyncClient`` to use (tests pass one with a ``MockTransport``); else our own.
        account_id: Our own account id, if known (else ``verify`` learns it).
        max_characters: The instance's reply limit, if known (else read from ``/api/v2/instance``).
        domain: The instance's domain for full handles (else the host of ``base_url``).
        clock: The time, for rate-limit resets.
    """

    name = NETWORK

    def __init__(
        self,
        base_url: str,
        token: TokenSource,
        *,
        client: httpx.AsyncClient | None = None,
        account_id: str | None = None,
        max_characters: int | None = None,
        domain: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_source = token
        self._token: Secret | None = None
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self.account_id = account_id
        self.domain = domain or (urlsplit(self.base_url).hostname or "")
        self._max_chars = max_characters
        self._url_chars = DEFAULT_URL_CHARS
        self._instance_loaded = False
        self._streaming_url: str | None = None
        self._rate: RateLimitState | None = None
        self._roots: dict[str, str] = {}
        #: Set once a full forward page was proven to follow on from its cursor (the server honours min_id).
        self._min_id_honoured = False
        #: Set once the server's event stream failed: live connections use the WebSocket API instead.
        self._websocket_only = False
        self.clock = clock

    def __repr__(self) -> str:
        return f"MastodonNetwork({self.base_url!r}, account_id={self.account_id!r})"

    # -- HTTP ------------------------------------------------------------------------------------

    async def _auth(self) -> str:
        if self._token is None:
            source = self._token_source
            if callable(source):
                # Keyring reads block (D-Bus, a password prompt): keep them off the event loop.
                try:
                    loaded = await asyncio.to_thread(source)
                except SecretsUnavailable as exc:
                    # A locked or missing keyring stops this account like a refused token: the outbox
                    # keeps the reply queued and the account shows the reason.
                    raise AuthExpired(str(exc)) from None
            else:
                loaded = source
            if not loaded:
                raise AuthExpired(f"No access token is stored for {self.base_url}; add the account again.")
            self._token = loaded if isinstance(loaded, Secret) else Secret(loaded)
        return f"Bearer {self._token.reveal()}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request; transport failures and error statuses become the typed errors."""
        sending = method != "GET"
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Authorization": await self._auth()}
        all_headers.update(headers or {})
        url = self.base_url + path
        try:
            query = httpx.QueryParams(tuple(params)) if params else None
            response = await self._client.request(method, url, params=query, json=json, headers=all_headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing left this machine: safe to send again later.
            raise Offline(f"{self._host()} cannot be reached ({_describe(exc)}).") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise Rejected(f"{self.base_url} is not a usable server address ({_describe(exc)}).") from None
        except httpx.TransportError as exc:
            # Read/write timeouts, resets and protocol errors happen after the request left: a post
            # may have arrived. A read has no such doubt, so it is just "not reachable right now".
            if sending:
                raise UnknownOutcome(
                    f"{self._host()} did not answer ({_describe(exc)}); the reply may have arrived."
                ) from None
            raise Offline(f"{self._host()} did not answer ({_describe(exc)}).") from None
        self._note_rate_limit(response)
        if response.is_success:
            return response
        self._raise_for(response, sending)

    def _raise_for(self, response: httpx.Response, sending: bool) -> NoReturn:
        status = response.status_code
        message = _error_text(response)
        host = self._host()
        if status == 401:
            raise AuthExpired(f"{host} refused the access token ({message}); add the account again with a new token.")
        if status == 403:
            if re.search(r"token|scope|authori[sz]|login|suspend|disabled|approv|confirm", message, re.I):
                raise AuthExpired(f"{host} refused this account's access ({message}).")
            raise Rejected(f"{host} refused the request ({message}).")
        if status == 429:
            reset = self._rate.reset_at if self._rate else None
            raise RateLimited(f"{host} asked us to slow down ({message}).", reset)
        if status >= 500:
            if sending:
                raise UnknownOutcome(
                    f"{host} had a problem (HTTP {status}: {message}); the reply may have arrived.", status=status
                )
            raise Offline(f"{host} is having problems (HTTP {status}).", status=status)
        if status == 404 and sending:
            raise Rejected("The post being answered no longer exists.")
        if 300 <= status < 400:
            where = response.headers.get("Location", "another address")
            raise Rejected(f"{self.base_url} redirects to {where}; use that address for the account.")
        raise _Refused(f"{host} refused the request: {message}", status)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _note_rate_limit(self, response: httpx.Response) -> None:
        h = response.headers
        if not any(k in h for k in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")):
            return

        def number(name: str) -> int | None:
            try:
                return int(float(h[name])) if name in h else None
            except ValueError:
                return None

        self._rate = RateLimitState(
            limit=number("X-RateLimit-Limit"),
            remaining=number("X-RateLimit-Remaining"),
            reset_at=parse_reset(h.get("X-RateLimit-Reset"), h.get("Date"), self.clock()),
        )

    async def _get_json(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        response = await self._request("GET", path, params=params)
        return self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise Rejected(f"{self._host()} did not answer like a Mastodon server.") from None

    # -- identity and limits ---------------------------------------------------------------------

    async def verify(self) -> RemoteAuthor:
        me = await self._get_json("/api/v1/accounts/verify_credentials")
        if not isinstance(me, dict) or not me.get("id"):
            raise Rejected(f"{self._host()} did not answer like a Mastodon server.")
        self.account_id = str(me["id"])
        await self.load_instance()
        username = str(me.get("username") or me.get("acct") or "")
        return RemoteAuthor(
            remote_id=self.account_id,
            handle=f"@{username}@{self.domain}",
            name=str(me.get("display_name") or username),
            followers=_int_or_none(me.get("followers_count")),
            is_bot=bool(me.get("bot")),
        )

    async def load_instance(self) -> None:
        """Read the reply limit and the instance domain (kept for the connector's life)."""
        if self._instance_loaded:
            return
        try:
            info = await self._get_json("/api/v2/instance")
        except Rejected:
            try:  # servers before 4.0 (and some forks) have only the v1 entity
                info = await self._get_json("/api/v1/instance")
            except Rejected:
                info = {}
        if isinstance(info, dict):
            statuses = (info.get("configuration") or {}).get("statuses") or {}
            limit = statuses.get("max_characters") or info.get("max_toot_chars")
            if isinstance(limit, int) and limit > 0:
                self._max_chars = limit
            url_chars = statuses.get("characters_reserved_per_url")
            if isinstance(url_chars, int) and url_chars > 0:
                self._url_chars = url_chars
            domain = info.get("domain") or info.get("uri")
            if isinstance(domain, str) and domain and "/" not in domain:
                self.domain = domain
            # The streaming API may live on another host (v2: configuration.urls.streaming, v1: urls.streaming_api).
            urls = (info.get("configuration") or {}).get("urls") or info.get("urls") or {}
            if isinstance(urls, dict):
                self._streaming_url = streaming_base(urls.get("streaming") or urls.get("streaming_api"), self.base_url)
        self._instance_loaded = True

    async def _me(self) -> str:
        if self.account_id is None:
            await self.verify()
        assert self.account_id is not None
        return self.account_id

    def text_length(self, text: str) -> int:
        return mastodon_length(text)

    def text_limit(self) -> int:
        return self._max_chars or DEFAULT_LIMIT

    def rate_limit(self) -> RateLimitState | None:
        return self._rate

    # -- reading -----------------------------------------------------------------------------------

    async def _notifications(self, params: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], httpx.Response]:
        """One page of mention notifications, newest first (the server's order is not trusted)."""
        response = await self._request("GET", "/api/v1/notifications", params=[("types[]", "mention"), *params])
        items = self._json(response)
        if not isinstance(items, list):
            raise Rejected(f"{self._host()} did not answer like a Mastodon server.")
        notes = [n for n in items if isinstance(n, dict) and isinstance(n.get("id"), str | int)]
        for n in notes:
            n["id"] = str(n["id"])
        notes.sort(key=lambda n: id_key(n["id"]), reverse=True)
        return notes, response

    async def _mentions_of(self, notes: Iterable[Mapping[str, Any]], lookups: int) -> tuple[RemotePost, ...]:
        """The mentions among ``notes``, oldest first, with at most ``lookups`` thread look-ups."""
        if self.account_id is None:
            await self._me()
        posts: list[RemotePost] = []
        budget = [lookups]
        for note in sorted(notes, key=lambda n: id_key(n["id"])):
            status = note.get("status")
            # Old servers ignore types[]: skip what is not a mention, but let the cursor pass over it.
            if note.get("type") != "mention" or not isinstance(status, dict):
                continue
            root = await self._root_of(status, budget)
            posts.append(self._post(status, root, notification_id=str(note["id"])))
        return tuple(posts)

    async def fetch_mentions(self, cursor: str | None, history: History | None = None) -> FetchResult:
        """Mentions newer than the cursor, paged forward with ``min_id`` (oldest first).

        The first sync takes the newest page and leaves the rest of ``history`` as a stretch for
        ``fill_gap`` to read back into. A forward page that cannot be shown to follow on from its
        cursor (a server that ignores ``min_id`` or no longer knows the id) leaves a gap the same way.
        """
        state = MastodonCursor.parse(cursor)
        if state.seen is None:
            if state.since is not None:  # no mentions when the account was added: all after that is new
                history = History(state.since, HISTORY_CAP)
            return await self._first_page(state, history or History(None))
        assert state.seen is not None
        seen = state.seen
        try:
            # min_id pages forward from the cursor: the notifications immediately newer than it.
            notes, response = await self._notifications([("limit", str(PAGE_SIZE)), ("min_id", seen)])
        except _Refused as exc:
            if exc.status not in CURSOR_REFUSED:
                raise
            log.warning("%s refused the sync cursor (HTTP %s); reading from the newest again", self._host(), exc.status)
            return await self._restart(state)
        full = len(notes) >= PAGE_SIZE
        # A server that does not know min_id answers the newest page, which may reach back past the cursor.
        joined = any(id_key(n["id"]) <= id_key(seen) for n in notes)
        notes = [n for n in notes if id_key(n["id"]) > id_key(seen)]
        if not notes:
            return FetchResult((), state.dump(), False, state.gaps())
        newest, oldest = notes[0], notes[-1]
        if full and not joined and not self._min_id_honoured and await self._gap_below(oldest["id"], seen):
            state = state.with_hole(Hole(oldest["id"], seen, state.seen_at, _parse_time(oldest.get("created_at"))))
        posts = await self._mentions_of(notes, PAGE_SIZE)
        state = _cursor_after(newest, response, state.holes)
        return FetchResult(posts, state.dump(), full and not joined, state.gaps())

    async def _gap_below(self, oldest: str, seen: str) -> bool:
        """Whether anything lies between the cursor and the oldest of a full forward page.

        ``since_id`` with ``max_id`` has worked on every Mastodon version (``min_id`` only since 2.6):
        an empty answer proves the page follows on from the cursor.
        """
        try:
            between, _ = await self._notifications([("limit", "1"), ("max_id", oldest), ("since_id", seen)])
        except Rejected:
            return False  # cannot tell; the next pages will
        missing = any(id_key(seen) < id_key(n["id"]) < id_key(oldest) for n in between)
        if not missing:
            self._min_id_honoured = True
        return missing

    async def _first_page(self, state: MastodonCursor, history: History) -> FetchResult:
        """The newest page when nothing was seen yet; the rest of the history becomes a stretch to read back."""
        limit = max(0, history.limit)
        notes, response = await self._notifications([("limit", str(PAGE_SIZE if limit else 1))])
        if not notes:
            # Nothing yet: remember when we started, so the first mention ever is not taken for old history.
            since = state.since or self.clock()
            return FetchResult((), MastodonCursor(since=since).dump(), False)
        wanted: list[dict[str, Any]] = []
        for n in notes:
            if len(wanted) >= limit or (history.since and _parse_time(n.get("created_at")) < history.since):
                break
            wanted.append(n)
        fresh = _cursor_after(notes[0], response)
        # A full page of wanted mentions: older history may follow. (A server that caps ``limit`` below ours
        # ends the history early; that costs only history, never a mention after the cursor.)
        if len(wanted) == len(notes) >= PAGE_SIZE and len(wanted) < limit:
            oldest = notes[-1]
            end = _parse_time(oldest.get("created_at"))
            fresh = fresh.with_hole(Hole(oldest["id"], None, history.since, end, "history", limit - len(wanted)))
        posts = await self._mentions_of(wanted, PAGE_SIZE)
        return FetchResult(posts, fresh.dump(), False, fresh.gaps())

    async def _restart(self, state: MastodonCursor) -> FetchResult:
        """The server no longer takes the cursor: the newest page, and a gap from the cursor down to it."""
        assert state.seen is not None
        notes, response = await self._notifications([("limit", str(PAGE_SIZE))])
        joined = any(id_key(n["id"]) <= id_key(state.seen) for n in notes)
        notes = [n for n in notes if id_key(n["id"]) > id_key(state.seen)]
        if not notes:
            return FetchResult((), state.dump(), False, state.gaps())
        newest, oldest = notes[0], notes[-1]
        if not joined:
            hole = Hole(oldest["id"], state.seen, state.seen_at, _parse_time(oldest.get("created_at")))
            state = state.with_hole(hole)
        state = _cursor_after(newest, response, state.holes)
        posts = await self._mentions_of(notes, PAGE_SIZE)
        return FetchResult(posts, state.dump(), False, state.gaps())

    async def fill_gap(self, cursor: str) -> FetchResult:
        """Read one page back into the newest open stretch (``max_id`` paging, newest first).

        A stretch ends at its lower id, at its start time (history), after its allowance of mentions, or
        when the server has nothing older. Bounds are checked here rather than sent as ``since_id``, so a
        server that purged that notification cannot refuse the page.
        """
        state = MastodonCursor.parse(cursor)
        if not state.holes:
            return FetchResult((), state.dump(), False)
        hole, rest = state.holes[0], state.holes[1:]
        notes, _ = await self._notifications([("limit", str(PAGE_SIZE)), ("max_id", hole.upper)])
        notes = [n for n in notes if id_key(n["id"]) < id_key(hole.upper)]
        taken: list[dict[str, Any]] = []
        # Only an empty page ends a gap (servers cap ``limit`` differently); history ends at a short one too.
        ended = not notes or (hole.kind == "history" and len(notes) < PAGE_SIZE)
        closed = False
        left = hole.left
        for n in notes:
            at = _parse_time(n.get("created_at"))
            if hole.lower is not None and id_key(n["id"]) <= id_key(hole.lower):
                closed = True
            elif hole.lower is None and hole.start is not None and at < hole.start:
                closed = True
            elif left is not None and left <= 0:
                closed = True
            if closed:
                break
            taken.append(n)
            if left is not None and n.get("type") == "mention":
                left -= 1
        if not (closed or ended):
            oldest = notes[-1]
            moved = Hole(oldest["id"], hole.lower, hole.start, _parse_time(oldest.get("created_at")), hole.kind, left)
            rest = (moved, *rest)
        state = MastodonCursor(state.seen, state.seen_at, state.since, rest)
        posts = await self._mentions_of(taken, FILL_LOOKUPS)
        return FetchResult(posts, state.dump(), bool(rest), state.gaps())

    async def _root_of(self, status: Mapping[str, Any], budget: list[int]) -> str:
        """The first post of the thread, from what we saw before or one context look-up."""
        sid = str(status["id"])
        parent = status.get("in_reply_to_id")
        if sid in self._roots:
            return self._roots[sid]
        if not parent:
            self._roots[sid] = sid
            return sid
        parent = str(parent)
        if parent in self._roots:
            self._roots[sid] = self._roots[parent]
            return self._roots[sid]
        root = parent  # the best we know without a look-up
        if budget[0] > 0:
            budget[0] -= 1
            try:
                context = await self._get_json(f"/api/v1/statuses/{sid}/context")
            except (Rejected, RateLimited, UnknownOutcome):
                budget[0] = 0  # keep the rest of the page cheap; the parent id still groups replies
                context = None
            ancestors = context.get("ancestors") if isinstance(context, dict) else None
            if isinstance(ancestors, list) and ancestors and isinstance(ancestors[0], dict):
                root = str(ancestors[0].get("id") or parent)
                for a in ancestors:
                    if isinstance(a, dict) and a.get("id"):
                        self._roots[str(a["id"])] = root
        self._roots[sid] = root
        return root

    def _handle(self, account: Mapping[str, Any]) -> str:
        acct = str(account.get("acct") or account.get("username") or "")
        return f"@{acct}" if "@" in acct else f"@{acct}@{self.domain}"

    def _post(self, status: Mapping[str, Any], root: str, notification_id: str | None = None) -> RemotePost:
        account = status.get("account") or {}
        mentions = [m for m in status.get("mentions") or [] if isinstance(m, dict)]
        mention_urls = {str(m["url"]): str(m["acct"]) for m in mentions if m.get("url") and m.get("acct")}
        text = html_to_text(str(status.get("content") or ""), mention_urls)
        spoiler = str(status.get("spoiler_text") or "")
        if spoiler:
            text = f"CW: {spoiler}\n\n{text}"
        for media in status.get("media_attachments") or []:
            if isinstance(media, dict):
                what = str(media.get("type") or "attachment")
                desc = str(media.get("description") or "").strip()
                text += f"\n[{what}: {desc}]" if desc else f"\n[{what}]"
        author_id = str(account.get("id") or "")
        raw: dict[str, Any] = {
            "id": str(status["id"]),
            "in_reply_to_id": status.get("in_reply_to_id"),
            "in_reply_to_account_id": status.get("in_reply_to_account_id"),
            "visibility": status.get("visibility"),
            "spoiler_text": spoiler,
            "language": status.get("language"),
            "acct": account.get("acct"),
            "account_id": author_id,
            "mentions": [str(m.get("acct")) for m in mentions if m.get("acct")],
            "uri": status.get("uri"),
            "content": status.get("content"),
            "root_id": root,
        }
        if notification_id:
            raw["notification_id"] = notification_id
        own = self.account_id is not None and author_id == self.account_id
        return RemotePost(
            remote_id=str(status["id"]),
            author=RemoteAuthor(
                remote_id=author_id,
                handle=self._handle(account),
                name=str(account.get("display_name") or account.get("username") or ""),
                followers=_int_or_none(account.get("followers_count")),
                is_bot=bool(account.get("bot")),
            ),
            text=text.strip(),
            created_at=_parse_time(status.get("created_at")),
            conversation_key=root,
            parent_remote_id=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
            url=status.get("url") or status.get("uri"),
            lang=status.get("language"),
            kind="own_reply" if own else "mention",
            raw=raw,
        )

    async def fetch_conversation(self, target: ReplyTarget) -> tuple[RemotePost, ...]:
        await self._me()
        sid = target.remote_id
        try:
            status = await self._get_json(f"/api/v1/statuses/{sid}")
            context = await self._get_json(f"/api/v1/statuses/{sid}/context")
        except Rejected:
            return ()  # deleted or no longer visible to us: the outbox holds the reply for review
        if not isinstance(status, dict) or not isinstance(context, dict):
            return ()
        ancestors = [s for s in context.get("ancestors") or [] if isinstance(s, dict) and s.get("id")]
        descendants = [s for s in context.get("descendants") or [] if isinstance(s, dict) and s.get("id")]
        root = str(ancestors[0]["id"]) if ancestors else str(status["id"])
        thread = [*ancestors, status, *descendants]
        for s in thread:
            self._roots[str(s["id"])] = root
        posts = [self._post(s, root) for s in thread]
        posts.sort(key=lambda p: (p.created_at, id_key(p.remote_id)))
        return tuple(posts)

    # -- streaming ---------------------------------------------------------------------------------

    async def streaming_url(self) -> str:
        """Where the streaming API lives: the instance's ``configuration.urls.streaming``, else the API host."""
        await self.load_instance()
        return self._streaming_url or self.base_url

    @contextlib.asynccontextmanager
    async def notification_stream(
        self, idle_timeout: float = IDLE_TIMEOUT
    ) -> AsyncIterator[AsyncGenerator[Mapping[str, Any], None]]:
        """One connection to the account's notifications; no reconnecting (the caller decides).

        Server-sent events first; when the server's event stream fails (no such endpoint, or not an event
        stream) the WebSocket API instead, from then on for this connector. Entering returns once the
        server has accepted the stream, so a backfill run then leaves no gap. Iterating yields the JSON of
        each ``notification`` event; it ends when the server ends the stream, and raises ``Offline`` when
        the connection breaks or stays silent (not even a heartbeat) for ``idle_timeout`` seconds.

        Raises:
            AuthExpired: The token was refused.
            Rejected: The server has neither stream here.
            Offline: The streaming host cannot be reached.
        """
        if not self._websocket_only:
            try:
                response, host = await self._open_event_stream(idle_timeout)
            except _NoEventStream as exc:
                log.info("%s; trying the WebSocket streaming API", exc)
                self._websocket_only = True
            else:
                try:
                    yield self._notification_events(response, host)
                finally:
                    await response.aclose()
                return
        async with websocket_notifications(
            await self.streaming_url(), await self._auth(), USER_AGENT, idle_timeout
        ) as notes:
            yield notes

    async def _open_event_stream(self, idle_timeout: float) -> tuple[httpx.Response, str]:
        """The server-sent-events response, accepted (the caller closes it)."""
        url = (await self.streaming_url()) + STREAM_PATH
        host = urlsplit(url).netloc
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            "Authorization": await self._auth(),
        }
        # The read timeout is the silence we tolerate: heartbeats keep a healthy stream well inside it.
        timeout = httpx.Timeout(connect=10.0, read=idle_timeout, write=10.0, pool=10.0)
        try:
            request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
            response = await self._client.send(request, stream=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise Rejected(f"{url} is not a usable streaming address ({_describe(exc)}).") from None
        except httpx.TransportError as exc:
            raise Offline(f"The live connection to {host} could not be opened ({_describe(exc)}).") from None
        try:
            if not response.is_success:
                try:
                    await response.aread()
                except httpx.TransportError:
                    raise Offline(f"The live connection to {host} broke ({response.status_code}).") from None
                try:
                    self._raise_for(response, sending=False)
                except _Refused as exc:
                    raise _NoEventStream(f"{host} has no event stream (HTTP {exc.status})") from None
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise _NoEventStream(f"{host} did not answer with an event stream")
        except BaseException:
            await response.aclose()
            raise
        return response, host

    async def _notification_events(
        self, response: httpx.Response, host: str
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        try:
            async for event in parse_sse(response.aiter_lines()):
                if event.event != "notification":
                    continue
                try:
                    note = json.loads(event.data)
                except ValueError:
                    log.warning("a streamed notification from %s was not JSON; skipped", host)
                    continue
                if isinstance(note, dict) and note.get("id"):
                    yield note
        except httpx.TransportError as exc:
            # A read timeout (silence), a reset, or a chunked body cut off mid-way: all "reconnect".
            raise Offline(f"The live connection to {host} broke ({_describe(exc)}).") from None

    async def mention_from_notification(self, note: Mapping[str, Any]) -> RemotePost | None:
        """The mention a streamed notification carries, built as ``fetch_mentions`` builds it (None otherwise)."""
        status = note.get("status")
        if note.get("type") != "mention" or not isinstance(status, dict) or not status.get("id"):
            return None
        await self._me()
        root = await self._root_of(status, [1])
        return self._post(status, root, notification_id=str(note.get("id") or ""))

    # -- replying ----------------------------------------------------------------------------------

    def freeze_reply(self, target: ReplyTarget, text: str, client_key: str) -> dict[str, Any]:
        raw = target.raw
        acct = str(raw.get("acct") or target.author_handle).lstrip("@")
        own = bool(self.account_id) and str(raw.get("account_id") or "") == self.account_id
        body = text.strip()
        # The API does not add the @mention: without it the customer is not notified, and a private
        # or direct reply would not even be visible to them.
        if acct and not own and not _mentions(body, acct):
            body = f"@{acct} {body}"
        original = str(raw.get("visibility") or "")
        visibility = original if original in VISIBILITIES else "unlisted"
        payload: dict[str, Any] = {
            "status": body,
            "in_reply_to_id": target.remote_id,
            "visibility": visibility,
        }
        spoiler = str(raw.get("spoiler_text") or "")
        if spoiler:
            payload["spoiler_text"] = spoiler
        language = raw.get("language")
        if isinstance(language, str) and language:
            payload["language"] = language
        length = mastodon_length(body) + graphemes(spoiler)
        if length > self.text_limit():
            raise InvalidInput(
                f"With the @mention{' and content warning' if spoiler else ''} the reply is {length} "
                f"characters; this account allows {self.text_limit()}."
            )
        return payload

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        body = {k: payload[k] for k in _REPLY_FIELDS if k in payload and payload[k] not in (None, "")}
        # The same key on every attempt: within an hour Mastodon answers a repeat with the first status.
        response = await self._request("POST", "/api/v1/statuses", json=body, headers={"Idempotency-Key": client_key})
        try:
            status = response.json()
        except ValueError:
            status = None
        if not isinstance(status, dict) or not status.get("id"):
            raise UnknownOutcome(f"{self._host()} accepted the reply but its answer could not be read.")
        sid = str(status["id"])
        parent = str(payload.get("in_reply_to_id") or "")
        if parent:
            self._roots[sid] = self._roots.get(parent, parent)
        return SentReply(sid, status.get("url") or status.get("uri"))

    async def find_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply | None:
        me = await self._me()
        parent = str(payload.get("in_reply_to_id") or "")
        wanted = _squash(str(payload.get("status") or ""))
        if not parent or not wanted:
            return None

        def match(candidates: Iterable[Any]) -> SentReply | None:
            for s in candidates:
                if not isinstance(s, dict) or str((s.get("account") or {}).get("id") or "") != me:
                    continue
                if str(s.get("in_reply_to_id") or "") != parent:
                    continue
                mentions = {
                    str(m["url"]): str(m.get("acct") or "")
                    for m in s.get("mentions") or []
                    if isinstance(m, dict) and m.get("url")
                }
                got = _squash(html_to_text(str(s.get("content") or ""), mentions))
                if got == wanted or wanted in got:
                    return SentReply(str(s["id"]), s.get("url") or s.get("uri"))
            return None

        # The thread under the post being answered shows our reply directly, however busy the account is.
        try:
            context = await self._get_json(f"/api/v1/statuses/{parent}/context")
        except Rejected:
            context = None
        if isinstance(context, dict):
            found = match(context.get("descendants") or [])
            if found:
                return found
        # Then our own recent statuses (replies included), for a post that was deleted or hidden.
        params = [("limit", "40"), ("exclude_replies", "false"), ("exclude_reblogs", "true")]
        for _ in range(RECONCILE_PAGES):
            response = await self._request("GET", f"/api/v1/accounts/{me}/statuses", params=params)
            page = self._json(response)
            if not isinstance(page, list) or not page:
                return None
            found = match(page)
            if found:
                return found
            older = _link_param(response, "next", "max_id")
            if not older:
                ids = [str(s["id"]) for s in page if isinstance(s, dict) and s.get("id")]
                older = min(ids, key=id_key) if ids else None
            if not older or len(page) < 40:
                return None
            params = [*params[:3], ("max_id", older)]
        return None

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()


def _mentions(text: str, acct: str) -> bool:
    """Whether ``text`` already addresses ``acct`` (the full @user@domain, not a bare @user)."""
    pattern = r"(?<![\w@])@" + re.escape(acct) + r"(?![\w@.-]*\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def streaming_base(value: Any, base_url: str) -> str:
    """The http(s) base of the streaming API from ``wss://host`` (or ``ws://`` for this machine), else the API host.

    The token is sent there, so the same rule as for the server applies: https, or plain http only for 127.0.0.1.
    """
    if not isinstance(value, str) or "://" not in value:
        return base_url
    scheme, _, rest = value.strip().partition("://")
    web = {"wss": "https", "ws": "http", "https": "https", "http": "http"}.get(scheme.lower())
    if web is None:
        return base_url
    try:
        return normalise_url(f"{web}://{rest}")
    except InvalidInput:
        return base_url


def _link_param(response: httpx.Response, rel: str, name: str) -> str | None:
    """One query parameter of a ``Link`` header URL (``rel="next"`` carries max_id, ``"prev"`` min_id)."""
    link = response.links.get(rel)
    if not link or "url" not in link:
        return None
    values = parse_qs(urlsplit(link["url"]).query).get(name)
    return values[0] if values else None


def _cursor_after(newest: Mapping[str, Any], response: httpx.Response, holes: tuple[Hole, ...] = ()) -> MastodonCursor:
    """The cursor once a page up to ``newest`` is handed over, keeping the stretches still to read.

    It stands at the page's ``prev`` link where that is newer than ``newest``: the next forward page starts there.
    """
    top = str(newest["id"])
    prev = _link_param(response, "prev", "min_id")
    if prev and id_key(prev) > id_key(top):
        top = prev
    return MastodonCursor(top, _parse_time(newest.get("created_at")), None, holes)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _describe(exc: Exception) -> str:
    """A short, secret-free description of a transport error."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
    return words
