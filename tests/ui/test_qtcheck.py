"""``python -m ui.qtcheck``: one clear message naming what to do when Qt cannot open a window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ui import qtcheck

ROOT = Path(__file__).resolve().parents[2]

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibweird.so.9 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_missing_libraries_map_to_one_install_line() -> None:
    libs = qtcheck.missing_libraries(LDD)
    assert libs == ["libweird.so.9", "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    packages, unknown = qtcheck.packages_for(libs)
    assert packages == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert unknown == ["libweird.so.9"]
    assert qtcheck.install_line(packages) == "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"


def test_every_package_the_brief_names_is_known() -> None:
    for pkg in (
        "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 "
        "libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0 libxcb-xinerama0"
    ).split():
        assert pkg in qtcheck.XCB_PACKAGES.values()


def test_no_display_says_what_to_run() -> None:
    if not sys.platform.startswith("linux"):
        return
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    ok, message = qtcheck.diagnose(env)
    assert not ok
    assert "xvfb-run -a make run" in message
    done = subprocess.run(
        [sys.executable, "-m", "ui.qtcheck"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "xvfb-run -a make run" in done.stderr


def test_offscreen_is_fine() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-m", "ui.qtcheck"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
