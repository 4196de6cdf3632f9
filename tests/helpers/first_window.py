"""Opens Parley's first window on a data dir as a start does, then prints what it imported (run as a subprocess).

    QT_QPA_PLATFORM=offscreen python -m tests.helpers.first_window DATA_DIR

Prints one JSON object: the rows the timeline painted and every module in ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


def main(data_dir: Path) -> int:
    import qasync

    import main as composition
    from ui import theme
    from ui.app import make_app, show_main_window

    app = make_app()
    theme.apply_theme(app, "system")
    core = composition.open_core(composition.build_parser().parse_args(["--data-dir", str(data_dir)]), data_dir)

    async def first_frame() -> int:
        vm, window = show_main_window(app, core, None, exact_size=True)
        await asyncio.sleep(0.05)  # as app_main does before it starts syncing
        rows = int(vm.timeline.rowCount())
        window.hide()
        await vm.aclose()
        await core.aclose()
        window.deleteLater()
        return rows

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        rows = loop.run_until_complete(first_frame())
    print(json.dumps({"rows": rows, "modules": sorted(sys.modules)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
