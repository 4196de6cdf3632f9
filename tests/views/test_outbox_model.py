"""The outbox table model: states in words, plain-words reasons, updates in place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt

from services.outbox import STATES, OutboxRow
from views.outbox_model import HEADERS, STATE_LABELS, OutboxColumn, OutboxModel, OutboxRole, problem_text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(i: int, state: str = "queued", **kw: Any) -> OutboxRow:
    base = OutboxRow(
        id=i,
        post_id=100 + i,
        account_id=1,
        account_handle="@acme@demo.social",
        network="demo",
        conversation_key=f"c{i}",
        text=f"Reply number {i}",
        state=state,
        remote_id=None,
        remote_url=None,
        attempts=0,
        last_error=None,
        review_reason=None,
        created_at=NOW,
        updated_at=NOW,
        next_attempt_at=NOW,
        in_reply_to=f"p{i}",
    )
    return replace(base, **kw)


def test_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = OutboxModel()
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester
    model.set_rows([row(i, s) for i, s in enumerate(STATES, start=1)][::-1], {101: "Maria: refund"})
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester


def test_columns_and_display(qapp: Any) -> None:
    model = OutboxModel()
    failed = row(2, "failed", attempts=3, last_error="The network refused: too long.")
    model.set_rows([failed, row(1)], {101: "Maria K.: where is my refund"})
    assert model.columnCount() == len(HEADERS)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())][:4] == [
        "State",
        "Account",
        "In reply to",
        "Reply",
    ]
    assert model.index(0, OutboxColumn.State).data() == "Failed"
    assert model.index(0, OutboxColumn.Attempts).data() == "3"
    assert model.index(0, OutboxColumn.Error).data() == "The network refused: too long."
    assert model.index(1, OutboxColumn.Post).data() == "Maria K.: where is my refund"
    assert model.index(0, OutboxColumn.Post).data() == "post 102"
    assert model.index(1, OutboxColumn.Text).data(OutboxRole.Item) == row(1)
    assert model.index(0, OutboxColumn.Updated).data(OutboxRole.State) == "failed"


def test_every_state_reads_differently() -> None:
    labels = [STATE_LABELS[s] for s in STATES]
    assert len(set(labels)) == len(STATES)


def test_problem_text_in_plain_words() -> None:
    assert problem_text(row(1, "needs_review", review_reason="Someone else already answered.")) == (
        "Someone else already answered."
    )
    assert problem_text(row(1, "sent", last_error="old")) == ""
    assert problem_text(row(1, "queued", last_error="The demo network is offline.")) == "The demo network is offline."


def test_set_rows_updates_in_place(qapp: Any) -> None:
    model = OutboxModel()
    model.set_rows([row(2), row(1)])
    resets: list[int] = []
    inserted: list[int] = []
    removed: list[int] = []
    changed: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda _p, a, _b: inserted.append(a))
    model.rowsRemoved.connect(lambda _p, a, _b: removed.append(a))
    model.dataChanged.connect(lambda a, _b, _r=None: changed.append(a.row()))
    model.set_rows([row(3), row(2, "sent"), row(1)])
    assert (inserted, changed, removed, resets) == ([0], [1], [], [])
    model.set_rows([row(3), row(1)])
    assert removed == [1]
    assert [r.id for r in model.items()] == [3, 1]
    assert model.row_of(1) == 1 and model.item_at(5) is None
    assert not resets


def test_replies_of_a_paused_account_say_why_they_wait(qapp: Any) -> None:
    from services.outbox import AccountPause
    from views.outbox_model import waiting_text

    model = OutboxModel()
    probe = row(3, last_error="Connection refused by 10.0.0.7.")
    other_account = row(4, account_id=2)
    model.set_rows([other_account, probe, row(2), row(1, "sent")])
    changed: list[int] = []
    model.dataChanged.connect(lambda a, _b, _r=None: changed.append(a.row()))
    pause = AccountPause(1, "@acme@demo.social", "offline", "Connection refused.", NOW, 1)
    model.set_paused([pause])
    reasons = [model.index(i, OutboxColumn.Error).data() for i in range(4)]
    assert reasons == ["", "Connection refused by 10.0.0.7.", waiting_text(pause), ""]
    assert reasons[2].startswith("Waiting: the network cannot be reached; next try ")
    assert sorted(changed) == [1, 2] and model.paused() == [pause]
    model.set_paused([])
    assert model.index(2, OutboxColumn.Error).data() == "" and model.paused() == []
