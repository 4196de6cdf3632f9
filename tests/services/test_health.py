"""Account health: unusual silence in words, sign-in state after a 401, rate budget, Bluesky session expiry."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services import commands
from services.core import Parley
from services.health import silence, words
from services.networks import bluesky
from services.store.models import Account
from services.store.posts import ingest
from tests.conftest import Clock
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.factories import add_account, bare_core, remote_post

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def core(data_dir: Path, clock: Clock) -> Iterator[Parley]:
    c = bare_core(data_dir, clock)
    yield c
    c.db.close()


def every(minutes: float, count: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(minutes=minutes * n) for n in range(count)]


def jwt(exp: datetime) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'refresh+jwt'})}.{part({'exp': int(exp.timestamp()), 'sub': 'did'})}.sig"


async def accounts_json_async(core: Parley) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert await commands.accounts_list(core, as_json=True, out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def accounts_json(core: Parley) -> list[dict[str, Any]]:
    return list(run(accounts_json_async(core)))


# -- the silence alarm --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "said"),
    [
        (timedelta(seconds=20), "under a minute"),
        (timedelta(minutes=20), "20 min"),
        (timedelta(minutes=89), "89 min"),
        (timedelta(hours=5), "5 h"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=3), "3 days"),
    ],
)
def test_durations_in_words(span: timedelta, said: str) -> None:
    assert words(span) == said


def test_silence_longer_than_usual_raises_the_alarm_in_words() -> None:
    times = every(20, 30)
    quiet = silence(times, times[-1] + timedelta(hours=5))
    assert quiet.alarm == "No mentions for 5 h; usually every 20 min"
    assert quiet.typical_gap == timedelta(minutes=20) and quiet.silent_for == timedelta(hours=5)
    assert quiet.last_mention_at == times[-1]


def test_usual_quiet_spells_raise_nothing() -> None:
    # Mostly every 10 min, but one gap in five is a 2-hour lull: 100 minutes of quiet is within the usual.
    times = every(10, 20) + every(120, 5, T0 + timedelta(hours=5))
    assert silence(times, times[-1] + timedelta(minutes=100)).alarm is None
    assert silence(times, times[-1] + timedelta(hours=4)).alarm == "No mentions for 4 h; usually every 10 min"


def test_busy_accounts_get_at_least_the_floor_and_new_ones_no_alarm() -> None:
    busy = every(1, 50)
    assert silence(busy, busy[-1] + timedelta(minutes=20)).alarm is None  # under the 30-minute floor
    assert silence(busy, busy[-1] + timedelta(minutes=40)).alarm == "No mentions for 40 min; usually every 1 min"
    few = every(20, 3)
    assert silence(few, few[-1] + timedelta(days=3)).alarm is None
    assert silence([], T0).last_mention_at is None


def test_core_health_reads_the_pace_from_stored_mentions(core: Parley, clock: Clock) -> None:
    account = add_account(core.db)
    posts = [remote_post(f"m{n}", f"question {n}", at=t) for n, t in enumerate(every(20, 24))]
    posts.append(remote_post("ours", "our answer", at=T0 + timedelta(hours=9), kind="own_reply"))
    with core.db.session() as s:
        ingest(s, account, posts, core.triage(), T0)
    clock.now = T0 + timedelta(minutes=20 * 23) + timedelta(hours=5)
    [health] = core.health()
    # Our own reply is not a mention: the silence counts from the last customer post.
    assert health.silent_alarm == "No mentions for 5 h; usually every 20 min"
    assert health.headline == health.silent_alarm
    [line] = accounts_json(core)
    assert line["silent_alarm"] == "No mentions for 5 h; usually every 20 min"
    assert line["handle"] == "@acme@example.social" and line["needs_sign_in"] is False
    assert {"id", "network", "handle", "name", "label", "last_sync", "last_error"} <= set(line)
    # While syncs fail, the error is what matters, not the silence.
    with core.db.session() as s:
        acc = s.get(Account, account.id)
        assert acc is not None
        acc.last_error, acc.last_error_kind = "mastodon.example cannot be reached.", "offline"
        s.add(acc)
    [health] = core.health()
    assert health.silent_alarm is None and health.headline == "mastodon.example cannot be reached."


# -- sign-in state and rate budget (a real sync against the fake) -------------------------------------------


def test_a_401_during_sync_marks_the_account_signed_out_until_it_is_added_again(core: Parley, clock: Clock) -> None:
    fake = FakeMastodon()
    fake.add_mention("maria@social.example", "hello")
    with fake.serving():

        async def go() -> None:
            try:
                await core.add_mastodon_account(fake.url, "test-token")
                first = await core.sync_once()
                assert first.problems == () and first.fetched == 1
                fake.tokens.clear()  # revoked on the server
                second = await core.sync_once()
                assert [p.kind for p in second.problems] == ["signed_out"]
            finally:
                await core.networks.aclose()

        run(go())
        [health] = core.health()
        assert health.needs_sign_in and health.last_error_kind == "signed_out"
        assert health.last_error and "refused the access token" in health.last_error
        assert health.headline and health.headline.startswith("@acme@fake.social needs to be signed in again.")
        assert health.session_expires_at is None and "do not expire" in health.session_note
        [line] = accounts_json(core)
        assert line["needs_sign_in"] is True and line["last_error_kind"] == "signed_out"
        assert core.accounts()[0].needs_sign_in

        fake.add_token("new-token", fake.brand_id)
        run(core.add_mastodon_account(fake.url, "new-token"))
        [health] = core.health()
        assert not health.needs_sign_in and health.last_error is None


def test_the_rate_budget_is_surfaced_and_refills_after_the_reset(core: Parley, clock: Clock) -> None:
    fake = FakeMastodon(rate_limit=50)
    fake.add_mention("maria@social.example", "hello")
    with fake.serving():

        async def go() -> None:
            try:
                await core.add_mastodon_account(fake.url, "test-token")
                await core.sync_once()
                [health] = core.health()
                assert health.rate_limit == 50
                assert health.rate_remaining is not None and 40 <= health.rate_remaining < 50
                assert health.rate_reset_at is not None
                [line] = await accounts_json_async(core)
                assert line["rate_remaining"] == health.rate_remaining and line["rate_limit"] == 50
                assert line["rate_reset"] == health.rate_reset_at.isoformat()
                clock.now = health.rate_reset_at + timedelta(seconds=1)
                [later] = core.health()
                assert later.rate_remaining == 50 and later.rate_reset_at is None
            finally:
                await core.networks.aclose()

        run(go())


# -- Bluesky: the session's expiry, never the session --------------------------------------------------------


def bluesky_account(core: Parley, session: dict[str, str] | None) -> Account:
    # A DID of its own per test: the process keyring (if a test installed one) outlives the data dir.
    did = f"did:plc:{uuid.uuid4().hex[:24]}"
    with core.db.session() as s:
        acc = Account(
            network="bluesky", handle="acme.bsky.social", server_url="https://pds.example", remote_user_id=did
        )
        s.add(acc)
        s.flush()
        s.refresh(acc)
    if session is not None:
        store = bluesky.SecretSessionStore(core.networks.secrets, bluesky.session_key("https://pds.example", did))
        store.save(session)
    return acc


def test_bluesky_session_expiry_is_read_without_revealing_the_session(core: Parley, clock: Clock) -> None:
    clock.now = T0
    refresh = jwt(T0 + timedelta(days=60))
    access = jwt(T0 + timedelta(hours=2))
    bluesky_account(core, {"accessJwt": access, "refreshJwt": refresh, "did": "did:plc:acme", "handle": "acme"})
    [health] = core.health()
    assert health.network == "bluesky"
    assert health.session_expires_at == T0 + timedelta(days=60)
    assert not health.needs_sign_in
    assert health.session_note == "The session lasts another 60 days unless it is used."
    shown = repr(health) + json.dumps(health.to_json()) + json.dumps(accounts_json(core))
    assert refresh not in shown and access not in shown
    assert accounts_json(core)[0]["session_expires"] == (T0 + timedelta(days=60)).isoformat()

    clock.now = T0 + timedelta(days=61)
    [health] = core.health()
    assert health.needs_sign_in and "expired" in health.session_note


def test_bluesky_without_a_saved_session_needs_a_sign_in(core: Parley) -> None:
    bluesky_account(core, None)
    [health] = core.health()
    assert health.needs_sign_in and health.session_expires_at is None
