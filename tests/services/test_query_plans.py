"""SQLite query plans: looking up a conversation uses its index, never a walk through the whole account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from services.core import Parley
from services.store.db import Database, open_database, sqlite_url
from services.store.posts import ingest
from services.triage import Triage
from tests.helpers.factories import BRAND, T0, add_account, remote_post


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(sqlite_url(tmp_path / "p.sqlite"))
    yield database
    database.close()


class Statements:
    """Every SQL statement the engine runs while recording, with its parameters."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> Statements:
        event.listen(self.db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        self.seen.append((statement, parameters[0] if many else parameters))

    def plans(self, condition_on: str) -> list[str]:
        """The query plans of the statements whose WHERE mentions the column ``condition_on``."""
        out = []
        with self.db.engine.connect() as conn:
            for statement, parameters in self.seen:
                where = statement.partition("WHERE")[2]
                if condition_on in where and not statement.lstrip().upper().startswith("INSERT"):
                    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                    out.append(" / ".join(str(r[-1]) for r in rows))
        return out


def test_conversation_lookups_use_the_conversation_index_in_a_busy_account(db: Database, tmp_path: Path) -> None:
    account = add_account(db)
    # One busy account: without statistics SQLite would pick the account's index for these lookups.
    posts = [remote_post(f"p{i}", at=T0 + timedelta(minutes=i), conversation=f"c{i % 50}") for i in range(300)]
    with db.session() as s:
        ingest(s, account, posts, Triage(), T0 + timedelta(days=1))
    core = Parley(db, tmp_path)
    reply = remote_post("own", at=T0 + timedelta(hours=9), author=BRAND, conversation="c7", kind="own_reply")
    with Statements(db) as seen:
        thread = core.conversation(8)  # post p7, in thread c7
        with db.session() as s:
            # Storing our reply reads the thread's context and marks its earlier posts answered.
            ingest(s, account, [reply], Triage(), T0 + timedelta(days=1))
    assert [r.remote_id for r in thread] == [f"p{i}" for i in range(7, 300, 50)]
    plans = seen.plans("conversation_key")
    assert len(plans) >= 3  # the pane's read, the context of the new reply, marking posts answered
    for plan in plans:
        assert "ix_post_conversation_key" in plan, plan
