"""Bluesky (AT Protocol) connector: app-password sessions, notifications, threads and idempotent replies.

Plain XRPC over httpx rather than the ``atproto`` SDK: we need about ten calls, an injectable
transport for the fake PDS, our own error mapping (Offline / UnknownOutcome / Rejected ...) and a
session kept in the keyring that is refreshed, never re-created, on each start. The SDK's models,
CBOR and crypto stack buy none of that.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets as pyrandom
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
import regex

from services.errors import (
    AuthExpired,
    InvalidInput,
    NetworkError,
    Offline,
    RateLimited,
    Rejected,
    UnknownOutcome,
)
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
from services.networks.bluesky_cursor import BlueskyCursor, Hole, Mark
from services.secrets import SecretStore, account_key
from services.textlength import bluesky_length

log = logging.getLogger(__name__)

NETWORK = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
#: The post lexicon's ``maxGraphemes`` and ``maxLength`` (UTF-8 bytes) for ``text``.
TEXT_LIMIT = 300
MAX_TEXT_BYTES = 3000
#: Notification reasons that are someone talking to us (likes, reposts and follows are not).
MENTION_REASONS = ("mention", "reply", "quote")
#: listNotifications allows 1..100 per page.
PAGE_LIMIT = 100
#: getProfiles takes at most 25 actors per call.
PROFILE_BATCH = 25
#: Refresh the access token this long before its ``exp``, so a request never races the expiry.
REFRESH_MARGIN = timedelta(seconds=120)
WEB_URL = "https://bsky.app"

_AUTH_ERRORS = frozenset(
    {
        "AuthenticationRequired",
        "AuthMissing",
        "InvalidToken",
        "ExpiredToken",
        "AccountTakedown",
        "AccountDeactivated",
        "AccountNotFound",
    }
)
# An access token the PDS no longer takes: one refresh may cure these, anything else is final.
_STALE_TOKEN = frozenset({"ExpiredToken", "InvalidToken"})


# -- sessions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """An app-password session: the token pair and who it belongs to (the password is never kept)."""

    access_jwt: str
    refresh_jwt: str
    did: str
    handle: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Session:
        """From a createSession / refreshSession answer or a stored copy."""
        try:
            return cls(str(data["accessJwt"]), str(data["refreshJwt"]), str(data["did"]), str(data["handle"]))
        except KeyError as exc:
            raise AuthExpired(f"The stored Bluesky session is incomplete ({exc.args[0]}); sign in again.") from None

    def to_wire(self) -> dict[str, str]:
        """The four fields we persist, named as the XRPC answer names them."""
        return {"accessJwt": self.access_jwt, "refreshJwt": self.refresh_jwt, "did": self.did, "handle": self.handle}


class SessionStore(Protocol):
    """Where one account's session lives between runs (the keyring in the app)."""

    def load(self) -> Mapping[str, Any] | None:
        """The stored session fields, or None if there are none."""
        ...

    def save(self, session: Mapping[str, Any]) -> None:
        """Replace the stored session fields."""
        ...


class MemorySessionStore:
    """A session store held in memory (tests, and adding an account before it has a row)."""

    def __init__(self, session: Mapping[str, Any] | None = None) -> None:
        self.session: dict[str, Any] | None = dict(session) if session else None
        self.saves = 0

    def load(self) -> Mapping[str, Any] | None:
        """The session, if any."""
        return dict(self.session) if self.session else None

    def save(self, session: Mapping[str, Any]) -> None:
        """Keep a copy."""
        self.session = dict(session)
        self.saves += 1


class SecretSessionStore:
    """The session as one JSON secret in ``services.secrets`` (the keyring, or the labelled file)."""

    def __init__(self, secrets: SecretStore, key: str) -> None:
        self.secrets = secrets
        self.key = key

    def load(self) -> Mapping[str, Any] | None:
        """The stored session, or None if there is none (or it cannot be read)."""
        secret = self.secrets.get(self.key)
        if secret is None:
            return None
        try:
            data = json.loads(secret.reveal())
        except ValueError:
            log.warning("the stored Bluesky session for %s is not JSON; a new sign-in is needed", self.key)
            return None
        return data if isinstance(data, dict) else None

    def save(self, session: Mapping[str, Any]) -> None:
        """Replace the stored session."""
        self.secrets.set(self.key, json.dumps(dict(session), sort_keys=True))


def session_key(pds_url: str, did: str) -> str:
    """The secret name of one account's session: by DID, which survives a change of handle."""
    return account_key(NETWORK, normalise_pds(pds_url), did)


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, read without verifying it (the PDS verifies; we only plan ahead)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (ValueError, KeyError, TypeError):
        return None


# -- record keys -----------------------------------------------------------------------------------

