"""The conversation pane's view-model: the thread of the selected post, its author, and reply counting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from services.changes import Changes
from services.core import Parley
from services.corrections import NOT_NEGATIVE, NOT_URGENT, URGENT, verdict_words
from services.errors import NotFound
from services.outbox import OutboxRow
from services.store.corrections import CorrectionRow
from services.store.posts import PostRow
from services.triage import VERDICT_REASON
from views.formatting import clock_time
from views.tasks import TaskRunner

#: Outbox states shown in the thread as "our reply, not on the network yet".
UNSENT = ("queued", "sending", "unknown", "failed", "needs_review")


def _plain_length(text: str) -> int:
    return len(text)


@dataclass(frozen=True, slots=True)
class CorrectionChoice:
    """One way an operator can correct a post's triage, as a menu shows it."""

    verdict: str
    label: str
    checked: bool  # the post's active verdict
    enabled: bool


#: The verdicts an operator can give, in menu order.
CORRECTION_LABELS = ((URGENT, "Mark urgent"), (NOT_URGENT, "Mark not urgent"), (NOT_NEGATIVE, "Mark not negative"))


def correction_choices(post: PostRow, active: CorrectionRow | None = None) -> tuple[CorrectionChoice, ...]:
    """The verdicts offered for ``post``: none for our own replies, the active one checked and not offered again."""
    current = active.verdict if active is not None and active.active else None
    return tuple(
        CorrectionChoice(verdict, label, verdict == current, not post.is_own and verdict != current)
        for verdict, label in CORRECTION_LABELS
    )


def can_undo_correction(post: PostRow) -> bool:
    """Whether the post carries an operator's verdict that can be withdrawn."""
    return any(r.code == VERDICT_REASON for r in post.reasons)


def correction_summary(active: CorrectionRow | None) -> str:
    """What the pane says about an active correction: who, when, and what triage had said."""
    if active is None or not active.active:
        return ""
    who = f" by {active.operator}" if active.operator else ""
    said = "urgent" if active.before_urgent else ("negative, not urgent" if active.before_negative else "not negative")
    return (
        f"Marked {verdict_words(active.verdict)}{who} at {clock_time(active.created_at)}; "
        f"triage had said {said} ({round(active.before_urgency * 100)}% urgency)"
    )


@dataclass(frozen=True, slots=True)
class Conversation:
    """Everything the pane shows for one selected post."""

    post: PostRow
    thread: tuple[PostRow, ...]  # oldest first, the selected post and our sent replies included
    history: tuple[PostRow, ...]  # the author's posts outside this thread, newest first
    unsent: tuple[OutboxRow, ...]  # our replies in this conversation that are not on the network yet
    limit: int
    count_fn: Callable[[str], int] = field(default=_plain_length, compare=False)
    account_label: str = ""
    correction: CorrectionRow | None = None  # the operator's active verdict on the post, if any

    @property
    def correction_choices(self) -> tuple[CorrectionChoice, ...]:
        """The verdicts the pane offers for this post."""
        return correction_choices(self.post, self.correction)


class ConversationViewModel(QObject):
    """Loads the conversation of a post (newest selection wins) and counts replies like the network."""

    loaded = Signal(object)  # Conversation
    cleared = Signal()

    def __init__(self, core: Parley, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._core = core
        self.runner = TaskRunner(self)
        self._current: Conversation | None = None
        self._post_id: int | None = None
        self._account_labels: dict[int, str] = {}

    @property
    def post_id(self) -> int | None:
        """The selected post (it may still be loading)."""
        return self._post_id

    @property
    def current(self) -> Conversation | None:
        """The loaded conversation, if any."""
        return self._current

    def set_account_labels(self, labels: dict[int, str]) -> None:
        """How accounts are named in the pane's header."""
        self._account_labels = dict(labels)

    def load(self, post_id: int) -> None:
        """Show the conversation of ``post_id``; a later call cancels an unfinished earlier one."""
        self._post_id = post_id
        self.runner.spawn(self._load(post_id), name="load", on_done=self._show, latest_wins=True)

    def reload(self) -> None:
        """Load the current post again (its thread or outbox changed)."""
        if self._post_id is not None:
            self.load(self._post_id)

    def clear(self) -> None:
        """Show nothing (the selection is gone)."""
        self.runner.cancel("load")
        self._post_id = None
        self._current = None
        self.cleared.emit()

    async def _load(self, post_id: int) -> Conversation | None:
        # Yield first: j/k held down schedules many loads, and only the last one should touch the DB.
        await asyncio.sleep(0)
        return self.read(post_id)

    def read(self, post_id: int) -> Conversation | None:
        """Read one conversation (fast indexed queries; safe on the Qt thread)."""
        core = self._core
        rows = core.rows_by_id([post_id])
        if not rows:
            return None
        post = rows[0]
        thread = core.conversation(post_id) or [post]
        ids = {r.id for r in thread}
        history = [r for r in core.author_history(post_id) if r.id not in ids]
        unsent = [
            o
            for o in core.outbox_rows(UNSENT)
            if o.account_id == post.account_id and o.conversation_key == post.conversation_key
        ]
        unsent.sort(key=lambda o: o.id)
        try:
            limit, count_fn = core.char_limit(post_id)
        except NotFound:
            return None
        active = core.corrections(post_id=post_id) if can_undo_correction(post) else []
        return Conversation(
            post=post,
            thread=tuple(thread),
            history=tuple(history),
            unsent=tuple(unsent),
            limit=limit,
            count_fn=count_fn,
            account_label=self._account_labels.get(post.account_id, post.account_handle),
            correction=active[0] if active else None,
        )

    def _show(self, conv: Conversation | None) -> None:
        if conv is None:
            self._current = None
            self._post_id = None
            self.cleared.emit()
            return
        if conv.post.id != self._post_id:
            return  # a newer selection is on its way
        self._current = conv
        self.loaded.emit(conv)

    def count(self, text: str) -> tuple[int, int]:
        """How long ``text`` is as the account's network counts it, and the account's limit."""
        conv = self._current
        if conv is None:
            return len(text.strip()), 0
        return conv.count_fn(text.strip()), conv.limit

    def apply_changes(self, changes: Changes) -> None:
        """Reload when the change can touch the shown conversation."""
        conv = self._current
        if conv is None or self._post_id is None:
            return
        thread_ids = {r.id for r in conv.thread}
        if changes.new_posts or changes.outbox or (set(changes.updated_posts) & thread_ids):
            self.reload()
