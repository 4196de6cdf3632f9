"""A qasync loop for GUI tests, and helpers to drive it from plain (non-async) test functions.

Async steps run with ``loop.run_until_complete`` and poll with ``asyncio.sleep``: a nested Qt event
loop inside a coroutine (``qtbot.waitSignal``) hangs (docs/style.md section 9).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import qasync


class TestLoop(qasync.QEventLoop):
    """A qasync loop whose ``run_until_complete`` leaves pending callbacks for the next run.

    qasync's own version processes Qt events once more after the loop stopped, with no running
    loop set: a task step that lands there fails with "no running event loop" (any
    ``get_running_loop()`` in services). Tests call ``run_until_complete`` many times, so they hit
    it; the app calls it once and cancels its tasks before returning.
    """

    def run_until_complete(self, future: Any) -> Any:
        fut = asyncio.ensure_future(future, loop=self)

        def stop(_f: object) -> None:
            self.stop()

        fut.add_done_callback(stop)
        try:
            self.run_forever()
        finally:
            fut.remove_done_callback(stop)
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()


@pytest.fixture
def qloop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    """A fresh qasync loop on the test's QApplication; loop-level errors fail the test."""
    qapp.setQuitOnLastWindowClosed(False)
    # What lives now (modules, the QApplication, session fixtures) is not this test's garbage: freezing
    # it keeps the collection at teardown small and fast.
    gc.collect()
    gc.freeze()
    loop = TestLoop(qapp)
    asyncio.set_event_loop(loop)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield loop
        loop.run_until_complete(asyncio.sleep(0.01))  # let done-callbacks run
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        # Collect this test's Qt wrappers now, on the GUI thread. Left to chance, a collection can
        # run in a worker thread (the database's, qasync's) and delete QObjects there; Qt then
        # cannot unregister their timers and a later timer event crashes (seen as a segfault in
        # QTimerInfoList::activateTimers).
        gc.collect()
    assert not errors, errors


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    """Run ``coro`` on the qasync loop (Qt events are processed meanwhile)."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def wait_until(pred: Callable[[], object], limit: float = 20.0, what: str = "") -> None:
    """Poll ``pred`` for up to ``limit`` seconds while the loop (and Qt) keeps running."""
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


def settle(loop: asyncio.AbstractEventLoop, seconds: float = 0.05) -> None:
    """Let queued tasks and Qt events run for a moment."""
    loop.run_until_complete(asyncio.sleep(seconds))
