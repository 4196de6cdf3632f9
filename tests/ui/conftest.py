"""Fixtures for widget tests: a qasync loop, the light theme, and a main window on the test core."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.views.qtasync import qloop, run  # noqa: F401 (qloop is a fixture)


@pytest.fixture
def themed(qapp: Any) -> Any:
    """The app in Parley's light theme (custom painting reads its colours)."""
    from ui import theme

    theme.apply_theme(qapp, "light")
    return qapp


def build_window(qtbot: Any, loop: Any, core: Any) -> tuple[Any, Any]:
    """A shown MainWindow on ``core`` with its view-model loaded (the sync loop not started)."""
    from ui.main_window import MainWindow
    from views.main_vm import MainViewModel

    vm = MainViewModel(core)
    window = MainWindow(vm)
    vm.load()
    window.resize(1300, 820)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()  # window shortcuts only fire in the active window
    qtbot.waitActive(window)  # a plain (non-async) wait: no coroutine is running here
    return window, vm


@pytest.fixture
def window(
    qtbot: Any,
    qloop: Any,  # noqa: F811 (pytest passes the fixture imported above)
    themed: Any,
    core: Any,
) -> Iterator[tuple[Any, Any]]:
    """(MainWindow, MainViewModel) on the demo core; closed and cleaned up after the test."""
    win, vm = build_window(qtbot, qloop, core)
    yield win, vm
    close_window(qloop, win, vm)


def close_window(loop: Any, win: Any, vm: Any) -> None:
    """Close the window, stop the view-model's tasks, and delete both on the GUI thread."""
    win.close()
    run(loop, vm.aclose())
    win.deleteLater()
    vm.deleteLater()
    run(loop, asyncio.sleep(0.01))


@pytest.fixture
def big_core(data_dir: Any) -> Iterator[Any]:
    """A core with 450 imported posts (see tests/views/conftest.py)."""
    from services.core import Parley
    from services.store.db import open_database, sqlite_url
    from tests.views.conftest import import_posts

    c = Parley(open_database(sqlite_url(data_dir / "big.sqlite")), data_dir)
    import_posts(c, 450)
    yield c
    c.db.close()
