"""One handler for unexpected errors: log the traceback, then show it in a dialog; nothing vanishes into stderr."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QWidget

from services.errors import ParleyError
from ui.dialogs import ErrorDialog

log = logging.getLogger("parley.errors")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def summary_of(exc: BaseException, where: str = "") -> str:
    """One line on what failed, without pretending to know why."""
    place = f" while {where}" if where else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{place}" + (f": {text[:300]}" if text else "")


class ErrorHandler(QObject):
    """Receives every unexpected error (excepthook, asyncio loop, task runners) and reports it once.

    Errors from other threads are handed to the Qt thread through a queued signal, because widgets
    may only be created there. Known ``ParleyError``s never reach this handler: view-models turn
    them into banners and status-bar notices.
    """

    _report = Signal(str, str)  # summary, details

    def __init__(self, log_path: Path | str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = str(log_path)
        self.dialog: ErrorDialog | None = None
        self.reported: list[str] = []
        self.parent_widget: Callable[[], QWidget | None] = lambda: None
        self.show_dialogs = True
        self._report.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._old_excepthook: Any = None
        self._old_thread_hook: Any = None

    # -- entry points ---------------------------------------------------------------------------

    def handle(self, exc: BaseException, where: str = "") -> None:
        """Report one unexpected exception."""
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
            return
        if isinstance(exc, ParleyError):
            # A known condition that reached the bug path: still not a crash, but worth a log line.
            log.warning("known error reached the unexpected-error handler (%s): %s", where or "?", exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("unexpected error%s\n%s", f" while {where}" if where else "", details.rstrip())
        self._report.emit(summary_of(exc, where), details)

    def excepthook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        """``sys.excepthook``: an exception escaped a Qt slot or callback."""
        if value.__traceback__ is None and tb is not None:
            value = value.with_traceback(tb)
        self.handle(value, "handling an event")

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        """``threading.excepthook``: an exception ended a worker thread."""
        if args.exc_value is not None:
            self.handle(args.exc_value, f"running thread {args.thread.name if args.thread else '?'}")

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """``loop.set_exception_handler``: an exception in a callback or an unawaited task."""
        exc = context.get("exception")
        message = str(context.get("message") or "")
        if isinstance(exc, BaseException):
            self.handle(exc, message.rstrip(".").lower() or "running a background task")
            return
        log.error("asyncio: %s (%s)", message, {k: repr(v) for k, v in context.items() if k != "message"})

    def task_failed(self, name: str, exc: object) -> None:
        """A TaskRunner's (or a view-model's) ``failed``/``unexpected`` signal."""
        if isinstance(exc, BaseException):
            self.handle(exc, f"running {name}")

    # -- installing -----------------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Become ``sys.excepthook``, ``threading.excepthook`` and the loop's exception handler."""
        self._old_excepthook = sys.excepthook
        self._old_thread_hook = threading.excepthook
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_hook
        if loop is not None:
            loop.set_exception_handler(self.loop_handler)

    def uninstall(self) -> None:
        """Give the hooks back (tests, and the very end of the app)."""
        if self._old_excepthook is not None:
            sys.excepthook = self._old_excepthook
        if self._old_thread_hook is not None:
            threading.excepthook = self._old_thread_hook

    # -- showing --------------------------------------------------------------------------------

    def _show(self, summary: str, details: str) -> None:
        self.reported.append(summary)
        if not self.show_dialogs or QApplication.instance() is None:
            print(f"parley: {summary} (details in {self.log_path})", file=sys.stderr)
            return
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.add(summary, details)
            return
        dialog = ErrorDialog(summary, details, self.log_path, self.parent_widget())
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        # Non-blocking on purpose: a modal exec() here could run inside a coroutine (design section 1).
        dialog.show()
        dialog.raise_()

    def _closed(self, _result: int) -> None:
        self.dialog = None
