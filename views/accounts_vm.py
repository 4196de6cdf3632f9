"""Accounts: the health model, and the Mastodon and Bluesky sign-in flows the dialogs drive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal

from services.core import AccountRow, Parley
from services.errors import ParleyError
from services.health import AccountHealth, words
from services.networks import demo
from views.formatting import ago, plural
from views.rows import AnyIndex, row_flags
from views.sidebar_model import NETWORK_NAMES
from views.tasks import TaskRunner

if TYPE_CHECKING:  # the connectors (and httpx) load when an account needs them, not with the first window
    from services.mastodon_auth import MastodonSignIn

log = logging.getLogger(__name__)


#: How bad a line is; ``unknown`` is "nothing to judge yet" and never raises the account's state.
STATES = ("ok", "unknown", "warning", "error")
_RANK = {"ok": 0, "unknown": 0, "warning": 1, "error": 2}
#: Error kinds that clear up by themselves (the network comes back, the budget refills).
PASSING_KINDS = frozenset({"offline", "rate_limited", "unknown"})
#: A session that ends sooner than this is worth a warning.
SESSION_WARNING = timedelta(days=7)
#: Said inline when something that is not a known condition went wrong (the error report has the details).
BUG_TEXT = "Something went wrong inside Parley; the error report has the details. Try again."


# -- health, in plain words -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthLine:
    """One fact about an account: a label, the words, and how good or bad it is."""

    key: str  # sync | error | sign_in | rate | mentions | gaps
    label: str
    text: str
    state: str  # one of STATES


@dataclass(frozen=True, slots=True)
class HealthRow:
    """One account's health as the panel shows it (``AccountHealth`` plus where the account lives)."""

    health: AccountHealth
    server_url: str = ""

    @property
    def account_id(self) -> int:
        """The account's id."""
        return self.health.account_id

    @property
    def network_name(self) -> str:
        """The network as people call it."""
        return NETWORK_NAMES.get(self.health.network, self.health.network.capitalize())

    @property
    def can_sign_in(self) -> bool:
        """Whether Parley can sign this account in from a dialog."""
        from services.networks import bluesky, mastodon

        return not self.health.archive and self.health.network in (mastodon.NETWORK, bluesky.NETWORK)

    def lines(self, now: datetime | None = None) -> tuple[HealthLine, ...]:
        """Every fact, in the panel's order."""
        return health_lines(self.health, now or datetime.now(UTC))

    def state(self, now: datetime | None = None) -> str:
        """The worst state of its lines."""
        return worst(line.state for line in self.lines(now))

    def summary(self, now: datetime | None = None) -> str:
        """One or two words for the card's badge."""
        if self.health.needs_sign_in:
            return "Signed out"
        if self.health.archive:
            return "Imported archive"
        return {"error": "Failing", "warning": "Needs a look"}.get(self.state(now), "Healthy")


def worst(states: Iterable[str]) -> str:
    """The worst of some states ("ok" when there are none)."""
    out = "ok"
    for s in states:
        if _RANK.get(s, 0) > _RANK[out]:
            out = s
    return out


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."