S32_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


class TidClock:
    """Makes TIDs: 53 bits of microseconds since 1970 and a 10-bit clock id, base32-sortable, 13 chars.

    TIDs from one clock only ever grow, even when the system clock steps back or two replies are
    frozen within the same microsecond, because an rkey that repeats would collide on the PDS.
    """

    def __init__(self, clock_id: int | None = None) -> None:
        self.clock_id = (pyrandom.randbelow(1024) if clock_id is None else clock_id) & 0x3FF
        self._last = 0
        self._lock = threading.Lock()  # freeze_reply runs on the database worker thread

    def next(self, now: datetime) -> str:
        """A fresh TID for ``now`` (strictly greater than the last one made here)."""
        micros = int(now.timestamp() * 1_000_000)
        with self._lock:
            micros = max(micros, self._last + 1)
            self._last = micros
        return encode_tid(micros, self.clock_id)


def encode_tid(micros: int, clock_id: int) -> str:
    """Encode a timestamp and clock id as the 13-character TID string."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(S32_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_TIDS = TidClock()


# -- rich text -------------------------------------------------------------------------------------

# Links: only explicit http(s) URLs become facets; guessing bare domains (as the official app does)
# needs a TLD list and would link "e.g." style mistakes in a customer-care answer.
_LINK_RE = regex.compile(r"(?:^|(?<=[\s(]))(https?://\S+)", regex.IGNORECASE)
_MENTION_RE = regex.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9])")
_TAG_RE = regex.compile(r"(?:^|(?<=\s))[#＃]([^\s\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2]+)")
_TRAILING_PUNCT = regex.compile(r"\p{P}+$")


#: The most @handles of one reply looked up (each is a request).
MAX_RESOLVED = 10


def mentioned_handles(text: str) -> list[str]:
    """The @handles a text mentions, lower-cased, in order, once each (only domain-like ones: a handle has a dot)."""
    found = (m.group(1).lower() for m in _MENTION_RE.finditer(text))
    return list(dict.fromkeys(h for h in found if "." in h))


def _byte_index(text: str, char_index: int) -> int:
    return len(text[:char_index].encode("utf-8"))


def build_facets(text: str, known_dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Link, mention and tag facets for ``text``, indexed in UTF-8 bytes (start inclusive, end exclusive).

    Mentions become facets only for handles whose DID we know (from the thread being answered, or
    resolved by ``BlueskyNetwork.prepare_reply``); others stay plain text, since a wrong DID would
    notify a stranger and a facet without one is refused.
    """
    facets: list[tuple[int, dict[str, Any]]] = []
    for m in _LINK_RE.finditer(text):
        uri, start = m.group(1), m.start(1)
        # A sentence's full stop or a closing bracket is not part of the URL.
        if uri[-1] in ".,;:!?":
            uri = uri[:-1]
        # A closing bracket belongs to the URL only when it closes one opened inside it.
        while uri.endswith(")") and uri.count(")") > uri.count("("):
            uri = uri[:-1]
        if uri[-1] in ".,;:!?":
            uri = uri[:-1]
        end = start + len(uri)
        facets.append((start, _facet(text, start, end, {"$type": "app.bsky.richtext.facet#link", "uri": uri})))
    lowered = {h.lower().lstrip("@"): d for h, d in known_dids.items()}
    for m in _MENTION_RE.finditer(text):
        did = lowered.get(m.group(1).lower())
        if did:
            start, end = m.start(1) - 1, m.end(1)
            facets.append((start, _facet(text, start, end, {"$type": "app.bsky.richtext.facet#mention", "did": did})))
    for m in _TAG_RE.finditer(text):
        tag = _TRAILING_PUNCT.sub("", m.group(1))
        # An all-digit "#1" is a number, not a tag; tags are at most 64 graphemes.
        if not tag or tag.isdigit() or bluesky_length(tag) > 64:
            continue
        start = m.start(1) - 1
        end = start + 1 + len(tag)
        facets.append((start, _facet(text, start, end, {"$type": "app.bsky.richtext.facet#tag", "tag": tag})))
    facets.sort(key=lambda f: f[0])
    return [f for _, f in facets]


def _facet(text: str, start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": {"byteStart": _byte_index(text, start), "byteEnd": _byte_index(text, end)},
        "features": [feature],
    }


# -- small parsers -----------------------------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: Any) -> datetime | None:
    """An AT Protocol datetime string as aware UTC (None if it cannot be read)."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("z", "Z")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def at_datetime(when: datetime) -> str:
    """A datetime as the AT Protocol writes it: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


