"""Small custom widgets: the banner, a toggle switch, the status dot, chips, avatars and thread bubbles."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.delegates import chip_width, paint_avatar, paint_chip, paint_chips, small_font
from ui.icons import icon, paint_warning
from ui.theme import mix


class Banner(QFrame):
    """A strip under the toolbar for a known condition, in plain words, with an action where one helps."""

    action_clicked = Signal(str)  # the action's key: "go_online", "retry"
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = ""
        self._action = ""
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 10, 8)
        lay.setSpacing(10)
        self._icon = QLabel(self)
        self._icon.setFixedSize(18, 18)
        self.message = QLabel(self)
        self.message.setObjectName("bannerText")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton(self)
        self.button.setObjectName("bannerAction")
        self.button.clicked.connect(lambda: self.action_clicked.emit(self._action))
        self._close = QToolButton(self)
        self._close.setObjectName("bannerClose")
        self._close.setText("✕")
        self._close.setToolTip("Hide this message (it comes back if the condition does)")
        self._close.setAutoRaise(True)
        self._close.clicked.connect(self._dismiss)
        lay.addWidget(self._icon)
        lay.addWidget(self.message, 1)
        lay.addWidget(self.button)
        lay.addWidget(self._close)
        self.hide()

    def show_message(self, kind: str, text: str, action: str = "", action_label: str = "") -> None:
        """Show ``text`` for a condition of ``kind`` (offline, signed_out, rate_limited, error)."""
        self.kind = kind
        self._action = action
        self.message.setText(text)
        self.button.setVisible(bool(action))
        self.button.setText(action_label)
        self.setAccessibleName(f"Notice: {text}")
        self._restyle()
        self.show()

    def _restyle(self) -> None:
        c = theme.colors()
        severe = self.kind in ("signed_out", "error")
        base = c.urgent if severe else c.warning
        bg = mix(c.base, base, 0.16 if c.dark else 0.12)
        fg = theme.readable(c.text, bg, 7.0)
        border = mix(c.base, base, 0.45)
        self.setStyleSheet(
            f"QFrame#banner {{ background: {bg.name()}; border: none; border-bottom: 1px solid {border.name()}; }}"
            f"QLabel#bannerText {{ color: {fg.name()}; font-weight: 500; }}"
            f"QPushButton#bannerAction {{ background: {c.base.name()}; border: 1px solid {border.name()};"
            f" color: {fg.name()}; font-weight: 600; padding: 4px 12px; border-radius: 6px; }}"
            f"QToolButton#bannerClose {{ color: {fg.name()}; border: none; padding: 2px 6px; }}"
        )
        mark = theme.readable(base, bg, 3.0)
        pm = icon("offline" if self.kind == "offline" else "warning", mark, 18).pixmap(18, 18)
        self._icon.setPixmap(pm)

    def clear(self) -> None:
        """Hide the banner (the condition is over)."""
        self.kind = ""
        self.hide()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


class ToggleSwitch(QAbstractButton):
    """A checkable switch with a label, like the ones phones use for on/off settings."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setText(text)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self.font())
        return QSize(36 + 8 + fm.horizontalAdvance(self.text()) + 4, max(24, fm.height() + 6))

    def paintEvent(self, event: QPaintEvent) -> None:
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height()
        track = QRectF(0.5, (h - 18) / 2, 34, 18)
        on = self.isChecked()
        p.setPen(QPen(c.success if on else mix(c.base, c.text, 0.35), 1))
        p.setBrush(c.success if on else mix(c.base, c.text, 0.16))
        p.drawRoundedRect(track, 9, 9)
        knob_x = track.right() - 16 if on else track.x() + 2
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#ffffff"))
        p.drawEllipse(QRectF(knob_x, track.y() + 2, 14, 14))
        p.setPen(c.text)
        p.setFont(self.font())
        p.drawText(
            QRectF(track.right() + 8, 0, self.width() - track.right() - 8, h),
            Qt.AlignmentFlag.AlignVCenter,
            self.text(),
        )
        if self.hasFocus():
            p.setPen(QPen(c.accent, 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(track.adjusted(-2, -2, 2, 2), 11, 11)
        p.end()


class StatusDot(QWidget):
    """A coloured dot plus a word: online, offline, syncing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = "online"
        self._text = "Online"
        self.setMinimumWidth(80)

    def set_state(self, state: str, text: str) -> None:
        """``state`` is online, offline or syncing."""
        self._state, self._text = state, text
        self.setToolTip(text)
        self.setAccessibleName(text)
        self.updateGeometry()
        self.update()

    @property
    def text(self) -> str:
        """The word shown."""
        return self._text

    def sizeHint(self) -> QSize:
        return QSize(QFontMetrics(self.font()).horizontalAdvance(self._text) + 26, 20)

    def paintEvent(self, event: QPaintEvent) -> None:
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = {"online": c.success, "offline": c.warning, "syncing": c.accent}.get(self._state, c.muted)
        y = self.height() / 2
        if self._state == "offline":
            p.setPen(QPen(color, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(10, y), 4, 4)  # hollow when offline: not only a colour change
        else:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawEllipse(QPointF(10, y), 4.5, 4.5)
        p.setPen(c.text)
        p.drawText(QRectF(20, 0, self.width() - 20, self.height()), Qt.AlignmentFlag.AlignVCenter, self._text)
        p.end()


class ChipRow(QWidget):
    """Reason chips that wrap onto more lines when the pane is narrow."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: list[str] = []
        self._urgent = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_chips(self, labels: Sequence[str], urgent: bool) -> None:
        """Show these reasons (as urgent chips when ``urgent``)."""
        self._labels, self._urgent = list(labels), urgent
        self.setVisible(bool(labels) or urgent)
        self.setAccessibleName(("Urgent: " if urgent else "Reasons: ") + ", ".join(labels))
        self.updateGeometry()
        self.update()

    def _font(self) -> QFont:
        return small_font(self.font(), -1.0)

    def _layout(self, width: int) -> list[tuple[float, float, str, bool]]:
        fm = QFontMetrics(self._font())
        bold = QFont(self._font())
        bold.setWeight(QFont.Weight.Bold)
        fm_bold = QFontMetrics(bold)
        out: list[tuple[float, float, str, bool]] = []
        x = y = 0.0
        items = ([("Urgent", True)] if self._urgent else []) + [(lb, False) for lb in self._labels]
        for label, badge in items:
            w = chip_width(fm_bold, label, icon=12) if badge else chip_width(fm, label)
            if x > 0 and x + w > width:
                x, y = 0.0, y + 26
            out.append((x, y, label, badge))
            x += w + 6
        return out

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        chips = self._layout(width)
        return int(chips[-1][1] + 22) if chips else 0

    def sizeHint(self) -> QSize:
        return QSize(300, self.heightForWidth(max(300, self.width())))

    def paintEvent(self, event: QPaintEvent) -> None:
        c = theme.colors()
        p = QPainter(self)
        font = self._font()
        bold = QFont(font)
        bold.setWeight(QFont.Weight.Bold)
        for x, y, label, badge in self._layout(self.width()):
            if badge:
                paint_chip(p, x, y + 1, label, bold, c.urgent, c.on_urgent, warning=c.urgent)
            elif self._urgent:
                paint_chip(p, x, y + 1, label, font, c.urgent_chip, c.urgent_chip_text, c.urgent_chip_border)
            else:
                paint_chip(p, x, y + 1, label, font, c.neutral_chip, c.muted)
        p.end()


class Avatar(QWidget):
    """A round avatar with initials."""

    def __init__(self, size: int = 40, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name = ""
        self._key = ""
        self.setFixedSize(size, size)

    def set_person(self, name: str, key: str) -> None:
        """Whose initials to show."""
        self._name, self._key = name, key
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        paint_avatar(
            p, QRectF(0, 0, self.width(), self.height()), self._name, self._key, self.font(), theme.colors().dark
        )
        p.end()


class Bubble(QFrame):
    """One message of a thread: customers on the left, our replies on the right in the accent tint."""

    def __init__(
        self,
        header: str,
        text: str,
        *,
        ours: bool = False,
        selected: bool = False,
        urgent: bool = False,
        pending: str = "",
        pending_kind: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ours, self.selected, self.urgent, self.pending = ours, selected, urgent, pending
        self.pending_kind = pending_kind
        self.setObjectName("bubble")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 9)
        lay.setSpacing(3)
        self.header = QLabel(header, self)
        self.header.setObjectName("muted")
        self.header.setFont(small_font(self.font(), -1.0))
        self.body = QLabel(text, self)
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.header)
        lay.addWidget(self.body)
        if pending:
            self.state = QLabel(pending, self)
            self.state.setWordWrap(True)
            f = small_font(self.font(), -1.0, QFont.Weight.DemiBold)
            self.state.setFont(f)
            lay.addWidget(self.state)
        self.setAccessibleName(f"{header}: {text}")
        self._recolor()

    def _recolor(self) -> None:
        if self.pending:
            c = theme.colors()
            fg = (
                c.urgent_text
                if self.pending_kind == "failed"
                else (c.warning_text if self.pending_kind in ("needs_review", "unknown") else c.accent_text)
            )
            self.state.setStyleSheet(f"color: {fg.name()};")

    def paintEvent(self, event: QPaintEvent) -> None:
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        if self.ours:
            bg, border = c.ours, c.ours_border
        elif self.urgent:
            bg, border = c.urgent_card, c.urgent_chip_border
        else:
            bg, border = mix(c.base, c.text, 0.04), c.border
        pen = QPen(border, 1)
        if self.pending:
            pen.setStyle(Qt.PenStyle.DashLine)  # not on the network yet: drawn as a draft
            bg = c.base
            border = c.ours_border
            pen.setColor(mix(border, c.accent, 0.4))
            pen.setWidthF(1.3)
        if self.selected:
            pen = QPen(c.urgent if self.urgent else c.accent, 2)
            r = r.adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(pen)
        p.setBrush(bg)
        p.drawRoundedRect(r, 10, 10)
        if self.selected and self.urgent:
            paint_warning(p, QRectF(r.right() - 20, r.y() + 7, 13, 13), c.urgent, c.on_urgent)
        p.end()


def section_label(text: str, parent: QWidget | None = None) -> QLabel:
    """A small muted heading inside a pane."""
    label = QLabel(text, parent)
    label.setObjectName("sectionTitle")
    label.setFont(small_font(label.font(), -0.5, QFont.Weight.DemiBold))
    return label


__all__ = [
    "Avatar",
    "Banner",
    "Bubble",
    "ChipRow",
    "StatusDot",
    "ToggleSwitch",
    "paint_chips",
    "section_label",
]
