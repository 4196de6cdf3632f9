"""The account health panel: per account, last sync, last error, sign-in, rate budget and unusual silence."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QHideEvent, QPainter, QPen, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.delegates import small_font
from ui.icons import paint_warning
from views.accounts_vm import AccountsViewModel, HealthLine, HealthRole, HealthRow
from views.formatting import ago, plural

#: How often ages ("12 min ago") are said again while the panel is open.
TICK_MS = 20_000
#: What each state is called, for screen readers and tooltips (the mark's shape says it too).
STATE_WORDS = {"ok": "Fine", "unknown": "Not known yet", "warning": "Needs a look", "error": "Problem"}


def state_pixmap(state: str, size: int = 14) -> QPixmap:
    """A mark whose shape, not only its colour, says the state: a tick, a triangle, a cross, an empty ring."""
    c = theme.colors()
    pm = QPixmap(size * 2, size * 2)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(2, 2)
    r = QRectF(0.75, 0.75, size - 1.5, size - 1.5)
    mark = QColor("#ffffff") if not c.dark else c.base
    if state == "warning":
        paint_warning(p, QRectF(0, 0, size, size), c.warning, mark)
    elif state in ("ok", "error"):
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c.success if state == "ok" else c.urgent)
        p.drawEllipse(r)
        pen = QPen(mark, max(1.4, size / 8))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        s = size / 14
        if state == "ok":
            p.drawPolyline([QPointF(4 * s, 7.3 * s), QPointF(6.2 * s, 9.4 * s), QPointF(10 * s, 5 * s)])
        else:
            p.drawLine(QPointF(4.6 * s, 4.6 * s), QPointF(9.4 * s, 9.4 * s))
            p.drawLine(QPointF(9.4 * s, 4.6 * s), QPointF(4.6 * s, 9.4 * s))
    else:
        p.setPen(QPen(c.faint, 1.4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(r.adjusted(1, 1, -1, -1))
    p.end()
    pm.setDevicePixelRatio(2)
    return pm


class HealthCard(QFrame):
    """One account: its handle and network, a badge, one line per fact, and "Sign in again" when it is needed."""

    sign_in_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthCard")
        self.account_id = 0
        self.state = "ok"
        self.needs_sign_in = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 12)
        lay.setSpacing(8)
        head = QHBoxLayout()
        head.setSpacing(10)
        self.mark = QLabel(self)
        self.mark.setFixedSize(20, 20)
        names = QVBoxLayout()
        names.setSpacing(0)
        self.handle = QLabel(self)
        self.handle.setObjectName("healthHandle")
        f = self.handle.font()
        f.setPointSizeF(f.pointSizeF() + 1)
        f.setWeight(QFont.Weight.Bold)
        self.handle.setFont(f)
        self.handle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where = QLabel(self)
        self.where.setObjectName("muted")
        self.where.setFont(small_font(self.where.font(), -0.5))
        names.addWidget(self.handle)
        names.addWidget(self.where)
        self.badge = QLabel(self)
        self.badge.setObjectName("healthBadge")
        self.badge.setFont(small_font(self.badge.font(), -0.5, QFont.Weight.DemiBold))
        head.addWidget(self.mark, 0, Qt.AlignmentFlag.AlignVCenter)
        head.addLayout(names, 1)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(head)
        self.grid = QGridLayout()
        self.grid.setContentsMargins(30, 2, 0, 0)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(5)
        self.grid.setColumnStretch(2, 1)
        self.grid.setColumnMinimumWidth(1, 90)
        lay.addLayout(self.grid)
        self.line_marks: dict[str, QLabel] = {}
        self.line_labels: dict[str, QLabel] = {}
        self.line_texts: dict[str, QLabel] = {}
        self._line_states: dict[str, str] = {}
        foot = QHBoxLayout()
        foot.setContentsMargins(30, 0, 0, 0)
        foot.addStretch(1)
        self.sign_in_button = QPushButton("Sign in again", self)
        self.sign_in_button.setObjectName("primary")
        self.sign_in_button.setAutoDefault(False)
        self.sign_in_button.clicked.connect(lambda: self.sign_in_requested.emit(self.account_id))
        foot.addWidget(self.sign_in_button)
        lay.addLayout(foot)

    def show_row(self, row: HealthRow, lines: tuple[HealthLine, ...], state: str, summary: str) -> None:
        """Show one account's health."""
        h = row.health
        self.account_id = h.account_id
        self.state = state
        self.needs_sign_in = h.needs_sign_in
        self.handle.setText(h.handle)
        where = row.network_name
        if row.server_url and h.network != "demo" and not h.archive:
            where += f" · {row.server_url.removeprefix('https://')}"
        self.where.setText(where)
        self.badge.setText(summary)
        for line in lines:
            if line.key not in self.line_texts:
                mark = QLabel(self)
                mark.setFixedSize(14, 14)
                label = QLabel(line.label, self)
                label.setObjectName("muted")
                text = QLabel(self)
                text.setWordWrap(True)
                text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                place = len(self.line_texts)  # lines only ever join at the bottom
                self.grid.addWidget(mark, place, 0, Qt.AlignmentFlag.AlignTop)
                self.grid.addWidget(label, place, 1, Qt.AlignmentFlag.AlignTop)
                self.grid.addWidget(text, place, 2)
                self.line_marks[line.key], self.line_texts[line.key] = mark, text
                self.line_labels[line.key] = label
            self.line_texts[line.key].setText(line.text)
            self.line_marks[line.key].setToolTip(STATE_WORDS.get(line.state, ""))
            self.line_marks[line.key].setAccessibleName(f"{line.label}: {STATE_WORDS.get(line.state, '')}")
            self._line_states[line.key] = line.state
        # A line that comes and goes (open gaps) is hidden, not left showing its last words.
        shown = {line.key for line in lines}
        for key in self.line_texts:
            for widget in (self.line_marks[key], self.line_labels[key], self.line_texts[key]):
                widget.setVisible(key in shown)
            if key not in shown:
                self._line_states.pop(key, None)
        self.sign_in_button.setVisible(h.needs_sign_in and row.can_sign_in)
        self.setAccessibleName(f"{h.handle} on {row.network_name}: {summary}")
        self.restyle()

    def line_text(self, key: str) -> str:
        """The words of one line shown now (sync, error, sign_in, rate, mentions, gaps); "" when not shown."""
        return self.line_texts[key].text() if key in self._line_states else ""

    def line_state(self, key: str) -> str:
        """The state of one line."""
        return self._line_states.get(key, "")

    def restyle(self) -> None:
        """Colours from the current theme."""
        c = theme.colors()
        border = c.urgent_chip_border if self.state == "error" else c.border
        soft, text = {
            "error": (c.urgent_chip, c.urgent_chip_text),
            "warning": (c.warning_soft, c.warning_text),
        }.get(self.state, (c.success_soft, c.success_text))
        self.setStyleSheet(
            f"QFrame#healthCard {{ background: {c.base.name()}; border: 1px solid {border.name()};"
            " border-radius: 10px; }"
            f"QLabel#healthBadge {{ background: {soft.name()}; color: {text.name()}; border-radius: 6px;"
            " padding: 2px 8px; }"
        )
        self.mark.setPixmap(state_pixmap(self.state, 20))
        for key, mark in self.line_marks.items():
            mark.setPixmap(state_pixmap(self._line_states.get(key, "unknown"), 14))