def rkey_of(uri: str) -> str:
    """The record key, the last part of an ``at://did/collection/rkey`` URI."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def post_url(handle_or_did: str, uri: str) -> str:
    """The bsky.app web address of a post."""
    return f"{WEB_URL}/profile/{handle_or_did}/post/{rkey_of(uri)}"


def normalise_pds(url: str) -> str:
    """A PDS base URL without a trailing slash; ``https://`` is assumed when no scheme is given."""
    url = url.strip()
    if not url:
        raise InvalidInput("Give the PDS address, for example https://bsky.social.")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"{url} is not an http(s) address of a PDS.")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _handle_for_url(author: Mapping[str, Any]) -> str:
    handle = str(author.get("handle") or "")
    # An account whose handle stopped verifying is shown as "handle.invalid"; its DID still works.
    return handle if handle and handle != "handle.invalid" else str(author.get("did") or "")


def _strong_ref(value: Any) -> dict[str, str] | None:
    if isinstance(value, Mapping) and value.get("uri") and value.get("cid"):
        return {"uri": str(value["uri"]), "cid": str(value["cid"])}
    return None


@dataclass(slots=True)
class _Walk:
    """What one walk down the notification list found, and where it stopped."""

    found: list[Mapping[str, Any]] = field(default_factory=list)
    #: The newest notification read (the list is newest first).
    top: Mark | None = None
    #: The oldest notification read.
    last: Mark | None = None
    #: The server's cursor to go on from, if the walk did not arrive.
    cursor: str | None = None
    #: The walk met its stop (a known notification, the time bound, its allowance, or the list's end).
    arrived: bool = False
    #: Mentions it may still take (None: no allowance).
    left: int | None = None


# -- the XRPC client -------------------------------------------------------------------------------

AuthMode = Literal["access", "refresh", "none"]


async def create_session(
    pds_url: str,
    identifier: str,
    password: str,
    *,
    client: httpx.AsyncClient | None = None,
) -> Session:
    """Sign in once with an app password (``com.atproto.server.createSession``); nothing is stored here."""
    net = BlueskyNetwork(pds_url, MemorySessionStore(), client=client)
    try:
        return await net.login(identifier, password)
    finally:
        await net.aclose()


