"""Mastodon sign-in by instance name: registration cache, PKCE, state, loopback listener, pasted codes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services import commands
from services.core import Parley
from services.errors import InvalidInput
from services.mastodon_auth import (
    APPS_FILE,
    OOB,
    SCOPES,
    AppCache,
    MastodonSignIn,
    SignInError,
    normalise_instance,
    pkce_pair,
)
from services.secrets import INSECURE_FILE, account_key
from services.store.db import open_database, sqlite_url
from tests.fakes.mastodon import FakeMastodon


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def core(data_dir: Path) -> Iterator[Parley]:
    c = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)
    yield c
    c.db.close()


@pytest.fixture
def fake() -> FakeMastodon:
    return FakeMastodon()


@pytest.fixture
def served(fake: FakeMastodon) -> Iterator[FakeMastodon]:
    with fake.serving():
        yield fake


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def app_posts(fake: FakeMastodon) -> int:
    return sum(1 for method, path, _, _ in fake.requests if method == "POST" and path == "/api/v1/apps")


def mock_client(fake: FakeMastodon) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=fake.transport())


async def browser_get(url: str) -> httpx.Response:
    """What a browser does with an address: follow redirects (to the loopback listener too)."""
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
        return await browser.get(url)


# -- pure helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("  https://mastodon.social/@acme ", "https://mastodon.social"),
        ("@acme@mastodon.social", "https://mastodon.social"),
        ("acme@social.example", "https://social.example"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://localhost:3000/", "http://localhost:3000"),
    ],
)
def test_instance_names_become_https_addresses(typed: str, base: str) -> None:
    assert normalise_instance(typed) == base


@pytest.mark.parametrize("typed", ["", "http://mastodon.social", "ftp://x.example"])
def test_unusable_instance_names_are_refused_in_words(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_instance(typed)


def test_pkce_pair_is_s256_of_a_long_random_verifier() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expected
    assert pkce_pair()[0] != verifier


# -- the paste-the-code flow (MockTransport) -----------------------------------------------------------


def test_pasted_code_flow_registers_once_uses_pkce_and_adds_the_account(fake: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with mock_client(fake) as client:
            async with core.mastodon_sign_in("fake.social", client=client, loopback=False) as sign_in:
                url = await sign_in.start()
                q = query(url)
                assert url.startswith("https://fake.social/oauth/authorize?")
                assert q["redirect_uri"] == OOB and q["scope"] == SCOPES and q["response_type"] == "code"
                assert q["code_challenge_method"] == "S256" and q["state"] == sign_in.state
                assert sign_in.oob_url == url
                code = fake.approve(url)
                # The fake checks the verifier against this challenge at the token endpoint.
                assert fake.codes[code]["challenge"] == q["code_challenge"]
                row = await sign_in.finish(code)
            assert row.handle == "@acme@fake.social" and row.network == "mastodon"
            # A second sign-in on the same instance reuses the registration.
            async with core.mastodon_sign_in("https://fake.social/", client=client, loopback=False) as again:
                code = fake.approve(await again.start())
                await again.finish(code)

    run(go())
    assert app_posts(fake) == 1 and len(fake.apps) == 1
    app = next(iter(fake.apps.values()))
    assert app["name"] == "Parley" and app["scopes"] == SCOPES.split()
    assert OOB in app["redirect_uris"] and any(u.startswith("http://127.0.0.1:") for u in app["redirect_uris"])
    token = fake.issued_tokens[-1]
    stored = core.networks.secrets.get(account_key("mastodon", "https://fake.social", "@acme@fake.social"))
    assert stored is not None and stored.reveal() == token
    assert len(core.accounts()) == 1


def test_a_wrong_code_verifier_is_refused_by_the_fake(fake: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with (
            mock_client(fake) as client,
            core.mastodon_sign_in("fake.social", client=client, loopback=False) as s,
        ):
            code = fake.approve(await s.start())
            s._verifier = pkce_pair()[0]  # not the one the challenge was made from
            with pytest.raises(SignInError, match="did not accept that code"):
                await s.finish(code)

    run(go())
    assert core.accounts() == []


def test_a_bad_code_is_a_plain_error_and_nothing_is_added(fake: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with (
            mock_client(fake) as client,
            core.mastodon_sign_in("fake.social", client=client, loopback=False) as s,
        ):
            await s.start()
            with pytest.raises(SignInError) as caught:
                await s.finish("not-a-real-code")
            message = str(caught.value)
            assert "did not accept that code" in message and "Start the sign-in again" in message
            with pytest.raises(InvalidInput):
                await s.finish("   ")

    run(go())
    assert core.accounts() == []


def test_a_code_works_once(fake: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with (
            mock_client(fake) as client,
            core.mastodon_sign_in("fake.social", client=client, loopback=False) as s,
        ):
            code = fake.approve(await s.start())
            await s.finish(code)
            with pytest.raises(SignInError, match="finished"):
                await s.finish(code)

    run(go())


def test_servers_before_4_3_sign_in_without_pkce(fake: FakeMastodon, core: Parley) -> None:
    fake.oauth_metadata = False  # no discovery document; arrays of redirect URIs are not understood

    async def go() -> None:
        async with (
            mock_client(fake) as client,
            core.mastodon_sign_in("fake.social", client=client, loopback=False) as s,
        ):
            url = await s.start()
            assert not s.pkce
            assert "code_challenge" not in query(url)
            await s.finish(fake.approve(url))

    run(go())
    assert len(core.accounts()) == 1
    # The newline-separated string registered both URIs even on the old server.
    assert len(next(iter(fake.apps.values()))["redirect_uris"]) == 2


def test_a_forgotten_registration_is_dropped_so_the_next_sign_in_registers_again(
    fake: FakeMastodon, core: Parley, data_dir: Path
) -> None:
    async def go() -> None:
        async with mock_client(fake) as client:
            async with core.mastodon_sign_in("fake.social", client=client, loopback=False) as s:
                code = fake.approve(await s.start())
                fake.apps.clear()  # the server cleaned the app away (servers before 4.3 did)
                with pytest.raises(SignInError, match="no longer knows"):
                    await s.finish(code)
            assert AppCache(data_dir, core.networks.secrets).get("https://fake.social") is None
            async with core.mastodon_sign_in("fake.social", client=client, loopback=False) as s:
                await s.finish(fake.approve(await s.start()))

    run(go())
    assert app_posts(fake) == 2 and len(core.accounts()) == 1


def test_registration_refused_is_a_plain_error(fake: FakeMastodon, core: Parley) -> None:
    fake.fail_next("POST", r"^/api/v1/apps$", status=422, body={"error": "Validation failed: Website is invalid"})

    async def go() -> None:
        async with (
            mock_client(fake) as client,
            core.mastodon_sign_in("fake.social", client=client, loopback=False) as s,
        ):
            with pytest.raises(SignInError, match="refused to register Parley"):
                await s.start()

    run(go())


# -- the loopback listener ------------------------------------------------------------------------------


def test_loopback_listener_receives_the_code_and_says_close_the_tab(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            assert s.uses_loopback
            redirect = query(url)["redirect_uri"]
            assert redirect == s.redirect_uri
            assert redirect.startswith("http://127.0.0.1:") and redirect.endswith("/callback")
            page = await browser_get(url + "&_fake_approve=1")
            assert page.status_code == 200 and "You can close this tab" in page.text
            assert page.headers["cache-control"] == "no-store"
            code = await s.wait_for_callback(5)
            assert served.codes[code]["redirect_uri"] == redirect
            row = await s.finish()
            assert row.handle == "@acme@fake.social"
            # The listener is closed once the code is in.
            port = urlsplit(redirect).port
            assert port is not None
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                pass

    run(go())


def test_state_mismatch_is_refused_and_the_listener_keeps_waiting(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            forged = await browser_get(f"{s.redirect_uri}?code=stolen&state=not-ours")
            assert forged.status_code == 400 and "not the sign-in Parley is waiting for" in forged.text
            missing = await browser_get(f"{s.redirect_uri}?code=stolen")
            assert missing.status_code == 400
            other = await browser_get(s.redirect_uri.replace("/callback", "/favicon.ico"))
            assert other.status_code == 404
            waiting = asyncio.ensure_future(s.wait_for_callback(5))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await browser_get(url + "&_fake_approve=1")
            code = await waiting
            assert code != "stolen"
            # A pasted return address with another state is refused as well.
            with pytest.raises(SignInError, match="another sign-in"):
                await s.finish(f"{s.redirect_uri}?code={code}&state=wrong")
            await s.finish()

    run(go())
    assert len(core.accounts()) == 1


def test_declining_in_the_browser_ends_the_wait_in_words(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            page = await browser_get(url + "&_fake_deny=1")
            assert page.status_code == 200 and "Sign-in cancelled" in page.text
            with pytest.raises(SignInError, match="declined"):
                await s.wait_for_callback(5)

    run(go())
    assert core.accounts() == []


def test_no_answer_from_the_browser_times_out(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            await s.start()
            with pytest.raises(SignInError, match="No answer came from the browser"):
                await s.wait_for_callback(0.1)
            with pytest.raises(SignInError, match="paste the code"):
                await s.wait_for_callback(0.1)  # the listener is closed now: a plain error, not a cancellation

    run(go())


def test_a_pasted_return_address_finishes_with_the_loopback_redirect(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            location = served.approve(url)  # the browser could not reach the listener; the person copies this
            assert location.startswith(s.redirect_uri + "?")
            await s.finish(location)

    run(go())
    assert len(core.accounts()) == 1


def test_a_bare_code_copied_from_the_address_bar_still_finishes(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            location = served.approve(await s.start())
            await s.finish(query(location)["code"])  # issued for the loopback address, pasted on its own

    run(go())
    assert len(core.accounts()) == 1


def test_the_oob_address_works_beside_the_listener(served: FakeMastodon, core: Parley) -> None:
    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            await s.start()
            assert query(s.oob_url)["redirect_uri"] == OOB
            await s.finish(served.approve(s.oob_url))

    run(go())
    assert len(core.accounts()) == 1


def test_the_cached_port_is_reused_and_a_busy_one_means_a_new_registration(
    served: FakeMastodon, core: Parley, data_dir: Path
) -> None:
    async def sign_in() -> str:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            await browser_get(url + "&_fake_approve=1")
            await s.finish(await s.wait_for_callback(5))
            return s.redirect_uri

    first = run(sign_in())
    assert run(sign_in()) == first and app_posts(served) == 1
    old = AppCache(data_dir, core.networks.secrets).get(served.url)
    assert old is not None
    port = urlsplit(first).port
    assert port is not None
    with socket.socket() as squatter:
        # Another program listens there now (SO_REUSEADDR: the port may still be in TIME_WAIT from the test).
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        third = run(sign_in())
    assert third != first and app_posts(served) == 2
    new = AppCache(data_dir, core.networks.secrets).get(served.url)
    assert new is not None and third in new[0].redirect_uris
    # The replaced registration's secret is gone from the store.
    assert core.networks.secrets.get(old[0].secret_key) is None


# -- secrets stay out of the database, the cache file and the logs --------------------------------------


def test_client_secret_and_token_never_reach_the_database_or_the_logs(
    served: FakeMastodon, core: Parley, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        async with core.mastodon_sign_in(served.url) as s:
            url = await s.start()
            await browser_get(url + "&_fake_approve=1")
            await s.finish(await s.wait_for_callback(5))

    run(go())
    core.db.close()
    client_secret = next(iter(served.apps.values()))["client_secret"]
    token = served.issued_tokens[-1]
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("parley.sqlite"))
    cache = (data_dir / APPS_FILE).read_text(encoding="utf-8")
    for secret in (client_secret, token):
        assert secret.encode() not in stored
        assert secret not in cache
        assert secret not in caplog.text
    # They are in the labelled secrets file (no keyring on test machines), where they belong.
    kept = json.loads((data_dir / INSECURE_FILE).read_text(encoding="utf-8"))["secrets"]
    assert client_secret in kept.values() and token in kept.values()
    assert next(iter(served.apps)) in cache  # the client_id is not secret and is cached


# -- the CLI: accounts add mastodon --instance URL (no --token-stdin) -------------------------------------


def test_cli_prints_the_address_and_reads_the_pasted_code(served: FakeMastodon, core: Parley) -> None:
    out, err = io.StringIO(), io.StringIO()

    def paste() -> str:
        url = next(line for line in out.getvalue().splitlines() if "/oauth/authorize?" in line)
        assert query(url)["redirect_uri"] == OOB
        return served.approve(url) + "\n"

    code = run(commands.accounts_sign_in_mastodon(core, instance=served.url, read_code=paste, out=out, err=err))
    assert code == 0
    assert "Open this address in a browser" in out.getvalue()
    assert "@acme@fake.social" in out.getvalue() and "added" in out.getvalue()
    assert len(core.accounts()) == 1


def test_cli_with_nothing_pasted_stops_in_words(served: FakeMastodon, core: Parley) -> None:
    with pytest.raises(InvalidInput, match="No code was pasted"):
        run(
            commands.accounts_sign_in_mastodon(
                core, instance=served.url, read_code=lambda: "\n", out=io.StringIO(), err=io.StringIO()
            )
        )


def test_sign_in_stops_before_the_browser_when_secrets_cannot_be_kept(
    fake: FakeMastodon, core: Parley, data_dir: Path
) -> None:
    from services.errors import SecretsUnavailable
    from services.secrets import SecretStore

    async def go() -> None:
        store = SecretStore(data_dir, allow_insecure_file=False)
        async with mock_client(fake) as client:
            s = MastodonSignIn("fake.social", data_dir, core=core, secrets_store=store, client=client)
            async with s:
                with pytest.raises(SecretsUnavailable):
                    await s.start()

    run(go())
    assert app_posts(fake) == 0
