"""With no account the welcome page shows; the demo button opens the demo inbox; sign-in buttons are offered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import build_window, close_window
from tests.views.qtasync import run, wait_until


@pytest.fixture
def empty_core(data_dir: Path) -> Iterator[Any]:
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    c = Parley(open_database(sqlite_url(data_dir / "empty.sqlite")), data_dir)
    yield c
    c.db.close()


def test_welcome_then_demo_inbox(qtbot: Any, qloop: Any, themed: Any, empty_core: Any) -> None:
    win, vm = build_window(qtbot, qloop, empty_core)
    try:
        assert not vm.has_accounts
        assert win.stack.currentWidget() is win.welcome
        assert not win.outbox_dock.isVisible()
        assert not win.demo_switch.isVisible()
        # Both real networks can be signed in to from here (tests/ui/test_sign_in.py goes through them).
        assert [b.text() for b in win.welcome.network_buttons] == ["Sign in to Mastodon…", "Sign in to Bluesky…"]
        assert all(b.isEnabled() for b in win.welcome.network_buttons)
        assert "never a password" in win.welcome.note.text()
        assert "accounts add mastodon" in win.welcome.commands.text()
        assert str(empty_core.data_dir) in win.welcome.commands.text()
        vm.start()
        qtbot.mouseClick(win.welcome.demo_button, Qt.MouseButton.LeftButton)
        run(qloop, wait_until(lambda: win.stack.currentWidget() is win.splitter, what="the inbox"))
        run(qloop, wait_until(lambda: vm.timeline.rowCount() > 0, what="the demo posts"))
        assert vm.has_demo and win.demo_switch.isVisible()
        assert win.outbox_dock.isVisible()
        assert len(vm.accounts) == 3
    finally:
        close_window(qloop, win, vm)
