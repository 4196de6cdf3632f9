"""Parley's cold start to a painted timeline, without waiting for a sync (bench/gui_start.py is its baseline).

    QT_QPA_PLATFORM=offscreen python bench/gui_parley_start.py DATA_DIR OUT.png

Does what ui/app.py's run_gui/app_main do up to the first frame (QApplication, theme, the core on the
database, qasync loop, view-model, MainWindow, vm.load(), show), then grabs the window as a PNG once the
timeline has rows, and exits. `main.py --screenshot` also waits for the first sync pass to finish,
which is not part of "the timeline is on screen". Prints a breakdown (ms since process start) on stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))  # the repo root, as main.py has
marks: list[tuple[str, float]] = []


def mark(name: str) -> None:
    marks.append((name, (time.perf_counter() - T0) * 1000))


async def app_main(app, core, out: str) -> int:  # type: ignore[no-untyped-def]
    from ui import theme
    from ui.main_window import MainWindow
    from views.main_vm import MainViewModel

    mark("imported ui.main_window, views.main_vm")
    theme.apply_theme(app, str(core.settings.get("theme", "system")))
    vm = MainViewModel(core)
    window = MainWindow(vm)
    mark("window built")
    vm.load()
    mark("vm.load() (accounts, first page, counts, outbox)")
    window.resize(1400, 860)
    window.show()
    await asyncio.sleep(0.05)
    app.processEvents()
    rows = vm.timeline.rowCount()
    ok = window.grab().save(out, "PNG")
    mark(f"first frame grabbed ({rows} rows)")
    window.hide()
    await vm.aclose()
    await core.aclose()
    window.deleteLater()
    return 0 if ok and rows > 0 else 1


def run() -> int:
    from pathlib import Path

    import qasync

    from ui.app import make_app

    mark("imported PySide6, qasync, ui.app")
    data_dir = Path(sys.argv[1])
    app = make_app()
    from ui import theme

    theme.apply_theme(app, "system")
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    mark("QApplication, imported services.core")
    core = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)
    mark("database open")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        status = int(loop.run_until_complete(app_main(app, core, sys.argv[2])))
    mark("loop closed")
    for name, ms in marks:
        print(f"{ms:8.0f} ms  {name}")
    return status


if __name__ == "__main__":
    sys.exit(run())
