"""views/ uses QtCore and QtGui only: importing every module with QtWidgets blocked must work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, pkgutil, sys
sys.modules["PySide6.QtWidgets"] = None  # any import of it now raises ImportError
import views
for info in pkgutil.iter_modules(views.__path__):
    importlib.import_module(f"views.{info.name}")
print("ok")
"""


def test_views_never_import_qtwidgets() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
