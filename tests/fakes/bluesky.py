"""A fake Bluesky PDS (with the AppView reads it proxies) speaking the XRPC wire format of the lexicons.

Written from bluesky-social/atproto ``lexicons/`` and the PDS's error behaviour:

* ``com.atproto.server.createSession`` / ``refreshSession`` / ``getSession``: JWT-shaped tokens
  carrying ``exp``; refresh tokens are single-use; a wrong password is 401 ``AuthenticationRequired``
  "Invalid identifier or password"; an expired access token is 400 ``ExpiredToken``, an unknown one
  400 ``InvalidToken``, a missing one 401 ``AuthMissing``.
* ``app.bsky.notification.listNotifications``: newest first, ``reasons`` filter, ``limit`` 1..100,
  an opaque cursor of the last item's sort key; switches for short pages, empty pages that still carry
  a cursor, filtering after paging (``sparse``), and a cursor left on the last page.
* ``app.bsky.actor.getProfiles`` (at most 25), ``app.bsky.feed.getPostThread`` (``NotFound``),
  ``app.bsky.feed.getPosts`` (at most 25), ``com.atproto.identity.resolveHandle``.
* ``com.atproto.repo.putRecord``: a TID rkey, record validation (300 graphemes, 3000 bytes), a no-op
  success when the same record is already there, ``InvalidSwap`` for a different one under
  ``swapRecord: null``; ``com.atproto.repo.getRecord`` with ``RecordNotFound``.
* ``RateLimit-Limit/Remaining/Reset/Policy`` on every answer (reset in epoch seconds), 429
  ``RateLimitExceeded`` with ``Retry-After``; other errors as ``{"error": ..., "message": ...}``.

Use it as an ``httpx.MockTransport`` (``fake.transport()``) or as a real HTTP server on 127.0.0.1
(``fake.start()``, ``fake.url``, ``fake.stop()``). Everything it holds is plain attributes.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import regex

POST = "app.bsky.feed.post"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_GRAPHEME = regex.compile(r"\X")


class _Drop(Exception):
    """The answer is lost: the connection closes without a response (the request may have been done)."""


class XrpcError(Exception):
    """An XRPC error answer."""

    def __init__(self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = dict(headers or {})


@dataclass
class User:
    did: str
    handle: str
    display_name: str = ""
    followers: int = 0
    labels: list[str] = field(default_factory=list)

    def basic(self) -> dict[str, Any]:
        view: dict[str, Any] = {"did": self.did, "handle": self.handle}
        if self.display_name:
            view["displayName"] = self.display_name
        view["labels"] = [
            {"src": self.did, "uri": f"at://{self.did}/app.bsky.actor.profile/self", "val": v, "cts": _iso(0)}
            for v in self.labels
        ]
        return view

    def detailed(self) -> dict[str, Any]:
        view = self.basic()
        view.update({"followersCount": self.followers, "followsCount": 10, "postsCount": 42})
        return view


@dataclass
class StoredPost:
    uri: str
    cid: str
    did: str
    record: dict[str, Any]
    indexed_at: float
    deleted: bool = False


@dataclass
class Note:
    seq: int
    uri: str
    cid: str
    author: str
    reason: str
    record: dict[str, Any]
    indexed_at: float
    reason_subject: str | None = None

    @property
    def key(self) -> tuple[float, int]:
        return (self.indexed_at, self.seq)


def _iso(epoch: float) -> str:
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cid_for(record: Mapping[str, Any]) -> str:
    """A CID-shaped content hash: equal records (in any key order) get equal CIDs, as DAG-CBOR does."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "bafyrei" + base64.b32encode(hashlib.sha256(canonical).digest()).decode().lower().rstrip("=")


def did_for(handle: str) -> str:
    digest = base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode().lower()
    return f"did:plc:{digest[:24]}"


