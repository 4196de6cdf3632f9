"""The outbox table: every reply with its state, attempts and the last error in plain words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal

from services.outbox import PENDING, AccountPause, OutboxRow
from views.rows import AnyIndex, row_flags

#: How each state reads in the panel.
STATE_LABELS: dict[str, str] = {
    "queued": "Queued",
    "sending": "Sending…",
    "unknown": "Checking",
    "sent": "Sent",
    "failed": "Failed",
    "needs_review": "Needs review",
    "cancelled": "Cancelled",
}

#: What each state means, for tooltips.
STATE_HELP: dict[str, str] = {
    "queued": "Waiting to be sent; it goes out as soon as the network can be reached.",
    "sending": "Being sent right now.",
    "unknown": "The network did not confirm the send; Parley checks whether it arrived before trying again.",
    "sent": "Delivered.",
    "failed": "The network refused this reply; edit it or retry.",
    "needs_review": "Held back because the conversation changed; review it, then send anyway or cancel.",
    "cancelled": "Cancelled; it will not be sent.",
}

#: Why an account's replies wait, by the kind of stop that paused its sending.
PAUSE_WORDS: dict[str, str] = {
    "offline": "the network cannot be reached",
    "signed_out": "the account must sign in again",
    "rate_limited": "the network asked Parley to slow down",
    "unknown": "the network is failing",
}

#: Which actions each state allows (mirrors services.outbox).
RETRYABLE = frozenset({"failed", "needs_review", "queued", "unknown"})
EDITABLE = frozenset({"queued", "failed", "needs_review"})
CANCELLABLE = EDITABLE
SEND_ANYWAY = frozenset({"needs_review"})


class OutboxColumn(IntEnum):
    """The table's columns."""

    State = 0
    Account = 1
    Post = 2
    Text = 3
    Attempts = 4
    Error = 5
    Updated = 6


HEADERS: dict[OutboxColumn, str] = {
    OutboxColumn.State: "State",
    OutboxColumn.Account: "Account",
    OutboxColumn.Post: "In reply to",
    OutboxColumn.Text: "Reply",
    OutboxColumn.Attempts: "Tries",
    OutboxColumn.Error: "Reason",
    OutboxColumn.Updated: "Updated",
}


class OutboxRole(IntEnum):
    """Data roles of the outbox table (the same on every column)."""

    Item = Qt.ItemDataRole.UserRole + 1
    Id = Qt.ItemDataRole.UserRole + 2
    State = Qt.ItemDataRole.UserRole + 3


def problem_text(row: OutboxRow) -> str:
    """Why an item is not (yet) sent, in plain words; empty when nothing is wrong."""
    if row.state == "needs_review":
        return row.review_reason or row.last_error or "The conversation changed."
    if row.state in ("sent", "cancelled"):
        return ""
    return row.last_error or ""


def waiting_text(pause: AccountPause, now: datetime | None = None) -> str:
    """Why a reply waits for its account, e.g. "Waiting: the network cannot be reached; next try 14:05"."""
    why = PAUSE_WORDS.get(pause.kind, "the network refused to send")
    return f"Waiting: {why}; next try {short_time(pause.until, now)}."


def short_time(at: datetime, now: datetime | None = None) -> str:
    """A compact time: "14:05" today, else "3 Mar 14:05"."""
    now = now or datetime.now(UTC)
    local = at.astimezone()
    if local.date() == now.astimezone().date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


