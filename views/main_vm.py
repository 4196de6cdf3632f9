"""The main window's view-model: the sync loop, the reply queue, and every action an operator takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

from services.changes import Changes
from services.core import AccountRow, Parley
from services.corrections import verdict_words
from services.errors import InvalidInput, ParleyError, Rejected
from services.networks import demo
from services.outbox import AccountPause, DrainReport, OutboxRow
from services.store.corrections import Outcome
from services.store.posts import TimelineFilter
from services.store.types import utcnow
from services.sync import AccountProblem, SyncReport
from views.accounts_vm import AccountsViewModel
from views.conversation_vm import ConversationViewModel
from views.formatting import plural, snooze_until
from views.outbox_model import OutboxModel
from views.sidebar_model import AccountInfo, SidebarModel
from views.tasks import TaskRunner
from views.timeline_model import TimelineModel

log = logging.getLogger(__name__)

#: Conditions shown as a banner (everything else known goes to the status bar); "server_failing" comes
#: from the outbox only: a server that answers sends with 5xx (or not at all) while this machine is online.
BANNER_KINDS = ("offline", "signed_out", "rate_limited")
#: While offline, look again at least this often (seconds), whatever the sync interval.
OFFLINE_RECHECK = 15.0


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account as the status bar shows it."""

    id: int
    label: str
    handle: str
    last_sync: datetime | None
    error: str | None
    error_kind: str | None


