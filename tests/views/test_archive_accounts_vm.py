"""After an import, the GUI treats archive-only accounts as readable history: no stream, no error, no banner."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.views.conftest import BASE
from tests.views.qtasync import run, wait_until
from tests.views.test_accounts_vm import NOW, health, said
from tests.views.test_main_vm import Recorder
from views.accounts_vm import AccountsViewModel, HealthRow, worst
from views.main_vm import MainViewModel


def test_archives_sync_quietly_with_no_stream_and_no_banner(qloop: Any, big_core: Any) -> None:
    # big_core holds a Mastodon archive; add one from a network Parley has no connector for.
    line = {"network": "bench", "remote_id": "b1", "author": "ann", "text": "hi", "created_at": BASE.isoformat()}
    assert big_core.import_lines([json.dumps({**line, "account": "bench-brand"})], workers=1)[0] == 1
    vm = MainViewModel(big_core)
    rec = Recorder(vm)
    vm.load()
    vm.start()
    try:
        run(qloop, wait_until(lambda: vm.syncs_done >= 1, what="the first sync"))
        vm.sync_now()  # a second pass, while any stream would have had time to fail
        run(qloop, wait_until(lambda: vm.syncs_done >= 2, what="a second sync"))
        assert len(vm.accounts) == 2 and all(a.archive for a in vm.accounts)
        assert not any(vm.runner.running(f"stream:{a.id}") for a in vm.accounts)
        assert rec.notices == [] and rec.banners == [] and rec.unexpected == []
        assert vm.current_banner is None and vm.online
        assert rec.status and rec.status[-1].accounts == ()  # "never synced" is no news for an archive
        assert vm.signed_out_accounts() == []
    finally:
        run(qloop, vm.aclose())


def test_an_archive_in_the_health_panel_is_labelled_not_failing(qloop: Any, big_core: Any) -> None:
    vm = AccountsViewModel(big_core)
    vm.watch(True)
    try:
        run(qloop, wait_until(lambda: vm.model.rowCount() == 1, what="the first read"))
        row = vm.model.rows()[0]
        assert row.health.archive and not row.can_sign_in
        assert row.summary() == "Imported archive" and row.state() == "ok"
    finally:
        run(qloop, vm.aclose())


def test_archive_lines_say_nothing_is_fetched() -> None:
    archive = health(
        archive=True,
        last_sync_at=None,
        rate_limit=None,
        rate_remaining=None,
        rate_reset_at=None,
        session_note="Imported from an archive; not connected to the network.",
        last_mention_at=NOW - timedelta(hours=5),
    )
    lines = said(archive)
    assert lines == {
        "sync": ("Never: its posts were imported, and nothing is fetched", "ok"),
        "error": ("None", "ok"),
        "sign_in": ("Imported from an archive; not connected to the network.", "ok"),
        "rate": ("None: Parley never talks to a server for it", "ok"),
        "mentions": ("Imported from an archive; the newest 5 h ago", "ok"),
    }
    assert worst(state for _, state in lines.values()) == "ok"
    assert HealthRow(archive).summary(NOW) == "Imported archive"
