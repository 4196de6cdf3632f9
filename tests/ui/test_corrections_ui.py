"""Correcting triage in the window, offscreen: the pane's menu, the card's context menu, the keys, and undo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QStyleOptionViewItem

from tests.helpers.factories import GIFT_CARD, OUTAGE, PARCEL, PARCEL_AGAIN, import_texts
from tests.ui.conftest import build_window, close_window
from tests.views.qtasync import run, settle, wait_until
from ui.dialogs import HelpDialog


@pytest.fixture
def corrections_window(qtbot: Any, qloop: Any, themed: Any, core: Any) -> Iterator[tuple[Any, Any, list[int]]]:
    """A window whose timeline holds two parcel complaints, an outage and a gift card question."""
    ids = import_texts(core, [PARCEL, PARCEL_AGAIN, OUTAGE, GIFT_CARD])
    win, vm = build_window(qtbot, qloop, core)
    yield win, vm, ids
    close_window(qloop, win, vm)


def _row(vm: Any, post_id: int) -> Any:
    row = vm.timeline.row_of(post_id)
    assert row is not None
    return vm.timeline.post_at(row)


def _show(qloop: Any, win: Any, post_id: int) -> None:
    assert win.select_post(post_id)
    run(qloop, wait_until(lambda: win.conversation.post_id == post_id, what="the conversation"))


def _click_action(qtbot: Any, menu: QMenu, text: str) -> None:
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    action = next(a for a in menu.actions() if a.text() == text)
    assert action.isEnabled(), text
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def test_the_panes_menu_marks_a_post_not_urgent_and_the_card_and_its_twin_change(
    qtbot: Any, qloop: Any, corrections_window: Any
) -> None:
    win, vm, (first, twin, _outage, _gift) = corrections_window
    _show(qloop, win, first)
    assert _row(vm, first).urgent and _row(vm, twin).urgent
    urgent_height = win.post_delegate.sizeHint(_option(win), _index(vm, first))
    qtbot.mouseClick(win.conversation.triage_button, Qt.MouseButton.LeftButton)
    _click_action(qtbot, win.conversation.triage_menu, "Mark not urgent")
    run(qloop, wait_until(lambda: not _row(vm, first).urgent and not _row(vm, twin).urgent, what="both cards"))
    assert _row(vm, first).reasons[0].label == "marked not urgent"
    assert any(r.label.startswith(f"like #{first} marked not urgent") for r in _row(vm, twin).reasons)
    # The card, no longer urgent, still shows why in a chip row.
    assert win.post_delegate.sizeHint(_option(win), _index(vm, first)).height() == urgent_height.height()
    run(qloop, wait_until(lambda: win.conversation.correction_label.isVisible(), what="the pane's explanation"))
    assert win.conversation.correction_label.text().startswith("Marked not urgent at ")
    assert "Urgency" in win.conversation.score_label.text()

    # The menu now offers undo, and the given verdict is the checked one.
    qtbot.mouseClick(win.conversation.triage_button, Qt.MouseButton.LeftButton)
    menu = win.conversation.triage_menu
    assert win.conversation.correction_actions["not_urgent"].isChecked()
    _click_action(qtbot, menu, "Undo correction")
    run(qloop, wait_until(lambda: _row(vm, first).urgent and _row(vm, twin).urgent, what="both back to urgent"))
    run(qloop, wait_until(lambda: not win.conversation.correction_label.isVisible()))


def test_keys_correct_the_shown_post_and_ctrl_z_undoes(qtbot: Any, qloop: Any, corrections_window: Any) -> None:
    win, vm, (_first, _twin, outage, gift) = corrections_window
    _show(qloop, win, gift)
    win.timeline.setFocus()
    assert not _row(vm, gift).urgent
    qtbot.keyClick(win.timeline, Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)  # mark urgent
    run(qloop, wait_until(lambda: _row(vm, gift).urgent, what="the gift card post urgent"))
    assert not win.action("urgent").isChecked()  # Shift+U is not U ("urgent only")
    qtbot.keyClick(win.timeline, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    run(qloop, wait_until(lambda: not _row(vm, gift).urgent, what="undone"))

    _show(qloop, win, outage)
    win.timeline.setFocus()
    qtbot.keyClick(win.timeline, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)  # not negative
    run(qloop, wait_until(lambda: not _row(vm, outage).negative, what="the outage post no complaint"))
    assert not _row(vm, outage).urgent
    qtbot.keyClick(win.timeline, Qt.Key.Key_N)  # and now not urgent instead: the later verdict replaces it
    run(qloop, wait_until(lambda: _row(vm, outage).negative, what="negative again, still not urgent"))
    assert not _row(vm, outage).urgent and _row(vm, outage).reasons[0].label == "marked not urgent"

    # Typing in the reply box is typing: N and Ctrl+Z belong to the text there.
    win.conversation.focus_composer()
    qtbot.keyClicks(win.conversation.composer, "N")
    qtbot.keyClick(win.conversation.composer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qloop)
    assert win.conversation.composer.toPlainText() == ""
    assert _row(vm, outage).reasons[0].label == "marked not urgent"


def test_the_cards_context_menu_corrects_that_post(qtbot: Any, qloop: Any, corrections_window: Any) -> None:
    win, vm, (first, _twin, _outage, _gift) = corrections_window
    rect = win.timeline.visualRect(_index(vm, first))
    win.timeline.customContextMenuRequested.emit(rect.center())
    menu = win.timeline_menu
    assert [a.text() for a in menu.actions() if a.text()][-4:] == [
        "Mark urgent",
        "Mark not urgent",
        "Mark not negative",
        "Undo correction",
    ]
    assert not next(a for a in menu.actions() if a.text() == "Undo correction").isEnabled()
    _click_action(qtbot, menu, "Mark not negative")
    run(qloop, wait_until(lambda: not _row(vm, first).negative, what="the parcel post no complaint"))
    assert win.conversation.post_id == first  # the right-clicked card is the selected one
    win.timeline.customContextMenuRequested.emit(win.timeline.visualRect(_index(vm, first)).center())
    _click_action(qtbot, win.timeline_menu, "Undo correction")
    run(qloop, wait_until(lambda: _row(vm, first).urgent, what="urgent again"))


def test_help_lists_the_correction_keys(qtbot: Any, themed: Any) -> None:
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    text = dialog.text()
    for line in ("Correct triage: the post is urgent", "Correct triage: the post is not urgent", "Undo the last"):
        assert line in text


def _index(vm: Any, post_id: int) -> Any:
    return vm.timeline.index_of(post_id)


def _option(win: Any) -> QStyleOptionViewItem:
    option = QStyleOptionViewItem()
    option.initFrom(win.timeline)
    return option
