"""run_gui: the window opens on the core, closing it ends the loop after cleanup; start-up errors are plain."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from services.errors import StorageError


def _args(**kw: Any) -> argparse.Namespace:
    return argparse.Namespace(screenshot=None, demo=True, **kw)


def _demo_core_opener(opened: list[Any]) -> Any:
    """An ``open_core`` for run_gui that builds a demo core and keeps it in ``opened``."""
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    def open_core(_args: argparse.Namespace, path: Path) -> Any:
        core = Parley(open_database(sqlite_url(path / "parley.sqlite")), path)
        core.add_demo_accounts()
        opened.append(core)
        return core

    return open_core


@pytest.mark.timeout(60)
def test_closing_the_window_ends_run_gui_after_cleanup(qapp: Any, data_dir: Path) -> None:
    from ui.app import run_gui
    from ui.main_window import MainWindow

    opened: list[Any] = []
    open_core = _demo_core_opener(opened)

    windows: list[MainWindow] = []

    def close_when_synced() -> None:
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if found and found[0].vm.syncs_done >= 1:
            windows.append(found[0])
            found[0].close()
        else:
            QTimer.singleShot(50, close_when_synced)

    QTimer.singleShot(50, close_when_synced)
    status = run_gui(_args(), data_dir, data_dir / "parley.log", open_core)
    assert status == 0
    assert windows and not shiboken6.isValid(windows[0])  # closed, then deleted by app_main
    assert opened[0].db._worker._shutdown  # core.aclose() ran: the database was closed


def test_a_storage_error_at_start_is_one_plain_message(
    qapp: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.app import run_gui

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _p, _t, text, *a, **k: shown.append(text))

    def open_core(_args: argparse.Namespace, _path: Path) -> Any:
        raise StorageError("The database /nowhere/parley.sqlite cannot be opened: disk I/O error")

    assert run_gui(_args(), data_dir, data_dir / "parley.log", open_core) == 1
    assert shown == ["The database /nowhere/parley.sqlite cannot be opened: disk I/O error"]


@pytest.mark.timeout(60)
def test_app_quit_still_runs_the_cleanup(qapp: Any, data_dir: Path) -> None:
    from ui.app import run_gui
    from ui.main_window import MainWindow

    opened: list[Any] = []
    open_core = _demo_core_opener(opened)

    def quit_when_shown() -> None:
        if any(isinstance(w, MainWindow) and w.isVisible() for w in QApplication.topLevelWidgets()):
            QApplication.quit()  # as a session logout would: Qt's loop stops before app_main cleaned up
        else:
            QTimer.singleShot(50, quit_when_shown)

    QTimer.singleShot(50, quit_when_shown)
    assert run_gui(_args(), data_dir, data_dir / "parley.log", open_core) == 0
    assert opened[0].db._worker._shutdown
