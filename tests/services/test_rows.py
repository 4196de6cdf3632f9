"""Timeline rows: reasons kept as stored and read when shown, the newest reply's state in the same query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from services.store.db import Database, open_database, sqlite_url
from services.store.models import OutboxItem, Post
from services.store.posts import TimelineFilter, ingest, page, reasons_to_json, rows_by_id
from services.triage import Triage
from tests.helpers.factories import T0, add_account, remote_post

COMPLAINT = "third time I ask: still waiting for my refund, nobody answers"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(sqlite_url(tmp_path / "p.sqlite"))
    yield database
    database.close()


def test_a_rows_reasons_read_back_as_triage_gave_them(db: Database) -> None:
    account = add_account(db)
    with db.session() as s:
        [pid] = ingest(s, account, [remote_post("c1", COMPLAINT, at=T0)], Triage(), T0)
        stored = s.get(Post, pid)
        assert stored is not None
        [row] = page(s, TimelineFilter(search="refund"), None, 50)
    assert row.reasons_json == stored.reasons
    labels = [r.label for r in row.reasons]
    assert row.reasons and "repeat contact (3rd)" in labels  # "third time I ask"
    assert reasons_to_json(row.reasons) == stored.reasons  # codes, labels and weights all survive
    assert row.to_json()["reasons"] == labels


def test_damaged_stored_reasons_read_as_none_and_the_page_still_loads(db: Database) -> None:
    account = add_account(db)
    with db.session() as s:
        ids = ingest(s, account, [remote_post(f"p{i}", COMPLAINT, at=T0) for i in range(3)], Triage(), T0)
        s.execute(update(Post).where(Post.id == ids[1]).values(reasons='[{"code": "x"'))
    with db.session() as s:
        rows = {r.id: r for r in page(s, TimelineFilter(), None, 50)}
    assert set(rows) == set(ids)
    assert rows[ids[1]].reasons == ()
    assert rows[ids[0]].reasons and rows[ids[2]].reasons


def test_the_newest_reply_gives_the_rows_outbox_state(db: Database) -> None:
    account = add_account(db)
    with db.session() as s:
        [pid, other] = ingest(s, account, [remote_post("a"), remote_post("b")], Triage(), T0)
        for state in ("cancelled", "failed", "queued"):
            s.add(
                OutboxItem(
                    post_id=pid,
                    account_id=account.id,
                    conversation_key="a",
                    text="on it",
                    client_key=f"k-{state}",
                    state=state,
                )
            )
    with db.session() as s:
        rows = {r.id: r for r in rows_by_id(s, [pid, other])}
    assert rows[pid].outbox_state == "queued"
    assert rows[other].outbox_state is None


def test_a_row_read_again_is_equal_until_its_reasons_change(db: Database) -> None:
    # The timeline redraws a row only when its fresh copy differs (views/timeline_model.py).
    account = add_account(db)
    with db.session() as s:
        [pid] = ingest(s, account, [remote_post("c1", COMPLAINT, at=T0)], Triage(), T0)
        first, again = rows_by_id(s, [pid]), rows_by_id(s, [pid])
        assert first == again
        s.execute(
            update(Post).where(Post.id == pid).values(reasons='[{"code": "c", "label": "changed", "weight": 0.5}]')
        )
        [changed] = rows_by_id(s, [pid])
    assert changed != first[0]
    assert [r.label for r in changed.reasons] == ["changed"]
    assert [r.label for r in first[0].reasons] != ["changed"]  # the old copy still reads its own reasons
