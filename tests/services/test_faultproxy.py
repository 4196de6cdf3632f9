"""The fault-injection proxy: every fault kind as an httpx client sees it, and what reached the upstream."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.fakes.faultproxy import FaultProxy, FaultRates

ROOT = Path(__file__).resolve().parents[2]


class Upstream:
    """A tiny HTTP server on 127.0.0.1 that records every request and echoes it back as JSON."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    seen.append((self.command, self.path, body))
                out = json.dumps(
                    {"method": self.command, "path": self.path, "body": body.decode(), "host": self.headers["Host"]}
                ).encode()
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Upstream", "yes")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self) -> list[bytes]:
        return [b for m, _, b in self.seen if m == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


def proxy_for(upstream: Upstream, **kw: object) -> FaultProxy:
    return FaultProxy(upstream.url, **kw).start()  # type: ignore[arg-type]


def wait_for(pred: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_without_faults_requests_and_answers_are_relayed(upstream: Upstream) -> None:
    with proxy_for(upstream) as proxy, httpx.Client(base_url=proxy.url, timeout=5) as client:
        got = client.get("/api/v1/notifications?limit=2")
        posted = client.post("/api/v1/statuses", json={"status": "hello"}, headers={"Idempotency-Key": "k1"})
        chunked = client.post("/api/v1/statuses", content=iter([b"ab", b"cd"]))
    assert got.status_code == 200 and got.headers["x-upstream"] == "yes"
    assert got.json()["path"] == "/api/v1/notifications?limit=2"
    assert got.json()["host"] == proxy.url.removeprefix("http://")  # a transparent reverse proxy
    assert posted.status_code == 201 and json.loads(posted.json()["body"]) == {"status": "hello"}
    assert chunked.json()["body"] == "abcd"  # a chunked request body is forwarded with a length
    assert proxy.counters() == {"requests": 3, "forwarded": 3, "relayed": 3}


def test_reset_before_never_reaches_the_upstream(upstream: Upstream) -> None:
    with proxy_for(upstream, rates=FaultRates(reset_before=1.0)) as proxy, httpx.Client(base_url=proxy.url) as client:
        with pytest.raises(httpx.TransportError) as caught:
            client.post("/api/v1/statuses", json={"status": "x"})
    assert not isinstance(caught.value, httpx.ConnectError)  # connected, then reset: not "offline"
    assert upstream.posts() == []
    assert proxy.counters()["reset_before"] == 1 and "forwarded" not in proxy.counters()


def test_reset_after_loses_the_answer_of_a_handled_request(upstream: Upstream) -> None:
    with proxy_for(upstream, rates=FaultRates(reset_after=1.0)) as proxy, httpx.Client(base_url=proxy.url) as client:
        with pytest.raises(httpx.TransportError):
            client.post("/api/v1/statuses", json={"status": "did it arrive?"})
    assert upstream.posts() == [b'{"status":"did it arrive?"}']
    c = proxy.counters()
    assert c["reset_after"] == 1 and c["forwarded"] == 1 and "relayed" not in c


def test_a_delayed_request_still_arrives_after_the_client_gave_up(upstream: Upstream) -> None:
    rates = FaultRates(delay=1.0)
    with proxy_for(upstream, rates=rates, min_delay=0.5, max_delay=0.7) as proxy:
        started = time.monotonic()
        with httpx.Client(base_url=proxy.url, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
            client.post("/api/v1/statuses", json={"status": "late"})
        assert upstream.posts() == []  # not yet: it is held
        wait_for(lambda: upstream.posts())
        arrived = time.monotonic() - started
        wait_for(lambda: proxy.counters().get("delayed_client_gone") == 1)
    assert 0.5 <= arrived <= 0.7 + 1.5  # within max_delay (plus the upstream's handling on a busy machine)
    assert proxy.counters()["delay"] == 1


def test_a_delay_within_the_clients_timeout_is_only_slow(upstream: Upstream) -> None:
    with proxy_for(upstream, rates=FaultRates(delay=1.0), min_delay=0.2, max_delay=0.3) as proxy:
        started = time.monotonic()
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            got = client.get("/x")
        assert got.status_code == 200 and time.monotonic() - started >= 0.2
        assert proxy.counters()["relayed"] == 1 and "delayed_client_gone" not in proxy.counters()


def test_error_before_answers_5xx_without_forwarding(upstream: Upstream) -> None:
    with proxy_for(upstream, rates=FaultRates(error_before=1.0)) as proxy, httpx.Client(base_url=proxy.url) as client:
        statuses = {client.post("/api/v1/statuses", json={"n": n}).status_code for n in range(30)}
    assert statuses == {502, 503, 504}
    assert upstream.posts() == [] and proxy.counters()["error_before"] == 30


def test_error_after_replaces_the_answer_of_a_handled_request(upstream: Upstream) -> None:
    with proxy_for(upstream, rates=FaultRates(error_after=1.0)) as proxy, httpx.Client(base_url=proxy.url) as client:
        got = client.post("/api/v1/statuses", json={"status": "x"})
    assert got.status_code in (502, 503, 504) and "x-upstream" not in got.headers
    assert len(upstream.posts()) == 1 and proxy.counters()["error_after"] == 1


def test_rate_limit_answers_429_with_mastodon_headers(upstream: Upstream) -> None:
    rates = FaultRates(rate_limit=1.0)
    with proxy_for(upstream, rates=rates, rate_limit_reset=2.0) as proxy, httpx.Client(base_url=proxy.url) as client:
        got = client.post("/api/v1/statuses", json={"status": "x"})
    assert got.status_code == 429 and got.json() == {"error": "Too many requests"}
    assert got.headers["x-ratelimit-limit"] == "300" and got.headers["x-ratelimit-remaining"] == "0"
    reset = datetime.fromisoformat(got.headers["x-ratelimit-reset"])  # ISO 8601, as Mastodon sends it
    assert 0.5 < (reset - datetime.now(UTC)).total_seconds() <= 2.0
    assert upstream.posts() == [] and proxy.counters()["rate_limit"] == 1


def test_an_outage_refuses_connections_for_a_stretch(upstream: Upstream) -> None:
    rates = FaultRates(outage=1.0)
    with proxy_for(upstream, rates=rates, outage_seconds=(0.6, 0.6)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=2) as client:
            with pytest.raises(httpx.TransportError):
                client.get("/first")  # the request that starts the outage is reset
            assert proxy.offline
            with pytest.raises(httpx.ConnectError):  # connection refused: the client is offline
                client.get("/second")
            proxy.set_rates(FaultRates())
            wait_for(lambda: not proxy.offline, timeout=3)
            assert client.get("/third").status_code == 200  # back by itself, on the same port
        assert proxy.counters()["outage"] == 1
        assert [p for _, p, _ in upstream.seen] == ["/third"]


def test_cut_by_hand_resets_open_keep_alive_connections(upstream: Upstream) -> None:
    with proxy_for(upstream) as proxy, httpx.Client(base_url=proxy.url, timeout=2) as client:
        assert client.get("/a").status_code == 200  # leaves a pooled keep-alive connection
        proxy.cut(0.5)
        assert proxy.offline
        with pytest.raises(httpx.TransportError):
            client.get("/b")
        wait_for(lambda: not proxy.offline)
        assert client.get("/c").status_code == 200
        assert proxy.counters()["outage_connections_reset"] >= 1


def test_only_the_chosen_methods_get_faults(upstream: Upstream) -> None:
    rates = FaultRates(reset_before=1.0)
    with proxy_for(upstream, rates=rates, methods=["POST"]) as proxy, httpx.Client(base_url=proxy.url) as client:
        assert client.get("/read").status_code == 200
        with pytest.raises(httpx.TransportError):
            client.post("/write", json={})


def test_the_schedule_depends_only_on_the_seed(upstream: Upstream) -> None:
    rates = FaultRates(reset_before=0.1, error_before=0.2, rate_limit=0.2)

    def run(seed: int) -> list[str | None]:
        with proxy_for(upstream, rates=rates, seed=seed) as proxy, httpx.Client(base_url=proxy.url) as client:
            for n in range(40):
                try:
                    client.get(f"/n/{n}")
                except httpx.TransportError:
                    pass
            return [fault for _, _, fault in proxy.history()]

    first = run(7)
    assert first == run(7) and first != run(8)
    assert {"reset_before", "error_before", "rate_limit", None} == set(first)


def test_rates_are_checked() -> None:
    assert FaultRates.parse("reset_before=0.1, delay=0.05") == FaultRates(reset_before=0.1, delay=0.05)
    assert FaultRates.parse("all=0.1").total() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultRates.parse("explode=0.1")
    with pytest.raises(ValueError, match="more than 1"):
        FaultRates(reset_before=0.6, reset_after=0.6)


def test_runs_as_a_program_and_reports_its_counters(upstream: Upstream) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.faultproxy", "--upstream", upstream.url, "--rates", "error_before=1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ")[0]
        with httpx.Client(base_url=url) as client:
            assert client.get("/x").status_code in (502, 503, 504)
            assert client.get("/_faultproxy/stats").json()["error_before"] == 1
            client.post("/_faultproxy/rates", json={})
            assert client.get("/x").status_code == 200
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert json.loads(out.strip().splitlines()[-1])["requests"] == 2


def test_the_soak_harness_indexed_fake_answers_threads_like_the_fake() -> None:
    from tests.fakes.mastodon import FakeMastodon
    from tests.helpers.outbox_kill import IndexedFakeMastodon

    def thread(fake: FakeMastodon) -> list[tuple[list[str], list[str]]]:
        root = fake.add_mention("maria@social.example", "Down again?")
        a = fake.add_status("acme", "@maria@social.example sorry!", in_reply_to=root["id"])
        b = fake.add_status("maria@social.example", "Still down.", in_reply_to=a["id"])
        fake.add_status("bob@other.example", "Same here.", in_reply_to=root["id"])
        fake.delete_status(a["id"])  # hidden itself, its replies still shown
        fake.add_mention("carol@social.example", "Unrelated.")
        found = [fake._context(fake.statuses[sid]) for sid in (root["id"], b["id"])]
        return [([s["id"] for s in c["ancestors"]], [s["id"] for s in c["descendants"]]) for c in found]

    indexed = thread(IndexedFakeMastodon())
    assert indexed == thread(FakeMastodon())
    assert [len(a) + len(d) for a, d in indexed] == [2, 1]