def health_lines(h: AccountHealth, now: datetime) -> tuple[HealthLine, ...]:
    """An account's health as five lines of plain words, each with its state, and a sixth while gaps are open."""
    if h.archive:
        return _archive_lines(h, now)
    failing = h.last_error is not None
    # Last successful sync.
    if h.last_sync_at is None:
        sync = HealthLine("sync", "Last sync", "Not synced yet", "warning" if failing else "unknown")
    elif failing:
        sync = HealthLine("sync", "Last sync", f"{_capital(ago(h.last_sync_at, now))}; later tries failed", "warning")
    else:
        sync = HealthLine("sync", "Last sync", _capital(ago(h.last_sync_at, now)), "ok")
    # Last error.
    if h.last_error:
        state = "warning" if h.last_error_kind in PASSING_KINDS else "error"
        error = HealthLine("error", "Last error", _sentence(h.last_error), state)
    else:
        error = HealthLine("error", "Last error", "None", "ok")
    # Sign-in.
    if h.network == demo.NETWORK:
        sign_in = HealthLine("sign_in", "Sign-in", "Not needed on the demo network", "ok")
    elif h.needs_sign_in:
        why = h.session_note if h.network == "bluesky" and h.session_note else ""
        why = _sentence(why or "The server no longer accepts Parley's access.")
        if "sign in again" not in why.lower():
            why += " Sign in again to resume."
        sign_in = HealthLine("sign_in", "Sign-in", f"Signed out. {why}", "error")
    elif h.session_expires_at is not None and h.session_expires_at - now < SESSION_WARNING:
        sign_in = HealthLine("sign_in", "Sign-in", _sentence(h.session_note), "warning")
    else:
        sign_in = HealthLine("sign_in", "Sign-in", _sentence(h.session_note) or "Signed in", "ok")
    # Rate budget.
    if h.network == demo.NETWORK:
        rate = HealthLine("rate", "Rate limit", "None on the demo network", "ok")
    elif h.rate_limit is None or h.rate_remaining is None:
        rate = HealthLine("rate", "Rate limit", "Not known until Parley next talks to the server", "unknown")
    else:
        text = f"{h.rate_remaining:,} of {plural(h.rate_limit, 'request')} left"
        if h.rate_reset_at is not None:
            text += f"; the budget refills in {words(max(timedelta(0), h.rate_reset_at - now))}"
        low = h.rate_remaining < max(1, h.rate_limit // 10)
        state = "error" if h.rate_remaining == 0 else ("warning" if low else "ok")
        rate = HealthLine("rate", "Rate limit", text, state)
    # Mentions and unusual silence.
    if h.silent_alarm:
        mentions = HealthLine("mentions", "Mentions", _sentence(h.silent_alarm), "warning")
    elif h.last_mention_at is not None:
        text = f"Last one {ago(h.last_mention_at, now)}"
        if h.typical_gap is not None:
            text += f"; usually every {words(h.typical_gap)}"
        mentions = HealthLine("mentions", "Mentions", text, "ok")
    else:
        mentions = HealthLine("mentions", "Mentions", "None yet", "unknown")
    if not h.gaps:
        return (sync, error, sign_in, rate, mentions)
    # A first sync still reading history is expected, not a problem; a gap is worth a look until filled.
    state = "unknown" if all(g.kind == "history" for g in h.gaps) else "warning"
    gaps = HealthLine("gaps", "Coverage", h.gap_note or "", state)
    return (sync, error, sign_in, rate, mentions, gaps)


def _archive_lines(h: AccountHealth, now: datetime) -> tuple[HealthLine, ...]:
    """An imported archive's lines: nothing is fetched or sent, so there is nothing to fail or to sign in to."""
    last = f"; the newest {ago(h.last_mention_at, now)}" if h.last_mention_at is not None else ""
    return (
        HealthLine("sync", "Last sync", "Never: its posts were imported, and nothing is fetched", "ok"),
        HealthLine("error", "Last error", "None", "ok"),
        HealthLine("sign_in", "Sign-in", _sentence(h.session_note) or "Not needed", "ok"),
        HealthLine("rate", "Rate limit", "None: Parley never talks to a server for it", "ok"),
        HealthLine("mentions", "Mentions", f"Imported from an archive{last}", "ok"),
    )


class HealthRole(IntEnum):
    """Data roles of the health model."""

    Row = Qt.ItemDataRole.UserRole + 1  # HealthRow
    State = Qt.ItemDataRole.UserRole + 2  # "ok" | "warning" | "error"
    NeedsSignIn = Qt.ItemDataRole.UserRole + 3
    AccountId = Qt.ItemDataRole.UserRole + 4
    Network = Qt.ItemDataRole.UserRole + 5
    Lines = Qt.ItemDataRole.UserRole + 6  # tuple[HealthLine, ...]
    Summary = Qt.ItemDataRole.UserRole + 7


class AccountHealthModel(QAbstractListModel):
    """One row per account; the words are made when asked, so "12 min ago" follows the clock (``tick``)."""

    def __init__(self, parent: QObject | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(parent)
        self._rows: list[HealthRow] = []
        self._clock = clock or (lambda: datetime.now(UTC))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or index.column() != 0:
            return None
        row = self._rows[index.row()]
        h = row.health
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return h.handle
        if role == Qt.ItemDataRole.ToolTipRole:
            return h.headline or "Everything is working."
        if role == HealthRole.Row:
            return row
        if role == HealthRole.State:
            return row.state(self._clock())
        if role == HealthRole.NeedsSignIn:
            return h.needs_sign_in
        if role == HealthRole.AccountId:
            return h.account_id
        if role == HealthRole.Network:
            return row.network_name
        if role == HealthRole.Lines:
            return row.lines(self._clock())
        if role == HealthRole.Summary:
            return row.summary(self._clock())
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return row_flags(index)

    # -- content --------------------------------------------------------------------------------

    def rows(self) -> list[HealthRow]:
        """Every row, in order."""
        return list(self._rows)

    def row_of(self, account_id: int) -> HealthRow | None:
        """The row of one account, if shown."""
        return next((r for r in self._rows if r.account_id == account_id), None)

    def set_rows(self, rows: Sequence[HealthRow]) -> None:
        """Show these rows: updated in place when the accounts are the same, else reset."""
        new = list(rows)
        if [r.account_id for r in new] == [r.account_id for r in self._rows]:
            changed = [i for i, (a, b) in enumerate(zip(self._rows, new, strict=True)) if a != b]
            self._rows = new
            if changed:
                self.dataChanged.emit(self.index(min(changed)), self.index(max(changed)))
            return
        self.beginResetModel()
        self._rows = new
        self.endResetModel()

    def tick(self) -> None:
        """The clock moved: ages ("12 min ago") and refill times are said again."""
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))


