"""Painting: timeline cards, sidebar lines with counts, outbox state pills, and reason chips."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QTextLayout
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from services.corrections import is_correction_reason
from services.store.posts import COUNT_CAP, PostRow
from ui import theme
from ui.icons import paint_warning
from ui.theme import Colors, mix
from views.formatting import clock_time, compact_count, initials, relative_time
from views.outbox_model import STATE_LABELS, OutboxRole
from views.sidebar_model import SidebarRole
from views.timeline_model import PostRole

AnyIndex = QModelIndex | QPersistentModelIndex

# -- shared painting helpers ----------------------------------------------------------------------


def small_font(base: QFont, delta: float = -1.0, weight: QFont.Weight | None = None) -> QFont:
    """``base`` a little smaller (and optionally bolder)."""
    f = QFont(base)
    if f.pointSizeF() > 0:
        f.setPointSizeF(max(7.0, f.pointSizeF() + delta))
    else:
        f.setPixelSize(max(9, f.pixelSize() + round(delta)))
    if weight is not None:
        f.setWeight(weight)
    return f


def bold_font(base: QFont, delta: float = 0.0) -> QFont:
    """``base`` in semibold."""
    return small_font(base, delta, QFont.Weight.DemiBold)


def chip_width(fm: QFontMetrics, label: str, pad: int = 8, icon: int = 0) -> int:
    """How wide a chip with ``label`` is."""
    return fm.horizontalAdvance(label) + 2 * pad + (icon + 4 if icon else 0)


def paint_chip(
    p: QPainter,
    x: float,
    y: float,
    label: str,
    font: QFont,
    bg: QColor,
    fg: QColor,
    border: QColor | None = None,
    *,
    height: int = 20,
    pad: int = 8,
    warning: QColor | None = None,
) -> float:
    """A rounded chip with ``label`` (and a warning sign when ``warning`` is its colour); returns its width."""
    fm = QFontMetrics(font)
    icon = height - 8 if warning is not None else 0
    w = chip_width(fm, label, pad, icon)
    rect = QRectF(x, y, w, height)
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(border, 1) if border is not None else Qt.PenStyle.NoPen)
    p.setBrush(QBrush(bg))
    p.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), height / 2, height / 2)
    tx = x + pad
    if warning is not None:
        paint_warning(p, QRectF(tx - 1, y + 3.5, icon, icon), fg, bg)
        tx += icon + 4 - 1
    p.setFont(font)
    p.setPen(fg)
    p.drawText(QRectF(tx, y, w - (tx - x) - pad + 2, height), Qt.AlignmentFlag.AlignVCenter, label)
    p.restore()
    return w


def paint_chips(
    p: QPainter,
    rect: QRectF,
    labels: Sequence[str],
    font: QFont,
    c: Colors,
    *,
    urgent_badge: bool = False,
    height: int = 20,
    gap: int = 5,
    neutral: bool = False,
) -> None:
    """Reason chips in one row, with "+N" when they do not all fit (``neutral``: in the calm colours)."""
    fm = QFontMetrics(font)
    x, right = rect.x(), rect.right()
    colours = (c.neutral_chip, c.muted, None) if neutral else (c.urgent_chip, c.urgent_chip_text, c.urgent_chip_border)
    if urgent_badge:
        bold = QFont(font)
        bold.setWeight(QFont.Weight.Bold)
        x += paint_chip(p, x, rect.y(), "Urgent", bold, c.urgent, c.on_urgent, height=height, warning=c.urgent) + gap
    for i, label in enumerate(labels):
        w = chip_width(fm, label)
        rest = len(labels) - i - 1
        more = chip_width(fm, f"+{rest}") + gap if rest else 0
        if x + w + more > right:
            paint_chip(p, x, rect.y(), f"+{len(labels) - i}", font, c.neutral_chip, c.muted, height=height)
            return
        paint_chip(p, x, rect.y(), label, font, *colours, height=height)
        x += w + gap


def correction_labels(r: PostRow) -> list[str]:
    """The chips of operators' corrections behind a post's score."""
    return [x.label for x in r.reasons if is_correction_reason(x.code)]


def avatar_color(key: str, dark: bool) -> QColor:
    """A stable, calm colour per author."""
    hue = int(hashlib.sha1(key.encode()).hexdigest()[:4], 16) % 360
    return QColor.fromHsl(hue, 95 if dark else 110, 96 if dark else 118)


def paint_avatar(p: QPainter, rect: QRectF, name: str, key: str, font: QFont, dark: bool) -> None:
    """A round avatar with the author's initials."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(avatar_color(key, dark))
    p.drawEllipse(rect)
    f = QFont(font)
    f.setWeight(QFont.Weight.DemiBold)
    f.setPixelSize(max(9, int(rect.height() * 0.38)))
    p.setFont(f)
    p.setPen(QColor("#ffffff"))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, initials(name))
    p.restore()


