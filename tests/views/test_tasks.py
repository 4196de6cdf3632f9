"""TaskRunner: results on the Qt thread, errors to one signal, cancellations dropped, latest wins."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.views.qtasync import run, settle, wait_until
from views.tasks import TaskRunner


def test_result_goes_to_on_done_and_busy_is_reported(qloop: Any) -> None:
    runner = TaskRunner()
    busy: list[bool] = []
    results: list[int] = []
    runner.busy_changed.connect(busy.append)

    async def work() -> int:
        await asyncio.sleep(0.01)
        return 42

    runner.spawn(work(), name="work", on_done=results.append)
    assert runner.busy and runner.running("work")
    run(qloop, wait_until(lambda: results))
    settle(qloop)
    assert results == [42]
    assert busy == [True, False]
    assert not runner.busy


def test_errors_go_to_failed_with_the_task_name(qloop: Any) -> None:
    runner = TaskRunner()
    failures: list[tuple[str, object]] = []
    runner.failed.connect(lambda name, exc: failures.append((name, exc)))

    async def boom() -> None:
        raise ValueError("broken")

    runner.spawn(boom(), name="boom")
    run(qloop, wait_until(lambda: failures))
    assert failures[0][0] == "boom"
    assert isinstance(failures[0][1], ValueError)


def test_an_error_in_on_done_is_reported_too(qloop: Any) -> None:
    runner = TaskRunner()
    failures: list[str] = []
    runner.failed.connect(lambda name, exc: failures.append(name))

    async def fine() -> int:
        return 1

    def bad(_result: int) -> None:
        raise RuntimeError("callback bug")

    runner.spawn(fine(), name="cb", on_done=bad)
    run(qloop, wait_until(lambda: failures))
    assert failures == ["cb"]


def test_cancelled_tasks_are_dropped_silently(qloop: Any) -> None:
    runner = TaskRunner()
    failures: list[str] = []
    done: list[object] = []
    runner.failed.connect(lambda name, exc: failures.append(name))
    task = runner.spawn(asyncio.sleep(10), name="slow", on_done=done.append)
    runner.cancel_all()
    run(qloop, wait_until(lambda: task.done()))
    settle(qloop)
    assert task.cancelled()
    assert failures == [] and done == []
    assert not runner.busy


def test_latest_wins_cancels_the_earlier_task_of_the_same_name(qloop: Any) -> None:
    runner = TaskRunner()
    results: list[str] = []

    async def load(what: str) -> str:
        await asyncio.sleep(0.05)
        return what

    first = runner.spawn(load("first"), name="load", on_done=results.append, latest_wins=True)
    runner.spawn(load("second"), name="load", on_done=results.append, latest_wins=True)
    run(qloop, wait_until(lambda: results))
    settle(qloop, 0.1)
    assert first.cancelled()
    assert results == ["second"]


def test_aclose_waits_for_every_task(qloop: Any) -> None:
    runner = TaskRunner()
    tasks = [runner.spawn(asyncio.sleep(10), name=f"t{i}") for i in range(3)]
    run(qloop, runner.aclose())
    assert all(t.cancelled() for t in tasks)
