"""Start-up skips Alembic when the schema is current: the cheap revision check agrees with Alembic's own."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from services.store.db import MIGRATIONS, Database, head_revisions, open_database, sqlite_url


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_the_heads_read_from_the_scripts_are_alembics_heads() -> None:
    assert head_revisions() == frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_a_database_at_an_older_revision_is_still_upgraded(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.sqlite")
    old = Database(url)
    try:
        first = ScriptDirectory.from_config(alembic_config()).get_base()
        assert first is not None
        cfg = alembic_config()
        with old.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, first)  # the schema of the first release
        assert old.stored_revisions() == {first} != head_revisions()
    finally:
        old.close()
    current = open_database(url)
    try:
        assert current.stored_revisions() == head_revisions()
        assert "correction" in inspect(current.engine).get_table_names()  # added by a later revision
    finally:
        current.close()


def test_a_new_file_has_no_revision_until_it_is_migrated(tmp_path: Path) -> None:
    fresh = Database(sqlite_url(tmp_path / "new.sqlite"))
    try:
        assert fresh.stored_revisions() == frozenset()
        fresh.migrate()
        assert fresh.stored_revisions() == head_revisions()
    finally:
        fresh.close()
