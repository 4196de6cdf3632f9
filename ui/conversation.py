"""The conversation pane: the thread with our replies marked, the author's earlier posts, and the composer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from services.store.posts import PostRow
from ui import theme
from ui.delegates import bold_font, small_font
from ui.icons import icon
from ui.widgets import Avatar, Bubble, ChipRow, section_label
from views.conversation_vm import CORRECTION_LABELS, Conversation, correction_summary
from views.formatting import ago, clock_time, relative_time
from views.main_vm import MainViewModel

#: How an unsent reply of ours reads in the thread.
PENDING_TEXT = {
    "queued": "Queued: it will be sent as soon as the network can be reached.",
    "sending": "Sending…",
    "unknown": "Checking whether it arrived before trying again.",
    "failed": "Not sent: {reason}",
    "needs_review": "Held for review: {reason}",
}
HISTORY_SHOWN = 5


class Composer(QPlainTextEdit):
    """The reply box; Escape hands the keyboard back to the timeline."""

    escape = Signal()

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)


class ConversationPane(QWidget):
    """Shows ``vm.conversation`` and sends replies through the view-model."""

    focus_timeline = Signal()
    settled = Signal(int)  # a post was marked done, snoozed or ignored: the window moves on to the next

    def __init__(self, vm: MainViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationPane")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.vm = vm
        self._conv: Conversation | None = None
        self._shown_id: int | None = None
        self._drafts: dict[int, str] = {}
        self._sending: int | None = None
        self._selected_bubble: Bubble | None = None
        self._stack = QStackedLayout(self)

        empty = QWidget(self)
        el = QVBoxLayout(empty)
        self.empty_label = QLabel(
            "Select a post to read its conversation and reply.\n\nj / k move through the list.", empty
        )
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        el.addWidget(self.empty_label)
        self._stack.addWidget(empty)

        content = QWidget(self)
        cl = QVBoxLayout(content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self._build_header(content))
        self.thread_area = QScrollArea(content)
        self.thread_area.setObjectName("thread")
        self.thread_area.setWidgetResizable(True)
        self.thread_area.setFrameShape(QFrame.Shape.NoFrame)
        self.thread_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thread_body = QWidget()
        self.thread_body.setObjectName("threadBody")
        self.thread_layout = QVBoxLayout(self.thread_body)
        self.thread_layout.setContentsMargins(18, 12, 18, 16)
        self.thread_layout.setSpacing(8)
        self.thread_area.setWidget(self.thread_body)
        cl.addWidget(self.thread_area, 1)
        cl.addWidget(self._build_composer(content))
        self._stack.addWidget(content)

        vm.conversation.loaded.connect(self.show_conversation)
        vm.conversation.cleared.connect(self.show_empty)
        vm.reply_queued.connect(self._on_queued)

    # -- building -------------------------------------------------------------------------------

    def _build_header(self, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        box.setObjectName("conversationHeader")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(18, 14, 18, 10)
        lay.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(12)
        self.avatar = Avatar(40, box)
        top.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        names = QVBoxLayout()
        names.setSpacing(1)
        self.name_label = QLabel(box)
        self.name_label.setFont(bold_font(self.font(), 2.5))
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta_label = QLabel(box)
        self.meta_label.setObjectName("muted")
        self.meta_label.setWordWrap(True)
        self.meta_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        names.addWidget(self.name_label)
        names.addWidget(self.meta_label)
        top.addLayout(names, 1)
        self.state_label = QLabel(box)
        self.state_label.setObjectName("muted")
        top.addWidget(self.state_label, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(top)
        self.chips = ChipRow(box)
        lay.addWidget(self.chips)
        score_row = QHBoxLayout()
        score_row.setSpacing(8)
        self.score_label = QLabel(box)
        self.score_label.setObjectName("muted")
        self.score_label.setFont(small_font(self.font(), -1.0))
        score_row.addWidget(self.score_label, 1)
        # Correcting triage: the menu pops up (never a nested event loop), see open_triage_menu.
        self.triage_button = QPushButton("Correct triage ▾", box)
        self.triage_button.setObjectName("triageButton")
        self.triage_button.setFlat(True)
        self.triage_button.setToolTip(
            "Say this post is urgent, not urgent or no complaint; posts like it will be scored accordingly"
        )
        self.triage_button.clicked.connect(self.open_triage_menu)
        score_row.addWidget(self.triage_button)
        lay.addLayout(score_row)
        self.correction_label = QLabel(box)
        self.correction_label.setObjectName("muted")
        self.correction_label.setFont(small_font(self.font(), -1.0))
        self.correction_label.setWordWrap(True)
        self.correction_label.hide()
        lay.addWidget(self.correction_label)
        self.triage_menu = QMenu(self)
        self.correction_actions: dict[str, QAction] = {}
        for verdict, label in CORRECTION_LABELS:
            action = self.triage_menu.addAction(label)
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, v=verdict: self.correct(v))
            self.correction_actions[verdict] = action
        self.triage_menu.addSeparator()
        self.undo_correction_action = self.triage_menu.addAction("Undo correction")
        self.undo_correction_action.triggered.connect(self.undo_correction)
        line = QFrame(box)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setObjectName("divider")
        line.setStyleSheet(f"color: {theme.colors().border.name()};")
        lay.addWidget(line)
        return box

    def _build_composer(self, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        box.setObjectName("composerBox")
        box.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(16, 10, 16, 12)
        lay.setSpacing(8)
        self.composer = Composer(box)
        self.composer.setObjectName("composer")
        self.composer.setPlaceholderText("Write a public reply…   (Ctrl+Enter sends)")
        self.composer.setTabChangesFocus(True)
        self.composer.setFixedHeight(92)
        self.composer.setAccessibleName("Reply")
        self.composer.textChanged.connect(self._update_counter)
        self.composer.escape.connect(self.focus_timeline.emit)
        lay.addWidget(self.composer)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.counter = QLabel("0 / 0", box)
        self.counter.setObjectName("counter")
        self.counter.setAccessibleName("Characters used")
        row.addWidget(self.counter)
        row.addStretch(1)
        c = theme.colors()
        self.done_button = QPushButton(icon("done", c.success), "Done", box)
        self.done_button.setToolTip("Mark done (E)")
        self.done_button.clicked.connect(self.mark_done)
        self.snooze_button = QPushButton(icon("snooze", c.muted), "Snooze", box)
        self.snooze_button.setObjectName("snooze")
        self.snooze_button.setToolTip("Snooze: hide until later (S snoozes for 1 hour)")
        menu = QMenu(self.snooze_button)
        menu.addAction("For 1 hour", lambda: self.snooze("1h"))
        menu.addAction("For 4 hours", lambda: self.snooze("4h"))
        menu.addAction("Until tomorrow morning", lambda: self.snooze("tomorrow"))
        self.snooze_button.setMenu(menu)
        self.snooze_menu = menu
        self.ignore_button = QPushButton(icon("ignore", c.muted), "Ignore", box)
        self.ignore_button.setToolTip("Ignore: no answer needed (I)")
        self.ignore_button.clicked.connect(self.ignore)
        self.send_button = QPushButton(icon("send", c.on_accent), "Send", box)
        self.send_button.setObjectName("primary")
        self.send_button.setToolTip("Queue the reply and send it (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        for b in (self.done_button, self.snooze_button, self.ignore_button):
            row.addWidget(b)
        row.addSpacing(8)
        row.addWidget(self.send_button)
        lay.addLayout(row)
        return box

    # -- showing --------------------------------------------------------------------------------

    def current_unsent_count(self) -> int:
        """How many of our unsent replies the thread shows."""
        return len(self._conv.unsent) if self._conv is not None else 0

    @property
    def post_id(self) -> int | None:
        """The post whose conversation is shown."""
        return self._shown_id

    def show_empty(self) -> None:
        """No post selected."""
        self._save_draft()
        self._conv = None
        self._shown_id = None
        self._stack.setCurrentIndex(0)

    def show_conversation(self, conv: Conversation) -> None:
        """Show a loaded conversation (the composer keeps a draft per post)."""
        post = conv.post
        new_post = post.id != self._shown_id
        if new_post:
            self._save_draft()
        self._conv = conv
        self._shown_id = post.id
        self._stack.setCurrentIndex(1)
        name = post.author_name or post.author_handle
        self.avatar.set_person(name, post.author_handle)
        self.name_label.setText(name)
        when = post.created_at.astimezone()
        self.meta_label.setText(
            f"{post.author_handle} · to {post.account_handle} ({conv.account_label}) · "
            f"{when.strftime('%a %d %b, %H:%M')}"
        )
        self.state_label.setText(self._state_text(post))
        self.chips.set_chips([r.label for r in post.reasons], post.urgent)
        tone = "negative" if post.negative else ("positive" if post.sentiment > 0.05 else "neutral")
        self.score_label.setText(
            f"Urgency {round(post.urgency * 100)}% · tone {tone} ({post.sentiment:+.2f})"
            + (" · answered" if post.answered else "")
        )
        summary = correction_summary(conv.correction)
        self.correction_label.setText(summary)
        self.correction_label.setVisible(bool(summary))
        self.triage_button.setEnabled(not post.is_own)
        self.done_button.setText("Reopen" if post.status in ("done", "ignored", "snoozed") else "Done")
        self._fill_thread(conv, keep_scroll=not new_post)
        if new_post:
            self.composer.blockSignals(True)
            self.composer.setPlainText(self._drafts.pop(post.id, ""))
            self.composer.blockSignals(False)
            self.composer.setPlaceholderText(f"Reply to {name} publicly…   (Ctrl+Enter sends)")
        self._update_counter()

    @staticmethod
    def _state_text(post: PostRow) -> str:
        match post.status:
            case "done":
                return "✓ Done"
            case "ignored":
                return "Ignored"
            case "snoozed":
                return f"Snoozed until {clock_time(post.snoozed_until)}" if post.snoozed_until else "Snoozed"
        return ""

    def _clear_thread(self) -> None:
        _clear_layout(self.thread_layout)

    def _add_bubble(self, bubble: Bubble, right: bool) -> None:
        row = QHBoxLayout()
        row.setSpacing(0)
        bubble.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        if right:
            row.addStretch(1)
            row.addWidget(bubble, 6)
        else:
            row.addWidget(bubble, 6)
            row.addStretch(1)
        self.thread_layout.addLayout(row)

    def _fill_thread(self, conv: Conversation, keep_scroll: bool = False) -> None:
        scroll = self.thread_area.verticalScrollBar().value()
        self._clear_thread()
        now = datetime.now(UTC)
        self._selected_bubble = None
        self.thread_layout.addWidget(
            section_label(f"Conversation · {len(conv.thread)} {'post' if len(conv.thread) == 1 else 'posts'}")
        )
        for r in conv.thread:
            ours = r.is_own
            who = f"You ({r.account_handle})" if ours else (r.author_name or r.author_handle)
            header = f"{who} · {relative_time(r.created_at, now)}"
            if ours:
                header += " · sent"
            b = Bubble(header, r.text, ours=ours, selected=r.id == conv.post.id, urgent=r.urgent and not ours)
            if r.id == conv.post.id:
                self._selected_bubble = b
            self._add_bubble(b, right=ours)
        for o in conv.unsent:
            reason = o.review_reason or o.last_error or "see the outbox"
            text = PENDING_TEXT.get(o.state, o.state).format(reason=reason)
            b = Bubble(
                f"You ({o.account_handle}) · not sent yet", o.text, ours=True, pending=text, pending_kind=o.state
            )
            self._add_bubble(b, right=True)
        if conv.history:
            self.thread_layout.addSpacing(10)
            name = conv.post.author_name or conv.post.author_handle
            self.thread_layout.addWidget(section_label(f"Earlier from {name} · {len(conv.history)}"))
            for r in conv.history[:HISTORY_SHOWN]:
                self.thread_layout.addWidget(self._history_item(r, now))
            if len(conv.history) > HISTORY_SHOWN:
                more = QLabel(f"and {len(conv.history) - HISTORY_SHOWN} more", self.thread_body)
                more.setObjectName("muted")
                self.thread_layout.addWidget(more)
        self.thread_layout.addStretch(1)
        if keep_scroll:  # the same post reloaded (a reply went out): stay where the reader is
            bar = self.thread_area.verticalScrollBar()
            QTimer.singleShot(0, bar, lambda: bar.setValue(scroll))  # the context drops it if the pane is gone
        else:
            QTimer.singleShot(0, self.thread_area, self._scroll_to_selected)

    def _history_item(self, r: PostRow, now: datetime) -> QWidget:
        item = QFrame(self.thread_body)
        item.setObjectName("historyItem")
        lay = QVBoxLayout(item)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.setSpacing(1)
        state = {"done": " · done", "ignored": " · ignored", "snoozed": " · snoozed"}.get(r.status, "")
        urgent = " · urgent" if r.urgent else ""
        head = QLabel(f"{ago(r.created_at, now)} · to {r.account_handle}{state}{urgent}", item)
        head.setObjectName("muted")
        head.setFont(small_font(self.font(), -1.0))
        body = QLabel(" ".join(r.text.split()), item)
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.PlainText)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(head)
        lay.addWidget(body)
        c = theme.colors()
        item.setStyleSheet(f"QFrame#historyItem {{ border-left: 3px solid {c.border.name()}; }}")
        return item

    def _scroll_to_selected(self) -> None:
        b = self._selected_bubble
        if b is not None:
            try:
                self.thread_area.ensureWidgetVisible(b, 0, 40)
            except RuntimeError:  # the thread was rebuilt before this deferred call ran
                pass

    # -- composer -------------------------------------------------------------------------------

    def _save_draft(self) -> None:
        if self._shown_id is not None:
            text = self.composer.toPlainText()
            if text.strip():
                self._drafts[self._shown_id] = text
            else:
                self._drafts.pop(self._shown_id, None)

    def count(self) -> tuple[int, int]:
        """(characters as the network counts them, limit) of the composer's text."""
        return self.vm.conversation.count(self.composer.toPlainText())

    def _update_counter(self) -> None:
        n, limit = self.count()
        over = limit > 0 and n > limit
        self.counter.setText(f"{n} / {limit}" if limit else str(n))
        self.counter.setToolTip(
            f"{n - limit} characters over this account's limit" if over else "Characters, counted like the network"
        )
        for w in (self.counter, self.composer):
            if w.property("over") != over:
                w.setProperty("over", over)
                w.style().unpolish(w)
                w.style().polish(w)
        self.send_button.setEnabled(self.can_send())

    def can_send(self) -> bool:
        """Whether Send would queue a reply now."""
        n, limit = self.count()
        return self._conv is not None and self._sending is None and 0 < n and (limit == 0 or n <= limit)

    def send(self) -> None:
        """Queue the composer's text as a reply to the shown post."""
        if not self.can_send() or self._shown_id is None:
            return
        post_id = self._shown_id
        self._sending = post_id
        self.send_button.setEnabled(False)
        task = self.vm.queue_reply(post_id, self.composer.toPlainText())
        task.add_done_callback(self._send_finished)

    def _send_finished(self, _task: asyncio.Task[Any]) -> None:
        # Success and failure both end here; on failure the text stays, so no reply is lost.
        self._sending = None
        self._update_counter()

    def _on_queued(self, post_id: int, _item_id: int) -> None:
        self._drafts.pop(post_id, None)
        if post_id == self._shown_id:
            self.composer.clear()

    def focus_composer(self) -> None:
        """Put the cursor in the reply box (r)."""
        if self._conv is not None:
            self.composer.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- status actions -------------------------------------------------------------------------

    def mark_done(self) -> None:
        """Done (or reopen a done, ignored or snoozed post)."""
        if self._conv is None:
            return
        post = self._conv.post
        if post.status in ("done", "ignored", "snoozed"):
            self.vm.set_status([post.id], "open")
        else:
            self.vm.set_status([post.id], "done")
            self.settled.emit(post.id)

    def snooze(self, choice: str) -> None:
        """Snooze the shown post ("1h", "4h", "tomorrow")."""
        if self._conv is not None:
            self.vm.snooze([self._conv.post.id], choice)
            self.settled.emit(self._conv.post.id)

    def ignore(self) -> None:
        """Mark the shown post as needing no answer."""
        if self._conv is not None:
            self.vm.set_status([self._conv.post.id], "ignored")
            self.settled.emit(self._conv.post.id)

    # -- triage corrections -----------------------------------------------------------------------

    def open_triage_menu(self) -> QMenu | None:
        """Show the verdicts for the shown post below the button (a popup: no nested event loop)."""
        if self._conv is None:
            return None
        for choice in self._conv.correction_choices:
            action = self.correction_actions[choice.verdict]
            action.setChecked(choice.checked)
            action.setEnabled(choice.enabled)
        self.undo_correction_action.setEnabled(self._conv.correction is not None)
        self.triage_menu.popup(self.triage_button.mapToGlobal(QPoint(0, self.triage_button.height())))
        return self.triage_menu

    def correct(self, verdict: str) -> None:
        """Give the operator's verdict on the shown post ("urgent", "not_urgent", "not_negative")."""
        if self._conv is not None and not self._conv.post.is_own:
            self.vm.correct(self._conv.post.id, verdict)

    def undo_correction(self) -> None:
        """Withdraw the shown post's correction."""
        if self._conv is not None and self._conv.correction is not None:
            self.vm.undo_correction(self._conv.post.id)

    def restyle(self) -> None:
        """Repaint after a theme change."""
        if self._conv is not None:
            self._fill_thread(self._conv, keep_scroll=True)
        self._update_counter()


def _clear_layout(layout: QLayout) -> None:
    """Remove everything from ``layout``, deleting its widgets (nested layouts included)."""
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        if widget is not None:
            widget.deleteLater()
        sub = item.layout()
        if sub is not None:
            _clear_layout(sub)
