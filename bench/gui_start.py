"""The bare baseline for Parley's cold start: a QMainWindow with a QListView of 200 rows on qasync.

    QT_QPA_PLATFORM=offscreen python bench/gui_start.py OUT.png

Started the way ui/app.py starts Parley (QApplication, qasync.QEventLoop, a coroutine run to its end),
at Parley's screenshot size; paints, grabs the frame, saves it as PNG and exits. Time it as a
subprocess (bench/scale.py): it prints ``first frame S`` (seconds since ``PARLEY_BENCH_LAUNCH``, the
launcher's ``time.time()``) when the frame is grabbed, before the PNG is written.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import qasync
from PySide6.QtCore import QStringListModel
from PySide6.QtWidgets import QApplication, QListView, QMainWindow


async def main(app: QApplication, out: str) -> int:
    window = QMainWindow()
    view = QListView()
    view.setModel(QStringListModel([f"@user{i}: post number {i}, a line of customer text" for i in range(200)]))
    window.setCentralWidget(view)
    window.resize(1400, 860)
    window.show()
    await asyncio.sleep(0.05)  # as Parley's app_main does before anything else starts
    app.processEvents()
    frame = window.grab()
    print(f"first frame {time.time() - float(os.environ.get('PARLEY_BENCH_LAUNCH', 'nan')):.4f}", flush=True)
    ok = frame.save(out, "PNG")
    window.close()
    return 0 if ok else 1


def run() -> int:
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        status = int(loop.run_until_complete(main(app, sys.argv[1] if len(sys.argv) > 1 else "bare.png")))
    print(f"peak RSS {peak_rss_mib():.1f} MiB")
    return status


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM). The launcher's own wait4 figure would not do: on
    Linux a child's ru_maxrss starts from its parent's at fork."""
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    sys.exit(run())
