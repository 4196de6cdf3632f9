"""Accounts that exist only because an archive was imported: never synced, never streamed, never failing."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from services import commands
from services.core import Parley
from services.errors import InvalidInput
from services.store.models import Account
from tests.conftest import Clock
from tests.helpers.factories import add_account, bare_core

#: One archive handle per network: a connector Parley has (Mastodon, Bluesky) and one it has not.
HANDLES = {"mastodon": "@brand@masto.example", "bluesky": "brand.bsky.social", "bench": "bench-brand"}


@pytest.fixture
def core(data_dir: Path, clock: Clock) -> Iterator[Parley]:
    """A core holding only imported archives: 12 recent posts, 10 minutes apart, per network."""
    c = bare_core(data_dir, clock)
    lines = [
        json.dumps(
            {
                "network": network,
                "remote_id": f"{network}-{i}",
                "author": f"user{i}",
                "text": "still waiting for my refund" if i % 3 == 0 else f"hello {i}",
                # Busy, then quiet for hours: on a connected account that silence would raise the alarm.
                "created_at": (clock() - timedelta(hours=6, minutes=10 * i)).isoformat(),
                "account": handle,
            }
        )
        for network, handle in HANDLES.items()
        for i in range(12)
    ]
    new, _, errors = c.import_lines(lines, workers=1)
    assert (new, errors) == (36, [])
    yield c
    c.db.close()


def archive_ids(core: Parley) -> set[int]:
    return {a.id for a in core.accounts() if a.handle in HANDLES.values()}


def test_sync_skips_archives_and_reports_no_problem(core: Parley) -> None:
    report = asyncio.run(core.sync_once())
    assert report.problems == ()
    assert not report.changes.accounts & archive_ids(core)  # none of them was tried


def test_a_real_account_failing_beside_archives_still_fails_the_cli_sync(core: Parley) -> None:
    add_account(core.db, "@help", network="x")  # a network this version cannot connect to: its sync fails
    out, err = io.StringIO(), io.StringIO()
    assert asyncio.run(commands.sync(core, once=True, out=out, err=err)) == 1
    assert err.getvalue().startswith("@help: ")
    assert not any(h in err.getvalue() for h in HANDLES.values())


def test_an_archive_cannot_be_streamed(core: Parley) -> None:
    for account_id in archive_ids(core):
        with pytest.raises(InvalidInput, match="imported archive"):
            asyncio.run(core.stream_account(account_id))
    assert core.networks.cached(min(archive_ids(core))) is None  # no connector was even built


def test_archives_are_labelled_and_never_failing_in_the_accounts_list(core: Parley) -> None:
    rows = {a.handle: a for a in core.accounts()}
    assert {h: rows[h].label for h in HANDLES.values()} == {
        "@brand@masto.example": "Mastodon · imported archive",
        "brand.bsky.social": "Bluesky · imported archive",
        "bench-brand": "Bench · imported archive",
    }
    assert all(rows[h].archive and not rows[h].needs_sign_in for h in HANDLES.values())
    health = {h.handle: h for h in core.health()}
    for handle in HANDLES.values():
        h = health[handle]
        # A Bluesky archive has no saved session, and its posts stopped hours ago: neither is a problem.
        assert h.archive and not h.needs_sign_in
        assert h.headline is None and h.silent_alarm is None
        assert h.last_mention_at is not None
    out = io.StringIO()
    assert asyncio.run(commands.accounts_list(core, as_json=False, out=out)) == 0
    assert "(" not in out.getvalue()  # no account carries a "(problem)" note
    assert out.getvalue().count("imported archive") == 3


def test_an_error_left_on_an_archive_by_an_older_version_is_not_shown(core: Parley) -> None:
    with core.db.session() as s:
        acc = s.exec(select(Account).where(Account.handle == HANDLES["mastodon"])).one()
        acc.last_error, acc.last_error_kind = "The access token was refused.", "signed_out"
        s.add(acc)
    row = next(a for a in core.accounts() if a.handle == HANDLES["mastodon"])
    assert row.last_error is None and not row.needs_sign_in
    health = next(h for h in core.health() if h.handle == HANDLES["mastodon"])
    assert health.last_error is None and not health.needs_sign_in