class BlueskyNetwork:
    """One Bluesky account on one PDS, speaking XRPC over httpx."""

    name = NETWORK

    def __init__(
        self,
        pds_url: str,
        session_store: SessionStore,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tids: TidClock | None = None,
        reply_langs: Sequence[str] = (),
        max_pages: int = 5,
        backfill_limit: int = 500,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self.pds_url = normalise_pds(pds_url)
        self.store = session_store
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        self.clock = clock
        self.tids = tids or _TIDS
        self.reply_langs = tuple(reply_langs)[:3]  # the post lexicon allows three languages
        self.max_pages = max(1, max_pages)
        self.backfill_limit = max(1, backfill_limit)
        self.page_limit = max(1, min(PAGE_LIMIT, page_limit))
        self._session: Session | None = None
        self._refresh_lock = asyncio.Lock()
        self._rate: RateLimitState | None = None
        #: Handles looked up for mention facets, for the connector's life: handle -> DID, or None when the
        #: network said there is no such handle.
        self._resolved: dict[str, str | None] = {}

    # -- sessions ----------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The PDS host, for messages."""
        return urlsplit(self.pds_url).netloc

    async def login(self, identifier: str, password: str) -> Session:
        """Sign in with an app password (createSession); stores the new session (never the password)."""
        body = {"identifier": identifier.strip().lstrip("@"), "password": password}
        try:
            data = await self._call("POST", "com.atproto.server.createSession", body=body, auth="none")
        except AuthExpired as exc:
            raise AuthExpired(
                f"{self.host} refused {identifier} with that app password ({exc.message.rstrip('.')})."
            ) from None
        except Rejected as exc:
            if "AuthFactorTokenRequired" in exc.message:
                raise AuthExpired(
                    "This account asks for an emailed sign-in code; use an app password (Settings > App passwords)."
                ) from None
            raise
        session = Session.from_wire(data)
        await asyncio.to_thread(self.store.save, session.to_wire())
        self._session = session
        return session

    def _stored(self) -> Session | None:
        data = self.store.load()
        return Session.from_wire(data) if data else None

    def session(self) -> Session:
        """The current session (loaded from the store on first use); AuthExpired if there is none."""
        if self._session is None:
            self._session = self._stored()
        if self._session is None:
            raise AuthExpired(f"There is no Bluesky session for this account on {self.host}; sign in again.")
        return self._session

    async def _current(self) -> Session:
        if self._session is None:
            self._session = await asyncio.to_thread(self._stored)
        return self.session()

    def _expiring(self, session: Session) -> bool:
        exp = jwt_expiry(session.access_jwt)
        return exp is not None and exp - self.clock() <= REFRESH_MARGIN

    async def refresh(self, stale: Session) -> Session:
        """Trade the refresh token for a new pair and persist it (refresh tokens are single-use)."""
        async with self._refresh_lock:
            current = self._session
            if current is not None and current.access_jwt != stale.access_jwt and not self._expiring(current):
                return current  # another task refreshed while we waited
            # Another process (the GUI beside a CLI run) may have rotated the pair already.
            stored = await asyncio.to_thread(self._stored)
            if stored is not None and stored.refresh_jwt != stale.refresh_jwt:
                self._session = stored
                if not self._expiring(stored):
                    return stored
                stale = stored
            try:
                data = await self._call(
                    "POST", "com.atproto.server.refreshSession", auth="refresh", token=stale.refresh_jwt
                )
            except AuthExpired:
                stored = await asyncio.to_thread(self._stored)
                if stored is not None and stored.refresh_jwt != stale.refresh_jwt:
                    self._session = stored
                    return stored
                raise AuthExpired(
                    f"Bluesky signed {stale.handle} out on {self.host}; sign in again with an app password."
                ) from None
            fresh = Session.from_wire(data)
            await asyncio.to_thread(self.store.save, fresh.to_wire())
            self._session = fresh
            log.info("refreshed the Bluesky session of %s", fresh.handle)
            return fresh

    # -- transport ---------------------------------------------------------------------------------

    async def _call(
        self,
        method: Literal["GET", "POST"],
        nsid: str,
        *,
        params: Sequence[tuple[str, str | int]] | None = None,
        body: Mapping[str, Any] | None = None,
        auth: AuthMode = "access",
        token: str | None = None,
        write: bool = False,
    ) -> dict[str, Any]:
        """One XRPC call with the typed errors; an access token that went stale is refreshed once."""
        content = None
        if body is not None:
            # Serialised once, so every retry of a frozen reply sends the same bytes.
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if auth != "access":
            return await self._send(method, nsid, params, content, token, write=write, stale_ok=False)
        session = await self._current()
        if self._expiring(session):
            session = await self.refresh(session)
        try:
            return await self._send(method, nsid, params, content, session.access_jwt, write=write, stale_ok=True)
        except _StaleToken:
            session = await self.refresh(session)
        try:
            return await self._send(method, nsid, params, content, session.access_jwt, write=write, stale_ok=True)
        except _StaleToken as exc:
            raise AuthExpired(
                f"Bluesky no longer accepts the session of {session.handle} ({exc}); sign in again."
            ) from None

    async def _send(
        self,
        method: str,
        nsid: str,
        params: Sequence[tuple[str, str | int]] | None,
        content: bytes | None,
        token: str | None,
        *,
        write: bool,
        stale_ok: bool,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self.pds_url}/xrpc/{nsid}"
        try:
            response = await self.client.request(
                method, url, params=list(params or ()), content=content, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            # The connection was never made: nothing reached the server.
            raise Offline(f"Cannot reach the Bluesky server at {self.host} ({_why(exc)}).") from None
        except httpx.TransportError as exc:
            if write:
                raise UnknownOutcome(
                    f"The Bluesky server at {self.host} did not answer ({_why(exc)}); the reply may have arrived."
                ) from None
            raise NetworkError(f"The Bluesky server at {self.host} did not answer ({_why(exc)}).") from None
        self._note_rate(response.headers)
        if response.is_success:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                if write:
                    raise UnknownOutcome(f"{self.host} sent an answer that is not JSON; the reply may have arrived.")
                raise NetworkError(f"{self.host} sent an answer that is not JSON ({nsid}).")
            return data
        raise self._error(response, nsid, stale_ok=stale_ok, write=write)

    def _error(self, response: httpx.Response, nsid: str, *, stale_ok: bool, write: bool) -> Exception:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        error = str(data.get("error") or "")
        message = str(data.get("message") or error or response.reason_phrase or f"HTTP {status}")
        if status == 429:
            return RateLimited(
                f"Bluesky asks us to slow down ({message}).", reset_at=_reset_at(response.headers, self.clock())
            )
        # The PDS answers an expired access token with 400 ExpiredToken (some proxies with 401).
        if stale_ok and error in _STALE_TOKEN and status in (400, 401):
            return _StaleToken(message)
        if status == 401 or error in _AUTH_ERRORS:
            return AuthExpired(f"{message.rstrip('.')}.")
        if status >= 500:
            if write:
                return UnknownOutcome(
                    f"The Bluesky server at {self.host} failed (HTTP {status}: {message}); the reply may have arrived.",
                    status=status,
                )
            return NetworkError(f"The Bluesky server at {self.host} failed (HTTP {status}: {message}).", status=status)
        if error == "InvalidSwap":
            return Rejected("Another post already uses this reply's record key; edit the reply to send it again.")
        label = f"{error}: {message}" if error and error != message else message
        return Rejected(f"Bluesky refused {nsid.rsplit('.', 1)[-1]} ({label}).")

    def _note_rate(self, headers: httpx.Headers) -> None:
        if "ratelimit-limit" not in headers and "ratelimit-remaining" not in headers:
            return
        self._rate = RateLimitState(
            limit=_int(headers.get("ratelimit-limit")),
            remaining=_int(headers.get("ratelimit-remaining")),
            reset_at=_reset_at(headers, None),
        )

    # -- the Protocol ------------------------------------------------------------------------------

    async def verify(self) -> RemoteAuthor:
        """Check the session (refreshing it if needed) and return the account's identity."""
        data = await self._call("GET", "com.atproto.server.getSession")
        did, handle = str(data.get("did") or ""), str(data.get("handle") or "")
        name = ""
        followers: int | None = None
        try:
            profiles = await self._profiles([did])
        except (AuthExpired, Offline):
            raise
        except NetworkError as exc:
            # The profile lives on the AppView behind the PDS; the session itself is already proven.
            log.info("no Bluesky profile for %s: %s", handle, exc)
            profiles = {}
        if did in profiles:
            name = str(profiles[did].get("displayName") or "")
            followers = _int(profiles[did].get("followersCount"))
        return RemoteAuthor(did, handle, name, followers)

    async def fetch_mentions(self, cursor: str | None, history: History | None = None) -> FetchResult:
        """Mentions, replies and quotes newer than ``cursor``, oldest first.

        listNotifications pages from the newest backwards, so we page until we meet a notification
        already handed over (or an older one, in case that one was deleted). Pages can be short or
        empty and still carry a cursor when the server filters after paging; only a missing cursor
        ends the list. One call reads at most ``max_pages`` pages, so the newest mentions always come
        first: whatever lies below is kept as a stretch in the cursor, for ``fill_gap`` to read into
        (a long offline spell, or the first sync's ``history``).
        """
        state = BlueskyCursor.parse(cursor)
        first = state.seen is None
        if first:
            if state.since is not None:  # no mentions when the account was added: all after that is new
                history = History(state.since, HISTORY_CAP)
            history = history or History(None, self.backfill_limit)
            stop = Mark(history.since, "") if history.since else None
            walk = await self._walk(None, stop, max(0, history.limit), take_top=True)
        else:
            stop = state.seen
            walk = await self._walk(None, stop, None, take_top=False)
        seen = walk.top or state.seen
        fresh = BlueskyCursor(seen, None if seen else (state.since or self.clock()), state.holes)
        if not walk.arrived:
            kind = "history" if first else "gap"
            fresh = fresh.with_hole(Hole(walk.cursor, stop, walk.last or seen, kind, walk.left))
        posts = await self._posts_from_notifications(walk.found)
        return FetchResult(posts, fresh.dump(), False, fresh.gaps())

    async def fill_gap(self, cursor: str) -> FetchResult:
        """Read up to ``max_pages`` pages into the newest open stretch, from where the last call left off.

        A saved server cursor the server no longer takes is read again from the newest end, skipping
        what lies above the stretch (anything read twice is stored once).
        """
        state = BlueskyCursor.parse(cursor)
        if not state.holes:
            return FetchResult((), state.dump(), False)
        hole, rest = state.holes[0], state.holes[1:]
        walk = await self._walk(hole.resume, hole.stop, hole.left, take_top=False, above=hole.last)
        if not walk.arrived:
            rest = (Hole(walk.cursor, hole.stop, walk.last or hole.last, hole.kind, walk.left), *rest)
        fresh = replace(state, holes=rest)
        posts = await self._posts_from_notifications(walk.found)
        return FetchResult(posts, fresh.dump(), bool(rest), fresh.gaps())

    async def _walk(
        self,
        resume: str | None,
        stop: Mark | None,
        left: int | None,
        *,
        take_top: bool,
        above: Mark | None = None,
    ) -> _Walk:
        """Page down the notification list from ``resume`` (None: the newest) until ``stop``, for ``max_pages``.

        ``take_top`` notes the newest notification even when it is already past the stop (a first sync
        must learn where the list stands, whatever it takes). ``above``: the last notification read
        above a stretch; it and anything newer were handed over before and are passed over (they come
        again when the saved cursor was refused and the walk starts from the newest).
        """
        walk = _Walk(cursor=resume, left=left)
        api_cursor = resume
        restarted = False
        for _ in range(self.max_pages):
            params: list[tuple[str, str | int]] = [("reasons", r) for r in MENTION_REASONS]
            params.append(("limit", self.page_limit))
            if api_cursor:
                params.append(("cursor", api_cursor))
            try:
                data = await self._call("GET", "app.bsky.notification.listNotifications", params=params)
            except Rejected:
                if not (api_cursor and api_cursor == resume and walk.last is None and not restarted):
                    raise
                log.warning("the Bluesky server refused a saved notification cursor; reading the gap again")
                api_cursor, restarted = None, True
                continue
            items = data.get("notifications")
            for item in items if isinstance(items, list) else ():
                if not isinstance(item, Mapping):
                    continue
                at = parse_datetime(item.get("indexedAt"))
                uri = str(item.get("uri") or "")
                if at is None or not uri or (above is not None and (uri == above.uri or at > above.at)):
                    continue
                if take_top and walk.top is None:
                    walk.top = Mark(at, uri)
                if (stop is not None and stop.reached_by(uri, at)) or (walk.left is not None and walk.left <= 0):
                    walk.arrived = True
                    break
                if walk.top is None:
                    walk.top = Mark(at, uri)
                walk.last = Mark(at, uri)
                if item.get("reason") in MENTION_REASONS and _is_post(item.get("record")):
                    walk.found.append(item)
                    if walk.left is not None:
                        walk.left -= 1
                        if walk.left <= 0:
                            walk.arrived = True
                            break
            next_cursor = data.get("cursor")
            api_cursor = str(next_cursor) if next_cursor else None
            walk.cursor = api_cursor
            if walk.arrived or api_cursor is None:
                walk.arrived = True
                break
        return walk

    async def _profiles(self, dids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """Detailed profiles by DID (for follower counts), 25 actors per call."""
        wanted = list(dict.fromkeys(d for d in dids if d))
        out: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(wanted), PROFILE_BATCH):
            params: list[tuple[str, str | int]] = [("actors", d) for d in wanted[start : start + PROFILE_BATCH]]
            try:
                data = await self._call("GET", "app.bsky.actor.getProfiles", params=params)
            except Rejected as exc:
                # Follower counts only sharpen triage; a refused lookup must not lose the mentions.
                log.info("Bluesky getProfiles refused: %s", exc)
                continue
            for p in data.get("profiles") or ():
                if isinstance(p, Mapping) and p.get("did"):
                    out[str(p["did"])] = p
        return out

    async def _posts_from_notifications(self, items: Sequence[Mapping[str, Any]]) -> tuple[RemotePost, ...]:
        if not items:
            return ()
        profiles = await self._profiles(str((n.get("author") or {}).get("did") or "") for n in items)
        own = self._session.did if self._session else ""
        posts: dict[str, RemotePost] = {}
        for n in items:
            post = self._remote_post(
                uri=str(n["uri"]),
                cid=str(n.get("cid") or ""),
                author=n.get("author") or {},
                record=n.get("record") or {},
                indexed_at=n.get("indexedAt"),
                own_did=own,
                profile=profiles.get(str((n.get("author") or {}).get("did") or "")),
                extra={"reason": n.get("reason"), "reasonSubject": n.get("reasonSubject")},
            )
            posts.setdefault(post.remote_id, post)
        return tuple(sorted(posts.values(), key=lambda p: (p.created_at, p.remote_id)))

    def _remote_post(
        self,
        *,
        uri: str,
        cid: str,
        author: Mapping[str, Any],
        record: Mapping[str, Any],
        indexed_at: Any,
        own_did: str,
        profile: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> RemotePost:
        did = str(author.get("did") or "")
        indexed = parse_datetime(indexed_at)
        created = parse_datetime(record.get("createdAt"))
        # createdAt is whatever the poster's client claims; a date in the future would pin the
        # post to the top of the timeline, so the server's indexing time caps it.
        if created is None or (indexed is not None and created > indexed):
            created = indexed or self.clock()
        reply = record.get("reply") if isinstance(record.get("reply"), Mapping) else None
        root = _strong_ref(reply.get("root")) if reply else None
        parent = _strong_ref(reply.get("parent")) if reply else None
        langs = record.get("langs")
        source = profile or author
        raw: dict[str, Any] = {
            "uri": uri,
            "cid": cid,
            "author": {"did": did, "handle": str(author.get("handle") or "")},
            "record": dict(record),
            "indexedAt": indexed_at,
        }
        if extra:
            raw.update({k: v for k, v in extra.items() if v is not None})
        return RemotePost(
            remote_id=uri,
            author=RemoteAuthor(
                remote_id=did,
                handle=str(author.get("handle") or did),
                name=str(source.get("displayName") or ""),
                followers=_int(profile.get("followersCount")) if profile else None,
                is_bot=_has_label(source, "bot"),
            ),
            text=str(record.get("text") or ""),
            created_at=created,
            conversation_key=root["uri"] if root else uri,
            parent_remote_id=parent["uri"] if parent else None,
            url=post_url(_handle_for_url(author), uri),
            lang=str(langs[0]) if isinstance(langs, list) and langs else None,
            kind="own_reply" if did and did == own_did else "mention",
            raw=raw,
        )

    async def fetch_conversation(self, target: ReplyTarget) -> tuple[RemotePost, ...]:
        """The post being answered with its ancestors and the replies under it, oldest first.

        We ask for the thread of the target (not the root): its parents up to the root are always
        there, whereas a deep target could fall below the depth limit of the root's tree and look
        deleted. Answers from someone else are replies to the target, so they are in view.
        """
        session = await self._current()
        params: list[tuple[str, str | int]] = [("uri", target.remote_id), ("depth", 6), ("parentHeight", 80)]
        try:
            data = await self._call("GET", "app.bsky.feed.getPostThread", params=params)
        except Rejected as exc:
            if "NotFound" in exc.message:
                return ()
            raise
        posts: dict[str, RemotePost] = {}
        self._flatten(data.get("thread"), session.did, posts, up=True, down=True)
        return tuple(sorted(posts.values(), key=lambda p: (p.created_at, p.remote_id)))

    def _flatten(self, node: Any, own: str, out: dict[str, RemotePost], *, up: bool, down: bool) -> None:
        if not isinstance(node, Mapping) or not isinstance(node.get("post"), Mapping):
            return  # notFoundPost / blockedPost: nothing we can show
        view = node["post"]
        uri = str(view.get("uri") or "")
        if uri and uri not in out:
            out[uri] = self._remote_post(
                uri=uri,
                cid=str(view.get("cid") or ""),
                author=view.get("author") or {},
                record=view.get("record") or {},
                indexed_at=view.get("indexedAt"),
                own_did=own,
            )
        if up:
            self._flatten(node.get("parent"), own, out, up=True, down=False)
        if down:
            for child in node.get("replies") or ():
                self._flatten(child, own, out, up=False, down=True)

    async def prepare_reply(self, target: ReplyTarget, text: str) -> None:
        """Resolve the @handles of a reply that the thread does not name (``resolveHandle``), for its facets.

        Called before ``freeze_reply``. A handle that does not resolve stays plain text in the reply. When
        the network cannot be asked now (offline, rate limited, signed out) the reply is still queued, with
        the handle as plain text, and the handle is asked again for the next reply.
        """
        known = {h.lower() for h in _known_dids(target.raw)}
        wanted = [h for h in mentioned_handles(text) if h not in known and h not in self._resolved]
        for handle in wanted[:MAX_RESOLVED]:
            try:
                data = await self._call("GET", "com.atproto.identity.resolveHandle", params=[("handle", handle)])
            except Rejected as exc:
                log.info("the Bluesky handle %s does not resolve: %s", handle, exc)
                self._resolved[handle] = None
                continue
            except NetworkError as exc:  # offline, rate limited, signed out: the reply is queued all the same
                log.info("cannot resolve the Bluesky handle %s now: %s", handle, exc)
                return
            did = str(data.get("did") or "")
            self._resolved[handle] = did if did.startswith("did:") else None

    def freeze_reply(self, target: ReplyTarget, text: str, client_key: str) -> dict[str, Any]:
        """The exact putRecord body every attempt sends: a TID rkey and createdAt fixed now.

        ``swapRecord: null`` makes the write create-only: an identical record at our rkey is a
        no-op success (a retry), a different one is refused instead of overwritten.
        """
        encoded = len(text.encode("utf-8"))
        if encoded > MAX_TEXT_BYTES:
            raise InvalidInput(f"The reply is {encoded} bytes long; Bluesky allows {MAX_TEXT_BYTES}.")
        raw = target.raw
        parent = _strong_ref(raw)
        if parent is None or parent["uri"] != target.remote_id:
            raise InvalidInput(
                "This post cannot be answered on Bluesky: its content id is unknown (sync the account again)."
            )
        reply_in = _mapping(_mapping(raw.get("record")).get("reply"))
        root = _strong_ref(reply_in.get("root")) or parent
        session = self.session()
        now = self.clock()
        record: dict[str, Any] = {"$type": POST_COLLECTION, "text": text, "createdAt": at_datetime(now)}
        if self.reply_langs:
            record["langs"] = list(self.reply_langs)
        record["reply"] = {"root": root, "parent": parent}
        known = {h: d for h, d in self._resolved.items() if d}
        known.update(_known_dids(raw))  # the thread's own word wins
        facets = build_facets(text, known)
        if facets:
            record["facets"] = facets
        return {
            "repo": session.did,
            "collection": POST_COLLECTION,
            "rkey": self.tids.next(now),
            "record": record,
            "swapRecord": None,
        }

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        """Send the frozen body with putRecord; a repeat of a record already there is a no-op on the PDS."""
        session = await self._current()
        if payload.get("repo") != session.did:
            raise Rejected(f"This reply was queued for another Bluesky account ({payload.get('repo')}).")
        data = await self._call("POST", "com.atproto.repo.putRecord", body=payload, write=True)
        uri = str(data.get("uri") or f"at://{session.did}/{POST_COLLECTION}/{payload['rkey']}")
        return SentReply(uri, post_url(session.handle or session.did, uri))

    async def find_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply | None:
        """Read our record key back; the reply is there only if the record holds our text and parent."""
        session = await self._current()
        params: list[tuple[str, str | int]] = [
            ("repo", str(payload["repo"])),
            ("collection", str(payload.get("collection") or POST_COLLECTION)),
            ("rkey", str(payload["rkey"])),
        ]
        try:
            data = await self._call("GET", "com.atproto.repo.getRecord", params=params)
        except Rejected as exc:
            if "RecordNotFound" in exc.message or "Could not locate record" in exc.message:
                return None
            raise
        except (Offline, AuthExpired, RateLimited):
            raise
        except NetworkError as exc:
            # A failed read proves nothing either way: the item must stay unknown, not be re-sent.
            raise UnknownOutcome(str(exc), status=exc.status) from None
        value = _mapping(data.get("value"))
        ours = _mapping(payload.get("record"))
        if value.get("text") != ours.get("text") or _parent_uri(value) != _parent_uri(ours):
            log.warning("a different record sits at our rkey %s", payload["rkey"])
            return None
        uri = str(data.get("uri") or f"at://{payload['repo']}/{POST_COLLECTION}/{payload['rkey']}")
        return SentReply(uri, post_url(session.handle or session.did, uri))

    def text_length(self, text: str) -> int:
        """Graphemes, as the post lexicon's maxGraphemes counts them."""
        return bluesky_length(text)

    def text_limit(self) -> int:
        """300 graphemes."""
        return TEXT_LIMIT

    def rate_limit(self) -> RateLimitState | None:
        """The ratelimit-* headers of the last answer."""
        return self._rate

    async def aclose(self) -> None:
        """Close the HTTP client if we made it."""
        if self._own_client:
            await self.client.aclose()


class _StaleToken(NetworkError):
    """The access token was refused as expired or invalid (a refresh may cure it)."""


def _why(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _reset_at(headers: httpx.Headers, now: datetime | None) -> datetime | None:
    """``ratelimit-reset`` is epoch seconds on Bluesky; ``Retry-After`` (seconds) is the fallback."""
    reset = _int(headers.get("ratelimit-reset"))
    if reset is not None:
        return datetime.fromtimestamp(reset, UTC)
    retry = _int(headers.get("retry-after"))
    if retry is not None and now is not None:
        return now + timedelta(seconds=retry)
    return None


def _is_post(record: Any) -> bool:
    return isinstance(record, Mapping) and record.get("$type", POST_COLLECTION) == POST_COLLECTION


def _has_label(view: Mapping[str, Any], value: str) -> bool:
    labels = view.get("labels")
    return isinstance(labels, list) and any(isinstance(lab, Mapping) and lab.get("val") == value for lab in labels)


def _parent_uri(record: Mapping[str, Any]) -> str | None:
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, Mapping) else None
    return str(parent.get("uri")) if isinstance(parent, Mapping) else None


def _known_dids(raw: Mapping[str, Any]) -> dict[str, str]:
    """Handle -> DID pairs the post being answered tells us: its author and the accounts it mentions."""
    known: dict[str, str] = {}
    author = raw.get("author")
    if isinstance(author, Mapping) and author.get("handle") and author.get("did"):
        known[str(author["handle"])] = str(author["did"])
    record = raw.get("record")
    if not isinstance(record, Mapping):
        return known
    encoded = str(record.get("text") or "").encode("utf-8")
    for facet in record.get("facets") or ():
        if not isinstance(facet, Mapping):
            continue
        index = facet.get("index") or {}
        for feature in facet.get("features") or ():
            if not isinstance(feature, Mapping) or feature.get("$type") != "app.bsky.richtext.facet#mention":
                continue
            try:
                label = encoded[int(index["byteStart"]) : int(index["byteEnd"])].decode("utf-8")
            except (KeyError, TypeError, ValueError, UnicodeDecodeError):
                continue
            if label.startswith("@") and feature.get("did"):
                known[label[1:]] = str(feature["did"])
    return known