@dataclass(frozen=True, slots=True)
class SignedOut:
    """An account whose credentials the network refused: it needs a sign-in from the user."""

    account_id: int  # 0 when the refusal was not tied to one account
    handle: str
    network: str
    reason: str


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What the status bar shows."""

    online: bool
    syncing: bool
    accounts: tuple[AccountStatus, ...]
    queued: int
    next_due: datetime | None = None

    @property
    def last_sync(self) -> datetime | None:
        """The latest successful sync of any account."""
        times = [a.last_sync for a in self.accounts if a.last_sync is not None]
        return max(times) if times else None


class MainViewModel(QObject):
    """Owns the core, the models and one TaskRunner; turns service results into Qt signals.

    Known conditions (``ParleyError``) become a banner or a status-bar notice; anything else is a
    bug and goes to ``unexpected`` (the app's one error handler).
    """

    changed = Signal(object)  # Changes
    online_changed = Signal(bool)
    banner = Signal(str, str)  # kind, message
    banner_cleared = Signal()
    status = Signal(object)  # StatusInfo
    notice = Signal(str)  # a short message for the status bar
    unexpected = Signal(str, object)  # where, exception
    accounts_changed = Signal()
    settings_changed = Signal(object)  # dict of every setting
    sync_started = Signal()
    sync_finished = Signal(object)  # SyncReport, or None when the pass failed
    reply_queued = Signal(int, int)  # post id, outbox item id
    demo_offline_changed = Signal(bool)

    def __init__(self, core: Parley, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._on_failed)
        self.timeline = TimelineModel(core, self)
        self.sidebar = SidebarModel(self)
        self.outbox = OutboxModel(self)
        self.conversation = ConversationViewModel(core, self)
        self.conversation.runner.failed.connect(self._on_failed)
        self.accounts_vm = AccountsViewModel(core, self)
        self.accounts_vm.account_added.connect(self._signed_in)
        self.accounts_vm.unexpected.connect(self.unexpected)
        self.sync_finished.connect(lambda _report: self.accounts_vm.refresh_if_watched())
        self._online = True
        self._syncing = False
        self._syncs_done = 0
        self._wake = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        self._accounts: list[AccountRow] = []
        self._scope = TimelineFilter()
        self._search = ""
        self._urgent_only = False
        self._banner: tuple[str, str] | None = None
        self._problems: tuple[AccountProblem, ...] = ()
        self._paused: tuple[AccountPause, ...] = ()  # accounts whose sending waits out an outage
        self._labelled: set[int] = set()  # posts whose outbox label is known
        self._corrected: list[int] = []  # posts corrected in this session, newest last (what undo takes back)
        self._started = False

    # -- state ----------------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether the last contact with the networks worked."""
        return self._online

    @property
    def syncing(self) -> bool:
        """Whether a sync pass is running."""
        return self._syncing

    @property
    def syncs_done(self) -> int:
        """How many sync passes have finished (the screenshot waits for the first)."""
        return self._syncs_done

    @property
    def accounts(self) -> list[AccountRow]:
        """The accounts, as last read."""
        return list(self._accounts)

    @property
    def has_accounts(self) -> bool:
        """Whether there is any account (else the welcome page shows)."""
        return bool(self._accounts)

    @property
    def has_demo(self) -> bool:
        """Whether a demo account exists (the toolbar then offers the demo network switch)."""
        return any(a.network == demo.NETWORK for a in self._accounts)

    @property
    def demo_offline(self) -> bool:
        """Whether the demo network is switched off."""
        return self.has_demo and self.core.networks.demo_world.offline

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting."""
        return self.core.settings

    @property
    def current_banner(self) -> tuple[str, str] | None:
        """The banner shown now (kind, message), if any."""
        return self._banner

    @property
    def operator(self) -> str:
        """The operator's name ("Mine" shows posts assigned to it)."""
        return str(self.core.settings.get("operator") or "")

    # -- loading --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read what the database holds now (fast; before the first sync, so the window has content)."""
        self._read_accounts()
        self.timeline.set_filter(self._effective_filter())
        self._refresh_outbox()
        self._refresh_counts()
        self._emit_status()
        self._update_banner()  # an account signed out in an earlier session says so at once

    def _read_accounts(self) -> None:
        self._accounts = self.core.accounts()
        labels = {a.id: a.label for a in self._accounts}
        self.timeline.set_account_labels(labels)
        self.conversation.set_account_labels(labels)
        self.sidebar.set_accounts(
            [AccountInfo(a.id, a.network, a.handle, a.display_name, a.label) for a in self._accounts],
            self.operator,
        )
        self.accounts_changed.emit()

    def _refresh_counts(self) -> None:
        self.sidebar.set_counts(self.core.counts(self.operator))

    def _refresh_outbox(self) -> dict[int, int]:
        """Reload the outbox table; returns the post id of each item."""
        rows = self.core.outbox_rows()
        missing = {r.post_id for r in rows} - self._labelled
        labels: dict[int, str] = {}
        if missing:
            for p in self.core.rows_by_id(missing):
                excerpt = " ".join(p.text.split())
                labels[p.id] = f"{p.author_name or p.author_handle}: {excerpt[:60]}"
            self._labelled |= set(labels)
        self.outbox.set_rows(rows, labels)
        return {r.id: r.post_id for r in rows}

    def _emit_status(self) -> None:
        accounts = tuple(  # an imported archive is never synced: "never" would read as a fault
            AccountStatus(a.id, a.label, a.handle, a.last_sync_at, a.last_error, a.last_error_kind)
            for a in self._accounts
            if not a.archive
        )
        pending = [o for o in self.outbox.items() if o.state in ("queued", "sending", "unknown")]
        due = min((o.next_attempt_at for o in pending if o.next_attempt_at), default=None)
        queued = self.core.pending_replies()  # the table shows the newest 500; the count covers all
        self.status.emit(StatusInfo(self._online, self._syncing, accounts, queued, due))

    # -- filters --------------------------------------------------------------------------------

    def _effective_filter(self) -> TimelineFilter:
        f = self._scope
        view = "urgent" if self._urgent_only else f.view
        return TimelineFilter(
            view=view, network=f.network, account_id=f.account_id, search=self._search, operator=self.operator
        )

    @property
    def urgent_only(self) -> bool:
        """Whether the timeline shows urgent posts only."""
        return self._urgent_only

    def set_scope(self, flt: TimelineFilter) -> None:
        """Show a sidebar entry's posts (search and "urgent only" still apply)."""
        self._scope = flt
        self._apply_filter()

    def set_search(self, text: str) -> None:
        """Search the posts' text (every word, the last one as a prefix)."""
        if text.strip() != self._search:
            self._search = text.strip()
            self._apply_filter()

    def set_urgent_only(self, on: bool) -> None:
        """Show only urgent posts of the selected scope."""
        if on != self._urgent_only:
            self._urgent_only = on
            self._apply_filter()

    def _apply_filter(self) -> None:
        flt = self._effective_filter()
        if flt != self.timeline.filter:
            self.timeline.set_filter(flt)

    # -- applying changes -----------------------------------------------------------------------

    def publish(self, changes: Changes) -> None:
        """Hand a change to every model, then tell the widgets."""
        if not changes:
            return
        if changes.outbox:
            post_of = self._refresh_outbox()
            posts = {post_of[i] for i in changes.outbox if i in post_of}
            changes = changes | Changes(updated_posts=frozenset(posts))
        if changes.accounts:
            self._read_accounts()
            self._start_streams()
        self.timeline.apply_changes(changes)
        self.conversation.apply_changes(changes)
        if changes.new_posts or changes.updated_posts:
            self._refresh_counts()
        if changes.outbox and self._banner is not None and self._banner[0] == "offline":
            self._update_banner()  # "3 replies are queued" must follow edits, cancels and sends
        self.changed.emit(changes)
        self._emit_status()

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self.online_changed.emit(online)

    def _show_banner(self, kind: str, message: str) -> None:
        if self._banner != (kind, message):
            self._banner = (kind, message)
            self.banner.emit(kind, message)

    def _clear_banner(self) -> None:
        if self._banner is not None:
            self._banner = None
            self.banner_cleared.emit()

    def _update_banner(self) -> None:
        """One banner for the most pressing known condition, in plain words."""
        kinds = {p.kind: p for p in self._problems}
        stop = self._paused[0].kind if self._paused else None
        if "offline" in kinds or stop == "offline" or not self._online:
            n = self.core.pending_replies()
            if n:
                queued = f"{plural(n, 'reply', 'replies')} {'is' if n == 1 else 'are'} queued"
                self._show_banner("offline", f"You are offline. {queued} and will be sent when the connection returns.")
            else:
                self._show_banner(
                    "offline", "You are offline. New mentions will arrive and replies will be sent when it returns."
                )
        elif signed_out := self.signed_out_accounts():
            first, others = signed_out[0], len(signed_out) - 1
            if others:
                who = f"{first.handle} and {plural(others, 'other account')} are signed out."
                rest = "their replies wait"
            else:
                who, rest = f"{first.handle} is signed out.", "its replies wait"
            self._show_banner("signed_out", f"{who} Sign in again to resume syncing; {rest} in the outbox meanwhile.")
        elif "rate_limited" in kinds or stop == "rate_limited":
            p2 = kinds.get("rate_limited")
            why = p2.message if p2 else self._paused[0].text  # the sync's, else the drain's
            self._show_banner("rate_limited", f"{why.rstrip('.')}. Parley waits and carries on by itself.")
        elif failing := next((p for p in self._paused if p.kind == "unknown"), None):
            self._show_banner("server_failing", _failing_words(failing))
        elif self._problems:
            p3 = self._problems[0]
            self._show_banner("error", f"{p3.handle}: {p3.message}")
        else:
            self._clear_banner()

    def signed_out_accounts(self) -> list[SignedOut]:
        """Accounts whose credentials were refused (by the last sync, a live stream, or in an earlier session)."""
        networks = {a.id: a.network for a in self._accounts}
        out: dict[int, SignedOut] = {}
        for p in self._problems:
            if p.kind == "signed_out":
                out[p.account_id] = SignedOut(p.account_id, p.handle, networks.get(p.account_id, ""), p.message)
        for pause in self._paused:  # a send refused the sign-in: its replies wait for a new one
            if pause.kind == "signed_out" and pause.account_id not in out:
                out[pause.account_id] = SignedOut(
                    pause.account_id, pause.handle, networks.get(pause.account_id, ""), pause.message
                )
        for a in self._accounts:
            if a.needs_sign_in and a.id not in out:
                out[a.id] = SignedOut(a.id, a.handle, a.network, a.last_error or "")
        return list(out.values())

    # -- the sync loop --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sync loop and live streams (after the window is shown: the first sync loads triage)."""
        self._started = True
        if not self.runner.running("sync-loop"):
            self.runner.spawn(self._sync_loop(), name="sync-loop")
        self._start_streams()

    def _start_streams(self) -> None:
        """Follow every account that can stream live; polling stays on beside it as the safety net."""
        if not self._started:
            return
        for a in self._accounts:
            name = f"stream:{a.id}"
            if a.network != demo.NETWORK and not a.archive and not self.runner.running(name):
                self.runner.spawn(self._stream(a.id), name=name)

    async def _stream(self, account_id: int) -> None:
        try:
            await self.core.stream_account(account_id, on_new=self.publish)
        except (InvalidInput, Rejected) as exc:  # no stream for this account: the sync loop polls it
            log.info("account %s is polled, not streamed: %s", account_id, exc)

    def sync_now(self) -> None:
        """Sync at once (and send what is due)."""
        if self.runner.running("sync-loop"):
            self._wake.set()
        else:
            self.runner.spawn(self._sync_pass(), name="sync")

    async def _sync_loop(self) -> None:
        while True:
            # Cleared before the pass, not before the sleep: a "sync now" asked for during a pass
            # (new accounts, going online) must start another pass, not be lost.
            self._wake.clear()
            try:
                next_due = await self._sync_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one pass must not stop syncing for good
                self.unexpected.emit("sync", exc)
                next_due = None
            await self._sleep(next_due)

    async def _sleep(self, next_due: datetime | None) -> None:
        interval = float(self.core.settings.get("sync_interval", 60))
        if not self._online:
            interval = min(interval, OFFLINE_RECHECK)
        if next_due is not None:
            interval = min(interval, max(1.0, (next_due - utcnow()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=interval)

    async def _sync_pass(self) -> datetime | None:
        """Fetch new mentions, then send what is due; returns when the next reply is due."""
        self._syncing = True
        self.sync_started.emit()
        self._emit_status()
        report: SyncReport | None = None
        if not self._accounts and self.core.has_accounts():
            # Accounts added from the command line while the welcome page shows.
            self.publish(Changes(accounts=frozenset(a.id for a in self.core.accounts())))
        try:
            report = await self.core.sync_once()
            self._problems = report.problems
            offline = any(p.kind == "offline" for p in report.problems)
            changes = report.changes
            drain: DrainReport | None = None
            if not offline:
                drain = await self._drain()
                changes = changes | Changes(outbox=frozenset(drain.changed))
            self._set_online(not offline and not (drain and drain.offline))
            self._syncing = False
            self._syncs_done += 1
            self.publish(changes)
            self._update_banner()
            return drain.next_due if drain else None
        except ParleyError as exc:
            self._problems = (AccountProblem(0, "Parley", exc.kind, str(exc)),)
            if exc.kind == "offline":
                self._set_online(False)
            self._update_banner()
            return None
        finally:
            self._syncing = False
            self.sync_finished.emit(report)
            self._emit_status()

    async def _drain(self) -> DrainReport:
        """Send what is due once (one drain at a time in this process)."""
        async with self._drain_lock:
            report = await self.core.drain_outbox()
        self._paused = report.paused  # most pressing first: its kind picks the banner
        self.outbox.set_paused(report.paused)
        return report

    async def _drain_and_publish(self) -> None:
        report = await self._drain()
        self._set_online(not report.offline)
        self.publish(Changes(outbox=frozenset(report.changed)))
        self._update_banner()
        if report.sent:
            self.notice.emit(f"{plural(len(report.sent), 'reply', 'replies')} sent.")

    # -- actions --------------------------------------------------------------------------------

    def _spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, on_done: Callable[[Any], object] | None = None
    ) -> asyncio.Task[Any]:
        return self.runner.spawn(coro, name=name, on_done=on_done)

    def queue_reply(self, post_id: int, text: str) -> asyncio.Task[Any]:
        """Queue a reply (stored before any send), then send it at once when online; returns the task."""
        return self._spawn(self._queue_reply(post_id, text), "queue-reply")

    async def _queue_reply(self, post_id: int, text: str) -> None:
        row = await self.core.queue_reply(post_id, text)
        self.publish(Changes(outbox=frozenset({row.id}), updated_posts=frozenset({post_id})))
        self.reply_queued.emit(post_id, row.id)
        if self._online:
            await self._drain_and_publish()
        else:
            self.notice.emit("Reply queued; it will be sent when the connection returns.")
        self._update_banner()

    def set_status(self, ids: list[int], status: str, until: datetime | None = None) -> None:
        """Mark posts done, ignored, snoozed (until a time), open or new."""
        self._spawn(self._set_status(list(ids), status, until), "set-status")

    def snooze(self, ids: list[int], choice: str) -> None:
        """Snooze posts for "1h", "4h" or until "tomorrow" morning."""
        self.set_status(ids, "snoozed", snooze_until(choice))

    async def _set_status(self, ids: list[int], status: str, until: datetime | None) -> None:
        changes = await self.core.db.run(self.core.set_status, ids, status, until)
        self.publish(changes)

    def correct(self, post_id: int, verdict: str) -> asyncio.Task[Any]:
        """Give the operator's verdict on a post ("urgent", "not_urgent", "not_negative"); returns the task.

        The post changes at once, and so do the open posts like it; undo takes it back.
        """
        return self._spawn(self._correct(post_id, verdict), "correct")

    async def _correct(self, post_id: int, verdict: str) -> None:
        outcome = await self.core.db.run(self.core.correct, post_id, verdict)
        self._corrected = [p for p in self._corrected if p != post_id] + [post_id]
        self.publish(outcome.changes)
        self.notice.emit(f"Post {post_id} marked {verdict_words(outcome.correction.verdict)}{_similar(outcome)}.")

    @property
    def last_corrected(self) -> int | None:
        """The post whose correction undo would withdraw (the newest one made in this session)."""
        return self._corrected[-1] if self._corrected else None

    def undo_correction(self, post_id: int | None = None) -> asyncio.Task[Any] | None:
        """Withdraw a post's correction (by default the newest one made in this session); None when there is none."""
        target = post_id if post_id is not None else self.last_corrected
        if target is None:
            self.notice.emit("No correction to undo.")
            return None
        return self._spawn(self._undo_correction(target), "undo-correction")

    async def _undo_correction(self, post_id: int) -> None:
        if post_id in self._corrected:
            self._corrected.remove(post_id)
        outcome = await self.core.db.run(self.core.undo_correction, post_id)
        self.publish(outcome.changes)
        self.notice.emit(f"Correction of post {post_id} withdrawn{_similar(outcome)}.")

    def retry(self, item_id: int) -> None:
        """Put a failed or held reply back in the queue."""
        self._outbox_action(self.core.outbox.retry, item_id, "Reply queued again.")

    def send_anyway(self, item_id: int) -> None:
        """Send a held reply without checking the conversation again."""
        call = self._outbox_call(lambda: self.core.outbox.retry(item_id, send_anyway=True), "Sending anyway.")
        self._spawn(call, "outbox")

    def edit(self, item_id: int, text: str) -> None:
        """Change the text of a reply that is not on the network."""
        self._spawn(self._edit(item_id, text), "outbox")

    async def _edit(self, item_id: int, text: str) -> None:
        # Through the core, not the outbox alone: new @handles are looked up as for a new reply.
        await self._outbox_done(await self.core.edit_reply(item_id, text), "Reply changed.")

    def cancel(self, item_id: int) -> None:
        """Cancel a reply that is not on the network."""
        self._outbox_action(self.core.outbox.cancel, item_id, "Reply cancelled.")

    def _outbox_action(self, fn: Callable[[int], object], item_id: int, done: str) -> None:
        self._spawn(self._outbox_call(lambda: fn(item_id), done), "outbox")

    async def _outbox_call(self, fn: Callable[[], Any], done: str) -> None:
        await self._outbox_done(await self.core.db.run(fn), done)

    async def _outbox_done(self, row: OutboxRow, done: str) -> None:
        """Show an outbox action's result, and send at once what it queued when online."""
        self.publish(Changes(outbox=frozenset({row.id})))
        self.notice.emit(done)
        if self._online and row.state in ("queued", "unknown"):
            await self._drain_and_publish()

    def set_demo_offline(self, offline: bool) -> None:
        """Switch the demo network off (to watch the queue hold replies) or back on."""
        self._spawn(self._set_demo_offline(offline), "demo-switch")

    async def _set_demo_offline(self, offline: bool) -> None:
        world = self.core.networks.demo_world
        await self.core.db.run(world.set_offline, offline)
        self.demo_offline_changed.emit(offline)
        self._set_online(not offline)
        self._problems = ()
        self._update_banner()
        self._emit_status()
        if not offline:
            self.sync_now()

    def add_demo_accounts(self) -> None:
        """Add the demo accounts (the welcome page's button), then sync them."""
        self._spawn(self._add_demo(), "add-demo")

    def account_added(self, account_id: int) -> None:
        """A sign-in added (or renewed) an account: show it, drop its old sign-in problem, and sync it now."""
        self._problems = tuple(p for p in self._problems if p.account_id != account_id)
        self.publish(Changes(accounts=frozenset({account_id})))
        self._update_banner()
        self.sync_now()

    def _signed_in(self, row: AccountRow) -> None:
        self.notice.emit(f"Signed in as {row.handle}. Fetching its mentions…")
        self.account_added(row.id)

    async def _add_demo(self) -> None:
        ids = await self.core.db.run(self.core.add_demo_accounts)
        self.publish(Changes(accounts=frozenset(ids)))
        self.sync_now()

    def save_settings(self, values: Mapping[str, Any]) -> None:
        """Validate and store settings (the settings dialog's OK)."""
        self._spawn(self._save_settings(dict(values)), "settings")

    async def _save_settings(self, values: dict[str, Any]) -> None:
        before = self.core.settings
        for key, value in values.items():
            if before.get(key) != value:
                await self.core.db.run(self.core.save_setting, key, value)
        after = self.core.settings
        if after.get("operator") != before.get("operator"):
            self._read_accounts()
            self._apply_filter()
            self._refresh_counts()
        if after.get("sync_interval") != before.get("sync_interval"):
            self._wake.set()
        self.settings_changed.emit(after)
        self.changed.emit(Changes(settings=True))

    def char_limit(self, post_id: int) -> tuple[int, Callable[[str], int]]:
        """The reply limit and counting rule for answering ``post_id``."""
        return self.core.char_limit(post_id)

    # -- errors and shutdown --------------------------------------------------------------------

    def _on_failed(self, name: str, exc: object) -> None:
        if isinstance(exc, ParleyError):
            log.info("%s: %s (%s)", name, exc, exc.kind)
            if exc.kind == "offline":
                self._set_online(False)
                self._update_banner()
            elif exc.kind == "signed_out" and self._refused(name):
                self._update_banner()  # the account's own "sign in again" banner, with its action
            elif exc.kind in BANNER_KINDS:
                self._show_banner(exc.kind, str(exc))
            elif exc.kind == "storage":  # the database cannot be written: nothing else matters as much
                self._show_banner("error", str(exc))
            else:
                self.notice.emit(str(exc))
            return
        self.unexpected.emit(name, exc)

    def _refused(self, name: str) -> bool:
        """A live stream was refused: its account records it; read it so the banner can name the account."""
        if name.startswith("stream:"):
            self._read_accounts()
        return bool(self.signed_out_accounts())

    async def aclose(self) -> None:
        """Stop the sync loop and every task."""
        await self.accounts_vm.aclose()
        await self.conversation.runner.aclose()
        await self.runner.aclose()


def _failing_words(pause: AccountPause) -> str:
    """A server that keeps failing sends, in plain words: which one, how, and that nothing is lost."""
    where = pause.server or pause.handle
    how = f"is failing (HTTP {pause.status})" if pause.server_failing else "is not answering"
    return f"{where} {how}; replies wait and are retried by themselves."


def _similar(outcome: Outcome) -> str:
    """How many similar open posts were scored again, as the end of a notice (nothing when none were)."""
    n = len(outcome.similar)
    return f"; {plural(n, 'similar open post')} scored again" if n else ""
