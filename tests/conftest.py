"""Shared fixtures: offscreen Qt, a small demo community, and a core on a temporary data dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# Before any Qt import: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PARLEY_INSECURE_FILE_SECRETS", "1")

DATA = Path(__file__).parent / "data"
MINI_COMMUNITY = DATA / "mini_community.json"


@pytest.fixture(autouse=True)
def _no_system_keyring() -> Iterator[None]:
    """No keyring unless a test sets one: every KeyringBackend subclass a test defines would
    otherwise be a candidate for keyring's default choice, picked by import order."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture(autouse=True)
def _demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small written community, no simulated latency, no faults, online."""
    monkeypatch.setenv("PARLEY_DEMO_DATASET", str(MINI_COMMUNITY))
    monkeypatch.setenv("PARLEY_DEMO_LATENCY", "0")
    monkeypatch.delenv("PARLEY_DEMO_OFFLINE", raising=False)
    monkeypatch.delenv("PARLEY_DEMO_FAULTS", raising=False)
    monkeypatch.delenv("PARLEY_DATA_DIR", raising=False)
    monkeypatch.delenv("PARLEY_DATABASE_URL", raising=False)


class Clock:
    """A settable clock for services that take ``clock=``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def core(data_dir: Path) -> Iterator[object]:
    """A ``Parley`` core on SQLite in a temporary data dir, with the demo accounts added."""
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    c = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)
    c.add_demo_accounts()
    yield c
    c.db.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches a QApplication as ``gui`` so ``-m 'not gui'`` runs anywhere."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if {"qtbot", "qapp", "qtmodeltester"} & set(names):
            item.add_marker(pytest.mark.gui)