def wrap_lines(text: str, font: QFont, width: float, max_lines: int) -> list[str]:
    """``text`` broken into at most ``max_lines`` lines of ``width``; the last one elided if it overflows."""
    flat = " ".join(text.split())
    if not flat or width <= 10:
        return []
    layout = QTextLayout(flat, font)
    layout.beginLayout()
    lines: list[str] = []
    starts: list[int] = []
    while len(lines) <= max_lines:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        starts.append(line.textStart())
        lines.append(flat[line.textStart() : line.textStart() + line.textLength()])
    layout.endLayout()
    if len(lines) > max_lines:
        fm = QFontMetrics(font)
        rest = flat[starts[max_lines - 1] :]
        lines = [*lines[: max_lines - 1], fm.elidedText(rest, Qt.TextElideMode.ElideRight, int(width))]
    return [ln.rstrip() for ln in lines]


# -- timeline cards -------------------------------------------------------------------------------


class PostDelegate(QStyledItemDelegate):
    """Paints a post as a card: author, account, age, text, status; urgent ones with a bar, sign and chips."""

    MARGIN_X = 10
    MARGIN_Y = 4
    PAD = 12
    BAR = 4
    AVATAR = 32
    CHIP_H = 20
    MAX_LINES = 3

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view
        self.now: datetime | None = None  # tests pin the clock; None means the real time

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont, QFont]:
        base = QFont(option.font)
        return base, bold_font(base), small_font(base, -1.0), small_font(base, -1.0, QFont.Weight.DemiBold)

    def _text_width(self, width: int) -> float:
        return width - 2 * self.MARGIN_X - self.BAR - 2 * self.PAD - self.AVATAR - 10

    def _lines(self, r: PostRow, font: QFont, width: int) -> list[str]:
        return wrap_lines(r.text, font, self._text_width(width), self.MAX_LINES)

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        r = index.data(PostRole.Row)
        width = self._view.viewport().width() if self._view is not None else 480
        if not isinstance(r, PostRow):
            return QSize(width, 60)
        base, bold, small, _ = self._fonts(option)
        lh = QFontMetrics(base).lineSpacing()
        n = max(1, len(self._lines(r, base, width)))
        h = 2 * self.MARGIN_Y + 2 * self.PAD - 2
        h += max(QFontMetrics(bold).height(), 18) + 4  # name row
        h += n * lh + 6
        if r.urgent or correction_labels(r):
            h += self.CHIP_H + 6
        h += QFontMetrics(small).height()  # footer
        return QSize(width, h)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        r = index.data(PostRole.Row)
        if not isinstance(r, PostRow):
            super().paint(p, option, index)
            return
        c = theme.colors()
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hover = bool(state & QStyle.StateFlag.State_MouseOver)
        focus = bool(state & QStyle.StateFlag.State_HasFocus) and self._view.hasFocus()
        base, bold, small, small_bold = self._fonts(option)
        account = str(index.data(PostRole.AccountLabel) or r.account_handle)
        orect = QRect(option.rect)
        card = QRectF(orect).adjusted(self.MARGIN_X, self.MARGIN_Y, -self.MARGIN_X, -self.MARGIN_Y)

        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = c.urgent_card if r.urgent else c.card
        if selected:
            bg = mix(bg, c.accent, 0.16 if c.dark else 0.09)
        elif hover:
            bg = mix(bg, c.text, 0.03)
        path = QPainterPath()
        path.addRoundedRect(card, 8, 8)
        p.fillPath(path, bg)
        border = c.accent if selected else (c.urgent_chip_border if r.urgent else c.border)
        p.setPen(QPen(border, 1.5 if selected else 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(card.adjusted(0.5, 0.5, -0.5, -0.5), 8, 8)
        if r.urgent or selected:
            # The coloured edge: clipped to the card so it follows the rounded corners.
            p.save()
            p.setClipPath(path)
            p.fillRect(QRectF(card.x(), card.y(), self.BAR, card.height()), c.urgent if r.urgent else c.accent)
            p.restore()

        x0 = card.x() + self.BAR + self.PAD
        y = card.y() + self.PAD - 1
        paint_avatar(
            p, QRectF(x0, y, self.AVATAR, self.AVATAR), r.author_name or r.author_handle, r.author_handle, base, c.dark
        )
        tx = x0 + self.AVATAR + 10
        right = card.right() - self.PAD
        tw = right - tx

        # Name row: unread dot, name, handle ... age.
        name_h = max(QFontMetrics(bold).height(), 18)
        age = relative_time(r.created_at, self.now or datetime.now(UTC))
        fm_small = QFontMetrics(small)
        age_w = fm_small.horizontalAdvance(age)
        p.setFont(small)
        p.setPen(c.muted)
        p.drawText(QRectF(right - age_w, y, age_w, name_h), Qt.AlignmentFlag.AlignVCenter, age)
        nx = tx
        if r.status == "new" and not r.answered:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(c.accent)
            p.drawEllipse(QPointF(nx + 3.5, y + name_h / 2), 3.5, 3.5)
            nx += 12
        fm_bold = QFontMetrics(bold)
        name = r.author_name or r.author_handle
        avail = right - age_w - 12 - nx
        name_text = fm_bold.elidedText(name, Qt.TextElideMode.ElideRight, int(avail * 0.6))
        p.setFont(bold)
        p.setPen(c.text)
        p.drawText(QRectF(nx, y, avail, name_h), Qt.AlignmentFlag.AlignVCenter, name_text)
        hx = nx + fm_bold.horizontalAdvance(name_text) + 6
        handle = fm_small.elidedText(r.author_handle, Qt.TextElideMode.ElideRight, int(max(0, right - age_w - 12 - hx)))
        p.setFont(small)
        p.setPen(c.muted)
        p.drawText(QRectF(hx, y, max(0, right - age_w - 12 - hx), name_h), Qt.AlignmentFlag.AlignVCenter, handle)
        y += name_h + 4

        # Text: up to three lines, the last one elided.
        p.setFont(base)
        p.setPen(c.text)
        lh = QFontMetrics(base).lineSpacing()
        lines = wrap_lines(r.text, base, tw, self.MAX_LINES)
        for line in lines:
            p.drawText(QRectF(tx, y, tw, lh), Qt.AlignmentFlag.AlignVCenter, line)
            y += lh
        y += 6

        if r.urgent:
            paint_chips(
                p,
                QRectF(tx, y, tw, self.CHIP_H),
                [x.label for x in r.reasons],
                small,
                c,
                urgent_badge=True,
                height=self.CHIP_H,
            )
            y += self.CHIP_H + 6
        elif corrected := correction_labels(r):
            # Not urgent because an operator said so (of this post or one like it): the card says why.
            paint_chips(p, QRectF(tx, y, tw, self.CHIP_H), corrected, small, c, height=self.CHIP_H, neutral=True)
            y += self.CHIP_H + 6

        # Footer: account on the left, state on the right.
        fh = fm_small.height()
        label, fg, dot = self._state(r, c)
        sw = 0.0
        if label:
            sw = fm_small.horizontalAdvance(label) + (12 if dot is not None else 0)
            sx = right - sw
            if dot is not None:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(dot)
                p.drawEllipse(QPointF(sx + 3.5, y + fh / 2), 3.5, 3.5)
                sx += 12
            p.setFont(small_bold)
            p.setPen(fg)
            p.drawText(QRectF(sx, y, sw, fh), Qt.AlignmentFlag.AlignVCenter, label)
        p.setFont(small)
        p.setPen(c.muted)
        acc = fm_small.elidedText(
            f"{account} · {r.account_handle}" if account != r.account_handle else account,
            Qt.TextElideMode.ElideRight,
            int(max(0, tw - sw - 12)),
        )
        p.drawText(QRectF(tx, y, tw - sw - 12, fh), Qt.AlignmentFlag.AlignVCenter, acc)

        if focus and selected:
            p.setPen(QPen(mix(c.accent, c.base, 0.3), 1, Qt.PenStyle.DotLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(card.adjusted(2.5, 2.5, -2.5, -2.5), 6, 6)
        p.restore()

    @staticmethod
    def _state(r: PostRow, c: Colors) -> tuple[str, QColor, QColor | None]:
        """The footer's state: (label, text colour, dot colour)."""
        match r.outbox_state:
            case "queued":
                return "Reply queued", c.accent_text, c.accent
            case "sending":
                return "Sending reply…", c.accent_text, c.accent
            case "unknown":
                return "Checking delivery", c.warning_text, c.warning
            case "sent":
                return "Replied", c.success_text, c.success
            case "failed":
                return "Reply failed", c.urgent_text, c.urgent
            case "needs_review":
                return "Reply needs review", c.warning_text, c.warning
        match r.status:
            case "done":
                return "Done", c.success_text, c.success
            case "ignored":
                return "Ignored", c.muted, None
            case "snoozed":
                until = f" until {clock_time(r.snoozed_until)}" if r.snoozed_until else ""
                return f"Snoozed{until}", c.muted, c.faint
        if r.answered:
            return "Answered", c.muted, c.faint
        return "", c.muted, None


# -- sidebar --------------------------------------------------------------------------------------


class SidebarDelegate(QStyledItemDelegate):
    """Group headers in small capitals; entries with their count in a pill (red for Urgent)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        if index.data(SidebarRole.IsGroup):
            return QSize(180, 34 if index.row() > 0 else 30)
        return QSize(180, 30)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        c = theme.colors()
        rect = QRectF(QRect(option.rect))
        font = QFont(option.font)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if index.data(SidebarRole.IsGroup):
            f = small_font(font, -1.5, QFont.Weight.DemiBold)
            f.setCapitalization(QFont.Capitalization.AllUppercase)
            f.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 106)
            p.setFont(f)
            p.setPen(c.muted)
            p.drawText(
                rect.adjusted(16, 0, -8, -4),
                Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                str(index.data()),
            )
            p.restore()
            return
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hover = bool(state & QStyle.StateFlag.State_MouseOver)
        pill = rect.adjusted(8, 2, -8, -2)
        if selected:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(c.accent_soft)
            p.drawRoundedRect(pill, 6, 6)
        elif hover:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(mix(c.window, c.text, 0.05))
            p.drawRoundedRect(pill, 6, 6)
        key = str(index.data(SidebarRole.Key) or "")
        count = int(index.data(SidebarRole.Count) or 0)
        f = bold_font(font) if selected else QFont(font)
        p.setFont(f)
        p.setPen(c.accent_text if selected else c.text)
        small = small_font(font, -1.0, QFont.Weight.DemiBold)
        fm_small = QFontMetrics(small)
        shown = compact_count(count, COUNT_CAP)
        cw = fm_small.horizontalAdvance(shown) + 14 if count else 0
        label_rect = pill.adjusted(10, 0, -(cw + 8), 0)
        text = QFontMetrics(f).elidedText(str(index.data()), Qt.TextElideMode.ElideRight, int(label_rect.width()))
        p.drawText(label_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        if count:
            cr = QRectF(pill.right() - 6 - cw, pill.center().y() - 9, cw, 18)
            if key == "urgent":
                bg, fg = c.urgent, c.on_urgent
            else:
                bg, fg = (mix(c.accent_soft, c.accent, 0.15) if selected else mix(c.window, c.text, 0.08)), c.muted
                if selected:
                    fg = c.accent_text
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(bg)
            p.drawRoundedRect(cr, 9, 9)
            p.setFont(small)
            p.setPen(fg)
            p.drawText(cr, Qt.AlignmentFlag.AlignCenter, shown)
        p.restore()


# -- outbox ---------------------------------------------------------------------------------------


def state_colors(state: str, c: Colors) -> tuple[QColor, QColor]:
    """(background, text) of an outbox state pill: each state looks different, not only by hue."""
    match state:
        case "queued":
            return c.accent_soft, c.accent_text
        case "sending":
            return c.accent, c.on_accent
        case "unknown" | "needs_review":
            return c.warning_soft, c.warning_text
        case "sent":
            return c.success_soft, c.success_text
        case "failed":
            return c.urgent, c.on_urgent
    return c.neutral_chip, c.muted


class OutboxStateDelegate(QStyledItemDelegate):
    """The outbox State column: a pill per state (cancelled ones struck through)."""

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        state = str(index.data(OutboxRole.State) or "")
        c = theme.colors()
        # The row's selection background first, so the pill sits on it like the other cells.
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget: QWidget | None = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, p, widget)
        rect = QRect(option.rect)
        font = small_font(QFont(option.font), -0.5, QFont.Weight.DemiBold)
        label = STATE_LABELS.get(state, state)
        bg, fg = state_colors(state, c)
        fm = QFontMetrics(font)
        w = fm.horizontalAdvance(label) + 18
        pill = QRectF(rect.x() + 6, rect.center().y() - 9.5, min(w, rect.width() - 10), 19)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(mix(bg, fg, 0.25), 1) if state in ("queued", "cancelled") else Qt.PenStyle.NoPen)
        p.setBrush(bg)
        p.drawRoundedRect(pill, 9.5, 9.5)
        if state == "cancelled":
            font.setStrikeOut(True)
        p.setFont(font)
        p.setPen(fg)
        p.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)
        p.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(max(size.width(), 128), max(size.height(), 30))
