"""End to end: the history setting and a gap on an old server, through the CLI against the fake Mastodon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.mastodon import FakeMastodon
from tests.helpers.cli import json_lines, run_cli

TOKEN = "history-token-0123456789"


@pytest.fixture
def server() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(token=TOKEN)
    fake.add_account("maria", domain="social.example", display_name="Maria K.")
    with fake.serving():
        yield fake


@pytest.mark.slow
def test_history_setting_then_a_gap_on_an_old_server_is_filled(server: FakeMastodon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = datetime.now(UTC)
    old = {server.add_mention("maria@social.example", f"old {n}", at=now - timedelta(days=4))["id"] for n in range(3)}
    recent = {
        server.add_mention("maria@social.example", f"recent {n}", at=now - timedelta(hours=12, minutes=-n))["id"]
        for n in range(45)
    }

    refused = run_cli(data, "settings", "set", "history", "forever")
    assert refused.returncode != 0 and refused.stderr.strip().endswith("must be one of: none, 1d, 7d, 30d.")
    assert run_cli(data, "settings", "set", "history", "1d").returncode == 0
    (history,) = [s for s in json_lines(run_cli(data, "settings", "list", "--json").stdout) if s["key"] == "history"]
    assert history["value"] == "1d"

    added = run_cli(data, "accounts", "add", "mastodon", "--instance", server.url, "--token-stdin", stdin=TOKEN + "\n")
    assert added.returncode == 0, added.stderr
    first = run_cli(data, "sync", "--once")
    assert first.returncode == 0 and first.stdout.startswith("45 new posts"), first.stderr

    server.ignore_min_id = True  # the server turns out to predate min_id: the newest page comes back
    away = {server.add_mention("maria@social.example", f"away {n}")["id"] for n in range(60)}
    second = run_cli(data, "sync", "--once")
    assert second.returncode == 0 and second.stdout.startswith("60 new posts"), second.stderr

    (account,) = json_lines(run_cli(data, "accounts", "list", "--json").stdout)
    assert account["gap"] is None and account["gaps"] == []
    timeline = json_lines(run_cli(data, "timeline", "--limit", "500", "--json").stdout)
    ids = [str(t["remote_id"]) for t in timeline]
    assert set(ids) == recent | away and len(ids) == len(set(ids)) and not set(ids) & old
