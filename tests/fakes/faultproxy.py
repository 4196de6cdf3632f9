"""A fault-injecting HTTP/1.1 reverse proxy on 127.0.0.1, placed between Parley and a fake server.

Per request it reads the request head and body from the client, decides by a seeded random schedule
whether to inject one fault, and otherwise forwards the request to the upstream over a fresh
connection (``Connection: close``) and relays the answer. At most one fault is injected per request:

``reset_before``
    The client connection is reset (TCP RST) and nothing is forwarded: the request never arrived.
``reset_after``
    The request is forwarded, the upstream handles it, and then the client connection is reset: the
    answer is lost, the classic "did it arrive?" case.
``delay``
    The request is held for a time drawn from ``[min_delay, max_delay]`` (set ``min_delay`` above the
    client's timeout) and then **always forwarded, even when the client has given up and gone**. This
    is deliberate: a request that lands after its sender timed out (and after a reconciliation may
    already have looked for it) is the hazard the outbox must survive, so the proxy produces it rather
    than hiding it. It stays bounded: a held request reaches the upstream within ``max_delay`` of its
    arrival at the proxy (plus the upstream's own handling time), so an outbox that waits a settle time
    longer than ``max_delay`` before reconciling an unknown send can never be overtaken by it.
``error_before``
    The proxy answers 502, 503 or 504 itself without forwarding.
``error_after``
    The request is forwarded and the upstream's answer is replaced by a 502, 503 or 504.
``rate_limit``
    The proxy answers 429 with Mastodon-style ``X-RateLimit-Limit/Remaining/Reset`` headers (the
    reset is an ISO 8601 timestamp ``rate_limit_reset`` seconds ahead) without forwarding.
``outage``
    The network goes away for a stretch drawn from ``outage_seconds``: the triggering request is reset
    unforwarded, every open client connection is reset, and the listening socket is closed so that new
    connections are refused (a client sees "connection refused", i.e. offline). The proxy listens on
    the same port again when the stretch is over. ``cut(seconds)`` starts one by hand.

Everything the proxy did is counted (``counters()``; ``GET /_faultproxy/stats`` answers them as
JSON without faults). Use it in-process (``start()``/``stop()``, ``url``) or as a program::

    python -m tests.fakes.faultproxy --listen 8081 --upstream http://127.0.0.1:8080 --seed 7 \\
        --rates reset_before=0.02,reset_after=0.02,delay=0.01,error_before=0.01,error_after=0.01 \\
        --max-delay 3 --min-delay 1.5

Only plain HTTP to 127.0.0.1 (or another loopback host given explicitly) is supported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

#: The fault kinds, in the order the schedule tests them.
FAULT_KINDS = ("reset_before", "reset_after", "delay", "error_before", "error_after", "rate_limit", "outage")
#: Headers that belong to one connection and are never relayed as they are.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
STATS_PATH = "/_faultproxy/stats"
RATES_PATH = "/_faultproxy/rates"
MAX_HEAD = 64 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class FaultRates:
    """The chance (0..1) of each fault kind per request; their sum must not exceed 1."""

    reset_before: float = 0.0
    reset_after: float = 0.0
    delay: float = 0.0
    error_before: float = 0.0
    error_after: float = 0.0
    rate_limit: float = 0.0
    outage: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the rate of {f.name} must be between 0 and 1, not {value}")
        if self.total() > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {self.total():.3f}, more than 1")

    def total(self) -> float:
        """The chance that a request gets any fault."""
        return float(sum(getattr(self, k) for k in FAULT_KINDS))

    def as_dict(self) -> dict[str, float]:
        """The rates by kind."""
        return {k: getattr(self, k) for k in FAULT_KINDS}

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """Read ``"reset_before=0.02,delay=0.01"`` (unnamed kinds are 0; ``all=R`` gives each kind R).

        Raises:
            ValueError: for an unknown kind or a bad number.
        """
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"expected KIND=RATE, got {part!r}")
            if key == "all":
                values.update(dict.fromkeys(FAULT_KINDS, float(raw)))
            elif key in FAULT_KINDS:
                values[key] = float(raw)
            else:
                raise ValueError(f"unknown fault kind {key!r}; known: {', '.join(FAULT_KINDS)}")
        return cls(**values)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FaultRates:
        """Rates from a JSON object (unknown keys are an error)."""
        unknown = set(data) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in data.items()})


@dataclass(slots=True)
class Request:
    """One HTTP request as read from the client."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @property
    def wants_close(self) -> bool:
        """Whether the client asked to close the connection after this exchange."""
        conn = (self.header("connection") or "").lower()
        return "close" in conn or (self.version == "HTTP/1.0" and "keep-alive" not in conn)