class FakePDS:
    """A PDS with one signed-in brand account and a small community around it."""

    def __init__(
        self,
        *,
        handle: str = "acme.test",
        password: str = "abcd-efgh-ijkl-mnop",
        display_name: str = "Acme Support",
        access_ttl: float = 7200.0,
        refresh_ttl: float = 90 * 86400.0,
        rate_limit: int = 3000,
        rate_window: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.me = User(did_for(handle), handle, display_name, 1200)
        self.password = password
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._clock = clock
        self.offset = 0.0
        self.users: dict[str, User] = {self.me.did: self.me}
        self.posts: dict[str, StoredPost] = {}
        self.notes: list[Note] = []
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.refresh_tokens: dict[str, tuple[str, float]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []  # (nsid, query string)
        self.bodies: list[tuple[str, bytes]] = []  # (nsid, body) of every POST
        self.writes = 0  # commits actually made by putRecord
        self.written: list[str] = []  # URIs created through putRecord, in order
        self.tick = 0.01  # seconds the clock moves per added post, so every post has its own millisecond
        # Switches.
        self.page_cap: int | None = None  # answer at most this many per page (short pages), cursor kept
        self.empty_pages = 0  # empty pages (with a cursor) served before each real page
        self.sparse = False  # page the unfiltered list, then filter reasons (short and empty pages)
        self.trailing_cursor = False  # leave a cursor on the last page; the next page is empty without one
        self.put_faults: deque[str] = deque()  # "drop-before", "drop-after", "500-before", "500-after"
        self.force_429 = 0  # the next N requests are answered 429
        self.offline = False  # MockTransport only: connections are refused
        self._seq = itertools.count(1)
        self._tid_micros = 0
        self._window_start = 0
        self._used = 0
        self._lock = threading.RLock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    # -- clock -------------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock (tokens expire, rate windows roll over)."""
        self.offset += seconds

    # -- building the world ------------------------------------------------------------------------

    def add_user(self, handle: str, display_name: str = "", followers: int = 0, labels: Iterable[str] = ()) -> str:
        user = User(did_for(handle), handle, display_name, followers, list(labels))
        self.users[user.did] = user
        return user.did

    def _user(self, who: str) -> User:
        if who in self.users:
            return self.users[who]
        for u in self.users.values():
            if u.handle.lower() == who.lower().lstrip("@"):
                return u
        raise KeyError(who)

    def _tid(self) -> str:
        micros = max(int(self.now() * 1_000_000), self._tid_micros + 1)
        self._tid_micros = micros
        value = (micros << 10) | 7
        alphabet = "234567abcdefghijklmnopqrstuvwxyz"
        return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    def add_post(
        self,
        author: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        langs: list[str] | None = None,
        notify: bool = True,
        created_at: str | None = None,
    ) -> str:
        """A post by ``author`` (handle or DID); mentions of known handles get facets with their DIDs.

        Unless ``notify`` is false, the brand account is notified: ``reply`` when it answers one of
        ours, ``quote`` when it quotes one of ours, else ``mention``.
        """
        with self._lock:
            self.offset += self.tick
            user = self._user(author)
            rkey = self._tid()
            uri = f"at://{user.did}/{POST}/{rkey}"
            record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": created_at or _iso(self.now())}
            if langs:
                record["langs"] = langs
            facets = self._mention_facets(text)
            if facets:
                record["facets"] = facets
            if reply_to:
                parent = self.posts[reply_to]
                root_ref = parent.record.get("reply", {}).get("root") or {"uri": parent.uri, "cid": parent.cid}
                record["reply"] = {"root": dict(root_ref), "parent": {"uri": parent.uri, "cid": parent.cid}}
            if quote:
                q = self.posts[quote]
                record["embed"] = {"$type": "app.bsky.embed.record", "record": {"uri": q.uri, "cid": q.cid}}
            cid = cid_for(record)
            self.posts[uri] = StoredPost(uri, cid, user.did, record, self.now())
            if notify and user.did != self.me.did:
                reason = "mention"
                subject = None
                if reply_to and self.posts[reply_to].did == self.me.did:
                    reason, subject = "reply", reply_to
                elif quote and self.posts[quote].did == self.me.did:
                    reason, subject = "quote", quote
                self._notify(uri, cid, user.did, reason, record, subject)
            return uri

    def add_noise(self, author: str, reason: str = "like") -> None:
        """A notification that is not a mention (like, repost, follow)."""
        with self._lock:
            self.offset += self.tick
            user = self._user(author)
            collection = {"like": "app.bsky.feed.like", "repost": "app.bsky.feed.repost"}.get(
                reason, "app.bsky.graph.follow"
            )
            uri = f"at://{user.did}/{collection}/{self._tid()}"
            record = {"$type": collection, "createdAt": _iso(self.now())}
            self._notify(uri, cid_for(record), user.did, reason, record, None)

    def _notify(
        self, uri: str, cid: str, author: str, reason: str, record: dict[str, Any], subject: str | None
    ) -> None:
        self.notes.append(Note(next(self._seq), uri, cid, author, reason, record, self.now(), subject))

    def delete_post(self, uri: str) -> None:
        with self._lock:
            self.posts[uri].deleted = True

    def _mention_facets(self, text: str) -> list[dict[str, Any]]:
        out = []
        for m in re.finditer(r"(?:^|(?<=\s))@([a-zA-Z0-9.-]+[a-zA-Z0-9])", text):
            try:
                user = self._user(m.group(1))
            except KeyError:
                continue
            start = len(text[: m.start()].encode())
            end = len(text[: m.end()].encode())
            out.append(
                {
                    "index": {"byteStart": start, "byteEnd": end},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": user.did}],
                }
            )
        return out

    # -- inspection --------------------------------------------------------------------------------

    @property
    def posted(self) -> list[dict[str, Any]]:
        """Records written through putRecord (oldest first)."""
        with self._lock:
            mine = [self.posts[u] for u in self.written if not self.posts[u].deleted]
            return [{"uri": p.uri, "cid": p.cid, "rkey": p.uri.rsplit("/", 1)[-1], "record": p.record} for p in mine]

    def revoke_all(self) -> None:
        """The app password was revoked: every token stops working."""
        with self._lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    # -- transports --------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport entry point: a lost answer becomes a read timeout, offline a refused connect."""
        if self.offline:
            raise httpx.ConnectError("connection refused", request=request)
        try:
            return self.respond(request)
        except _Drop:
            raise httpx.ReadTimeout("the fake PDS dropped the answer", request=request) from None

    __call__ = handler

    def start(self) -> FakePDS:
        """Serve on 127.0.0.1 on a free port in a background thread."""
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in ("host", "content-length")]
                request = httpx.Request(self.command, f"{fake.url}{self.path}", headers=headers, content=body)
                try:
                    response = fake.respond(request)
                except _Drop:
                    self.close_connection = True
                    return
                payload = response.content
                self.send_response(response.status_code)
                for k, v in response.headers.items():
                    if k.lower() not in ("content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._serve_thread = threading.Thread(target=self._server.serve_forever, name="fake-pds", daemon=True)
        self._serve_thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            return "http://pds.test"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePDS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------------------------

    def respond(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        nsid = path[len("/xrpc/") :] if path.startswith("/xrpc/") else ""
        with self._lock:
            self.calls[nsid] += 1
            self.requests.append((nsid, request.url.query.decode()))
            if request.method == "POST":
                self.bodies.append((nsid, bytes(request.content)))
            headers = self._rate_headers()
            try:
                if self.force_429 > 0 or self._used > self.rate_limit:
                    self.force_429 = max(0, self.force_429 - 1)
                    retry = max(1, int(self._window_start + self.rate_window - self.now()))
                    raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", {"Retry-After": str(retry)})
                route = _ROUTES.get(nsid)
                if route is None:
                    raise XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
                verb, fn = route
                if request.method != verb:
                    raise XrpcError(400, "InvalidRequest", f"Incorrect HTTP method ({request.method}) expected {verb}")
                result = fn(self, request)
            except XrpcError as exc:
                headers.update(exc.headers)
                return httpx.Response(
                    exc.status,
                    json={"error": exc.error, "message": exc.message},
                    headers=headers,
                )
            return httpx.Response(200, json=result, headers=headers)

    def _rate_headers(self) -> dict[str, str]:
        now = self.now()
        if now >= self._window_start + self.rate_window:
            self._window_start = int(now)
            self._used = 0
        self._used += 1
        reset = self._window_start + self.rate_window
        return {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(0, self.rate_limit - self._used)),
            "RateLimit-Reset": str(int(reset)),
            "RateLimit-Policy": f"{self.rate_limit};w={self.rate_window}",
        }

    # -- auth --------------------------------------------------------------------------------------

    def _jwt(self, did: str, kind: str, ttl: float) -> tuple[str, float]:
        now = self.now()
        exp = now + ttl
        header = {"typ": "at+jwt" if kind == "access" else "refresh+jwt", "alg": "HS256"}
        scope = "com.atproto.appPass" if kind == "access" else "com.atproto.refresh"
        claims = {"scope": scope, "sub": did, "aud": "did:web:pds.test", "iat": int(now), "exp": int(exp)}
        claims["jti"] = secrets.token_hex(8)
        token = ".".join(
            [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(secrets.token_bytes(16))]
        )
        return token, exp

    def _issue(self, did: str) -> dict[str, Any]:
        access, a_exp = self._jwt(did, "access", self.access_ttl)
        refresh, r_exp = self._jwt(did, "refresh", self.refresh_ttl)
        self.access_tokens[access] = (did, a_exp)
        self.refresh_tokens[refresh] = (did, r_exp)
        user = self.users[did]
        return {"accessJwt": access, "refreshJwt": refresh, "handle": user.handle, "did": did, "active": True}

    def _bearer(self, request: httpx.Request) -> str:
        value = request.headers.get("authorization", "")
        if not value.lower().startswith("bearer ") or not value[7:].strip():
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        return value[7:].strip()

    def _auth(self, request: httpx.Request) -> str:
        token = self._bearer(request)
        if token in self.refresh_tokens:
            raise XrpcError(400, "InvalidToken", "Bad token scope")
        found = self.access_tokens.get(token)
        if found is None:
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        did, exp = found
        if self.now() >= exp:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return did

    # -- handlers ----------------------------------------------------------------------------------

    def create_session(self, request: httpx.Request) -> dict[str, Any]:
        body = _json_body(request)
        identifier = str(body.get("identifier") or "")
        password = body.get("password")
        if not identifier or not isinstance(password, str):
            raise XrpcError(400, "InvalidRequest", 'Input must have the property "identifier" and "password"')
        ident = identifier.lower()
        if ident not in (self.me.did, self.me.handle.lower()) or password != self.password:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._issue(self.me.did)

    def refresh_session(self, request: httpx.Request) -> dict[str, Any]:
        token = self._bearer(request)
        if token in self.access_tokens:
            raise XrpcError(400, "InvalidToken", "Bad token scope")
        found = self.refresh_tokens.pop(token, None)  # single use
        if found is None:
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        did, exp = found
        if self.now() >= exp:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return self._issue(did)

    def get_session(self, request: httpx.Request) -> dict[str, Any]:
        did = self._auth(request)
        return {"handle": self.users[did].handle, "did": did, "active": True}

    def resolve_handle(self, request: httpx.Request) -> dict[str, Any]:
        handle = request.url.params.get("handle", "")
        try:
            return {"did": self._user(handle).did}
        except KeyError:
            raise XrpcError(400, "HandleNotFound", f"Unable to resolve handle: {handle}") from None

    def list_notifications(self, request: httpx.Request) -> dict[str, Any]:
        self._auth(request)
        params = request.url.params
        limit = _int_param(params, "limit", 50, 1, 100)
        reasons = set(params.get_list("reasons"))
        cursor = params.get("cursor")
        if cursor and cursor.startswith("empty:"):
            _, left, cursor = cursor.split(":", 2)
            if int(left) > 0:
                return {"notifications": [], "cursor": f"empty:{int(left) - 1}:{cursor}"}
        elif self.empty_pages:
            return {"notifications": [], "cursor": f"empty:{self.empty_pages - 1}:{cursor or ''}"}
        if cursor == "end":
            return {"notifications": []}
        after: tuple[float, int] | None = None
        if cursor:
            at, _, seq = cursor.partition("::")
            try:
                after = (float(at), int(seq))
            except ValueError:
                raise XrpcError(400, "InvalidRequest", "Malformed cursor") from None
        ordered = sorted(self.notes, key=lambda n: n.key, reverse=True)
        older = [n for n in ordered if after is None or n.key < after]

        def wanted(n: Note) -> bool:
            return not reasons or n.reason in reasons

        size = min(limit, self.page_cap or limit)
        if self.sparse:
            window = older[:size]
            page = [n for n in window if wanted(n)]
            rest = older[size:]
        else:
            matching = [n for n in older if wanted(n)]
            window = page = matching[:size]
            rest = matching[size:]
        out: dict[str, Any] = {"notifications": [self._note_view(n) for n in page]}
        if window:
            last = window[-1]
            if rest:
                out["cursor"] = f"{last.indexed_at!r}::{last.seq}"
            elif self.trailing_cursor:
                out["cursor"] = "end"
        return out

    def _note_view(self, n: Note) -> dict[str, Any]:
        view: dict[str, Any] = {
            "uri": n.uri,
            "cid": n.cid,
            "author": self.users[n.author].basic(),
            "reason": n.reason,
            "record": n.record,
            "isRead": False,
            "indexedAt": _iso(n.indexed_at),
            "labels": [],
        }
        if n.reason_subject:
            view["reasonSubject"] = n.reason_subject
        return view

    def get_profiles(self, request: httpx.Request) -> dict[str, Any]:
        self._auth(request)
        actors = request.url.params.get_list("actors")
        if not actors:
            raise XrpcError(400, "InvalidRequest", 'Error: Params must have the property "actors"')
        if len(actors) > 25:
            raise XrpcError(400, "InvalidRequest", "Error: actors must not have more than 25 elements")
        profiles = []
        for a in actors:
            try:
                profiles.append(self._user(a).detailed())
            except KeyError:
                continue
        return {"profiles": profiles}

    def _post_view(self, p: StoredPost) -> dict[str, Any]:
        replies = sum(1 for q in self.posts.values() if _parent_uri(q.record) == p.uri and not q.deleted)
        return {
            "uri": p.uri,
            "cid": p.cid,
            "author": self.users[p.did].basic(),
            "record": p.record,
            "replyCount": replies,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": _iso(p.indexed_at),
            "viewer": {},
            "labels": [],
        }

    def _thread(self, uri: str, depth: int, height: int, *, up: bool, down: bool) -> dict[str, Any]:
        p = self.posts.get(uri)
        if p is None or p.deleted:
            return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}
        node: dict[str, Any] = {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._post_view(p)}
        parent = _parent_uri(p.record)
        if up and parent and height > 0:
            node["parent"] = self._thread(parent, 0, height - 1, up=True, down=False)
        if down and depth > 0:
            children = sorted(
                (q for q in self.posts.values() if _parent_uri(q.record) == uri and not q.deleted),
                key=lambda q: q.indexed_at,
            )
            node["replies"] = [self._thread(c.uri, depth - 1, 0, up=False, down=True) for c in children]
        return node

    def get_post_thread(self, request: httpx.Request) -> dict[str, Any]:
        self._auth(request)
        params = request.url.params
        uri = params.get("uri", "")
        depth = _int_param(params, "depth", 6, 0, 1000)
        height = _int_param(params, "parentHeight", 80, 0, 1000)
        p = self.posts.get(uri)
        if p is None or p.deleted:
            raise XrpcError(400, "NotFound", f"Post not found: {uri}")
        return {"thread": self._thread(uri, depth, height, up=True, down=True)}

    def get_posts(self, request: httpx.Request) -> dict[str, Any]:
        self._auth(request)
        uris = request.url.params.get_list("uris")
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "Error: uris must not have more than 25 elements")
        return {
            "posts": [self._post_view(self.posts[u]) for u in uris if u in self.posts and not self.posts[u].deleted]
        }

    def put_record(self, request: httpx.Request) -> dict[str, Any]:
        did = self._auth(request)
        body = _json_body(request)
        for key in ("repo", "collection", "rkey", "record"):
            if key not in body:
                raise XrpcError(400, "InvalidRequest", f'Input must have the property "{key}"')
        repo = str(body["repo"])
        if repo not in (did, self.users[did].handle):
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        collection, rkey, record = str(body["collection"]), str(body["rkey"]), body["record"]
        if collection != POST:
            raise XrpcError(400, "InvalidRequest", f"This fake PDS only stores {POST} records")
        if not TID_RE.match(rkey):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key for {POST}: {rkey}")
        _validate_post(record)
        fault = self.put_faults.popleft() if self.put_faults else None
        if fault == "drop-before":
            raise _Drop()
        if fault == "500-before":
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        uri = f"at://{did}/{collection}/{rkey}"
        cid = cid_for(record)
        current = self.posts.get(uri)
        if current is not None and not current.deleted and current.cid == cid:
            result: dict[str, Any] = {"uri": uri, "cid": cid, "validationStatus": "valid"}  # no-op: no commit
        else:
            if current is not None and not current.deleted and "swapRecord" in body:
                swap = body["swapRecord"]
                if swap is None or swap != current.cid:
                    raise XrpcError(400, "InvalidSwap", f"Record was at {current.cid}")
            self.posts[uri] = StoredPost(uri, cid, did, record, self.now())
            self.writes += 1
            if uri not in self.written:
                self.written.append(uri)
            rev = self._tid()
            result = {"uri": uri, "cid": cid, "commit": {"cid": cid_for({"rev": rev}), "rev": rev}}
            result["validationStatus"] = "valid"
        if fault == "drop-after":
            raise _Drop()
        if fault == "500-after":
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        return result

    def get_record(self, request: httpx.Request) -> dict[str, Any]:
        params = request.url.params
        repo, collection, rkey = params.get("repo", ""), params.get("collection", ""), params.get("rkey", "")
        try:
            did = self._user(repo).did
        except KeyError:
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}") from None
        uri = f"at://{did}/{collection}/{rkey}"
        p = self.posts.get(uri)
        if p is None or p.deleted:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": uri, "cid": p.cid, "value": p.record}


