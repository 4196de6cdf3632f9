"""Settings are stored through the core; the help lists every shortcut; dialogs open without exec()."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from PySide6.QtWidgets import QDialogButtonBox, QLabel

from tests.views.qtasync import run, wait_until
from ui.dialogs import SHORTCUTS, EditReplyDialog, HelpDialog, SettingsDialog, native


def test_settings_dialog_stores_values(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    win.open_settings()
    dialog = win.settings_dialog
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible() and dialog.isModal()
    assert dialog.threshold.minimum() == 0.05 and dialog.threshold.maximum() == 0.95
    dialog.threshold.setValue(0.35)
    dialog.interval.setValue(45)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.operator.setText("  Jo Smith ")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    run(qloop, wait_until(lambda: vm.core.settings["operator"] == "Jo Smith"))
    stored = vm.core.load_settings()
    assert stored["urgency_threshold"] == 0.35
    assert stored["sync_interval"] == 45
    assert stored["theme"] == "dark"
    from ui import theme

    assert theme.colors().dark  # the theme changed at once
    win.open_settings()
    again = win.settings_dialog
    assert again is not None and again.values()["operator"] == "Jo Smith"
    again.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    theme.apply_theme(qtbot_app(), "light")


def test_the_history_for_new_accounts_is_chosen_in_settings(qtbot: Any, qloop: Any, window: Any) -> None:
    win, vm = window
    win.open_settings()
    dialog = win.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    combo = dialog.history
    # The choices, their words and the hint come from the settings registry.
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "None: only new mentions",
        "1 day",
        "7 days",
        "30 days",
    ]
    assert combo.currentData() == "7d" and combo.isVisible()
    hints = [label.text() for label in dialog.findChildren(QLabel)]
    assert any(text.startswith("How far back the first sync of an account you add reads") for text in hints)
    combo.setCurrentIndex(combo.findData("1d"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    run(qloop, wait_until(lambda: vm.core.settings["history"] == "1d"))
    assert vm.core.load_settings()["history"] == "1d"
    assert vm.core.history().since is not None and vm.core.clock() - vm.core.history().since >= timedelta(hours=23)
    win.open_settings()
    again = win.settings_dialog
    assert again is not None and again.history.currentText() == "1 day"
    again.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()


def qtbot_app() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def test_help_lists_every_shortcut(qtbot: Any, themed: Any) -> None:
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    text = dialog.text()
    for _, keys, what in SHORTCUTS:
        assert what in text
        for k in keys:
            assert native(k) in text
    for needed in ("J", "K", "R", "E", "U", "/", "S", "I", "F1", "?"):
        assert any(needed in keys for _, keys, _ in SHORTCUTS)


def test_every_shortcut_is_an_action_of_the_window(qtbot: Any, qloop: Any, window: Any) -> None:
    win, _vm = window
    for name, keys, _ in SHORTCUTS:
        shown = [s.toString() for s in win.action(name).shortcuts()]
        for k in keys:
            assert k.replace("Return", "Return") in shown or native(k) in shown


def test_edit_dialog_counts_and_blocks_overlong_text(qtbot: Any, themed: Any) -> None:
    dialog = EditReplyDialog(7, "hello", 10, len, "Reply to Maria")
    qtbot.addWidget(dialog)
    assert dialog.counter.text() == "5 / 10" and dialog.save.isEnabled()
    dialog.editor.setPlainText("x" * 11)
    assert dialog.counter.text() == "11 / 10" and not dialog.save.isEnabled()
    dialog.editor.setPlainText("   ")
    assert not dialog.save.isEnabled()
