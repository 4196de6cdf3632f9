"""Click-through of the main window, offscreen: select, reply, queue offline, send online, shortcuts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from services.store.posts import TimelineFilter
from tests.views.qtasync import run, settle, wait_until
from ui.delegates import PostDelegate
from ui.main_window import MainWindow
from views.outbox_model import OutboxColumn


def _synced(qloop: Any, vm: Any) -> None:
    vm.start()
    run(qloop, wait_until(lambda: vm.syncs_done >= 1 and vm.timeline.rowCount() > 0, what="the first sync"))


def _click_row(qtbot: Any, win: MainWindow, row: int) -> None:
    idx = win.vm.timeline.index(row)
    win.timeline.scrollTo(idx)
    rect = win.timeline.visualRect(idx)
    qtbot.mouseClick(win.timeline.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_reply_queues_offline_and_is_sent_when_back_online(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    _synced(qloop, vm)
    assert win.stack.currentWidget() is win.splitter
    # Urgent view from the sidebar, then click the first urgent card.
    win.select_scope("urgent")
    assert vm.timeline.filter.view == "urgent"
    _click_row(qtbot, win, 0)
    post = vm.timeline.post_at(0)
    assert post is not None and post.urgent
    run(qloop, wait_until(lambda: win.conversation.post_id == post.id, what="the conversation"))
    assert win.conversation.name_label.text() == (post.author_name or post.author_handle)
    assert win.conversation.chips.isVisible()

    # The demo network goes offline from the toolbar switch.
    qtbot.mouseClick(win.demo_switch, Qt.MouseButton.LeftButton)
    run(qloop, wait_until(lambda: not vm.online and win.banner.isVisible(), what="the offline banner"))
    assert win.online_dot.text == "Offline"

    # Type a reply: the counter counts as the network does, Send queues it.
    text = "Sorry about the wait, we're on it right now."
    qtbot.keyClicks(win.conversation.composer, text)
    n, limit = win.conversation.count()
    assert win.conversation.counter.text() == f"{n} / {limit}" and n == len(text)
    assert win.conversation.send_button.isEnabled()
    qtbot.mouseClick(win.conversation.send_button, Qt.MouseButton.LeftButton)
    run(qloop, wait_until(lambda: vm.outbox.rowCount() == 1, what="the queued reply"))
    assert vm.outbox.index(0, OutboxColumn.State).data() == "Queued"
    assert win.outbox_dock.isVisible()
    run(qloop, wait_until(lambda: "1 reply is queued" in win.banner.message.text()))
    assert win.conversation.composer.toPlainText() == ""  # cleared only once the reply was stored
    assert win.banner.button.text() == "Go online"
    assert win.queued_button.text() == "1 reply queued"
    run(qloop, wait_until(lambda: win.conversation.current_unsent_count() == 1, what="the queued bubble"))

    # Back online from the banner: the queue drains and the banner goes.
    qtbot.mouseClick(win.banner.button, Qt.MouseButton.LeftButton)
    run(qloop, wait_until(lambda: vm.outbox.index(0, OutboxColumn.State).data() == "Sent", what="sent"))
    run(qloop, wait_until(lambda: not win.banner.isVisible()))
    assert win.online_dot.text in ("Online", "Syncing…")
    assert win.demo_switch.isChecked()
    assert vm.core.networks.demo_world.replies_count() == 1


def test_keyboard_shortcuts(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    _synced(qloop, vm)
    win.activateWindow()
    win.timeline.setFocus()
    settle(qloop)

    win.select_row(0)
    qtbot.keyClick(win.timeline, Qt.Key.Key_J)
    assert win.timeline.currentIndex().row() == 1
    qtbot.keyClick(win.timeline, Qt.Key.Key_K)
    assert win.timeline.currentIndex().row() == 0
    first = vm.timeline.post_at(0)
    run(qloop, wait_until(lambda: win.conversation.post_id == first.id))

    qtbot.keyClick(win.timeline, Qt.Key.Key_R)
    assert win.conversation.composer.hasFocus()
    qtbot.keyClick(win.conversation.composer, Qt.Key.Key_E)  # typing, not a shortcut
    assert win.conversation.composer.toPlainText() == "e"
    qtbot.keyClick(win.conversation.composer, Qt.Key.Key_Escape)
    assert win.timeline.hasFocus()

    qtbot.keyClick(win.timeline, Qt.Key.Key_E)  # done, and on to the next post
    run(qloop, wait_until(lambda: vm.core.rows_by_id([first.id])[0].status == "done"))
    run(qloop, wait_until(lambda: win.timeline.currentIndex().row() == 1, what="the next post"))

    qtbot.keyClick(win.timeline, Qt.Key.Key_U)  # urgent only
    assert win.action("urgent").isChecked()
    assert vm.timeline.filter.view == "urgent"
    assert all(r.urgent for r in vm.timeline.loaded())
    qtbot.keyClick(win.timeline, Qt.Key.Key_U)
    assert vm.timeline.filter.view == "all"

    win.select_row(1)
    second = vm.timeline.post_at(1)
    run(qloop, wait_until(lambda: win.conversation.post_id == second.id))
    qtbot.keyClick(win.timeline, Qt.Key.Key_S)  # snooze 1 h
    run(qloop, wait_until(lambda: vm.core.rows_by_id([second.id])[0].status == "snoozed"))
    win.select_row(2)
    third = vm.timeline.post_at(2)
    run(qloop, wait_until(lambda: win.conversation.post_id == third.id))
    qtbot.keyClick(win.timeline, Qt.Key.Key_I)  # ignore
    run(qloop, wait_until(lambda: vm.core.rows_by_id([third.id])[0].status == "ignored"))

    qtbot.keyClick(win.timeline, Qt.Key.Key_Slash)
    assert win.search.hasFocus()
    qtbot.keyClicks(win.search, "internet")
    qtbot.keyClick(win.search, Qt.Key.Key_Return)
    assert vm.timeline.filter.search == "internet"
    assert 0 < vm.timeline.rowCount() < vm.core.count(TimelineFilter())
    qtbot.keyClick(win.search, Qt.Key.Key_Escape)

    qtbot.keyClick(win.timeline, Qt.Key.Key_F1)
    assert win.help_dialog is not None and win.help_dialog.isVisible()
    win.help_dialog.close()
    qtbot.keyClick(win.timeline, Qt.Key.Key_Question, Qt.KeyboardModifier.ShiftModifier)
    assert win.help_dialog.isVisible()
    win.help_dialog.close()


def test_ctrl_enter_sends_and_the_counter_blocks_overlong_replies(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    _synced(qloop, vm)
    win.select_row(0)
    post = vm.timeline.post_at(0)
    run(qloop, wait_until(lambda: win.conversation.post_id == post.id))
    pane = win.conversation
    _, limit = pane.count()
    pane.composer.setPlainText("x" * (limit + 1))
    assert pane.counter.property("over") is True
    assert not pane.send_button.isEnabled()
    qtbot.keyClick(pane.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    settle(qloop)
    assert vm.outbox.rowCount() == 0  # nothing queued over the limit
    pane.composer.setPlainText("Thanks for telling us!")
    assert pane.counter.property("over") is False and pane.send_button.isEnabled()
    pane.composer.setFocus()
    qtbot.keyClick(pane.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    run(qloop, wait_until(lambda: vm.outbox.rowCount() == 1))
    run(qloop, wait_until(lambda: vm.outbox.index(0, OutboxColumn.State).data() == "Sent"))


def test_outbox_panel_buttons_follow_the_state(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    _synced(qloop, vm)
    vm.set_demo_offline(True)
    run(qloop, wait_until(lambda: not vm.online))
    vm.queue_reply(vm.timeline.post_at(0).id, "Held while offline")
    run(qloop, wait_until(lambda: vm.outbox.rowCount() == 1))
    panel = win.outbox_panel
    panel.select_item(vm.outbox.item_at(0).id)
    assert panel.edit_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not panel.anyway_button.isEnabled()
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    dialog = panel.edit_dialog
    assert dialog is not None and dialog.isVisible() and dialog.text() == "Held while offline"
    dialog.editor.setPlainText("Edited while offline")
    dialog.save.click()
    run(qloop, wait_until(lambda: vm.outbox.item_at(0).text == "Edited while offline"))
    panel.select_item(vm.outbox.item_at(0).id)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    run(qloop, wait_until(lambda: vm.outbox.item_at(0).state == "cancelled"))
    assert not panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    assert "0 replies waiting" in panel.summary.text()


def test_lazy_timeline_in_the_view(qtbot: Any, qloop: Any, themed: Any, big_core: Any) -> None:
    from tests.ui.conftest import build_window, close_window

    win, vm = build_window(qtbot, qloop, big_core)
    try:
        assert vm.timeline.rowCount() == 200  # one page, whatever the database holds
        win.timeline.scrollToBottom()
        qtbot.waitUntil(lambda: vm.timeline.rowCount() > 200, timeout=5000)  # the view asked for more
        assert isinstance(win.timeline.itemDelegate(), PostDelegate)
        assert win.vm.timeline.canFetchMore(QModelIndex()) or vm.timeline.rowCount() == 450
    finally:
        close_window(qloop, win, vm)