@dataclass(slots=True)
class Response:
    """One HTTP response, fully read."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class BadRequest(Exception):
    """The client sent something that is not an HTTP/1.1 request we can relay."""


class FaultProxy:
    """The proxy. Thread-safe to start, stop, query and re-configure from any thread."""

    def __init__(
        self,
        upstream: str,
        *,
        rates: FaultRates | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        min_delay: float | None = None,
        max_delay: float = 3.0,
        outage_seconds: tuple[float, float] = (0.5, 2.0),
        rate_limit_reset: float = 1.0,
        rate_limit_limit: int = 300,
        methods: Iterable[str] | None = None,
        upstream_timeout: float = 30.0,
    ) -> None:
        """Configure the proxy (nothing listens before ``start()``).

        Args:
            upstream: ``http://HOST:PORT`` of the server behind the proxy.
            rates: the fault schedule (no faults by default).
            seed: seeds the schedule; the same seed and request order give the same faults.
            host: where to listen (loopback only).
            port: the port to listen on (0 picks a free one).
            min_delay: the shortest hold of a delayed request (default: half of ``max_delay``).
            max_delay: the longest hold of a delayed request; it is forwarded by then at the latest.
            outage_seconds: the range an outage lasts.
            rate_limit_reset: seconds from now to the ``X-RateLimit-Reset`` of a 429.
            rate_limit_limit: the ``X-RateLimit-Limit`` of a 429.
            methods: only requests with these methods get faults (default: every request).
            upstream_timeout: how long to wait for the upstream before answering 502.
        """
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the upstream must be http://HOST:PORT, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.host = host
        self.port = port
        self.rates = rates or FaultRates()
        self.max_delay = max_delay
        self.min_delay = max_delay / 2 if min_delay is None else min_delay
        if not 0 <= self.min_delay <= self.max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        self.outage_seconds = outage_seconds
        self.rate_limit_reset = rate_limit_reset
        self.rate_limit_limit = rate_limit_limit
        self.methods = frozenset(m.upper() for m in methods) if methods else None
        self.upstream_timeout = upstream_timeout
        self._rng = random.Random(seed)
        self._counts: Counter[str] = Counter()
        self._history: deque[tuple[str, str, str | None]] = deque(maxlen=100_000)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outage_until = 0.0
        self._down = False  # the listener is closed for an outage
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # -- control (any thread) -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        """Listen in a background thread; returns self once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        self._thread = threading.Thread(target=self._run_thread, name="faultproxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise self._start_error
        if not self._started.is_set():
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection and held request, and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_rates(self, rates: FaultRates) -> None:
        """Change the schedule from now on (``FaultRates()`` turns faults off)."""
        self.rates = rates

    def counters(self) -> dict[str, int]:
        """A snapshot of what the proxy did, by name (see the module docstring for the kinds).

        Besides one count per fault kind: ``requests`` (read from clients), ``forwarded`` (reached
        the upstream), ``relayed`` (answers passed back unchanged), ``delayed_client_gone`` (held
        requests forwarded after their client had left), ``outage_connections_reset`` and
        ``upstream_errors`` (the upstream could not be reached; answered 502).
        """
        with self._lock:
            return dict(self._counts)

    def history(self) -> list[tuple[str, str, str | None]]:
        """The latest requests (up to 100,000) as ``(method, path, fault or None)``, oldest first."""
        with self._lock:
            return list(self._history)

    @property
    def offline(self) -> bool:
        """Whether an outage is on now (from its start until the proxy listens again)."""
        return self._down

    def cut(self, seconds: float) -> None:
        """Start an outage of ``seconds`` now (new connections are refused until it ends)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the proxy is not running")
        asyncio.run_coroutine_threadsafe(self._begin_outage(seconds), loop).result(10)

    # -- the loop thread ------------------------------------------------------------------------

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # handed to start()'s caller
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> None:
        last: OSError | None = None
        for _ in range(50):  # the port may take a moment to free after an outage
            try:
                self._server = await asyncio.start_server(
                    self._serve_client, self.host, self.port, reuse_address=True, limit=MAX_HEAD
                )
                break
            except OSError as exc:
                last = exc
                await asyncio.sleep(0.1)
        else:
            assert last is not None
            raise last
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._outage_until, self._down = 0.0, False
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._clients):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _choose(self, req: Request) -> str | None:
        """Draw this request's fault (or None) from the seeded schedule."""
        # One draw per request, always, so the schedule depends only on the seed and request order.
        roll = self._rng.random()
        if self.methods is not None and req.method not in self.methods:
            return None
        rates = self.rates
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += getattr(rates, kind)
            if roll < edge:
                return kind
        return None

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except BadRequest as exc:
                    await _write(writer, _plain(400, str(exc)), close=True)
                    return
                if req is None:
                    return
                if not await self._handle(req, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            return
        finally:
            self._clients.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _handle(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; returns whether the connection stays open for the next one."""
        path = urlsplit(req.target).path
        if path == STATS_PATH:
            await _write(writer, _json(200, self.counters()), close=req.wants_close)
            return not req.wants_close
        if path == RATES_PATH and req.method == "POST":
            try:
                self.rates = FaultRates.from_mapping(json.loads(req.body or b"{}"))
                reply = _json(200, self.rates.as_dict())
            except (ValueError, TypeError) as exc:
                reply = _json(400, {"error": str(exc)})
            await _write(writer, reply, close=req.wants_close)
            return not req.wants_close
        self._count("requests")
        fault = self._choose(req)
        with self._lock:
            self._history.append((req.method, path, fault))
            if fault is not None:
                self._counts[fault] += 1
        keep = not req.wants_close
        if fault == "outage":  # this connection is reset with every other open one
            await self._begin_outage(self._rng.uniform(*self.outage_seconds))
            return False
        if fault == "reset_before":
            _reset(writer)
            return False
        if fault == "rate_limit":
            await _write(writer, self._too_many(), close=not keep)
            return keep
        if fault == "error_before":
            await _write(writer, self._server_error("the proxy answered without forwarding"), close=not keep)
            return keep
        if fault == "delay":
            # Held, then forwarded whatever the client did meanwhile (see the module docstring).
            await asyncio.sleep(self._rng.uniform(self.min_delay, self.max_delay))
        answer = await self._forward(req)
        if fault == "delay" and _client_gone(reader, writer):
            self._count("delayed_client_gone")
            return False
        if fault == "reset_after":
            _reset(writer)
            return False
        if answer is None:
            answer = Response(502, REASONS[502], [("Content-Type", "application/json")], _err_body("upstream down"))
        elif fault == "error_after":
            answer = self._server_error("the upstream's answer was replaced")
        else:
            self._count("relayed")
        await _write(writer, answer, close=not keep)
        return keep

    async def _forward(self, req: Request) -> Response | None:
        """Send the request to the upstream over a fresh connection and read the whole answer (None: failed)."""
        try:
            return await asyncio.wait_for(self._exchange(req), self.upstream_timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, BadRequest, ValueError):
            self._count("upstream_errors")
            return None

    async def _exchange(self, req: Request) -> Response:
        r, w = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=MAX_HEAD)
        try:
            head = [f"{req.method} {req.target} HTTP/1.1"]
            head += [f"{k}: {v}" for k, v in req.headers if k.lower() not in HOP_BY_HOP]
            head += [f"Content-Length: {len(req.body)}"] if req.body or req.method in ("POST", "PUT", "PATCH") else []
            head += ["Connection: close"]
            w.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + req.body)
            await w.drain()
            self._count("forwarded")
            return await _read_response(r, head_only=req.method == "HEAD")
        finally:
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()

    async def _begin_outage(self, seconds: float) -> None:
        self._outage_until = max(self._outage_until, time.monotonic() + seconds)
        already, self._down = self._down, True
        if self._server is not None:
            self._server.close()  # no listener: new connections are refused
            self._server = None
        resets = 0
        for w in list(self._clients):
            _reset(w)
            resets += 1
        self._count("outage_connections_reset", resets)
        if not already:
            self._spawn(self._end_outage())

    async def _end_outage(self) -> None:
        await asyncio.sleep(max(0.0, self._outage_until - time.monotonic()))
        if time.monotonic() < self._outage_until:  # extended meanwhile
            self._spawn(self._end_outage())
            return
        await self._listen()
        self._outage_until, self._down = 0.0, False

    def _too_many(self) -> Response:
        now = datetime.now(UTC)
        reset = now + timedelta(seconds=self.rate_limit_reset)
        headers = [
            ("Content-Type", "application/json"),
            ("X-RateLimit-Limit", str(self.rate_limit_limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            ("Date", now.strftime("%a, %d %b %Y %H:%M:%S GMT")),
        ]
        return Response(429, REASONS[429], headers, _err_body("Too many requests"))

    def _server_error(self, why: str) -> Response:
        status = self._rng.choice((502, 503, 504))
        return Response(status, REASONS[status], [("Content-Type", "application/json")], _err_body(why))


# -- HTTP/1.1 framing -------------------------------------------------------------------------------


def _parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    return lines[0], headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]], *, to_eof: bool) -> bytes:
    """A message body framed by chunked encoding, Content-Length, or (responses only) the end of the stream."""
    te = next((v for k, v in headers if k.lower() == "transfer-encoding"), "")
    if "chunked" in te.lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    if length is not None:
        if not length.isdigit():
            raise BadRequest(f"bad Content-Length {length!r}")
        return await reader.readexactly(int(length))
    return await reader.read() if to_eof else b""


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a client connection, or None when the client closed it."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("the request head was cut off") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("the request head is too long") from None
    start, headers = _parse_head(raw)
    parts = start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"not an HTTP/1.x request line: {start!r}")
    try:
        body = await _read_body(reader, headers, to_eof=False)
    except ValueError:
        raise BadRequest("bad chunked body") from None
    return Request(parts[0].upper(), parts[1], parts[2], headers, body)


async def _read_response(reader: asyncio.StreamReader, *, head_only: bool) -> Response:
    raw = await reader.readuntil(b"\r\n\r\n")
    start, headers = _parse_head(raw)
    parts = start.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise BadRequest(f"not an HTTP status line: {start!r}")
    status = int(parts[1])
    no_body = head_only or status < 200 or status in (204, 304)
    body = b"" if no_body else await _read_body(reader, headers, to_eof=True)
    return Response(status, parts[2] if len(parts) > 2 else "", headers, body)


async def _write(writer: asyncio.StreamWriter, resp: Response, *, close: bool) -> None:
    head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
    head += [f"{k}: {v}" for k, v in resp.headers if k.lower() not in HOP_BY_HOP]
    head += [f"Content-Length: {len(resp.body)}", f"Connection: {'close' if close else 'keep-alive'}"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _client_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    return writer.is_closing() or reader.at_eof() or reader.exception() is not None


def _err_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _json(status: int, data: Any) -> Response:
    return Response(status, REASONS.get(status, ""), [("Content-Type", "application/json")], json.dumps(data).encode())


def _plain(status: int, message: str) -> Response:
    return Response(status, REASONS.get(status, ""), [("Content-Type", "text/plain")], message.encode())


# -- the program ------------------------------------------------------------------------------------


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    a = float(low)
    return (a, float(high) if high else a)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy until SIGINT or SIGTERM, then print its counters as JSON."""
    p = argparse.ArgumentParser(prog="python -m tests.fakes.faultproxy", description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the server behind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rates", default="", type=FaultRates.parse, help="KIND=RATE,... kinds: " + ", ".join(FAULT_KINDS))
    p.add_argument("--max-delay", type=float, default=3.0)
    p.add_argument("--min-delay", type=float, default=None)
    p.add_argument("--outage-seconds", type=_range, default=(0.5, 2.0), help="A or A,B")
    p.add_argument("--rate-limit-reset", type=float, default=1.0)
    p.add_argument("--methods", default="", help="only these methods get faults, e.g. POST,GET")
    args = p.parse_args(argv)
    proxy = FaultProxy(
        args.upstream,
        rates=args.rates,
        seed=args.seed,
        port=args.listen,
        min_delay=args.min_delay,
        max_delay=args.max_delay,
        outage_seconds=args.outage_seconds,
        rate_limit_reset=args.rate_limit_reset,
        methods=[m for m in args.methods.split(",") if m] or None,
    ).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"faultproxy listening on {proxy.url} -> {args.upstream}", flush=True)
    while not stop.wait(0.5):
        pass
    proxy.stop()
    print(json.dumps(proxy.counters(), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
