"""Small line icons drawn with QPainter, so they match the theme and need no icon theme or files."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

_SIZE = 16  # the icons are drawn on a 16 x 16 grid and scaled


def _pen(color: QColor, width: float = 1.6) -> QPen:
    pen = QPen(color, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def paint_warning(p: QPainter, rect: QRectF, fill: QColor, mark: QColor) -> None:
    """A filled warning triangle with an exclamation mark (the urgent sign; its shape carries the meaning)."""
    s = min(rect.width(), rect.height())
    x, y = rect.x() + (rect.width() - s) / 2, rect.y() + (rect.height() - s) / 2
    path = QPainterPath()
    path.moveTo(x + s * 0.5, y + s * 0.06)
    path.lineTo(x + s * 0.97, y + s * 0.9)
    path.lineTo(x + s * 0.03, y + s * 0.9)
    path.closeSubpath()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(_pen(fill, max(1.0, s * 0.08)))
    p.setBrush(QBrush(fill))
    p.drawPath(path)
    p.setPen(_pen(mark, max(1.2, s * 0.12)))
    p.drawLine(QPointF(x + s * 0.5, y + s * 0.36), QPointF(x + s * 0.5, y + s * 0.6))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(mark))
    r = max(0.8, s * 0.065)
    p.drawEllipse(QPointF(x + s * 0.5, y + s * 0.75), r, r)
    p.restore()


def _search(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    p.drawEllipse(QRectF(2.5, 2.5, 8, 8))
    p.drawLine(QPointF(9.4, 9.4), QPointF(13.5, 13.5))


def _sync(p: QPainter, c: QColor) -> None:
    # A circular arrow: an arc with a gap at the top right and an arrowhead continuing it.
    p.setPen(_pen(c))
    r, cx, cy = 5.2, 8.0, 8.4
    p.drawArc(QRectF(cx - r, cy - r, 2 * r, 2 * r), 70 * 16, 270 * 16)
    a = math.radians(340)
    end = QPointF(cx + r * math.cos(a), cy - r * math.sin(a))
    d = QPointF(-math.sin(a), -math.cos(a))  # the arc's direction at its end (counter-clockwise)
    n = QPointF(-d.y(), d.x())
    head = QPainterPath()
    head.moveTo(end + d * 2.6)
    head.lineTo(end + n * 2.4 - d * 0.4)
    head.lineTo(end - n * 2.4 - d * 0.4)
    head.closeSubpath()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(c))
    p.drawPath(head)


def _gear(p: QPainter, c: QColor) -> None:
    teeth = QPen(c, 2.6)
    teeth.setCapStyle(Qt.PenCapStyle.FlatCap)
    p.setPen(teeth)
    for i in range(8):
        a = math.radians(i * 45 + 22.5)
        p.drawLine(
            QPointF(8 + 4.4 * math.cos(a), 8 + 4.4 * math.sin(a)), QPointF(8 + 6.9 * math.cos(a), 8 + 6.9 * math.sin(a))
        )
    p.setPen(_pen(c, 1.7))
    p.drawEllipse(QPointF(8, 8), 4.5, 4.5)
    p.drawEllipse(QPointF(8, 8), 1.7, 1.7)


def _help(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    p.drawEllipse(QRectF(1.8, 1.8, 12.4, 12.4))
    path = QPainterPath()
    path.moveTo(6, 6.4)
    path.cubicTo(6, 4.2, 10, 4.2, 10, 6.4)
    path.cubicTo(10, 7.8, 8, 8, 8, 9.6)
    p.drawPath(path)
    p.setBrush(QBrush(c))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(QPointF(8, 11.8), 0.9, 0.9)


def _check(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 1.8))
    p.drawPolyline([QPointF(3, 8.5), QPointF(6.5, 12), QPointF(13, 4.5)])


def _clock(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    p.drawEllipse(QRectF(2, 2, 12, 12))
    p.drawPolyline([QPointF(8, 4.8), QPointF(8, 8), QPointF(10.5, 9.6)])


def _ignore(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    p.drawEllipse(QRectF(2, 2, 12, 12))
    p.drawLine(QPointF(4, 12), QPointF(12, 4))


def _send(p: QPainter, c: QColor) -> None:
    path = QPainterPath()
    path.moveTo(2, 7.6)
    path.lineTo(14, 2)
    path.lineTo(9.5, 14)
    path.lineTo(7.6, 8.6)
    path.closeSubpath()
    p.setPen(_pen(c, 1.4))
    p.drawPath(path)
    p.drawLine(QPointF(7.6, 8.6), QPointF(14, 2))


def _edit(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 1.5))
    path = QPainterPath()
    path.moveTo(3, 13)
    path.lineTo(3.6, 10.2)
    path.lineTo(10.8, 3)
    path.lineTo(13, 5.2)
    path.lineTo(5.8, 12.4)
    path.closeSubpath()
    p.drawPath(path)


def _retry(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    p.drawArc(QRectF(2.5, 2.5, 11, 11), 60 * 16, 290 * 16)
    p.drawPolyline([QPointF(10.2, 1.6), QPointF(11, 3.6), QPointF(8.8, 4.4)])


def _cancel(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 1.7))
    p.drawLine(QPointF(4, 4), QPointF(12, 12))
    p.drawLine(QPointF(12, 4), QPointF(4, 12))


def _offline(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c))
    for r in (6.5, 4.2):
        p.drawArc(QRectF(8 - r, 10 - r, 2 * r, 2 * r), 45 * 16, 90 * 16)
    p.setBrush(QBrush(c))
    p.drawEllipse(QPointF(8, 11.5), 1, 1)
    p.drawLine(QPointF(2.5, 2.5), QPointF(13.5, 13.5))


def _inbox(p: QPainter, c: QColor) -> None:
    p.setPen(_pen(c, 1.5))
    path = QPainterPath()
    path.moveTo(2, 9)
    path.lineTo(4, 3)
    path.lineTo(12, 3)
    path.lineTo(14, 9)
    path.lineTo(14, 13)
    path.lineTo(2, 13)
    path.closeSubpath()
    p.drawPath(path)
    p.drawPolyline([QPointF(2, 9), QPointF(5.5, 9), QPointF(6.5, 10.8), QPointF(9.5, 10.8), QPointF(10.5, 9)])


def _warning(p: QPainter, c: QColor) -> None:
    paint_warning(p, QRectF(0.5, 0.5, 15, 15), c, QColor("#ffffff"))


_DRAW: dict[str, Callable[[QPainter, QColor], None]] = {
    "search": _search,
    "sync": _sync,
    "settings": _gear,
    "help": _help,
    "done": _check,
    "snooze": _clock,
    "ignore": _ignore,
    "send": _send,
    "edit": _edit,
    "retry": _retry,
    "cancel": _cancel,
    "offline": _offline,
    "outbox": _inbox,
    "warning": _warning,
}


def icon(name: str, color: QColor, size: int = 16) -> QIcon:
    """A line icon in ``color``, sharp on high-density screens."""
    draw = _DRAW[name]
    out = QIcon()
    for scale in (1, 2):
        pm = QPixmap(size * scale, size * scale)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.scale(size * scale / _SIZE, size * scale / _SIZE)
        draw(p, color)
        p.end()
        pm.setDevicePixelRatio(scale)
        out.addPixmap(pm)
    return out


def names() -> list[str]:
    """Every icon name."""
    return sorted(_DRAW)