def _parent_uri(record: Mapping[str, Any]) -> str | None:
    reply = record.get("reply")
    return reply.get("parent", {}).get("uri") if isinstance(reply, dict) else None


def _json_body(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        raise XrpcError(400, "InvalidRequest", "Request body is not JSON") from None
    if not isinstance(body, dict):
        raise XrpcError(400, "InvalidRequest", "Request body must be an object")
    return body


def _int_param(params: httpx.QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise XrpcError(400, "InvalidRequest", f"Error: {name} must be an integer") from None
    if not low <= value <= high:
        raise XrpcError(400, "InvalidRequest", f"Error: {name} must be between {low} and {high}")
    return value


def _validate_post(record: Any) -> None:
    def bad(why: str) -> XrpcError:
        return XrpcError(400, "InvalidRequest", f"Invalid {POST} record: {why}")

    if not isinstance(record, dict):
        raise bad("Record must be an object")
    if record.get("$type") != POST:
        raise XrpcError(400, "InvalidRequest", f"Invalid $type: expected {POST}, got {record.get('$type')}")
    text = record.get("text")
    if not isinstance(text, str):
        raise bad('Record must have the property "text"')
    if len(text.encode()) > 3000:
        raise bad("Record/text must not be longer than 3000 characters")
    if len(_GRAPHEME.findall(text)) > 300:
        raise bad("Record/text must not be longer than 300 graphemes")
    if not isinstance(record.get("createdAt"), str):
        raise bad('Record must have the property "createdAt"')
    reply = record.get("reply")
    if reply is not None:
        for part in ("root", "parent"):
            ref = reply.get(part) if isinstance(reply, dict) else None
            if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str) or not isinstance(ref.get("cid"), str):
                raise bad(f'Record/reply/{part} must have the properties "uri" and "cid"')
    size = len(text.encode())
    for facet in record.get("facets") or ():
        index = facet.get("index") or {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
            raise bad("Record/facets/index is out of range")


_Handler = Callable[[FakePDS, httpx.Request], dict[str, Any]]
_ROUTES: dict[str, tuple[str, _Handler]] = {
    "com.atproto.server.createSession": ("POST", FakePDS.create_session),
    "com.atproto.server.refreshSession": ("POST", FakePDS.refresh_session),
    "com.atproto.server.getSession": ("GET", FakePDS.get_session),
    "com.atproto.identity.resolveHandle": ("GET", FakePDS.resolve_handle),
    "app.bsky.notification.listNotifications": ("GET", FakePDS.list_notifications),
    "app.bsky.actor.getProfiles": ("GET", FakePDS.get_profiles),
    "app.bsky.feed.getPostThread": ("GET", FakePDS.get_post_thread),
    "app.bsky.feed.getPosts": ("GET", FakePDS.get_posts),
    "com.atproto.repo.putRecord": ("POST", FakePDS.put_record),
    "com.atproto.repo.getRecord": ("GET", FakePDS.get_record),
}
