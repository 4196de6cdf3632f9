"""Starting the GUI: QApplication, the qasync loop, the error handler, the window, and a clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtWidgets import QApplication, QMessageBox

from services.errors import ParleyError
from ui import theme
from ui.errors import ErrorHandler

log = logging.getLogger("parley.gui")

APP_ID = "org.parley.Parley"
SCREENSHOT_SIZE = (1400, 860)
SCREENSHOT_TIMEOUT = 60.0


def make_app() -> QApplication:
    """The QApplication (reused when one exists, as in tests)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Parley")
    app.setApplicationDisplayName("Parley")
    app.setOrganizationName("Parley")
    app.setDesktopFileName(APP_ID)
    # The window's close ends app_main, which cleans up and then stops the loop; letting Qt quit on
    # its own would stop the loop before the cleanup ran ("Event loop stopped before Future completed").
    app.setQuitOnLastWindowClosed(False)
    return app


def run_gui(
    args: argparse.Namespace,
    data_dir: Path,
    log_path: Path,
    open_core: Callable[[argparse.Namespace, Path], Any],
) -> int:
    """Run the GUI until its window closes; returns the exit status."""
    app = make_app()
    theme.apply_theme(app, "system")
    errors = ErrorHandler(log_path)
    screenshot: Path | None = getattr(args, "screenshot", None)
    if screenshot is not None:
        errors.show_dialogs = False  # nobody is there to close a dialog; errors go to the log and stderr
    errors.install()
    try:
        try:
            core = open_core(args, data_dir)
        except ParleyError as exc:
            log.error("cannot start: %s", exc)
            _tell(screenshot, "Parley cannot start", str(exc))
            return 1
        except Exception as exc:  # a bug before any window: logged, then said plainly
            errors.handle(exc, "opening the database")
            _tell(
                screenshot, "Parley cannot start", f"An unexpected error stopped Parley; the details are in {log_path}."
            )
            return 70
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(errors.loop_handler)
        try:
            with loop:
                return _run(loop, app_main(app, core, errors, screenshot))
        except Exception as exc:
            errors.handle(exc, "running the window")
            _tell(screenshot, "Parley stopped", f"An unexpected error stopped Parley; the details are in {log_path}.")
            return 70
    finally:
        errors.uninstall()
        asyncio.set_event_loop(None)


def _run(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` to its end, even if Qt's loop quits first (app.quit(), the session ending).

    qasync then raises "Event loop stopped before Future completed"; running the loop again lets
    ``app_main`` finish its cleanup (aboutToQuit has set its quit event).
    """
    task = loop.create_task(main)
    for _ in range(3):
        try:
            return int(loop.run_until_complete(task))
        except RuntimeError as exc:
            if task.done() or "stopped before" not in str(exc):
                raise
            log.info("Qt quit before the app's cleanup ran; running the loop again to finish it")
    task.cancel()
    return 1


def _tell(screenshot: Path | None, title: str, text: str) -> None:
    """One plain message: a message box, or stderr when making a screenshot (nobody is there to click)."""
    if screenshot is not None:
        print(f"parley: {text}", file=sys.stderr)
    else:
        QMessageBox.critical(None, title, text)


def show_main_window(app: QApplication, core: Any, errors: ErrorHandler | None, *, exact_size: bool) -> tuple[Any, Any]:
    """Build the view-model and the main window, load the first page and show it (no sync, no network).

    This is all of a start up to the first frame; returns (view-model, window). Nothing on this path
    imports TextBlob, Alembic (unless the schema is old), httpx or a connector: tests/ui/test_first_window.py
    checks it.
    """
    from ui.main_window import MainWindow
    from views.main_vm import MainViewModel

    theme.apply_theme(app, str(core.settings.get("theme", "system")))
    vm = MainViewModel(core)
    window = MainWindow(vm)
    if errors is not None:
        vm.unexpected.connect(errors.task_failed)
        errors.parent_widget = lambda: window
    vm.load()
    theme.follow_system(app, window.restyle)
    window.resize(*_window_size(app, exact_size))
    window.show()
    return vm, window


async def app_main(app: QApplication, core: Any, errors: ErrorHandler, screenshot: Path | None = None) -> int:
    """Build the view-model and window, run until the window closes, then shut down in order."""
    vm, window = show_main_window(app, core, errors, exact_size=screenshot is not None)
    quit_event = asyncio.Event()
    window.closed.connect(quit_event.set)
    app.aboutToQuit.connect(quit_event.set)  # a session logout or app.quit() also ends app_main
    # Let the first frame paint before the first sync loads triage (TextBlob) and touches the network,
    # and before Qt loads its network-information backend (~10 ms).
    await asyncio.sleep(0.05)
    watch_network(vm)
    vm.start()
    status = 0
    try:
        if screenshot is not None:
            status = await take_screenshot(app, window, vm, screenshot)
        else:
            await quit_event.wait()
    finally:
        window.hide()
        await vm.aclose()
        await core.aclose()
        window.deleteLater()
    return status


def watch_network(vm: Any) -> bool:
    """Sync as soon as the OS reports the network is back (QNetworkInformation), if a backend exists.

    Failures still mark Parley offline on their own; this only shortens the wait for "back online".
    """
    try:
        from PySide6.QtNetwork import QNetworkInformation
    except ImportError:
        return False
    if not QNetworkInformation.loadDefaultBackend():
        return False
    info = QNetworkInformation.instance()
    if info is None:
        return False
    online = QNetworkInformation.Reachability.Online

    def changed(reachability: QNetworkInformation.Reachability) -> None:
        if reachability == online:
            log.info("the system reports the network is back; syncing now")
            vm.sync_now()

    info.reachabilityChanged.connect(changed)
    return True


def _window_size(app: QApplication, exact: bool) -> tuple[int, int]:
    """The screenshot's fixed size, or as much of it as the screen has room for."""
    w, h = SCREENSHOT_SIZE
    screen = app.primaryScreen()
    if exact or screen is None:
        return w, h
    avail = screen.availableGeometry()
    return min(w, int(avail.width() * 0.92)), min(h, int(avail.height() * 0.9))


async def take_screenshot(app: QApplication, window: Any, vm: Any, path: Path) -> int:
    """Wait for the first sync and a filled timeline, open the first urgent post, save the window as PNG."""
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT
    # Polling: "synced and the list has rows" has no single signal, and this runs once, at start.
    while vm.syncs_done < 1 or vm.timeline.rowCount() == 0:
        if time.monotonic() > deadline:
            print(
                f"parley: no screenshot: the timeline was still empty after {SCREENSHOT_TIMEOUT:.0f} s "
                f"({vm.syncs_done} syncs finished)",
                file=sys.stderr,
            )
            return 2
        await asyncio.sleep(0.1)
    if window.select_first_urgent():
        # The pane fills within milliseconds; a post whose conversation cannot load must not hold
        # the screenshot for the whole timeout.
        settle = min(deadline, time.monotonic() + 5)
        while vm.conversation.current is None and time.monotonic() < settle:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    # Let layouts settle and deferred scrolls run before grabbing. No processEvents() here: inside a
    # task it would run other tasks' steps re-entrantly ("Cannot enter into task ...").
    await asyncio.sleep(0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        print(f"parley: could not write the screenshot to {path}", file=sys.stderr)
        return 1
    print(f"screenshot saved to {path}")
    return 0
