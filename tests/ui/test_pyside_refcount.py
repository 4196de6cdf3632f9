"""Guard against PySide6 6.12.0's refcount bug on Python 3.11.

6.12.0 loses a reference to None on every ``QTimer.singleShot(0, callable)`` and every emit of a
``Signal(object)``; the count eventually reaches zero and the interpreter aborts. Both are on
Parley's hot paths (qasync schedules every callback with a timer; view-models emit objects), so a
release with the bug must fail here rather than in front of a user.
"""

from __future__ import annotations

import os
import subprocess
import sys

N = 20_000

PROBE = f"""
import sys
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

app = QCoreApplication([])


class Emitter(QObject):
    carried = Signal(object)


received = []
emitter = Emitter()
emitter.carried.connect(lambda value: received.append(value is None))
fired = [0]


def tick():
    fired[0] += 1


before = sys.getrefcount(None)
for _ in range({N}):
    emitter.carried.emit(None)
for _ in range({N}):
    QTimer.singleShot(0, tick)
while fired[0] < {N}:
    app.processEvents()
after = sys.getrefcount(None)
assert len(received) == {N} and all(received), "Signal(object) did not deliver None"
print(before, after)
"""


def test_none_keeps_its_references() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"the probe died (exit {done.returncode}): {done.stderr[-2000:]}"
    before, after = (int(x) for x in done.stdout.split())
    # A few hundred either way is ordinary churn; the bug loses one per call (40,000 here).
    assert after >= before - 500, f"None lost {before - after} references over {2 * N} calls"
