"""The layering rules of design section 1, checked on the source: ui -> views -> services, one way."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QT = ("PySide6", "qasync", "shiboken6")


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if ".venv" not in p.parts)


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module name a file imports (statements anywhere, and literal dynamic imports)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside its own package
                continue
            base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value


def violations(folder: str, banned: tuple[str, ...]) -> list[str]:
    found = []
    for path in modules(folder):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_names(tree):
            if any(name == b or name.startswith(b + ".") for b in banned):
                found.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    return found


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "import PySide6.QtCore\n"
        "from PySide6 import QtWidgets\n"
        "from qasync import QEventLoop\n"
        "if False:\n    import shiboken6\n"
        "def f():\n    importlib.import_module('PySide6.QtGui')\n"
        "from . import sibling\n"
    )
    names = {name for _, name in imported_names(ast.parse(source))}
    assert {"PySide6.QtCore", "PySide6.QtWidgets", "qasync", "shiboken6", "PySide6.QtGui"} <= names
    assert "sibling" not in names and ".sibling" not in names


def test_services_never_import_qt() -> None:
    assert modules("services"), "services/ has no modules?"
    assert violations("services", QT) == []


def test_services_never_import_views_ui_or_main() -> None:
    assert violations("services", ("views", "ui", "main")) == []


def test_views_never_import_widgets_or_ui() -> None:
    if not modules("views"):
        pytest.skip("views/ has no modules yet")
    assert violations("views", ("PySide6.QtWidgets", "ui", "main")) == []


@pytest.mark.parametrize("folder", ["services", "views", "ui"])
def test_every_module_has_a_docstring(folder: str) -> None:
    paths = modules(folder)
    if not paths:
        pytest.skip(f"{folder}/ has no modules yet")
    missing = [
        str(p.relative_to(REPO))
        for p in paths
        if not (ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or "").strip()
    ]
    assert missing == []


def test_main_has_a_docstring() -> None:
    doc = ast.get_docstring(ast.parse((REPO / "main.py").read_text(encoding="utf-8")))
    assert doc and doc.strip()
