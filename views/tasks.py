"""TaskRunner: every background coroutine of a view-model has one owner and one error path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


def _loop() -> asyncio.AbstractEventLoop:
    """The running loop, or the one set for this thread (slots may run before the loop starts)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class TaskRunner(QObject):
    """Runs coroutines on the qasync loop, keeps strong references and reports how they end.

    Finished tasks hand their result to ``on_done`` on the Qt thread; errors (including one raised
    by ``on_done``) go to ``failed``; cancelled tasks are dropped silently. ``latest_wins`` cancels
    an earlier, still running task of the same name (a newer selection makes the old load moot).
    """

    busy_changed = Signal(bool)
    failed = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # asyncio keeps only weak references to tasks: without this set a task can be collected mid-run.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._named: dict[str, asyncio.Task[Any]] = {}

    @property
    def busy(self) -> bool:
        """Whether any task is still running."""
        return bool(self._tasks)

    def running(self, name: str) -> bool:
        """Whether a task with this name is still running."""
        task = self._named.get(name)
        return task is not None and not task.done()

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str = "task",
        on_done: Callable[[Any], object] | None = None,
        latest_wins: bool = False,
    ) -> asyncio.Task[Any]:
        """Start ``coro`` now; returns its task (callers rarely need it)."""
        if latest_wins:
            old = self._named.get(name)
            if old is not None and not old.done():
                old.cancel()
        task = _loop().create_task(coro, name=name)
        was_busy = self.busy
        self._tasks.add(task)
        self._named[name] = task
        task.add_done_callback(lambda t: self._finished(t, name, on_done))
        if not was_busy:
            self.busy_changed.emit(True)
        return task

    def _finished(self, task: asyncio.Task[Any], name: str, on_done: Callable[[Any], object] | None) -> None:
        self._tasks.discard(task)
        if self._named.get(name) is task:
            del self._named[name]
        try:
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None:
                self.failed.emit(name, exc)
                return
            if on_done is not None:
                try:
                    on_done(task.result())
                except Exception as err:  # a bug in a callback is still reported, never swallowed
                    self.failed.emit(name, err)
        finally:
            if not self._tasks:
                self.busy_changed.emit(False)

    def cancel(self, name: str) -> None:
        """Cancel the running task with this name, if any."""
        task = self._named.get(name)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        """Cancel every running task (a closing window or view-model)."""
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every task and wait until they have all ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
