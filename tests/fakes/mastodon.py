"""A fake Mastodon server speaking the documented REST wire format, for unit and end-to-end tests.

Written from mastodon/documentation ``content/en/methods/{accounts,statuses,notifications,instance}.md``,
``content/en/api/{guidelines,rate-limits}.md``, ``content/en/entities/{Status,Account,Notification}.md``
and the server's behaviour noted in ``/work/shared/platform-apis.md``:

* ``GET /api/v1/accounts/verify_credentials`` (CredentialAccount), ``GET /api/v2/instance`` (and v1).
* ``GET /api/v1/notifications`` with ``types[]``/``exclude_types[]``, ``max_id``/``since_id``/``min_id``
  (``min_id`` pages forward: the results immediately newer), ``limit`` (40, at most 80) and a ``Link``
  header with ``rel="next"`` (max_id) and ``rel="prev"`` (min_id). Answers are newest first. Switches:
  ``ignore_min_id`` (servers before 2.6 answer the newest page instead) and ``lookup_ids`` (a server that
  looks a paging id up answers 404 for one it no longer holds, e.g. a notification purged with its status).
* ``GET /api/v1/statuses/:id``, ``GET /api/v1/statuses/:id/context``, ``DELETE /api/v1/statuses/:id``.
* ``POST /api/v1/statuses`` (JSON or form) with ``Idempotency-Key``: a repeat within an hour answers the
  first status, whatever the body (switch ``honour_idempotency`` off to imitate servers that ignore it);
  a repeat while the first is still in flight gets 503; 422 for a blank or too long text; 404 when the
  post being answered does not exist.
* ``GET /api/v1/accounts/:id/statuses`` (20, at most 40; others' private and direct ones only if mentioned).
* ``X-RateLimit-Limit/Remaining/Reset`` on every authenticated answer (reset as ISO 8601, or epoch
  seconds like GoToSocial), 429 ``{"error": "Too many requests"}`` when the budget is spent; 401
  ``{"error": "The access token is invalid"}`` for a missing or wrong token.
* Status ``content`` is HTML as Mastodon makes it: ``<p>``, ``<br />``, mention links
  ``<a class="u-url mention">``, links with ``invisible``/``ellipsis`` spans, hashtag links.

Use it as an ``httpx.MockTransport`` (``fake.transport()``) or as a real HTTP server on 127.0.0.1
(``fake.start()``, ``fake.url``, ``fake.stop()``), or as a program whose state survives a restart::

    python -m tests.fakes.mastodon --port 8080 --state /tmp/masto.json [--ignore-idempotency] [--seed 5]

OAuth (``content/en/methods/{apps,oauth}.md``, ``content/en/spec/oauth.md``): ``POST /api/v1/apps`` (form or JSON;
``redirect_uris`` as an array, or one string with several URIs separated by newlines as before 4.3),
``GET /.well-known/oauth-authorization-server`` (404 with ``oauth_metadata = False``, like servers before 4.3, which
also ignore the PKCE parameters), ``GET /oauth/authorize`` (an HTML page; add ``_fake_approve=1`` to approve at
once: a 302 to ``redirect_uri?code=...&state=...``, or for ``urn:ietf:wg:oauth:2.0:oob`` a page showing the code
in ``<code id="code">``; ``_fake_deny=1`` redirects with ``error=access_denied``; ``_fake_account=USER`` signs in
as another local account) and ``POST /oauth/token`` (``authorization_code`` only; client_secret_post or basic;
``code_verifier`` checked against the S256 challenge; codes are single-use and live 10 minutes).

Streaming (``content/en/methods/streaming.md``, served over real HTTP only): ``GET /api/v1/streaming/user/notification``
and ``GET /api/v1/streaming/user`` answer ``text/event-stream`` in chunks: ``event: notification`` / ``data: <JSON>``
for every new notification of the token's account, ``:thump`` heartbeats every ``stream_heartbeat`` seconds;
``heartbeat()``, ``push_raw(text)``, ``drop_streams()`` (the connection breaks) and ``end_streams()`` (a clean end)
drive it. ``configuration.urls.streaming`` in ``/api/v2/instance`` is ``streaming_url`` or the server itself.
``start_websocket()`` adds the WebSocket API (``/api/v1/streaming?stream=user:notification``, messages
``{"stream", "event", "payload"}`` with the payload JSON in a string) on a host of its own that has no event stream.

Test-only endpoints (no token, no rate limit): ``GET /_fake/posted``, ``GET /_fake/attempts``,
``GET /_fake/statuses?account=ACCT``, ``POST /_fake/mention`` ``{"author", "text", "in_reply_to"}``,
``POST /_fake/config`` ``{"honour_idempotency", "rate_limit", "rate_window", "post_delay", "ignore_min_id",
"lookup_ids"}``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.utils
import hashlib
import hmac
import html
import http.server
import json
import os
import queue
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import regex

IDEMPOTENCY_TTL = 3600.0
_GRAPHEME = regex.compile(r"\X")
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_MENTION = re.compile(r"(?<![\w/@])@([A-Za-z0-9_]+)(?:@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+))?")
_TAG = re.compile(r"(?<![\w/&#])#([^\W_]\w*)")
_TOKEN = re.compile(f"(?P<url>{_URL.pattern})|(?P<mention>{_MENTION.pattern})|(?P<tag>{_TAG.pattern})")


class _Drop(Exception):
    """The answer is lost: the connection closes without a response."""


@dataclass
class Fault:
    """A scripted failure for the next request(s) matching ``method`` and the ``path`` pattern.

    ``deliver=True`` handles the request first (the reply arrives) and then fails the answer.
    ``exc`` (an ``httpx`` exception class) is raised in transport mode; over real HTTP any ``exc``
    drops the connection without an answer.
    """

    method: str
    path: str
    status: int = 503
    body: Mapping[str, Any] | None = None
    deliver: bool = False
    exc: type[Exception] | None = None
    times: int = 1


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: A body that is not JSON (an HTML page), sent as it is.
    raw: bytes | None = None

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = 600.0
_STREAM_PATHS = ("/api/v1/streaming/user/notification", "/api/v1/streaming/user")
#: Queue markers: break the connection, or end the response cleanly.
_DROP = object()
_END = object()


@dataclass
class _Stream:
    """One open streaming connection: server-sent events, or a WebSocket (``websocket=True``)."""

    recipient: str
    host: str
    path: str
    queue: queue.Queue[Any] = field(default_factory=queue.Queue)
    websocket: bool = False


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _page(title: str, text: str, extra: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{extra}</body></html>"
    ).encode()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _key(ident: str) -> tuple[int, str]:
    return (len(ident), ident)


def _length(text: str) -> int:
    """Mastodon's StatusLengthValidator, written separately from the app's: URLs 23, remote domains free."""
    text = _URL.sub("x" * 23, text)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    return len(_GRAPHEME.findall(text))


class FakeMastodon:
    """An in-memory Mastodon server with one brand account and a token for it.

    Args:
        domain: The instance's domain (local accounts are ``@user@domain``).
        token: The brand account's access token.
        username: The brand account's username.
        state_path: A JSON file that keeps everything across restarts (written after each change).
        honour_idempotency: False imitates servers that ignore ``Idempotency-Key``.
        rate_limit: Requests per window per token.
        rate_window: The window in seconds.
        reset_format: ``"iso"`` (Mastodon) or ``"epoch"`` (GoToSocial-style) ``X-RateLimit-Reset``.
        max_characters: The instance's status limit.
        clock: The server's time.
    """

    def __init__(
        self,
        *,
        domain: str = "fake.social",
        token: str = "test-token",
        username: str = "acme",
        display_name: str = "Acme Support",
        state_path: Path | str | None = None,
        honour_idempotency: bool = True,
        rate_limit: int = 300,
        rate_window: float = 300.0,
        reset_format: str = "iso",
        max_characters: int = 500,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state_path = Path(state_path) if state_path else None
        self.honour_idempotency = honour_idempotency
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.reset_format = reset_format
        self.max_characters = max_characters
        self.post_delay = 0.0
        self.domain = domain
        self.accounts: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.idempotency: dict[str, list[Any]] = {}
        #: Every status created through ``POST /api/v1/statuses``, with its idempotency key.
        self.posted: list[dict[str, Any]] = []
        #: Every ``POST /api/v1/statuses`` and what came of it (created, replayed, refused...).
        self.attempts: list[dict[str, Any]] = []
        #: Every request: (method, path, query pairs, Idempotency-Key or None).
        self.requests: list[tuple[str, str, list[tuple[str, str]], str | None]] = []
        self.faults: list[Fault] = []
        self._next_status = 110_000_000_000_000_000
        # Notification ids cross from four to five digits early, so a client that orders them as plain
        # strings (or as numbers it should not assume) shows itself.
        self._next_notification = 9990
        self._next_account = 1
        self._rate: dict[str, list[float]] = {}
        self._in_flight: set[str] = set()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ws_server: Any = None
        self._ws_thread: threading.Thread | None = None
        #: OAuth apps by client_id (with their secret), issued codes, and every token handed out.
        self.apps: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.issued_tokens: list[str] = []
        #: False imitates servers before 4.3: no discovery document, PKCE parameters ignored.
        self.oauth_metadata = True
        #: True imitates servers before 2.6, which ignore ``min_id`` (the newest page comes back instead).
        self.ignore_min_id = False
        #: True imitates servers that look a paging id up instead of comparing it: an id they do not hold
        #: (a purged notification) is answered 404.
        self.lookup_ids = False
        #: ``configuration.urls.streaming`` (None: this server itself, as ws:// or wss://).
        self.streaming_url: str | None = None
        self.stream_heartbeat = 15.0
        self._streams: list[_Stream] = []
        self.stream_connects = 0
        self.brand_id = ""
        if self.state_path and self.state_path.exists():
            self._load()
        else:
            self.brand_id = self.add_account(username, display_name=display_name, followers=48_000)
            self.tokens[token] = self.brand_id
            self._save()

    # -- state --------------------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.state_path is not None
        doc = json.loads(self.state_path.read_text(encoding="utf-8"))
        self.domain = doc["domain"]
        self.brand_id = doc["brand_id"]
        self.accounts = doc["accounts"]
        self.tokens = doc["tokens"]
        self.statuses = doc["statuses"]
        self.notifications = doc["notifications"]
        self.idempotency = doc["idempotency"]
        self.posted = doc["posted"]
        self.attempts = doc["attempts"]
        self._next_status = doc["next_status"]
        self._next_notification = doc["next_notification"]
        self._next_account = doc["next_account"]

    def _save(self) -> None:
        if self.state_path is None:
            return
        doc = {
            "domain": self.domain,
            "brand_id": self.brand_id,
            "accounts": self.accounts,
            "tokens": self.tokens,
            "statuses": self.statuses,
            "notifications": self.notifications,
            "idempotency": self.idempotency,
            "posted": self.posted,
            "attempts": self.attempts,
            "next_status": self._next_status,
            "next_notification": self._next_notification,
            "next_account": self._next_account,
        }
        tmp = self.state_path.with_name(self.state_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        # Written before the answer goes out, so a killed server never forgets a reply it confirmed.
        os.replace(tmp, self.state_path)

    def _now(self) -> datetime:
        return self.clock()

    # -- helpers for tests ----------------------------------------------------------------------------

    def add_account(
        self,
        username: str,
        *,
        domain: str | None = None,
        display_name: str = "",
        followers: int = 0,
        bot: bool = False,
    ) -> str:
        """An account (local unless ``domain`` is another server's); returns its id."""
        with self.lock:
            domain = None if domain in (None, self.domain) else domain
            for acc in self.accounts.values():
                if acc["username"].lower() == username.lower() and acc["domain"] == domain:
                    return str(acc["id"])
            ident = str(self._next_account)
            self._next_account += 1
            self.accounts[ident] = {
                "id": ident,
                "username": username,
                "domain": domain,
                "display_name": display_name or username,
                "followers_count": followers,
                "bot": bot,
                "created_at": _iso(self._now() - timedelta(days=400)),
            }
            self._save()
            return ident

    def add_token(self, token: str, account: str) -> None:
        """Another valid token (for another local account)."""
        with self.lock:
            self.tokens[token] = self._account_id(account)
            self._save()

    def _account_id(self, who: str) -> str:
        """An account id from an id, ``user``, ``@user`` or ``user@domain`` (remote ones are created)."""
        if who in self.accounts:
            return who
        name, _, domain = who.lstrip("@").partition("@")
        return self.add_account(name, domain=domain or None)

    def acct(self, account_id: str) -> str:
        """The ``acct`` of an account as this server shows it (``user`` locally, ``user@domain`` remotely)."""
        acc = self.accounts[account_id]
        return f"{acc['username']}@{acc['domain']}" if acc["domain"] else str(acc["username"])

    def add_status(
        self,
        author: str,
        text: str,
        *,
        in_reply_to: str | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        language: str | None = "en",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A status by ``author`` (mentioned local accounts get a mention notification); returns its JSON."""
        with self.lock:
            status = self._create(self._account_id(author), text, in_reply_to, visibility, spoiler_text, language, at)
            self._save()
            return self._status_json(status)

    def add_mention(self, author: str = "maria@social.example", text: str = "", **kw: Any) -> dict[str, Any]:
        """A customer's status mentioning the brand (its ``@acct`` is put in front if the text lacks it)."""
        brand = f"@{self.accounts[self.brand_id]['username']}"
        if not re.search(re.escape(brand) + r"\b", text, re.I):
            text = f"{brand}@{self.domain} {text}".strip()
        return self.add_status(author, text, **kw)

    def add_notification(self, kind: str, source: str, status_id: str | None = None) -> str:
        """A notification of another type (favourite, follow...) for the brand; returns its id."""
        with self.lock:
            note = self._notify(kind, self._account_id(source), self.brand_id, status_id)
            self._save()
            return str(note["id"])

    def delete_status(self, status_id: str) -> None:
        """Delete a status (its notifications go with it, as on Mastodon)."""
        with self.lock:
            status = self.statuses[status_id]
            if not status["deleted"]:
                status["deleted"] = True
                self._count(status, -1)
            self.notifications = [n for n in self.notifications if n["status_id"] != status_id]
            self._save()

    def statuses_by(self, account: str) -> list[dict[str, Any]]:
        """Every live status of an account (id, acct or user@domain), oldest first, as JSON."""
        with self.lock:
            ident = self._account_id(account)
            found = [s for s in self.statuses.values() if s["account_id"] == ident and not s["deleted"]]
            return [self._status_json(s) for s in sorted(found, key=lambda s: _key(s["id"]))]

    def replies_to(self, status_id: str, account: str | None = None) -> list[dict[str, Any]]:
        """Live statuses answering ``status_id`` (by ``account`` if given), oldest first."""
        with self.lock:
            who = self._account_id(account) if account else None
            found = [
                s
                for s in self.statuses.values()
                if s["in_reply_to_id"] == status_id and not s["deleted"] and (who is None or s["account_id"] == who)
            ]
            return [self._status_json(s) for s in sorted(found, key=lambda s: _key(s["id"]))]

    def fail_next(self, method: str, path: str, **kw: Any) -> None:
        """Script a failure for the next request(s) matching (see ``Fault``)."""
        with self.lock:
            self.faults.append(Fault(method.upper(), path, **kw))

    def exhaust_rate_limit(self, token: str | None = None) -> None:
        """Spend the current window's budget of a token (the brand's by default)."""
        with self.lock:
            tok = token or next(t for t, a in self.tokens.items() if a == self.brand_id)
            self._window(tok)[0] = 0

    # -- the model ------------------------------------------------------------------------------------

    def _create(
        self,
        account_id: str,
        text: str,
        in_reply_to: str | None,
        visibility: str,
        spoiler_text: str,
        language: str | None,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        ident = str(self._next_status)
        self._next_status += 1_000_003  # snowflake-like gaps; only the order matters
        parent = self.statuses.get(in_reply_to) if in_reply_to else None
        status = {
            "id": ident,
            "account_id": account_id,
            "text": text,
            "in_reply_to_id": in_reply_to,
            "in_reply_to_account_id": parent["account_id"] if parent else None,
            "visibility": visibility,
            "spoiler_text": spoiler_text,
            "language": language,
            "created_at": _iso(at or self._now()),
            "idempotency_key": idempotency_key,
            "deleted": False,
        }
        self.statuses[ident] = status
        self._count(status, +1)
        for mentioned in self._mentioned(text):
            if self.accounts[mentioned]["domain"] is None and mentioned != account_id:
                self._notify("mention", account_id, mentioned, ident, at)
        return status

    def _count(self, status: Mapping[str, Any], step: int) -> None:
        # Kept as counters: recounting on every render made big pages quadratic.
        acc = self.accounts[status["account_id"]]
        acc["statuses_count"] = acc.get("statuses_count", 0) + step
        parent = self.statuses.get(status["in_reply_to_id"] or "")
        if parent is not None:
            parent["replies_count"] = parent.get("replies_count", 0) + step

    def _notify(
        self, kind: str, source: str, recipient: str, status_id: str | None, at: datetime | None = None
    ) -> dict[str, Any]:
        # A status back-dated with ``at`` notifies at that time too (how history looks to a new client).
        note = {
            "id": str(self._next_notification),
            "type": kind,
            "created_at": _iso(at or self._now()),
            "account_id": source,
            "recipient_id": recipient,
            "status_id": status_id,
        }
        self._next_notification += 1
        self.notifications.append(note)
        self._publish(note)
        return note

    def _find_account(self, username: str, domain: str | None) -> str | None:
        domain = None if domain in (None, self.domain) else domain.lower()
        for acc in self.accounts.values():
            if acc["username"].lower() == username.lower() and acc["domain"] == domain:
                return str(acc["id"])
        return None

    def _mentioned(self, text: str) -> list[str]:
        found: list[str] = []
        for m in _MENTION.finditer(text):
            ident = self._find_account(m.group(1), m.group(2))
            if ident and ident not in found:
                found.append(ident)
        return found

    def _profile_url(self, account_id: str) -> str:
        acc = self.accounts[account_id]
        return f"https://{acc['domain'] or self.domain}/@{acc['username']}"

    def _account_json(self, account_id: str, *, credential: bool = False) -> dict[str, Any]:
        acc = self.accounts[account_id]
        url = self._profile_url(account_id)
        body: dict[str, Any] = {
            "id": account_id,
            "username": acc["username"],
            "acct": self.acct(account_id),
            "display_name": acc["display_name"],
            "locked": False,
            "bot": acc["bot"],
            "created_at": acc["created_at"],
            "note": "<p></p>",
            "url": url,
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "avatar_static": f"https://{self.domain}/avatars/original/missing.png",
            "header": f"https://{self.domain}/headers/original/missing.png",
            "header_static": f"https://{self.domain}/headers/original/missing.png",
            "followers_count": acc["followers_count"],
            "following_count": 0,
            "statuses_count": acc.get("statuses_count", 0),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }
        if credential:
            body["source"] = {"privacy": "public", "sensitive": False, "language": "", "note": "", "fields": []}
            body["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return body

    def _render(self, text: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """Status text as Mastodon's formatter writes it, with its mentions and tags."""
        mentions: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []

        def link(m: re.Match[str]) -> str:
            if m.group("url"):
                url = m.group("url")
                scheme, _, rest = url.partition("://")
                prefix = scheme + "://"
                if rest.startswith("www."):
                    prefix, rest = prefix + "www.", rest[4:]
                shown, hidden = rest[:30], rest[30:]
                return (
                    f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
                    f'<span class="invisible">{html.escape(prefix)}</span>'
                    f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
                    f'<span class="invisible">{html.escape(hidden)}</span></a>'
                )
            if m.group("mention"):
                sub = _MENTION.match(m.group("mention"))
                assert sub is not None
                ident = self._find_account(sub.group(1), sub.group(2))
                if ident is None:  # Mastodon links only accounts it knows
                    return html.escape(m.group(0))
                url = self._profile_url(ident)
                if all(x["id"] != ident for x in mentions):
                    mentions.append(
                        {
                            "id": ident,
                            "username": self.accounts[ident]["username"],
                            "url": url,
                            "acct": self.acct(ident),
                        }
                    )
                return (
                    f'<span class="h-card" translate="no"><a href="{html.escape(url)}" class="u-url mention">'
                    f"@<span>{html.escape(self.accounts[ident]['username'])}</span></a></span>"
                )
            name = m.group(0)[1:]
            tags.append({"name": name.lower(), "url": f"https://{self.domain}/tags/{name.lower()}"})
            return (
                f'<a href="https://{self.domain}/tags/{html.escape(name.lower())}" class="mention hashtag" '
                f'rel="tag">#<span>{html.escape(name)}</span></a>'
            )

        paragraphs = []
        for para in re.split(r"\n\s*\n", text.strip()):
            lines = []
            for line in para.split("\n"):
                out, last = [], 0
                for m in _TOKEN.finditer(line):
                    out.append(html.escape(line[last : m.start()]))
                    out.append(link(m))
                    last = m.end()
                out.append(html.escape(line[last:]))
                lines.append("".join(out))
            paragraphs.append("<p>" + "<br />".join(lines) + "</p>")
        return "".join(paragraphs), mentions, tags

    def _status_json(self, status: Mapping[str, Any]) -> dict[str, Any]:
        content, mentions, tags = self._render(status["text"])
        acc = self.accounts[status["account_id"]]
        url = f"https://{acc['domain'] or self.domain}/@{acc['username']}/{status['id']}"
        return {
            "id": status["id"],
            "created_at": status["created_at"],
            "edited_at": None,
            "in_reply_to_id": status["in_reply_to_id"],
            "in_reply_to_account_id": status["in_reply_to_account_id"],
            "sensitive": bool(status["spoiler_text"]),
            "spoiler_text": status["spoiler_text"],
            "visibility": status["visibility"],
            "language": status["language"],
            "uri": f"https://{acc['domain'] or self.domain}/users/{acc['username']}/statuses/{status['id']}",
            "url": url,
            "replies_count": status.get("replies_count", 0),
            "reblogs_count": 0,
            "favourites_count": 0,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": content,
            "filtered": [],
            "reblog": None,
            "application": {"name": "Web", "website": None},
            "account": self._account_json(status["account_id"]),
            "media_attachments": [],
            "mentions": mentions,
            "tags": tags,
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _notification_json(self, note: Mapping[str, Any]) -> dict[str, Any]:
        status = self.statuses.get(note["status_id"]) if note["status_id"] else None
        return {
            "id": note["id"],
            "type": note["type"],
            "created_at": note["created_at"],
            "group_key": f"ungrouped-{note['id']}",
            "account": self._account_json(note["account_id"]),
            "status": self._status_json(status) if status else None,
        }

    # -- rate limit -----------------------------------------------------------------------------------

    def _window(self, token: str) -> list[float]:
        now = self._now().timestamp()
        window = self._rate.get(token)
        if window is None or now >= window[1]:
            # Like rack-attack: fixed windows aligned to the period.
            start = now - (now % self.rate_window)
            window = [float(self.rate_limit), start + self.rate_window]
            self._rate[token] = window
        return window

    def _rate_headers(self, window: Sequence[float]) -> dict[str, str]:
        reset = datetime.fromtimestamp(window[1], UTC)
        value = str(int(window[1])) if self.reset_format == "epoch" else reset.isoformat(timespec="microseconds")
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(int(max(0, window[0]))),
            "X-RateLimit-Reset": value.replace("+00:00", "Z"),
        }

    # -- HTTP -----------------------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request (raises ``_Drop`` when a fault loses the answer)."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append((method, parts.path, query, lower.get("idempotency-key")))
            fault = self._take_fault(method, parts.path)
        if fault is not None and not fault.deliver:
            return self._fault_answer(fault)
        answer = self._dispatch(method, parts, query, lower, body)
        answer.headers.setdefault("Date", email.utils.format_datetime(self._now(), usegmt=True))
        answer.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        if fault is not None:
            return self._fault_answer(fault)
        return answer

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and re.search(fault.path, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: Fault) -> Answer:
        if fault.exc is not None:
            raise _Drop(fault.exc.__name__)
        body = fault.body if fault.body is not None else {"error": "Service Unavailable"}
        return Answer(fault.status, dict(body), {"Content-Type": "application/json; charset=utf-8"})

    def _dispatch(
        self, method: str, parts: Any, query: list[tuple[str, str]], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        path = parts.path.rstrip("/") or "/"
        base = f"{parts.scheme}://{parts.netloc}"
        if path.startswith("/_fake/"):
            return self._admin(method, path, query, body)
        if path in ("/api/v2/instance", "/api/v1/instance"):
            return Answer(200, self._instance(v1=path.endswith("v1/instance"), base=base))
        if path in ("/api/v1/apps", "/oauth/authorize", "/oauth/token", "/.well-known/oauth-authorization-server"):
            return self._oauth(method, path, query, headers, body, base)
        if path == "/api/v1/streaming/health":
            return Answer(200, headers={"Content-Type": "text/plain; charset=utf-8"}, raw=b"OK")
        with self.lock:
            auth = headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            me = self.tokens.get(token)
            if me is None:
                return Answer(
                    401, {"error": "The access token is invalid"}, {"WWW-Authenticate": 'Bearer realm="Doorkeeper"'}
                )
            window = self._window(token)
            if window[0] <= 0:
                return Answer(429, {"error": "Too many requests"}, self._rate_headers(window))
            window[0] -= 1
            rate = self._rate_headers(window)
        answer = self._route(method, path, query, headers, body, me, base)
        answer.headers.update(rate)
        return answer

    def _route(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
        me: str,
        base: str,
    ) -> Answer:
        not_found = Answer(404, {"error": "Record not found"})
        if method == "POST" and path == "/api/v1/statuses":
            return self._post_status(me, headers, body)
        if method != "GET" and not (method == "DELETE" and path.startswith("/api/v1/statuses/")):
            return not_found
        with self.lock:
            if path == "/api/v1/accounts/verify_credentials":
                return Answer(200, self._account_json(me, credential=True))
            if path == "/api/v1/notifications":
                return self._notifications(me, query, base, path)
            m = re.fullmatch(r"/api/v1/statuses/([^/]+)(/context)?", path)
            if m:
                status = self.statuses.get(m.group(1))
                if status is None or status["deleted"]:
                    return not_found
                if method == "DELETE":
                    if status["account_id"] != me:
                        return not_found
                    self.delete_status(status["id"])
                    return Answer(200, self._status_json(status))
                if m.group(2):
                    return Answer(200, self._context(status))
                return Answer(200, self._status_json(status))
            m = re.fullmatch(r"/api/v1/accounts/([^/]+)/statuses", path)
            if m:
                if m.group(1) not in self.accounts:
                    return not_found
                return self._account_statuses(m.group(1), me, query, base, path)
        return not_found

    def _instance(self, *, v1: bool, base: str = "") -> dict[str, Any]:
        if self.streaming_url:
            streaming = self.streaming_url
        elif base.startswith("http://"):
            streaming = "ws://" + base[len("http://") :]
        else:
            streaming = f"wss://{self.domain}"
        statuses = {
            "max_characters": self.max_characters,
            "max_media_attachments": 4,
            "characters_reserved_per_url": 23,
        }
        if v1:
            return {
                "uri": self.domain,
                "title": "Fake Social",
                "version": "4.3.0",
                "urls": {"streaming_api": streaming},
                "configuration": {"statuses": statuses},
            }
        return {
            "domain": self.domain,
            "title": "Fake Social",
            "version": "4.3.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A fake Mastodon server for tests",
            "languages": ["en"],
            "configuration": {
                "urls": {"streaming": streaming},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                "statuses": statuses,
            },
        }

    def _page(
        self,
        items: list[dict[str, Any]],
        query: list[tuple[str, str]],
        *,
        default: int,
        maximum: int,
        base: str,
        path: str,
        keep: Sequence[str],
    ) -> Answer:
        """Mastodon's paging over ``items`` (any order in, newest first out) with a ``Link`` header."""
        q: dict[str, str] = {}
        for k, v in query:
            q.setdefault(k, v)
        try:
            limit = max(1, min(maximum, int(q.get("limit", default))))
        except ValueError:
            limit = default
        ordered = sorted(items, key=lambda i: _key(i["id"]), reverse=True)
        if self.lookup_ids:
            known = {i["id"] for i in items}
            for name in ("max_id", "since_id", "min_id"):
                if q.get(name) and q[name] not in known:
                    return Answer(404, {"error": "Record not found"})
        if self.ignore_min_id:
            q.pop("min_id", None)
        if q.get("max_id"):
            ordered = [i for i in ordered if _key(i["id"]) < _key(q["max_id"])]
        if q.get("since_id"):
            ordered = [i for i in ordered if _key(i["id"]) > _key(q["since_id"])]
        if q.get("min_id"):
            newer = [i for i in ordered if _key(i["id"]) > _key(q["min_id"])]
            page = list(reversed(list(reversed(newer))[:limit]))  # the ones immediately newer
        else:
            page = ordered[:limit]
        headers: dict[str, str] = {}
        if page:
            kept = [(k, v) for k, v in query if k in keep]
            nxt = urlencode([*kept, ("max_id", page[-1]["id"])])
            prev = urlencode([*kept, ("min_id", page[0]["id"])])
            headers["Link"] = f'<{base}{path}?{nxt}>; rel="next", <{base}{path}?{prev}>; rel="prev"'
        return Answer(200, page, headers)

    def _notifications(self, me: str, query: list[tuple[str, str]], base: str, path: str) -> Answer:
        types = {v for k, v in query if k in ("types[]", "types")}
        excluded = {v for k, v in query if k in ("exclude_types[]", "exclude_types")}
        source = dict(query).get("account_id")
        notes = [
            n
            for n in self.notifications
            if n["recipient_id"] == me
            and (not types or n["type"] in types)
            and n["type"] not in excluded
            and (not source or n["account_id"] == source)
        ]
        answer = self._page(
            notes,
            query,
            default=40,
            maximum=80,
            base=base,
            path=path,
            keep=("limit", "types[]", "exclude_types[]", "account_id"),
        )
        if answer.status == 200:
            answer.body = [self._notification_json(n) for n in answer.body]
        return answer

    def _account_statuses(self, account_id: str, me: str, query: list[tuple[str, str]], base: str, path: str) -> Answer:
        q = dict(query)
        exclude_replies = q.get("exclude_replies", "false").lower() in ("1", "true")

        def visible(s: Mapping[str, Any]) -> bool:
            # AccountStatusesFilter: the author sees everything of theirs; others public and unlisted
            # ones, plus what mentions them.
            return account_id == me or s["visibility"] in ("public", "unlisted") or me in self._mentioned(s["text"])

        found = [
            s
            for s in self.statuses.values()
            if s["account_id"] == account_id
            and not s["deleted"]
            and visible(s)
            and not (exclude_replies and s["in_reply_to_id"] and s["in_reply_to_account_id"] != account_id)
        ]
        answer = self._page(
            found,
            query,
            default=20,
            maximum=40,
            base=base,
            path=path,
            keep=("limit", "exclude_replies", "exclude_reblogs", "only_media", "pinned"),
        )
        if answer.status == 200:
            answer.body = [self._status_json(s) for s in answer.body]
        return answer

    def _children(self) -> dict[str, list[str]]:
        """The replies to each status, by id (a subclass may keep this as an index instead)."""
        children: dict[str, list[str]] = {}
        for s in self.statuses.values():
            if s["in_reply_to_id"]:
                children.setdefault(str(s["in_reply_to_id"]), []).append(str(s["id"]))
        return children

    def _context(self, status: Mapping[str, Any]) -> dict[str, Any]:
        ancestors = []
        parent = status["in_reply_to_id"]
        seen = {status["id"]}
        while parent and parent in self.statuses and parent not in seen:
            seen.add(parent)
            p = self.statuses[parent]
            if not p["deleted"]:
                ancestors.append(p)
            parent = p["in_reply_to_id"]
        ancestors.reverse()
        descendants = []
        children = self._children()
        frontier = [status["id"]]
        while frontier:
            for child in children.get(frontier.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    frontier.append(child)
                    if not self.statuses[child]["deleted"]:
                        descendants.append(self.statuses[child])
        descendants.sort(key=lambda s: _key(s["id"]))
        return {
            "ancestors": [self._status_json(s) for s in ancestors],
            "descendants": [self._status_json(s) for s in descendants],
        }

    def _post_status(self, me: str, headers: Mapping[str, str], body: bytes) -> Answer:
        ctype = headers.get("content-type", "")
        try:
            if "json" in ctype:
                params = json.loads(body or b"{}")
            else:
                params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except ValueError:
            return Answer(400, {"error": "Bad request"})
        if not isinstance(params, dict):
            return Answer(400, {"error": "Bad request"})
        text = str(params.get("status") or "")
        reply_to = params.get("in_reply_to_id")
        reply_to = str(reply_to) if reply_to not in (None, "") else None
        visibility = str(params.get("visibility") or "public")
        key = headers.get("idempotency-key")
        slot = f"{me}:{key}" if key else None
        with self.lock:
            attempt: dict[str, Any] = {"idempotency_key": key, "in_reply_to_id": reply_to, "text": text}
            self.attempts.append(attempt)
            # Rails' before_action finds the thread before the service looks at the key.
            if reply_to and (reply_to not in self.statuses or self.statuses[reply_to]["deleted"]):
                attempt["outcome"] = "not_found"
                self._save()
                return Answer(404, {"error": "The post you are trying to reply to does not appear to exist."})
            if slot and self.honour_idempotency:
                stored = self.idempotency.get(slot)
                if stored and self._now().timestamp() - stored[1] < IDEMPOTENCY_TTL:
                    original = self.statuses.get(stored[0])
                    if original is None or original["deleted"]:
                        attempt["outcome"] = "not_found"
                        self._save()
                        return Answer(404, {"error": "Record not found"})
                    attempt["outcome"], attempt["status_id"] = "replayed", original["id"]
                    self._save()
                    return Answer(200, self._status_json(original))
                if slot in self._in_flight:
                    attempt["outcome"] = "race"
                    return Answer(
                        503, {"error": "There was a temporary problem serving your request, please try again"}
                    )
            problem = None
            if not text.strip():
                problem = "Validation failed: Text can't be blank"
            elif _length(text) + len(_GRAPHEME.findall(str(params.get("spoiler_text") or ""))) > self.max_characters:
                problem = f"Validation failed: Text character limit of {self.max_characters} exceeded"
            elif visibility not in ("public", "unlisted", "private", "direct"):
                problem = "Validation failed: Visibility is not included in the list"
            if problem:
                attempt["outcome"] = "invalid"
                self._save()
                return Answer(422, {"error": problem})
            if slot:
                self._in_flight.add(slot)
        try:
            if self.post_delay:
                time.sleep(self.post_delay)  # a slow server: a second send with the same key races the first
            with self.lock:
                status = self._create(
                    me,
                    text,
                    reply_to,
                    visibility,
                    str(params.get("spoiler_text") or ""),
                    params.get("language") or None,
                    idempotency_key=key,
                )
                if slot:
                    self.idempotency[slot] = [status["id"], self._now().timestamp()]
                attempt["outcome"], attempt["status_id"] = "created", status["id"]
                self.posted.append(
                    {
                        "status_id": status["id"],
                        "idempotency_key": key,
                        "in_reply_to_id": reply_to,
                        "visibility": visibility,
                        "spoiler_text": status["spoiler_text"],
                        "language": status["language"],
                        "text": text,
                        "account_id": me,
                        "created_at": status["created_at"],
                    }
                )
                self._save()
                return Answer(200, self._status_json(status))
        finally:
            if slot:
                with self.lock:
                    self._in_flight.discard(slot)

    def _admin(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> Answer:
        """Test-only controls for a fake running in another process."""
        with self.lock:
            if method == "GET" and path == "/_fake/posted":
                return Answer(200, list(self.posted))
            if method == "GET" and path == "/_fake/attempts":
                return Answer(200, list(self.attempts))
            if method == "GET" and path == "/_fake/statuses":
                return Answer(200, self.statuses_by(dict(query).get("account", self.brand_id)))
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return Answer(400, {"error": "Bad request"})
        if method == "POST" and path == "/_fake/mention":
            author = str(params.pop("author", "maria@social.example"))
            text = str(params.pop("text", "hello"))
            reply_to = params.pop("in_reply_to", None)
            return Answer(200, self.add_mention(author, text, in_reply_to=reply_to, **params))
        if method == "POST" and path == "/_fake/config":
            with self.lock:
                for name in (
                    "honour_idempotency",
                    "rate_limit",
                    "rate_window",
                    "post_delay",
                    "reset_format",
                    "ignore_min_id",
                    "lookup_ids",
                ):
                    if name in params:
                        setattr(self, name, params[name])
                self._rate.clear()
            return Answer(200, {"ok": True})
        return Answer(404, {"error": "Record not found"})

    # -- OAuth ----------------------------------------------------------------------------------------

    def _oauth(
        self, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], body: bytes, base: str
    ) -> Answer:
        if path == "/.well-known/oauth-authorization-server" and method == "GET":
            if not self.oauth_metadata:
                return Answer(404, {"error": "Not Found"})
            return Answer(200, self._oauth_metadata(base))
        if path == "/api/v1/apps" and method == "POST":
            return self._register_app(headers, body)
        if path == "/oauth/authorize" and method == "GET":
            return self._authorize(dict(query))
        if path == "/oauth/token" and method == "POST":
            return self._token(headers, body)
        return Answer(404, {"error": "Record not found"})

    def _oauth_metadata(self, base: str) -> dict[str, Any]:
        return {
            "issuer": base + "/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": base + "/oauth/authorize",
            "token_endpoint": base + "/oauth/token",
            "app_registration_endpoint": base + "/api/v1/apps",
            "revocation_endpoint": base + "/oauth/revoke",
            "scopes_supported": [
                "read",
                "write",
                "read:accounts",
                "read:notifications",
                "read:statuses",
                "write:statuses",
                "write:media",
                "profile",
            ],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    @staticmethod
    def _params(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """Form or JSON parameters (``name[]`` form fields become lists)."""
        try:
            if "json" in headers.get("content-type", ""):
                data = json.loads(body or b"{}")
                return data if isinstance(data, dict) else None
            out: dict[str, Any] = {}
            for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                if k.endswith("[]"):
                    out.setdefault(k[:-2], []).append(v)
                else:
                    out[k] = v
            return out
        except (ValueError, UnicodeDecodeError):
            return None

    def _register_app(self, headers: Mapping[str, str], body: bytes) -> Answer:
        params = self._params(headers, body)
        if params is None:
            return Answer(400, {"error": "Bad request"})
        uris_in = params.get("redirect_uris")
        if isinstance(uris_in, list) and not self.oauth_metadata:
            uris_in = None  # before 4.3 only a string was permitted: an array arrived as nothing
        if isinstance(uris_in, list):
            uris = [str(u).strip() for u in uris_in if str(u).strip()]
        else:
            uris = str(uris_in or "").split()
        name = str(params.get("client_name") or "")
        if not name:
            return Answer(422, {"error": "Validation failed: Name can't be blank"})
        if not uris:
            return Answer(422, {"error": "Validation failed: Redirect URI can't be blank"})
        for uri in uris:
            parts = urlsplit(uri)
            forbidden = not parts.scheme or parts.scheme in ("data", "javascript", "vbscript") or parts.fragment
            if uri != OOB and forbidden:
                return Answer(422, {"error": "Validation failed: Redirect URI must be an absolute URI."})
        scopes = str(params.get("scopes") or "read").split()
        with self.lock:
            app_id = str(len(self.apps) + 1)
            client_id, client_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            app = {
                "id": app_id,
                "name": name,
                "website": params.get("website") or None,
                "scopes": scopes,
                "redirect_uris": uris,
                "client_id": client_id,
                "client_secret": client_secret,
            }
            self.apps[client_id] = app
        answer = {
            "id": app_id,
            "name": name,
            "website": app["website"],
            "scopes": scopes,
            "redirect_uri": "\n".join(uris),
            "redirect_uris": uris,
            "client_id": client_id,
            "client_secret": client_secret,
            "client_secret_expires_at": 0,
        }
        return Answer(200, answer)

    def _authorize(self, q: Mapping[str, str]) -> Answer:
        html_type = {"Content-Type": "text/html; charset=utf-8"}
        with self.lock:
            app = self.apps.get(q.get("client_id", ""))
        redirect = q.get("redirect_uri", "")
        if app is None or q.get("response_type") != "code" or redirect not in app["redirect_uris"]:
            # Doorkeeper shows an error page and never redirects to an unregistered address.
            text = "Client authentication failed due to unknown client, or the redirect URI is not registered."
            return Answer(400, headers=html_type, raw=_page("An error has occurred", text))
        state = q.get("state")
        scope = q.get("scope", "read").replace("+", " ").split()

        def back(**values: str) -> Answer:
            if state is not None:
                values["state"] = state
            sep = "&" if "?" in redirect else "?"
            return Answer(302, headers={"Location": redirect + sep + urlencode(values)}, raw=b"")

        if not set(scope) <= set(app["scopes"]):
            return back(error="invalid_scope", error_description="The requested scope is invalid.")
        challenge = q.get("code_challenge") if self.oauth_metadata else None
        if challenge and q.get("code_challenge_method") != "S256":
            return back(error="invalid_request", error_description="Only S256 is supported.")
        if q.get("_fake_deny"):
            return back(error="access_denied", error_description="The resource owner denied the request.")
        if not q.get("_fake_approve"):
            form = f"<form method=post><button>Authorize {html.escape(app['name'])}</button></form>"
            return Answer(200, headers=html_type, raw=_page("Authorization required", app["name"], form))
        with self.lock:
            who = self._find_account(q["_fake_account"], None) if q.get("_fake_account") else self.brand_id
            code = secrets.token_urlsafe(32)
            self.codes[code] = {
                "client_id": app["client_id"],
                "redirect_uri": redirect,
                "challenge": challenge,
                "scope": " ".join(scope),
                "account": who,
                "at": self._now().timestamp(),
                "used": False,
            }
        if redirect == OOB:
            shown = f'<input type="text" readonly value="{code}"><code id="code">{code}</code>'
            return Answer(200, headers=html_type, raw=_page("Authorization code", "Copy this code.", shown))
        return back(code=code)

    def _token(self, headers: Mapping[str, str], body: bytes) -> Answer:
        params = self._params(headers, body)
        if params is None:
            return Answer(400, {"error": "invalid_request"})
        client_id, client_secret = str(params.get("client_id") or ""), str(params.get("client_secret") or "")
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            with contextlib.suppress(ValueError):
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        invalid_grant = Answer(
            400,
            {
                "error": "invalid_grant",
                "error_description": "The provided authorization grant is invalid, expired, revoked, does not match "
                "the redirection URI used in the authorization request, or was issued to another client.",
            },
        )
        with self.lock:
            app = self.apps.get(client_id)
            if app is None or not hmac.compare_digest(app["client_secret"], client_secret):
                return Answer(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed due to unknown client, no client "
                        "authentication included, or unsupported authentication method.",
                    },
                )
            if params.get("grant_type") != "authorization_code":
                return Answer(400, {"error": "unsupported_grant_type"})
            grant = self.codes.get(str(params.get("code") or ""))
            if (
                grant is None
                or grant["used"]
                or grant["client_id"] != client_id
                or grant["redirect_uri"] != params.get("redirect_uri")
                or self._now().timestamp() - grant["at"] > CODE_TTL
            ):
                return invalid_grant
            if grant["challenge"]:
                verifier = str(params.get("code_verifier") or "")
                if not verifier or not hmac.compare_digest(_s256(verifier), grant["challenge"]):
                    return invalid_grant
            grant["used"] = True
            token = secrets.token_urlsafe(32)
            self.tokens[token] = grant["account"]
            self.issued_tokens.append(token)
            self._save()
        return Answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": grant["scope"],
                "created_at": int(self._now().timestamp()),
            },
        )

    def approve(self, authorize_url: str, *, account: str | None = None, deny: bool = False) -> str:
        """Approve an authorize URL as the signed-in user would; returns the redirect (or the oob code)."""
        extra = {"_fake_deny" if deny else "_fake_approve": "1"}
        if account:
            extra["_fake_account"] = account
        sep = "&" if "?" in authorize_url else "?"
        answer = self.handle("GET", authorize_url + sep + urlencode(extra), {}, b"")
        if answer.status == 302:
            return answer.headers["Location"]
        found = re.search(rb'<code id="code">([^<]+)</code>', answer.raw or b"")
        if answer.status != 200 or found is None:
            raise AssertionError(f"the fake refused the authorization ({answer.status})")
        return found.group(1).decode()

    # -- streaming ------------------------------------------------------------------------------------

    def _publish(self, note: Mapping[str, Any]) -> None:
        """Hand a new notification to the open streams of its recipient."""
        if not self._streams:
            return
        body = json.dumps(self._notification_json(note))
        frame = "event: notification\ndata: " + body + "\n\n"
        # Over WebSocket the payload is the notification's JSON in a string, inside the event's JSON.
        message = json.dumps({"stream": ["user:notification"], "event": "notification", "payload": body})
        for stream in list(self._streams):
            if stream.recipient == note["recipient_id"]:
                stream.queue.put(message if stream.websocket else frame)

    def heartbeat(self) -> None:
        """Send a ``:thump`` comment on every open stream now."""
        self.push_raw(":thump\n")

    def push_raw(self, text: str) -> None:
        """Write raw event-stream text to every open stream."""
        with self.lock:
            for stream in self._streams:
                stream.queue.put(text)

    def drop_streams(self) -> None:
        """Break every open stream (no clean end), like a restart of the streaming server."""
        with self.lock:
            for stream in self._streams:
                stream.queue.put(_DROP)

    def end_streams(self) -> None:
        """End every open stream cleanly (the last chunk is sent)."""
        with self.lock:
            for stream in self._streams:
                stream.queue.put(_END)

    @property
    def open_streams(self) -> list[_Stream]:
        """The streams connected now."""
        with self.lock:
            return list(self._streams)

    def wait_for_streams(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` streams are open (or fail the test)."""
        deadline = time.monotonic() + timeout
        while len(self.open_streams) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.open_streams)} streams open, wanted {count}")
            time.sleep(0.01)

    def _serve_stream(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        parts = urlsplit(handler.path)
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self.lock:
            self.requests.append(("GET", parts.path, parse_qsl(parts.query), None))
            me = self.tokens.get(token)
            fault = self._take_fault("GET", parts.path)
        if me is None or (fault is not None and fault.exc is None):
            answer = self._fault_answer(fault) if me is not None and fault is not None else None
            status = answer.status if answer else 401
            data = json.dumps(answer.body if answer else {"error": "Error: Missing access token"}).encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if fault is not None:  # an injected transport failure: close without an answer
            handler.close_connection = True
            return
        stream = _Stream(recipient=me, host=headers.get("host", ""), path=parts.path)
        with self.lock:
            self._streams.append(stream)
            self.stream_connects += 1
        handler.close_connection = True
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "private, no-store")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.flush()
            while True:
                try:
                    item = stream.queue.get(timeout=self.stream_heartbeat)
                except queue.Empty:
                    item = ":thump\n"
                if item is _DROP:
                    with contextlib.suppress(OSError):
                        handler.connection.shutdown(2)
                    return
                if item is _END:
                    handler.wfile.write(b"0\r\n\r\n")
                    handler.wfile.flush()
                    return
                data = str(item).encode()
                handler.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                handler.wfile.flush()
        except OSError:
            pass  # the client went away
        finally:
            with self.lock:
                if stream in self._streams:
                    self._streams.remove(stream)

    # -- transports -----------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport answering from this fake (for ``httpx.AsyncClient(transport=...)``)."""

        def handler(request: httpx.Request) -> httpx.Response:
            with self.lock:
                pending = self._peek_fault(request.method, request.url.path)
            if pending is not None and pending.exc is not None and not pending.deliver:
                with self.lock:
                    self._take_fault(request.method, request.url.path)
                raise pending.exc("fault injected by the fake", request=request)  # type: ignore[call-arg]
            try:
                answer = self.handle(request.method, str(request.url), dict(request.headers), request.read())
            except _Drop:
                exc = pending.exc if pending is not None and pending.exc is not None else httpx.ReadError
                raise exc("fault injected by the fake", request=request) from None  # type: ignore[call-arg]
            return httpx.Response(answer.status, headers=answer.headers, content=answer.encoded())

        return httpx.MockTransport(handler)

    def _peek_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and re.search(fault.path, path):
                return fault
        return None

    def start(self, port: int = 0) -> FakeMastodon:
        """Serve over real HTTP on 127.0.0.1 in a background thread."""
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                if self.command == "GET" and urlsplit(self.path).path.rstrip("/") in _STREAM_PATHS:
                    fake._serve_stream(self)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
                try:
                    answer = fake.handle(self.command, url, dict(self.headers.items()), body)
                except _Drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                data = answer.encoded()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll interval: stop() (and so every test that serves the fake) waits for it.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name="fake-mastodon", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """The base URL while serving (``http://127.0.0.1:PORT``)."""
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_websocket(self) -> str:
        """Serve the WebSocket streaming API on a port of its own, named as ``configuration.urls.streaming``.

        That host speaks WebSocket only (as a streaming server behind a proxy may): a plain GET of the
        event-stream path there is answered 404 ``{"error": "Unknown channel requested"}``.
        """
        from websockets.datastructures import Headers
        from websockets.http11 import Response
        from websockets.sync.server import ServerConnection, serve

        fake = self
        owners: dict[int, str] = {}

        def answer(status: int, body: Mapping[str, Any]) -> Response:
            data = json.dumps(body).encode()
            headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))]
            return Response(status, http.HTTPStatus(status).phrase, Headers(headers), data)

        def process_request(connection: ServerConnection, request: Any) -> Response | None:
            parts = urlsplit(request.path)
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            with fake.lock:
                fake.requests.append(("GET", parts.path, parse_qsl(parts.query), None))
                me = fake.tokens.get(token)
            if parts.path != "/api/v1/streaming":
                return answer(404, {"error": "Unknown channel requested"})
            if me is None:
                return answer(401, {"error": "Error: Missing access token"})
            if dict(parse_qsl(parts.query)).get("stream") not in ("user", "user:notification"):
                return answer(400, {"error": "Unknown stream type"})
            owners[id(connection)] = me
            return None

        def handler(connection: ServerConnection) -> None:
            stream = _Stream(recipient=owners.pop(id(connection)), host="", path="ws", websocket=True)
            with fake.lock:
                fake._streams.append(stream)
                fake.stream_connects += 1
            try:
                while True:
                    try:
                        item = stream.queue.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if item is _DROP:  # no close frame: the client sees a broken connection
                        with contextlib.suppress(OSError):
                            connection.socket.shutdown(2)
                        return
                    if item is _END:
                        connection.close()
                        return
                    connection.send(str(item))
            except Exception:  # the client went away: nothing to report in a fake
                return
            finally:
                with fake.lock:
                    if stream in fake._streams:
                        fake._streams.remove(stream)

        server = serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None)
        self._ws_server = server
        self._ws_thread = threading.Thread(target=server.serve_forever, name="fake-mastodon-ws", daemon=True)
        self._ws_thread.start()
        port = server.socket.getsockname()[1]
        self.streaming_url = f"ws://127.0.0.1:{port}"
        return self.streaming_url

    def stop(self) -> None:
        """Stop serving."""
        self.drop_streams()
        if self._ws_server is not None:
            self._ws_server.shutdown()
            self._ws_server = None
        if self._ws_thread is not None:
            self._ws_thread.join(timeout=5)
            self._ws_thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @contextlib.contextmanager
    def serving(self, port: int = 0) -> Iterator[FakeMastodon]:
        """``with fake.serving() as server:`` starts and stops it."""
        self.start(port)
        try:
            yield self
        finally:
            self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake as a program until SIGTERM or Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m tests.fakes.mastodon", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state", type=Path, help="a JSON file that keeps the server's state across restarts")
    p.add_argument("--token", default="test-token")
    p.add_argument("--domain", default="fake.social")
    p.add_argument("--ignore-idempotency", action="store_true", help="imitate a server that ignores the key")
    p.add_argument("--rate-limit", type=int, default=300)
    p.add_argument("--rate-window", type=float, default=300.0)
    p.add_argument("--reset-format", choices=["iso", "epoch"], default="iso")
    p.add_argument("--max-characters", type=int, default=500)
    p.add_argument("--post-delay", type=float, default=0.0, help="seconds each POST /api/v1/statuses takes")
    p.add_argument("--seed", type=int, default=0, help="add this many customer mentions on a fresh start")
    args = p.parse_args(argv)
    fresh = not (args.state and args.state.exists())
    fake = FakeMastodon(
        domain=args.domain,
        token=args.token,
        state_path=args.state,
        honour_idempotency=not args.ignore_idempotency,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        reset_format=args.reset_format,
        max_characters=args.max_characters,
    )
    fake.post_delay = args.post_delay
    if fresh:
        for n in range(args.seed):
            fake.add_mention(f"customer{n % 7}@social.example", f"Order {1000 + n} has not arrived yet, any news?")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fake.start(args.port)
    print(f"fake mastodon listening on {fake.url}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
