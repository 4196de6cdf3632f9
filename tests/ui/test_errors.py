"""One handler for unexpected errors: logged with the traceback, shown in a non-modal dialog."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from services.errors import InvalidInput
from tests.views.qtasync import run, settle, wait_until
from ui.errors import ErrorHandler, summary_of
from views.tasks import TaskRunner


@pytest.fixture
def handler(qapp: Any, tmp_path: Path) -> Any:
    h = ErrorHandler(tmp_path / "parley.log")
    yield h
    if h.dialog is not None:
        h.dialog.close()
    h.uninstall()


def _raise() -> BaseException:
    try:
        raise RuntimeError("something broke in a slot")
    except RuntimeError as exc:
        return exc


def test_an_unexpected_exception_is_logged_and_shown(
    qloop: Any, themed: Any, handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="parley.errors"):
        handler.handle(_raise(), "testing")
        settle(qloop)
    dialog = handler.dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.isModal()  # shown, never exec()'d
    assert "RuntimeError" in dialog.summary.text()
    assert "something broke in a slot" in dialog.details.toPlainText()
    assert "Traceback" in dialog.details.toPlainText()
    assert dialog.log_path.endswith("parley.log")
    assert any("something broke in a slot" in (r.exc_text or r.getMessage()) for r in caplog.records)
    # A second error joins the open dialog instead of stacking another one.
    handler.handle(ValueError("again"), "testing")
    settle(qloop)
    assert handler.dialog is dialog and dialog.count == 2
    assert "again" in dialog.details.toPlainText()


def test_excepthook_and_task_failures_reach_the_handler(qloop: Any, themed: Any, handler: Any) -> None:
    handler.install()
    exc = _raise()
    sys.excepthook(type(exc), exc, exc.__traceback__)
    runner = TaskRunner()
    runner.failed.connect(handler.task_failed)

    async def bug() -> None:
        raise KeyError("missing")

    runner.spawn(bug(), name="load")
    run(qloop, wait_until(lambda: len(handler.reported) == 2))
    assert handler.reported[0].startswith("RuntimeError while handling an event")
    assert handler.reported[1].startswith("KeyError while running load")


def test_the_loop_exception_handler_reports_callback_errors(qloop: Any, themed: Any, handler: Any) -> None:
    handler.install(qloop)

    def bad_callback() -> None:
        raise ZeroDivisionError("division by zero in a callback")

    qloop.call_soon(bad_callback)
    run(qloop, wait_until(lambda: handler.reported))
    assert "ZeroDivisionError" in handler.reported[0]
    qloop.set_exception_handler(None)


def test_summary_words() -> None:
    assert summary_of(ValueError("bad value"), "saving") == "ValueError while saving: bad value"
    assert summary_of(InvalidInput("x")) == "InvalidInput: x"