class HealthPanel(QDialog):
    """Every account's health, kept fresh while open (after every sync, and ages on a timer). Not modal."""

    sign_in_requested = Signal(int)  # account id
    add_requested = Signal(str)  # "mastodon" | "bluesky"

    def __init__(self, accounts: AccountsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthPanel")
        self.setWindowTitle("Account health")
        self.setModal(False)
        self.setMinimumSize(560, 420)
        self.resize(640, 620)
        self.vm = accounts
        self.model = accounts.model
        self._watching = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 14)
        lay.setSpacing(10)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        title = QLabel("Account health", self)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() + 4)
        f.setWeight(QFont.Weight.Bold)
        title.setFont(f)
        self.updated = QLabel(self)
        self.updated.setObjectName("muted")
        titles.addWidget(title)
        titles.addWidget(self.updated)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setAutoDefault(False)
        self.refresh_button.clicked.connect(self.vm.refresh)
        head.addLayout(titles, 1)
        head.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(head)
        self.load_error = QLabel(self)
        self.load_error.setWordWrap(True)
        self.load_error.hide()
        lay.addWidget(self.load_error)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName("healthScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.body = QWidget(self.scroll_area)
        self.body.setObjectName("healthBody")
        self.cards_layout = QVBoxLayout(self.body)
        self.cards_layout.setContentsMargins(0, 0, 4, 0)
        self.cards_layout.setSpacing(10)
        self.empty = QLabel("No accounts yet. Add one below, or open the demo inbox from the welcome page.", self.body)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.cards_layout.addWidget(self.empty)
        self.cards_layout.addStretch(1)
        self.scroll_area.setWidget(self.body)
        lay.addWidget(self.scroll_area, 1)
        self.cards: list[HealthCard] = []

        foot = QHBoxLayout()
        self.add_mastodon = QPushButton("Add Mastodon account…", self)
        self.add_bluesky = QPushButton("Add Bluesky account…", self)
        self.add_mastodon.clicked.connect(lambda: self.add_requested.emit("mastodon"))
        self.add_bluesky.clicked.connect(lambda: self.add_requested.emit("bluesky"))
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.close)
        for b in (self.add_mastodon, self.add_bluesky, self.close_button):
            b.setAutoDefault(False)
        foot.addWidget(self.add_mastodon)
        foot.addWidget(self.add_bluesky)
        foot.addStretch(1)
        foot.addWidget(self.close_button)
        lay.addLayout(foot)

        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._clock)
        self.model.modelReset.connect(self._rebuild)
        self.model.rowsInserted.connect(self._rebuild)
        self.model.rowsRemoved.connect(self._rebuild)
        self.model.dataChanged.connect(self._refill)
        self.vm.refreshed.connect(self._refreshed)
        self.restyle()
        self._rebuild()

    # -- content ----------------------------------------------------------------------------------

    def card(self, account_id: int) -> HealthCard | None:
        """The card of one account."""
        return next((c for c in self.cards if c.account_id == account_id), None)

    def _rebuild(self, *_args: object) -> None:
        for card in self.cards:
            self.cards_layout.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for _ in range(self.model.rowCount()):
            card = HealthCard(self.body)
            card.sign_in_requested.connect(self.sign_in_requested)
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
            self.cards.append(card)
        self._refill()

    def _refill(self, *_args: object) -> None:
        if len(self.cards) != self.model.rowCount():
            self._rebuild()
            return
        for i, card in enumerate(self.cards):
            idx = self.model.index(i)
            card.show_row(
                idx.data(HealthRole.Row),
                idx.data(HealthRole.Lines),
                idx.data(HealthRole.State),
                idx.data(HealthRole.Summary),
            )
        self.empty.setVisible(not self.cards)
        self._say_updated()

    def _refreshed(self) -> None:
        self.load_error.setText(self.vm.load_error)
        self.load_error.setVisible(bool(self.vm.load_error))
        self._say_updated()

    def _say_updated(self) -> None:
        at = self.vm.updated_at
        parts = [f"Updated {ago(at, self.vm.core.clock())}" if at else "Reading…"]
        if self.cards:
            trouble = sum(1 for c in self.cards if c.state != "ok")
            parts.insert(0, plural(len(self.cards), "account"))
            if trouble:
                parts.insert(1, f"{trouble} need{'s' if trouble == 1 else ''} a look")
        self.updated.setText(" · ".join(parts) + " · refreshed after every sync")

    def _clock(self) -> None:
        self.model.tick()
        self._say_updated()

    # -- showing and hiding -----------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._watching:
            self._watching = True
            self.vm.watch(True)  # refreshes now
            self._tick.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        if self._watching:
            self._watching = False
            self.vm.watch(False)
            self._tick.stop()

    def restyle(self) -> None:
        """Colours from the current theme."""
        c = theme.colors()
        self.setStyleSheet(
            f"QScrollArea#healthScroll, QWidget#healthBody {{ background: {c.window.name()}; border: none; }}"
        )
        self.load_error.setStyleSheet(f"color: {c.urgent_text.name()};")
        for card in self.cards:
            card.restyle()