# -- sign-in flows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInTarget:
    """What a "sign in again" dialog is filled in with."""

    account_id: int
    network: str
    handle: str
    server_url: str


class _Flow(QObject):
    """A sign-in in progress: its phase, its tasks (one runner), and errors in plain words."""

    phase_changed = Signal(str)
    error = Signal(str)  # plain words, shown inline; "" clears
    signed_in = Signal(object)  # AccountRow
    unexpected = Signal(str, object)  # a bug: (task name, exception) for the app's one error handler

    def __init__(self, core: Parley, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._failed)
        self.runner.busy_changed.connect(self._busy_changed)
        self._phase = "idle"
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_error = ""

    @property
    def phase(self) -> str:
        """Where the sign-in is."""
        return self._phase

    def _set_phase(self, phase: str) -> None:
        if phase != self._phase:
            self._phase = phase
            self.phase_changed.emit(phase)

    def _say(self, text: str) -> None:
        self.last_error = text
        self.error.emit(text)

    def _spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, on_done: Callable[[Any], object] | None = None
    ) -> asyncio.Task[Any]:
        task = self.runner.spawn(coro, name=name, on_done=on_done)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _failed(self, name: str, exc: object) -> None:
        if isinstance(exc, ParleyError):
            log.info("sign-in step %s: %s (%s)", name, exc, exc.kind)
            text = str(exc)
        else:
            text = BUG_TEXT
            self.unexpected.emit(f"sign-in ({name})", exc)
        # The phase first: the form is usable again by the time the words (and the focus) land on it.
        self._after_failure(name)
        self._say(text)

    def _after_failure(self, name: str) -> None:
        self._set_phase("idle")

    def _finished(self, row: AccountRow) -> None:
        self._set_phase("done")
        self._say("")
        self.signed_in.emit(row)

    def _busy_changed(self, busy: bool) -> None:
        if self._closed and not busy:
            self.deleteLater()  # nothing of this sign-in is left running

    def close(self) -> None:
        """The dialog went away: stop, release what the sign-in holds (in the background), then go."""
        self._closed = True
        self._stop()
        if not self.runner.busy:
            self.deleteLater()

    def _stop(self) -> None:
        self.runner.cancel_all()

    async def aclose(self) -> None:
        """Stop and wait until everything is released."""
        self._closed = True
        self._stop()
        # Cancelled steps end at once; "close" steps (a listener, a client) are let finish.
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class MastodonSignInFlow(_Flow):
    """A browser sign-in to a Mastodon server, with a paste-the-code fallback.

    Phases: ``idle`` (the form), ``starting`` (registering Parley), ``waiting`` (the browser has the
    page; a pasted code also works), ``finishing`` (trading the code for a token), ``done``.
    """

    urls_ready = Signal(str, str)  # the address to open in the browser, the paste-the-code address
    listening_changed = Signal(bool)

    def __init__(self, core: Parley, parent: QObject | None = None) -> None:
        super().__init__(core, parent)
        self._sign_in: MastodonSignIn | None = None
        self._listening = False
        self._relisten = False
        self.authorize_url = ""
        self.oob_url = ""
        self.host = ""

    @property
    def listening(self) -> bool:
        """Whether Parley waits for the browser to come back (else only a pasted code finishes)."""
        return self._listening

    def _set_listening(self, on: bool) -> None:
        if on != self._listening:
            self._listening = on
            self.listening_changed.emit(on)

    def start(self, instance: str, force_login: bool = False) -> None:
        """Register Parley on the server (or reuse the registration) and hand out the page to open."""
        if self._phase in ("starting", "finishing", "done"):
            return
        self._release()
        self._say("")
        try:
            sign_in = self.core.mastodon_sign_in(instance, force_login=force_login)
        except ParleyError as exc:
            self._say(str(exc))
            return
        self._sign_in = sign_in
        self.host = sign_in.host
        self._set_phase("starting")
        self._spawn(sign_in.start(), "start", self._started)

    def _started(self, url: str) -> None:
        sign_in = self._sign_in
        if sign_in is None:  # cancelled just as the server answered
            return
        self.authorize_url, self.oob_url = url, sign_in.oob_url
        self._set_phase("waiting")
        self.urls_ready.emit(url, sign_in.oob_url)
        if sign_in.uses_loopback:
            self._listen()

    def _listen(self) -> None:
        assert self._sign_in is not None
        self._set_listening(True)
        self._spawn(self._wait(self._sign_in), "wait", self._finished)

    async def _wait(self, sign_in: MastodonSignIn) -> AccountRow:
        await sign_in.wait_for_callback()
        self._set_phase("finishing")
        return await sign_in.finish()

    def use_code(self, text: str) -> None:
        """Finish with a pasted code (or the whole address the browser showed)."""
        if self._sign_in is None or self._phase != "waiting":
            return
        if not text.strip():
            self._say("Paste the code the server showed first.")
            return
        self._relisten = self._listening and self.runner.running("wait")
        self.runner.cancel("wait")
        self._set_listening(False)
        self._say("")
        self._set_phase("finishing")
        self._spawn(self._sign_in.finish(text), "finish", self._finished)

    def _after_failure(self, name: str) -> None:
        if name == "start":
            self._release()
            self._set_phase("idle")
            return
        # The server's page (and the paste-the-code address) still work: the person can paste, or start again.
        self._set_phase("waiting")
        if name == "finish" and self._relisten and self._sign_in is not None:
            self._listen()
        elif name == "wait":
            self._set_listening(False)

    def _finished(self, row: AccountRow) -> None:
        self._set_listening(False)
        self._release()
        super()._finished(row)

    def cancel(self) -> None:
        """Give up this sign-in and go back to the form."""
        self._release()
        self._say("")
        self._set_phase("idle")

    def _release(self) -> None:
        """Stop the sign-in's steps and close its listener and connections (in the background)."""
        for name in ("start", "wait", "finish"):
            self.runner.cancel(name)
        self._set_listening(False)
        self.authorize_url = self.oob_url = ""
        sign_in, self._sign_in = self._sign_in, None
        if sign_in is not None:
            self._spawn(sign_in.aclose(), "close")

    def _stop(self) -> None:
        self._release()


