"""Mastodon sign-in by instance name: app registration, PKCE, a loopback redirect or a pasted code."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from services.errors import InvalidInput, Offline, ParleyError, RateLimited
from services.networks import mastodon
from services.secrets import Secret, SecretStore, account_key

if TYPE_CHECKING:
    from services.core import AccountRow, Parley

log = logging.getLogger(__name__)

CLIENT_NAME = "Parley"
#: Shown on the server's authorization page; empty until the project has a public home page.
WEBSITE = ""
#: What Parley asks for: read mentions and threads, know who it is, and post replies. Nothing else.
SCOPES = "read:notifications read:statuses read:accounts write:statuses"
#: The "show me the code" redirect, for pasting when the browser cannot reach this machine's listener.
OOB = "urn:ietf:wg:oauth:2.0:oob"
LOOPBACK_HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"
#: Registrations per instance (client_id and redirect URIs); the client secrets are in the keyring.
APPS_FILE = "mastodon-apps.json"
#: The keyring "network" under which client secrets are filed (``mastodon-app:https://host:CLIENT_ID``).
SECRET_KIND = "mastodon-app"
#: How long to wait for the browser to come back.
CALLBACK_TIMEOUT = 600.0
HTTP_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


class SignInError(ParleyError):
    """The sign-in did not complete (declined, timed out, a wrong or used code); start it again."""

    kind = "sign_in"


def normalise_instance(text: str) -> str:
    """``https://host`` from a server name, an address or a full handle (``@me@host``, ``me@host``).

    Raises:
        InvalidInput: Not a server address (plain http is only accepted for this machine).
    """
    value = text.strip()
    if "://" not in value and "@" in value:
        # A handle: the server is what follows the last @.
        value = value.rsplit("@", 1)[1]
    return mastodon.normalise_url(value)


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` for the S256 method (RFC 7636)."""
    # 64 random bytes give 86 characters of [A-Za-z0-9_-], inside the 43..128 the RFC allows.
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AppRegistration:
    """Parley's registration on one instance (the client secret is kept apart, in the keyring)."""

    instance: str
    client_id: str
    redirect_uris: tuple[str, ...]
    scopes: str
    registered_at: str

    @property
    def secret_key(self) -> str:
        """The keyring name of this registration's client secret."""
        return account_key(SECRET_KIND, self.instance, self.client_id)

    def loopback_port(self) -> int | None:
        """The port of the registered loopback redirect, if there is one."""
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme == "http" and parts.hostname == LOOPBACK_HOST and parts.path == CALLBACK_PATH:
                return parts.port
        return None


