"""Dialogs: keyboard help, settings, editing a queued reply, and the unexpected-error report."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from services.settings import OPTIONS
from ui import theme
from ui.icons import icon

#: Every keyboard shortcut: (action name, keys, what it does). The main window builds its actions from this.
SHORTCUTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("next", ("J",), "Next post"),
    ("previous", ("K",), "Previous post"),
    ("reply", ("R",), "Reply: put the cursor in the reply box"),
    ("send", ("Ctrl+Return", "Ctrl+Enter"), "Send the reply"),
    ("done", ("E",), "Mark the post done and go to the next (E again on a done post reopens it)"),
    ("snooze", ("S",), "Snooze the post for 1 hour and go to the next"),
    ("ignore", ("I",), "Ignore the post (no answer needed) and go to the next"),
    ("mark_urgent", ("Shift+U",), "Correct triage: the post is urgent (posts like it count as more urgent)"),
    ("mark_not_urgent", ("N",), "Correct triage: the post is not urgent (posts like it count as less urgent)"),
    ("mark_not_negative", ("Shift+N",), "Correct triage: the post is no complaint (nor are posts just like it)"),
    ("undo_correction", ("Ctrl+Z",), "Undo the last triage correction"),
    ("urgent", ("U",), "Show urgent posts only (on / off)"),
    ("search", ("/",), "Search posts"),
    ("sync", ("F5",), "Sync now"),
    ("outbox", ("Ctrl+O",), "Show or hide the outbox"),
    ("settings", ("Ctrl+,",), "Settings"),
    ("help", ("F1", "?"), "This list of shortcuts"),
    ("quit", ("Ctrl+Q",), "Quit Parley"),
)

#: Single letters type text in the reply box and search field, so there they are not shortcuts.
TYPING_NOTE = "Single-letter shortcuts do nothing while you type in the reply box or search; press Esc first."


def shortcut_keys(name: str) -> tuple[str, ...]:
    """The keys of one action in ``SHORTCUTS``."""
    for action, keys, _ in SHORTCUTS:
        if action == name:
            return keys
    raise KeyError(name)


def native(keys: str) -> str:
    """How a key sequence reads on this platform (Ctrl becomes ⌘ on macOS)."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText) or keys