class OutboxModel(QAbstractTableModel):
    """Outbox items, newest first, updated in place so the selection survives a refresh."""

    paused_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[OutboxRow] = []
        self._labels: dict[int, str] = {}
        self._paused: dict[int, AccountPause] = {}  # by account id

    def set_paused(self, pauses: Sequence[AccountPause]) -> None:
        """The accounts whose sending waits out an outage (the last drain's word): their replies say so."""
        new = {p.account_id: p for p in pauses}
        if new == self._paused:
            return
        touched = set(new) | set(self._paused)
        self._paused = new
        for i, r in enumerate(self._rows):
            if r.account_id in touched and r.state in PENDING:
                self.dataChanged.emit(self.index(i, OutboxColumn.Error), self.index(i, OutboxColumn.Error))
        self.paused_changed.emit()

    def paused(self) -> list[AccountPause]:
        """The accounts whose sending is paused now, most pressing first."""
        return list(self._paused.values())

    def reason(self, r: OutboxRow) -> str:
        """The Reason column: the reply's own problem, else why its account waits."""
        own = problem_text(r)
        pause = self._paused.get(r.account_id)
        if own or pause is None or r.state not in PENDING:
            return own
        return waiting_text(pause)

    def set_rows(self, rows: Sequence[OutboxRow], post_labels: Mapping[int, str] | None = None) -> None:
        """Show these rows (newest first): removes, inserts and updates, never a reset."""
        if post_labels is not None:
            self._labels.update(post_labels)
        new = list(rows)
        new_ids = {r.id for r in new}
        for i in range(len(self._rows) - 1, -1, -1):  # bottom up, so earlier row numbers stay valid
            if self._rows[i].id not in new_ids:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        for i, r in enumerate(new):
            if i < len(self._rows) and self._rows[i].id == r.id:
                if self._rows[i] != r:
                    self._rows[i] = r
                    self.dataChanged.emit(self.index(i, 0), self.index(i, len(OutboxColumn) - 1))
                continue
            if any(old.id == r.id for old in self._rows[i + 1 :]):
                # Out of order (ids are stable, so this only happens with an unsorted input): start over.
                self.beginResetModel()
                self._rows = new
                self.endResetModel()
                return
            self.beginInsertRows(QModelIndex(), i, i)
            self._rows.insert(i, r)
            self.endInsertRows()

    def item_at(self, row: int) -> OutboxRow | None:
        """The item shown in ``row``."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, item_id: int) -> int | None:
        """Where an item is shown."""
        return next((i for i, r in enumerate(self._rows) if r.id == item_id), None)

    def items(self) -> list[OutboxRow]:
        """Every shown item (a copy)."""
        return list(self._rows)

    # -- Qt model API ---------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(OutboxColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(OutboxColumn):
                return HEADERS[OutboxColumn(section)]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return row_flags(index)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        if not 0 <= index.row() < len(self._rows) or not 0 <= index.column() < len(OutboxColumn):
            return None
        r = self._rows[index.row()]
        col = OutboxColumn(index.column())
        match role:
            case OutboxRole.Item:
                return r
            case OutboxRole.Id:
                return r.id
            case OutboxRole.State:
                return r.state
            case Qt.ItemDataRole.DisplayRole:
                return self._display(r, col)
            case Qt.ItemDataRole.ToolTipRole:
                return self._tooltip(r, col)
            case Qt.ItemDataRole.TextAlignmentRole if col == OutboxColumn.Attempts:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, r: OutboxRow, col: OutboxColumn) -> str:
        match col:
            case OutboxColumn.State:
                return STATE_LABELS.get(r.state, r.state)
            case OutboxColumn.Account:
                return r.account_handle
            case OutboxColumn.Post:
                return self._labels.get(r.post_id, f"post {r.post_id}")
            case OutboxColumn.Text:
                return " ".join(r.text.split())
            case OutboxColumn.Attempts:
                return str(r.attempts)
            case OutboxColumn.Error:
                return self.reason(r)
            case OutboxColumn.Updated:
                return short_time(r.updated_at)

    def _tooltip(self, r: OutboxRow, col: OutboxColumn) -> str | None:
        match col:
            case OutboxColumn.State:
                return STATE_HELP.get(r.state)
            case OutboxColumn.Text:
                return r.text
            case OutboxColumn.Error:
                return self.reason(r) or None
            case OutboxColumn.Updated:
                return r.updated_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return None