class AppCache:
    """One registration per instance, in a small JSON file in the data dir (blocking: call it off the loop).

    Not the database: a registration exists before any account row, serves every account on that
    instance, and names a port on this machine, while the database may be shared by a team.
    """

    def __init__(self, data_dir: Path, secrets_store: SecretStore) -> None:
        self.path = data_dir / APPS_FILE
        self.secrets = secrets_store

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("%s cannot be read; Parley registers again where needed", self.path)
            return {}
        apps = doc.get("apps") if isinstance(doc, dict) else None
        return apps if isinstance(apps, dict) else {}

    def _write(self, apps: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{APPS_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": 1, "apps": apps}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def get(self, instance: str) -> tuple[AppRegistration, Secret] | None:
        """The registration for ``instance`` with its secret, or None (also when the secret is gone)."""
        entry = self._read().get(instance)
        if not isinstance(entry, dict) or not entry.get("client_id"):
            return None
        reg = AppRegistration(
            instance=instance,
            client_id=str(entry["client_id"]),
            redirect_uris=tuple(str(u) for u in entry.get("redirect_uris") or ()),
            scopes=str(entry.get("scopes") or ""),
            registered_at=str(entry.get("registered_at") or ""),
        )
        secret = self.secrets.get(reg.secret_key)
        return (reg, secret) if secret else None

    def put(self, reg: AppRegistration, secret: Secret) -> None:
        """Keep ``reg`` for its instance (replacing an older one, whose secret is deleted)."""
        # The secret first: a registration on file is never without it.
        self.secrets.set(reg.secret_key, secret)
        apps = self._read()
        old = apps.get(reg.instance)
        apps[reg.instance] = {
            "client_id": reg.client_id,
            "redirect_uris": list(reg.redirect_uris),
            "scopes": reg.scopes,
            "registered_at": reg.registered_at,
        }
        self._write(apps)
        if isinstance(old, dict) and old.get("client_id") and old["client_id"] != reg.client_id:
            self.secrets.delete(account_key(SECRET_KIND, reg.instance, str(old["client_id"])))

    def forget(self, instance: str) -> None:
        """Drop the registration of ``instance`` (the server no longer knows it)."""
        apps = self._read()
        old = apps.pop(instance, None)
        if old is None:
            return
        self._write(apps)
        if isinstance(old, dict) and old.get("client_id"):
            self.secrets.delete(account_key(SECRET_KIND, instance, str(old["client_id"])))


def _free_port() -> int:
    """A port that is free on the loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK_HOST, 0))
        return int(sock.getsockname()[1])


def _page(title: str, text: str) -> bytes:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
        "color:#222}h1{font-size:1.4rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    ).encode()


class _Loopback:
    """A one-shot HTTP listener on 127.0.0.1 that receives the browser's redirect with the code."""

    def __init__(self, state: str, host_name: str) -> None:
        self.state = state
        self.host_name = host_name
        self.server: asyncio.Server | None = None
        self.port = 0
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def open(self, preferred: int | None) -> None:
        """Listen on ``preferred`` when it is free (so a cached registration fits), else on any free port."""
        for port in ([preferred] if preferred else []) + [0]:
            try:
                self.server = await asyncio.start_server(self._handle, LOOPBACK_HOST, port)
            except OSError:
                continue
            self.port = int(self.server.sockets[0].getsockname()[1])
            return
        raise OSError("no loopback port could be opened")

    @property
    def redirect_uri(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}{CALLBACK_PATH}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
            self.server = None
        if self.result.done() and not self.result.cancelled():
            self.result.exception()  # mark it retrieved: nobody may be waiting any more
        elif not self.result.done():
            self.result.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            target = urlsplit(rest.rpartition(" ")[0] or rest)
            if method != "GET":
                status, body = 405, _page("Not here", "This address only takes the browser's return from sign-in.")
            elif target.path != CALLBACK_PATH:
                status, body = 404, _page("Not here", "This address only takes the browser's return from sign-in.")
            else:
                status, body = self._outcome(parse_qs(target.query))
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the browser went away; it can try the link again
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _outcome(self, params: dict[str, list[str]]) -> tuple[int, bytes]:
        state = (params.get("state") or [""])[0]
        if not state or not hmac.compare_digest(state.encode(), self.state.encode()):
            # Not our sign-in (an old tab, or another page poking the port): refuse it and keep waiting.
            log.warning("the sign-in listener refused a return with the wrong state")
            return 400, _page(
                "This is not the sign-in Parley is waiting for",
                "This link belongs to another (older) sign-in. Close this tab and start again from Parley.",
            )
        if self.result.done():
            return 200, _page("Parley has this sign-in", "You can close this tab and return to Parley.")
        error = (params.get("error") or [""])[0]
        code = (params.get("code") or [""])[0]
        if error or not code:
            why = "access_denied" if error == "access_denied" else ((params.get("error_description") or [error])[0])
            if why == "access_denied":
                self.result.set_exception(SignInError(f"The sign-in was declined on {self.host_name}."))
            else:
                self.result.set_exception(
                    SignInError(f"{self.host_name} did not sign Parley in ({why or 'no code came back'}).")
                )
            return 200, _page("Sign-in cancelled", "You can close this tab and try again from Parley.")
        self.result.set_result(code)
        return 200, _page("Parley is signed in", "You can close this tab and return to Parley.")


class MastodonSignIn:
    """One sign-in to one Mastodon instance (a GUI dialog or ``accounts add mastodon --instance URL``).

    Use it as ``async with core.mastodon_sign_in("mastodon.social") as s``: ``url = await s.start()``, open
    ``url`` in the browser, then either ``await s.wait_for_callback()`` (the loopback listener catches the
    redirect) or take a pasted code, and ``await s.finish(code)``. ``s.oob_url`` is the address to offer when
    the browser cannot reach this machine: the server then shows a code to paste.

    Args:
        instance: What the person typed: ``mastodon.social``, ``https://host`` or ``@me@host``.
        data_dir: Where the registration cache lives.
        core: The core whose ``add_mastodon_account`` stores the account (needed by ``finish``).
        secrets_store: Where the client secret and token go (default: the core's, else one on ``data_dir``).
        client: An ``httpx.AsyncClient`` to use (tests pass a ``MockTransport``); else Parley's own.
        loopback: Listen on 127.0.0.1 for the redirect; False gives the paste-the-code flow only (the CLI).
        force_login: Ask the server to show its login form even when the browser is signed in (to add a
            brand account from a browser signed in as someone else).
        website: The home page shown on the server's authorization page.
    """

    def __init__(
        self,
        instance: str,
        data_dir: Path,
        *,
        core: Parley | None = None,
        secrets_store: SecretStore | None = None,
        client: httpx.AsyncClient | None = None,
        loopback: bool = True,
        force_login: bool = False,
        website: str = WEBSITE,
    ) -> None:
        self.instance = normalise_instance(instance)
        self.host = urlsplit(self.instance).netloc
        self.core = core
        if secrets_store is None:
            secrets_store = core.networks.secrets if core is not None else SecretStore(data_dir)
        self.secrets = secrets_store
        self.cache = AppCache(data_dir, secrets_store)
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self.want_loopback = loopback
        self.force_login = force_login
        self.website = website
        self.state = secrets.token_urlsafe(32)
        self._verifier, self._challenge = pkce_pair()
        self.pkce = False
        self.registration: AppRegistration | None = None
        self._client_secret: Secret | None = None
        self._loopback: _Loopback | None = None
        self._callback_code: str | None = None
        self._done = False
        self.authorize_url = ""
        self.oob_url = ""

    async def __aenter__(self) -> MastodonSignIn:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def redirect_uri(self) -> str:
        """Where the browser returns: the loopback listener, or the paste-the-code page."""
        return self._loopback.redirect_uri if self._loopback is not None else OOB

    @property
    def uses_loopback(self) -> bool:
        """Whether a listener is waiting for the browser (else only a pasted code finishes)."""
        return self._loopback is not None

    # -- HTTP ----------------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        headers = {"User-Agent": mastodon.USER_AGENT, "Accept": "application/json"}
        try:
            response = await self._client.request(method, self.instance + path, data=data, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise InvalidInput(f"{self.instance} is not a usable server address.") from None
        except httpx.TransportError as exc:
            raise Offline(f"{self.host} cannot be reached ({type(exc).__name__}).") from None
        if response.status_code == 429:
            reset = mastodon.parse_reset(response.headers.get("X-RateLimit-Reset"), response.headers.get("Date"))
            raise RateLimited(f"{self.host} asked us to slow down; try signing in again in a few minutes.", reset)
        if response.status_code >= 500:
            raise Offline(f"{self.host} is having problems (HTTP {response.status_code}); try again later.")
        return response

    @staticmethod
    def _body(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    # -- the steps -----------------------------------------------------------------------------------

    async def discover_pkce(self) -> bool:
        """Whether the server takes PKCE (4.3+ publish ``/.well-known/oauth-authorization-server``; older: 404)."""
        response = await self._call("GET", "/.well-known/oauth-authorization-server")
        if response.status_code != 200:
            return False
        meta = self._body(response)
        methods = meta.get("code_challenge_methods_supported")
        supported = isinstance(methods, list) and "S256" in methods
        scopes = meta.get("scopes_supported")
        if isinstance(scopes, list) and not set(SCOPES.split()) <= set(map(str, scopes)):
            log.warning("%s does not list every scope Parley asks for; the sign-in may be refused", self.host)
        return supported

    async def _registration(self, redirect: str) -> tuple[AppRegistration, Secret]:
        """The cached registration when it has ``redirect`` and our scopes, else a new one (and cache it)."""
        cached = await asyncio.to_thread(self.cache.get, self.instance)
        if cached is not None:
            reg, secret = cached
            if reg.scopes == SCOPES and redirect in reg.redirect_uris and OOB in reg.redirect_uris:
                return cached
        loopback = redirect if redirect != OOB else f"http://{LOOPBACK_HOST}:{_free_port()}{CALLBACK_PATH}"
        uris = (loopback, OOB)
        form = {
            "client_name": CLIENT_NAME,
            # One string with the URIs on separate lines: servers before 4.3 take only a string (Doorkeeper
            # splits it), 4.3+ take that as well as an array.
            "redirect_uris": "\n".join(uris),
            "scopes": SCOPES,
        }
        if self.website:
            form["website"] = self.website
        response = await self._call("POST", "/api/v1/apps", form)
        body = self._body(response)
        if response.status_code != 200:
            why = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {response.status_code}"
            raise SignInError(f"{self.host} refused to register Parley ({why}).")
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str) or not client_secret:
            raise SignInError(f"{self.host} did not answer like a Mastodon server when Parley registered.")
        reg = AppRegistration(self.instance, client_id, uris, SCOPES, datetime.now(UTC).isoformat())
        secret = Secret(client_secret)
        await asyncio.to_thread(self.cache.put, reg, secret)
        log.info("registered Parley on %s", self.host)
        return reg, secret

    def _authorize(self, redirect: str) -> str:
        assert self.registration is not None
        params = {
            "response_type": "code",
            "client_id": self.registration.client_id,
            "redirect_uri": redirect,
            "scope": SCOPES,
            "state": self.state,
        }
        if self.pkce:
            params.update(code_challenge=self._challenge, code_challenge_method="S256")
        if self.force_login:
            params["force_login"] = "true"
        return f"{self.instance}/oauth/authorize?{urlencode(params)}"

    async def start(self) -> str:
        """Register (or reuse the registration), open the listener, and return the address to open in a browser.

        Raises:
            SecretsUnavailable: There is nowhere safe to keep the token.
            Offline, RateLimited: The server cannot be reached or asked us to wait.
            SignInError: The server refused to register Parley.
        """
        # Fail before the person approves anything when the token could not be kept.
        await asyncio.to_thread(self.secrets.check)
        self.pkce = await self.discover_pkce()
        if self.want_loopback and self._loopback is None:
            cached = await asyncio.to_thread(self.cache.get, self.instance)
            listener = _Loopback(self.state, self.host)
            try:
                # The cached registration's port first: when it is free, no new registration is needed.
                await listener.open(cached[0].loopback_port() if cached else None)
                self._loopback = listener
            except OSError:
                log.warning("no loopback port could be opened; the code will have to be pasted")
        self.registration, self._client_secret = await self._registration(self.redirect_uri)
        self.oob_url = self._authorize(OOB)
        self.authorize_url = self._authorize(self.redirect_uri)
        return self.authorize_url

    async def wait_for_callback(self, seconds: float = CALLBACK_TIMEOUT) -> str:
        """The code the browser brought back to the listener.

        Raises:
            SignInError: The sign-in was declined, or no answer came within ``seconds``.
        """
        if self._loopback is None or self._loopback.result.cancelled():
            raise SignInError("Parley is not listening for the browser here; paste the code the server shows.")
        try:
            code = await asyncio.wait_for(asyncio.shield(self._loopback.result), seconds)
        except TimeoutError:
            await self._close_listener()
            raise SignInError(
                f"No answer came from the browser within {round(seconds / 60) or 1} minutes; "
                "start the sign-in again, or paste the code instead."
            ) from None
        except SignInError:
            await self._close_listener()
            raise
        self._callback_code = code
        await self._close_listener()
        return code

    def _code_and_redirect(self, pasted: str) -> tuple[str, str]:
        """The code, and the redirect URI it was issued for, from a pasted code or a pasted return address."""
        text = pasted.strip()
        if "code=" in text:
            # The whole return address was pasted (the browser showed "cannot connect").
            query = parse_qs(urlsplit(text).query or text)
            state = (query.get("state") or [""])[0]
            if not hmac.compare_digest(state.encode(), self.state.encode()):
                raise SignInError("That address belongs to another sign-in; start again from Parley.")
            code = (query.get("code") or [""])[0]
            redirect = text.split("?", 1)[0]
            if redirect.startswith("http://") and self.registration and redirect in self.registration.redirect_uris:
                return code, redirect
            return code, self.redirect_uri
        if self._callback_code is not None and hmac.compare_digest(text.encode(), self._callback_code.encode()):
            return text, self._loopback_uri()
        return text, OOB

    def _loopback_uri(self) -> str:
        assert self.registration is not None
        return next(u for u in self.registration.redirect_uris if u != OOB)

    async def exchange(self, code: str) -> Secret:
        """Trade the code for an access token (once).

        Raises:
            SignInError: The code is wrong, used or expired, or the server forgot Parley's registration.
        """
        if self.registration is None or self._client_secret is None:
            raise SignInError("Start the sign-in first.")
        if self._done:
            raise SignInError("This sign-in is finished; start a new one to add another account.")
        code, redirect = self._code_and_redirect(code)
        if not code:
            raise InvalidInput("The code is empty; paste the code the server showed.")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.registration.client_id,
            "client_secret": self._client_secret.reveal(),
            "redirect_uri": redirect,
        }
        if self.pkce:
            form["code_verifier"] = self._verifier
        response = await self._call("POST", "/oauth/token", form)
        body = self._body(response)
        error = body.get("error")
        if error == "invalid_grant" and redirect == OOB and self._loopback is not None:
            # A bare code copied from the browser's address bar was issued for the loopback address; a
            # mismatched redirect does not use the code up, so the other address may still take it.
            form["redirect_uri"] = self._loopback_uri()
            response = await self._call("POST", "/oauth/token", form)
            body = self._body(response)
            error = body.get("error")
        if response.status_code == 401 or error == "invalid_client":
            # The server no longer knows the registration (before 4.3 unused apps were cleaned away).
            await asyncio.to_thread(self.cache.forget, self.instance)
            raise SignInError(f"{self.host} no longer knows Parley's registration; start the sign-in again.")
        if error == "invalid_grant":
            raise SignInError(
                f"{self.host} did not accept that code: it may be mistyped, used already or expired. "
                "Start the sign-in again."
            )
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            why = error if isinstance(error, str) else f"HTTP {response.status_code}"
            raise SignInError(f"{self.host} did not hand out a token ({why}); start the sign-in again.")
        self._done = True
        return Secret(token)

    async def finish(self, code: str | None = None) -> AccountRow:
        """Exchange the code (the listener's, or a pasted one), check the token and add the account.

        The token goes to the keyring through ``core.add_mastodon_account``, never to the database.

        Raises:
            SignInError: See ``exchange``.
            Offline, AuthExpired, Rejected: The server cannot be reached or refused the new token.
        """
        if self.core is None:
            raise SignInError("This sign-in has nowhere to add the account.")
        if code is None:
            if self._callback_code is None:
                raise SignInError("No code came back from the browser yet.")
            code = self._callback_code
        token = await self.exchange(code)
        await self._close_listener()
        return await self.core.add_mastodon_account(self.instance, token, client=self._client)

    async def _close_listener(self) -> None:
        if self._loopback is not None:
            await self._loopback.close()

    async def aclose(self) -> None:
        """Stop listening and release connections."""
        await self._close_listener()
        if self._own_client:
            await self._client.aclose()