class HelpDialog(QDialog):
    """Every keyboard shortcut, in one table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("helpDialog")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 14)
        lay.setSpacing(12)
        title = QLabel("Keyboard shortcuts", self)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() + 3)
        f.setBold(True)
        title.setFont(f)
        lay.addWidget(title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(6)
        c = theme.colors()
        self.rows: list[tuple[str, str]] = []
        for row, (_, keys, what) in enumerate(SHORTCUTS):
            shown = " or ".join(native(k) for k in keys)
            key = QLabel(shown, self)
            key.setStyleSheet(
                f"QLabel {{ background: {c.neutral_chip.name()}; border: 1px solid {c.border.name()};"
                f" border-radius: 4px; padding: 2px 7px; font-family: monospace; }}"
            )
            key.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(QLabel(what, self), row, 1)
            self.rows.append((shown, what))
        lay.addLayout(grid)
        note = QLabel(TYPING_NOTE, self)
        note.setObjectName("muted")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def text(self) -> str:
        """The table as plain text (for tests and screen readers)."""
        return "\n".join(f"{keys}\t{what}" for keys, what in self.rows)


class SettingsDialog(QDialog):
    """The user settings (services.settings declares them); OK hands the values to ``on_save``."""

    def __init__(self, values: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 14)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setVerticalSpacing(4)
        form.setHorizontalSpacing(14)

        self.threshold = QDoubleSpinBox(self)
        self.threshold.setRange(0.05, 0.95)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(float(values.get("urgency_threshold", 0.5)))
        form.addRow("Urgency threshold", self.threshold)
        form.addRow("", self._hint("A negative post at or above this urgency counts as urgent. Lower shows more."))

        self.interval = QSpinBox(self)
        self.interval.setRange(5, 3600)
        self.interval.setSuffix(" s")
        self.interval.setValue(int(values.get("sync_interval", 60)))
        form.addRow("Sync every", self.interval)
        form.addRow("", self._hint("How often every account is asked for new mentions."))

        self.theme = QComboBox(self)
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(str(values.get("theme", "system")))))
        form.addRow("Theme", self.theme)

        self.operator = QLineEdit(str(values.get("operator", "")), self)
        self.operator.setPlaceholderText("e.g. Jo Smith")
        self.operator.setMaxLength(80)
        form.addRow("Your name", self.operator)
        form.addRow("", self._hint("Recorded with your replies; the Mine view shows posts assigned to you."))

        self.history = self._choice(form, "history", values)
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

    def _choice(self, form: QFormLayout, key: str, values: Mapping[str, Any]) -> QComboBox:
        """A row for a setting with choices, its words and hint taken from the settings registry."""
        option = OPTIONS[key]
        combo = QComboBox(self)
        combo.setObjectName(key)
        for choice in option.choices:
            combo.addItem(option.label(choice), choice)
        combo.setCurrentIndex(max(0, combo.findData(str(values.get(key, option.default)))))
        form.addRow(option.title, combo)
        form.addRow("", self._hint(option.description))
        return combo

    def _hint(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setObjectName("muted")
        label.setWordWrap(True)
        f = label.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        label.setFont(f)
        return label

    def values(self) -> dict[str, Any]:
        """The settings as entered."""
        return {
            "urgency_threshold": round(self.threshold.value(), 2),
            "sync_interval": self.interval.value(),
            "theme": str(self.theme.currentData()),
            "operator": self.operator.text().strip(),
            "history": str(self.history.currentData()),
        }


class EditReplyDialog(QDialog):
    """Change the text of a reply that is not on the network yet (queued, failed or held)."""

    def __init__(
        self,
        item_id: int,
        text: str,
        limit: int,
        count: Callable[[str], int],
        context: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.item_id = item_id
        self._limit = limit
        self._count = count
        self.setWindowTitle("Edit reply")
        self.setMinimumSize(480, 260)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 12)
        if context:
            ctx = QLabel(context, self)
            ctx.setObjectName("muted")
            ctx.setWordWrap(True)
            lay.addWidget(ctx)
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("composer")
        self.editor.setPlainText(text)
        self.editor.textChanged.connect(self._update)
        lay.addWidget(self.editor, 1)
        row = QHBoxLayout()
        self.counter = QLabel(self)
        self.counter.setObjectName("counter")
        row.addWidget(self.counter)
        row.addStretch(1)
        self.buttons = QDialogButtonBox(self)
        self.save = self.buttons.addButton("Save and queue", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row.addWidget(self.buttons)
        lay.addLayout(row)
        self._update()

    def text(self) -> str:
        """The edited text."""
        return self.editor.toPlainText()

    def _update(self) -> None:
        n = self._count(self.text().strip())
        over = n > self._limit
        self.counter.setText(f"{n} / {self._limit}")
        self.counter.setProperty("over", over)
        self.counter.style().unpolish(self.counter)
        self.counter.style().polish(self.counter)
        self.save.setEnabled(0 < n <= self._limit)


class ErrorDialog(QDialog):
    """An unexpected error: what happened in plain words, the details, and where the log is."""

    def __init__(self, summary: str, details: str, log_path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Parley: unexpected error")
        self.setObjectName("errorDialog")
        self.setMinimumSize(560, 360)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.count = 1
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 14)
        lay.setSpacing(10)
        top = QHBoxLayout()
        sign = QLabel(self)
        c = theme.colors()
        sign.setPixmap(icon("warning", c.urgent, 32).pixmap(32, 32))
        top.addWidget(sign, 0, Qt.AlignmentFlag.AlignTop)
        words = QVBoxLayout()
        head = QLabel("Something went wrong inside Parley.", self)
        f = head.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() + 1.5)
        head.setFont(f)
        words.addWidget(head)
        self.summary = QLabel(summary, self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        words.addWidget(self.summary)
        calm = QLabel(
            "Your posts and queued replies are safe: replies are stored before they are sent. "
            f"The details are also in the log:\n{log_path}",
            self,
        )
        calm.setObjectName("muted")
        calm.setWordWrap(True)
        calm.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        words.addWidget(calm)
        top.addLayout(words, 1)
        lay.addLayout(top)
        self.details = QPlainTextEdit(details, self)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = self.details.font()
        mono.setFamily("monospace")
        mono.setStyleHint(mono.StyleHint.Monospace)
        self.details.setFont(mono)
        lay.addWidget(self.details, 1)
        buttons = QDialogButtonBox(self)
        copy = QPushButton("Copy details", self)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.details.toPlainText()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setDefault(True)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.log_path = log_path

    def add(self, summary: str, details: str) -> None:
        """Another error while this dialog is open: append it rather than stack dialogs."""
        self.count += 1
        self.summary.setText(f"{summary}\n({self.count} errors so far; the details of each are below.)")
        self.details.appendPlainText("\n" + "-" * 60 + "\n" + details)


def join_keys(keys: Sequence[str]) -> str:
    """Keys for a help line: "F1 or ?"."""
    return " or ".join(native(k) for k in keys)
