"""The way to the first window stays light: no TextBlob, Alembic, httpx, connectors or worker processes on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.core import Parley
from services.store.db import open_database, sqlite_url
from tests.helpers.cli import ROOT

#: Loaded later, when a sync, a sign-in, an import or a migration needs them.
LATER = ("textblob", "nltk", "alembic", "httpx", "multiprocessing")
LATER_OURS = (
    "services.networks.mastodon",
    "services.networks.bluesky",
    "services.mastodon_auth",
    "services.importer",
)


def test_the_first_window_paints_the_timeline_without_loading_what_comes_later(tmp_path: Path) -> None:
    # A data dir as a user has it after a first run: demo accounts, and an archive imported.
    core = Parley(open_database(sqlite_url(tmp_path / "parley.sqlite")), tmp_path)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    lines = [
        json.dumps(
            {
                "network": "mastodon",
                "remote_id": f"m{i}",
                "author": f"user{i}",
                "text": f"@acme still waiting for my refund ({i})",
                "created_at": (start + timedelta(minutes=i)).isoformat(),
            }
        )
        for i in range(30)
    ]
    try:
        core.add_demo_accounts()
        assert core.import_lines(lines, workers=1)[0] == 30
    finally:
        core.db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.first_window", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == 30
    loaded = set(report["modules"])
    early = sorted(m for m in loaded if m.split(".")[0] in LATER or m in LATER_OURS)
    assert early == []
    assert "services.core" in loaded and "views.main_vm" in loaded  # the probe did build the window
