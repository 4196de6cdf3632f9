"""The outbox panel: every reply with its state, and Retry, Edit, Cancel and Send anyway."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services.outbox import OutboxRow
from ui import theme
from ui.delegates import OutboxStateDelegate
from ui.dialogs import EditReplyDialog
from ui.icons import icon
from views.formatting import plural
from views.main_vm import MainViewModel
from views.outbox_model import CANCELLABLE, EDITABLE, PAUSE_WORDS, RETRYABLE, SEND_ANYWAY, OutboxColumn


class OutboxTable(QTableView):
    """The outbox table, with a line of explanation while it is empty."""

    EMPTY = "No replies yet. Each reply you send is listed here with its delivery state, even offline."

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(theme.colors().muted)
            p.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.EMPTY)
            p.end()


class OutboxPanel(QWidget):
    """A table over ``vm.outbox`` and the actions the selected item allows."""

    def __init__(self, vm: MainViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("outboxPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.vm = vm
        self.edit_dialog: EditReplyDialog | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)

        # The dock's title bar: title, summary and the actions in one line (MainWindow installs it).
        self.header = QWidget(self)
        self.header.setObjectName("outboxHeader")
        self.header.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        bar = QHBoxLayout(self.header)
        bar.setContentsMargins(12, 5, 8, 5)
        bar.setSpacing(6)
        title = QLabel("Outbox", self.header)
        f = title.font()
        f.setBold(True)
        title.setFont(f)
        bar.addWidget(title)
        self.summary = QLabel(self.header)
        self.summary.setObjectName("muted")
        bar.addWidget(self.summary, 1)
        c = theme.colors()
        self.retry_button = QPushButton(icon("retry", c.text), "Retry", self)
        self.retry_button.setToolTip("Put the reply back in the queue and try now")
        self.edit_button = QPushButton(icon("edit", c.text), "Edit…", self)
        self.edit_button.setToolTip("Change the text (only while it is not on the network)")
        self.cancel_button = QPushButton(icon("cancel", c.urgent_text), "Cancel reply", self)
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip("Do not send this reply")
        self.anyway_button = QPushButton(icon("send", c.text), "Send anyway", self)
        self.anyway_button.setToolTip("Send without checking the conversation again")
        self.retry_button.clicked.connect(self.retry)
        self.edit_button.clicked.connect(self.edit)
        self.cancel_button.clicked.connect(self.cancel)
        self.anyway_button.clicked.connect(self.send_anyway)
        for b in (self.retry_button, self.edit_button, self.anyway_button, self.cancel_button):
            b.setParent(self.header)
            b.setObjectName(b.objectName() or "small")
            bar.addWidget(b)
        self.hide_button = QToolButton(self.header)
        self.hide_button.setText("✕")
        self.hide_button.setAutoRaise(True)
        self.hide_button.setToolTip("Hide the outbox (Ctrl+O shows it again)")
        bar.addWidget(self.hide_button)

        self.table = OutboxTable(self)
        self.table.setObjectName("outboxTable")
        self.table.setModel(vm.outbox)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setItemDelegateForColumn(OutboxColumn.State, OutboxStateDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        widths = {
            OutboxColumn.State: 124,
            OutboxColumn.Account: 150,
            OutboxColumn.Post: 200,
            OutboxColumn.Attempts: 48,
            OutboxColumn.Error: 240,
            OutboxColumn.Updated: 72,
        }
        for col, w in widths.items():
            header.resizeSection(col, w)
        header.setSectionResizeMode(OutboxColumn.Text, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self.edit())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        lay.addWidget(self.table, 1)

        for sig in (
            vm.outbox.rowsInserted,
            vm.outbox.rowsRemoved,
            vm.outbox.dataChanged,
            vm.outbox.modelReset,
            vm.outbox.paused_changed,
        ):
            sig.connect(self._refresh)
        self._refresh()

    def selected(self) -> OutboxRow | None:
        """The selected outbox item."""
        rows = self.table.selectionModel().selectedRows()
        return self.vm.outbox.item_at(rows[0].row()) if rows else None

    def select_item(self, item_id: int) -> None:
        """Select an item by id."""
        row = self.vm.outbox.row_of(item_id)
        if row is not None:
            self.table.selectRow(row)

    def _selection_changed(self, _a: QItemSelection, _b: QItemSelection) -> None:
        self._refresh()

    def _refresh(self, *_args: object) -> None:
        item = self.selected()
        state = item.state if item else ""
        self.retry_button.setEnabled(state in RETRYABLE)
        self.edit_button.setEnabled(state in EDITABLE)
        self.cancel_button.setEnabled(state in CANCELLABLE)
        self.anyway_button.setEnabled(state in SEND_ANYWAY)
        items = self.vm.outbox.items()
        waiting = sum(1 for i in items if i.state in ("queued", "sending", "unknown"))
        attention = sum(1 for i in items if i.state in ("failed", "needs_review"))
        sent = sum(1 for i in items if i.state == "sent")
        parts = [f"· {plural(waiting, 'reply', 'replies')} waiting"]
        for pause in self.vm.outbox.paused():  # an outage holds every reply of the account
            parts.append(f"{pause.handle} paused ({PAUSE_WORDS.get(pause.kind, pause.kind)})")
        if attention:
            parts.append(f"{attention} need{'s' if attention == 1 else ''} your attention")
        parts.append(f"{sent} sent")
        self.summary.setText(" · ".join(parts) if items else "")

    # -- actions --------------------------------------------------------------------------------

    def retry(self) -> None:
        """Retry the selected item."""
        item = self.selected()
        if item is not None and item.state in RETRYABLE:
            self.vm.retry(item.id)

    def send_anyway(self) -> None:
        """Send the selected held item without the conversation check."""
        item = self.selected()
        if item is not None and item.state in SEND_ANYWAY:
            self.vm.send_anyway(item.id)

    def cancel(self) -> None:
        """Cancel the selected item."""
        item = self.selected()
        if item is not None and item.state in CANCELLABLE:
            self.vm.cancel(item.id)

    def edit(self) -> None:
        """Open the editor for the selected item (non-blocking: ``open()``, never ``exec()``)."""
        item = self.selected()
        if item is None or item.state not in EDITABLE:
            return
        limit, count = self.vm.char_limit(item.post_id)
        reason = item.review_reason or item.last_error
        context = f"Reply to {self.vm.outbox.data(self.vm.outbox.index(self.vm.outbox.row_of(item.id) or 0, 2))}"
        if reason:
            context += f"\nWhy it was not sent: {reason}"
        dialog = EditReplyDialog(item.id, item.text, limit, count, context, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.accepted.connect(lambda: self.vm.edit(dialog.item_id, dialog.text()))
        dialog.finished.connect(self._edit_closed)
        self.edit_dialog = dialog
        dialog.open()

    def _edit_closed(self, _result: int) -> None:
        self.edit_dialog = None