class BlueskySignInFlow(_Flow):
    """A sign-in to a Bluesky PDS with an app password (used once; only the session is kept).

    Phases: ``idle`` (the form), ``signing_in``, ``done``.
    """

    def sign_in(self, pds: str, handle: str, password: str) -> None:
        """Sign in once and add the account."""
        if self._phase != "idle":
            return
        if not pds.strip():
            self._say("Give the server's address; for most people that is https://bsky.social.")
            return
        if not handle.strip().lstrip("@"):
            self._say("Give the account's handle, for example acme.bsky.social.")
            return
        if not password.strip():
            self._say("Enter an app password.")
            return
        self._say("")
        self._set_phase("signing_in")
        self._spawn(self.core.add_bluesky_account(pds, handle, password), "sign-in", self._finished)


# -- the view-model -------------------------------------------------------------------------------


class AccountsViewModel(QObject):
    """Account health (read off the Qt thread, refreshed while someone looks) and the sign-in flows."""

    refreshed = Signal()
    account_added = Signal(object)  # AccountRow: a sign-in added or renewed an account
    unexpected = Signal(str, object)

    def __init__(self, core: Parley, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._failed)
        self.model = AccountHealthModel(self, clock=core.clock)
        self.updated_at: datetime | None = None
        self.load_error = ""
        self._watchers = 0
        self._flows: list[_Flow] = []

    # -- health ---------------------------------------------------------------------------------

    @property
    def watched(self) -> bool:
        """Whether a panel shows the health now (refreshes then follow every sync)."""
        return self._watchers > 0

    def watch(self, on: bool) -> None:
        """A panel opened (refresh now) or closed."""
        self._watchers = max(0, self._watchers + (1 if on else -1))
        if on:
            self.refresh()

    def refresh(self) -> None:
        """Read every account's health again (keyring reads: off the Qt thread)."""
        self.runner.spawn(asyncio.to_thread(self.read), name="health", on_done=self._loaded, latest_wins=True)

    def refresh_if_watched(self) -> None:
        """A sync finished or accounts changed: refresh when a panel shows the health."""
        if self.watched:
            self.refresh()

    def read(self) -> list[HealthRow]:
        """Every account's health (blocking)."""
        health = self.core.health()
        urls = {a.id: a.server_url for a in self.core.accounts()}
        return [HealthRow(h, urls.get(h.account_id, "")) for h in health]

    def _loaded(self, rows: list[HealthRow]) -> None:
        self.load_error = ""
        self.updated_at = now = self.core.clock()
        # The accounts that need the person first (signed out, failing, then a look), else in the order added.
        self.model.set_rows(sorted(rows, key=lambda r: (-_RANK[r.state(now)], not r.health.needs_sign_in)))
        self.refreshed.emit()

    def _failed(self, name: str, exc: object) -> None:
        if isinstance(exc, ParleyError):
            self.load_error = str(exc)
            self.refreshed.emit()
        else:
            self.unexpected.emit(name, exc)

    # -- signing in -----------------------------------------------------------------------------

    def sign_in_target(self, account_id: int) -> SignInTarget | None:
        """What to fill a "sign in again" dialog with (a quick read of the accounts)."""
        account = self.core.account(account_id)
        if account is None:
            return None
        return SignInTarget(account_id, account.network, account.handle, account.server_url)

    def mastodon_flow(self) -> MastodonSignInFlow:
        """A new Mastodon sign-in (the dialog calls ``close()`` when it goes)."""
        flow = MastodonSignInFlow(self.core, self)
        self._adopt(flow)
        return flow

    def bluesky_flow(self) -> BlueskySignInFlow:
        """A new Bluesky sign-in (the dialog calls ``close()`` when it goes)."""
        flow = BlueskySignInFlow(self.core, self)
        self._adopt(flow)
        return flow

    def _adopt(self, flow: _Flow) -> None:
        self._flows.append(flow)
        flow.signed_in.connect(self._signed_in)
        flow.unexpected.connect(self.unexpected)
        flow.destroyed.connect(lambda _obj=None, f=flow: self._forget(f))

    def _forget(self, flow: _Flow) -> None:
        if flow in self._flows:
            self._flows.remove(flow)

    def _signed_in(self, row: AccountRow) -> None:
        self.account_added.emit(row)
        self.refresh_if_watched()

    async def aclose(self) -> None:
        """Stop every sign-in and read."""
        for flow in list(self._flows):
            await flow.aclose()
        await self.runner.aclose()
