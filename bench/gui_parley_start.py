"""Parley's cold start to a painted timeline, without waiting for a sync (bench/gui_start.py is its baseline).

    QT_QPA_PLATFORM=offscreen python bench/gui_parley_start.py DATA_DIR OUT.png

Runs what ``main.py`` runs up to the first frame: ``open_core`` (the database, migrations if due),
the QApplication and theme, the qasync loop, then ``ui.app.show_main_window`` (view-model, window,
``vm.load()``, show), the same 50 ms ``app_main`` waits before it starts syncing, and a grab of the
window. Prints ``first frame S`` (seconds since ``PARLEY_BENCH_LAUNCH``, the launcher's ``time.time()``)
when the frame is grabbed, then a breakdown (ms since the interpreter ran this file), then saves the PNG.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))  # the repo root, as main.py has
marks: list[tuple[str, float]] = []


def mark(name: str) -> None:
    marks.append((name, (time.perf_counter() - T0) * 1000))


async def first_frame(app, core, out: str) -> int:  # type: ignore[no-untyped-def]
    from ui.app import show_main_window

    vm, window = show_main_window(app, core, None, exact_size=True)
    mark("window built, first page loaded, shown")
    await asyncio.sleep(0.05)
    app.processEvents()
    rows = vm.timeline.rowCount()
    frame = window.grab()
    print(f"first frame {time.time() - float(os.environ.get('PARLEY_BENCH_LAUNCH', 'nan')):.4f}", flush=True)
    mark(f"first frame grabbed ({rows} rows)")
    ok = frame.save(out, "PNG")
    window.hide()
    await vm.aclose()
    await core.aclose()
    window.deleteLater()
    return 0 if ok and rows > 0 else 1


def run() -> int:
    from pathlib import Path

    import qasync

    import main as composition
    from ui import theme
    from ui.app import make_app

    mark("imported PySide6, qasync, ui.app, main")
    data_dir = Path(sys.argv[1])
    app = make_app()
    theme.apply_theme(app, "system")
    mark("QApplication and theme")
    core = composition.open_core(composition.build_parser().parse_args(["--data-dir", str(data_dir)]), data_dir)
    mark("services imported, database open")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        status = int(loop.run_until_complete(first_frame(app, core, sys.argv[2])))
    mark("loop closed")
    for name, ms in marks:
        print(f"{ms:8.0f} ms  {name}")
    from bench.gui_start import peak_rss_mib

    print(f"peak RSS {peak_rss_mib():.1f} MiB")
    return status


if __name__ == "__main__":
    sys.exit(run())
