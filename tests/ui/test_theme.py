"""Both palettes keep text and chips readable, and every custom painter draws in both."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QColor

from tests.ui.conftest import build_window, close_window
from tests.views.qtasync import run, wait_until
from ui import theme


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_contrast_of_the_semantic_colours(qapp: Any, mode: str) -> None:
    c = theme.apply_theme(qapp, mode)
    assert c.dark == (mode == "dark")
    pairs = {
        "text on cards": (c.text, c.card),
        "muted text": (c.muted, c.card),
        "urgent chip": (c.urgent_chip_text, c.urgent_chip),
        "urgent badge": (c.on_urgent, c.urgent),
        "urgent text on urgent cards": (c.urgent_text, c.urgent_card),
        "accent text": (c.accent_text, c.accent_soft),
        "warning": (c.warning_text, c.warning_soft),
        "success": (c.success_text, c.success_soft),
    }
    for what, (fg, bg) in pairs.items():
        assert theme.contrast(fg, bg) >= 4.5, f"{mode}: {what} is {theme.contrast(fg, bg):.2f}:1"
    # Urgent cards differ from plain ones by more than colour, but their tint must still be visible.
    assert c.urgent_card != c.card
    theme.apply_theme(qapp, "light")


def test_readable_moves_toward_contrast() -> None:
    fg = theme.readable(QColor("#ff9999"), QColor("#ffffff"), 4.5)
    assert theme.contrast(fg, QColor("#ffffff")) >= 4.5
    assert theme.contrast(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21, abs=0.01)


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_the_window_paints_in_both_themes(qtbot: Any, qloop: Any, qapp: Any, core: Any, mode: str) -> None:
    theme.apply_theme(qapp, mode)
    win, vm = build_window(qtbot, qloop, core)
    try:
        vm.start()
        run(qloop, wait_until(lambda: vm.timeline.rowCount() > 0))
        assert win.select_first_urgent()
        run(qloop, wait_until(lambda: vm.conversation.current is not None))
        image = win.grab().toImage()
        assert not image.isNull() and image.width() >= 1000
        # The selected urgent card's coloured edge is drawn in the urgent colour.
        rect = win.timeline.visualRect(win.timeline.currentIndex())
        edge = win.timeline.viewport().grab(rect).toImage()
        colours = {QColor(edge.pixel(x, edge.height() // 2)).name() for x in range(8, 20)}
        assert theme.colors().urgent.name() in colours
    finally:
        close_window(qloop, win, vm)
        theme.apply_theme(qapp, "light")
