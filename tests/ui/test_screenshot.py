"""``main.py --demo --screenshot FILE`` opens the window offscreen and writes a real picture of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_screenshot_writes_a_real_png(qapp: Any, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "main.py", "--demo", "--data-dir", str(tmp_path / "data"), "--screenshot", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists() and out.stat().st_size > 20_000
    image = QImage(str(out))
    assert not image.isNull()
    assert image.width() > 800 and image.height() > 600
    step = 37
    colours = {image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)}
    assert len(colours) > 20  # a drawn window, not one flat colour
    log = (tmp_path / "data" / "parley.log").read_text(encoding="utf-8")
    assert "Traceback" not in log


def test_screenshot_fails_plainly_when_the_database_cannot_open(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    bad = tmp_path / "not-a-dir"
    bad.write_text("a file where the data dir's database would go")
    done = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--data-dir",
            str(tmp_path),
            "--db",
            f"sqlite:///{bad}/x/parley.sqlite",
            "--screenshot",
            str(tmp_path / "x.png"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("parley: ") and "Traceback" not in done.stderr
