"""Adding an account: a Mastodon sign-in through the browser (or a pasted code), a Bluesky one with an app password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLineF, QRectF, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QFont, QGuiApplication, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.delegates import small_font
from ui.icons import icon
from ui.theme import mix
from ui.widgets import section_label
from views.accounts_vm import BlueskySignInFlow, MastodonSignInFlow

#: Where Bluesky keeps app passwords (bsky.app; other apps have the same place in their settings).
APP_PASSWORDS_URL = "https://bsky.app/settings/app-passwords"
DEFAULT_PDS = "https://bsky.social"
WAITING_TEXT = "Waiting for you to approve Parley in the browser…"
STOPPED_TEXT = "Parley stopped waiting for the browser. Paste the code below, or start again."
FALLBACK_TEXT = "Browser didn't come back? Open this page, copy the code and paste it here."


def shown_address(url: str) -> str:
    """A server address as a person would type it: ``mastodon.social``; plain http (this machine) stays whole."""
    return url.removeprefix("https://").rstrip("/")


class FormMessage(QFrame):
    """A line of plain words inside a form: an error (red, with a mark) or a notice (amber)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("formMessage")
        self.kind = "error"
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 7, 10, 7)
        lay.setSpacing(8)
        self.mark = QLabel(self)
        self.mark.setFixedSize(16, 16)
        self.label = QLabel(self)
        self.label.setObjectName("formMessageText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.mark, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.label, 1)
        self.hide()

    def text(self) -> str:
        """The words shown ("" when hidden)."""
        return self.label.text() if not self.isHidden() else ""

    def say(self, text: str, kind: str = "error") -> None:
        """Show ``text`` (``kind`` is error or notice); an empty text hides the line."""
        self.kind = kind
        self.label.setText(text)
        self.setAccessibleName(text)
        self.restyle()
        self.setVisible(bool(text))

    def restyle(self) -> None:
        """Colours from the current theme."""
        c = theme.colors()
        base = c.urgent if self.kind == "error" else c.warning
        bg = mix(c.base, base, 0.14 if c.dark else 0.08)
        border = mix(c.base, base, 0.45)
        fg = theme.readable(c.text, bg, 7.0)
        self.setStyleSheet(
            f"QFrame#formMessage {{ background: {bg.name()}; border: 1px solid {border.name()}; border-radius: 7px; }}"
            f"QLabel#formMessageText {{ color: {fg.name()}; background: transparent; border: none; }}"
        )
        self.mark.setPixmap(icon("warning", theme.readable(base, bg, 3.0), 16).pixmap(16, 16))


def _title(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("dialogTitle")
    f = label.font()
    f.setPointSizeF(f.pointSizeF() + 4)
    f.setWeight(QFont.Weight.Bold)
    label.setFont(f)
    return label


def _hint(text: str, parent: QWidget, rich: bool = False) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("muted")
    label.setWordWrap(True)
    label.setFont(small_font(label.font(), -0.5))
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    if rich:
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setOpenExternalLinks(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    return label


class _Form(QGridLayout):
    """Labels on the left, fields on the right, a small hint under a field where it helps."""

    def __init__(self) -> None:
        super().__init__()
        self.setHorizontalSpacing(14)
        self.setVerticalSpacing(4)
        self.setColumnStretch(1, 1)
        self._next = 0

    def row(self, label: str, field: QWidget, hint: QLabel | None = None) -> None:
        """One field, with its label and an optional hint under it."""
        r = self._next
        if r:
            self.setRowMinimumHeight(r, 2)  # a little more air between fields than under a hint
            r += 1
        if label:
            self.addWidget(QLabel(label, field.parentWidget()), r, 0, Qt.AlignmentFlag.AlignVCenter)
        self.addWidget(field, r, 1)
        if hint is not None:
            self.addWidget(hint, r + 1, 1)
        self._next = r + (2 if hint is not None else 1)


def _plain_buttons(*buttons: QPushButton) -> None:
    """No default button: Enter in a field does that field's own action, never "Close"."""
    for b in buttons:
        b.setAutoDefault(False)
        b.setDefault(False)


def _browser_mark(color: QColor, size: int = 18) -> QPixmap:
    """A browser-window mark: where the next step happens."""
    pm = QPixmap(size * 2, size * 2)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(2, 2)
    pen = p.pen()
    pen.setColor(color)
    pen.setWidthF(1.5)
    p.setPen(pen)
    r = QRectF(1.5, 3, size - 3, size - 6)
    p.drawRoundedRect(r, 2.5, 2.5)
    p.drawLine(QLineF(r.left(), r.top() + 3.5, r.right(), r.top() + 3.5))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    for i in range(3):
        p.drawEllipse(QRectF(r.left() + 2 + i * 2.6, r.top() + 1.1, 1.5, 1.5))
    p.end()
    pm.setDevicePixelRatio(2)
    return pm


class _SignInDialog(QDialog):
    """What both sign-in dialogs share: a title, a lead, an inline message, and closing the flow with the dialog."""

    def __init__(self, title: str, lead: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(600)
        self.setWindowTitle(title)
        self._closed = False
        self._links: list[tuple[Any, Callable[..., None]]] = []
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(24, 20, 24, 16)
        self.lay.setSpacing(10)
        self.title = _title(title, self)
        self.lay.addWidget(self.title)
        self.lead = QLabel(lead, self)
        self.lead.setObjectName("muted")
        self.lead.setWordWrap(True)
        self.lay.addWidget(self.lead)
        self.notice = FormMessage(self)
        self.lay.addWidget(self.notice)
        self.lay.addSpacing(4)

    def _close_flow(self) -> None:
        raise NotImplementedError

    def _link(self) -> None:
        for signal, slot in self._links:
            signal.connect(slot)

    def _changed(self, *_args: object) -> None:
        self._update()

    def _update(self) -> None:
        raise NotImplementedError

    def _signed_in(self, _row: object) -> None:
        self.accept()

    def done(self, result: int) -> None:
        if not self._closed:
            self._closed = True
            # The flow may still report (a step that ended as it was cancelled): not to this closing dialog.
            for signal, slot in self._links:
                signal.disconnect(slot)
            self._close_flow()
        super().done(result)

    def restyle(self) -> None:
        """Colours from the current theme."""
        c = theme.colors()
        self.setStyleSheet(
            f"QLineEdit {{ background: {c.base.name()}; color: {c.text.name()}; border: 1px solid {c.border.name()};"
            f" border-radius: 6px; padding: 4px 7px; selection-background-color: {c.accent.name()}; }}"
            f"QLineEdit:focus {{ border: 1px solid {c.accent.name()}; }}"
            f'QLineEdit:disabled, QLineEdit[readOnly="true"] {{ background: {c.window.name()}; }}'
            f"QLineEdit:disabled {{ color: {c.muted.name()}; }}"
        )
        for child in self.findChildren(FormMessage):
            child.restyle()


class MastodonSignInDialog(_SignInDialog):
    """Sign in to a Mastodon server by name: the browser approves, or a pasted code finishes."""

    def __init__(
        self,
        flow: MastodonSignInFlow,
        parent: QWidget | None = None,
        *,
        instance: str = "",
        handle: str = "",
    ) -> None:
        again = bool(handle)
        super().__init__(
            "Sign in to Mastodon again" if again else "Add a Mastodon account",
            "Parley opens your server's sign-in page in the browser: approve Parley there and come back. "
            "Parley keeps only the access token, never your password.",
            parent,
        )
        self.setObjectName("mastodonSignIn")
        self.flow = flow
        if again:
            self.notice.say(f"{handle} is signed out. Sign in again as {handle} to resume syncing.", "notice")

        form = _Form()
        self.instance = QLineEdit(shown_address(instance), self)
        self.instance.setObjectName("instance")
        self.instance.setPlaceholderText("mastodon.social")
        self.instance.setAccessibleName("Server")
        self.instance.setClearButtonEnabled(True)
        self.instance.textChanged.connect(self._update)
        self.instance.returnPressed.connect(self.sign_in)
        instance_hint = "The server's name or address, or your full handle such as @you@mastodon.social."
        form.row("Server", self.instance, _hint(instance_hint, self))
        self.force_login = QCheckBox("Sign in as a different account", self)
        self.force_login.setToolTip(
            "Show the server's login form even when the browser is already signed in to another account"
        )
        form.row("", self.force_login)
        self.lay.addLayout(form)

        self.error = FormMessage(self)
        self.lay.addWidget(self.error)
        self._error_index = self.lay.indexOf(self.error)

        row = QHBoxLayout()
        self.sign_in_button = QPushButton("Sign in with browser", self)
        self.sign_in_button.setObjectName("primary")
        self.sign_in_button.clicked.connect(self.sign_in)
        row.addWidget(self.sign_in_button)
        row.addStretch(1)
        self.lay.addLayout(row)

        # Waiting for the browser.
        self.waiting = QFrame(self)
        self.waiting.setObjectName("signInWaiting")
        wl = QHBoxLayout(self.waiting)
        wl.setContentsMargins(12, 9, 10, 9)
        wl.setSpacing(10)
        self.waiting_mark = QLabel(self.waiting)
        self.waiting_mark.setFixedSize(18, 18)
        self.waiting_text = QLabel(WAITING_TEXT, self.waiting)
        self.waiting_text.setObjectName("waitingText")
        self.waiting_text.setWordWrap(True)
        self.reopen_button = QPushButton("Open again", self.waiting)
        self.reopen_button.setToolTip("Open the server's sign-in page in the browser again")
        self.reopen_button.clicked.connect(self._reopen)
        self.cancel_button = QPushButton("Cancel", self.waiting)
        self.cancel_button.setToolTip("Stop this sign-in and start over")
        self.cancel_button.clicked.connect(self.flow.cancel)
        wl.addWidget(self.waiting_mark, 0, Qt.AlignmentFlag.AlignVCenter)
        wl.addWidget(self.waiting_text, 1)
        wl.addWidget(self.reopen_button)
        wl.addWidget(self.cancel_button)
        self.lay.addWidget(self.waiting)

        # The paste-the-code fallback.
        self.fallback = QWidget(self)
        fl = QVBoxLayout(self.fallback)
        fl.setContentsMargins(0, 6, 0, 0)
        fl.setSpacing(6)
        fl.addWidget(section_label("Browser didn't come back?", self.fallback))
        self.fallback_text = QLabel(FALLBACK_TEXT.removeprefix("Browser didn't come back? "), self.fallback)
        self.fallback_text.setWordWrap(True)
        fl.addWidget(self.fallback_text)
        url_row = QHBoxLayout()
        url_row.setSpacing(6)
        self.oob_url = QLineEdit(self.fallback)
        self.oob_url.setObjectName("oobUrl")
        self.oob_url.setReadOnly(True)
        self.oob_url.setAccessibleName("Page that shows a code")
        self.copy_button = QPushButton("Copy", self.fallback)
        self.copy_button.setToolTip("Copy the address, to open it in any browser, on any device")
        self.copy_button.clicked.connect(self._copy)
        self.open_oob_button = QPushButton("Open", self.fallback)
        self.open_oob_button.setToolTip("Open this page in the browser")
        self.open_oob_button.clicked.connect(lambda: self._open(self.flow.oob_url))
        url_row.addWidget(self.oob_url, 1)
        url_row.addWidget(self.copy_button)
        url_row.addWidget(self.open_oob_button)
        fl.addLayout(url_row)
        code_row = QHBoxLayout()
        code_row.setSpacing(6)
        self.code = QLineEdit(self.fallback)
        self.code.setObjectName("code")
        self.code.setPlaceholderText("Paste the code here (or the whole address the browser shows)")
        self.code.setAccessibleName("Code")
        self.code.textChanged.connect(self._update)
        self.code.returnPressed.connect(self.use_code)
        self.use_code_button = QPushButton("Use code", self.fallback)
        self.use_code_button.clicked.connect(self.use_code)
        code_row.addWidget(self.code, 1)
        code_row.addWidget(self.use_code_button)
        fl.addLayout(code_row)
        self._fallback_layout = fl
        self.lay.addWidget(self.fallback)

        self.lay.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.reject)
        bottom.addWidget(self.close_button)
        self.lay.addSpacing(6)
        self.lay.addLayout(bottom)
        _plain_buttons(
            self.sign_in_button,
            self.reopen_button,
            self.cancel_button,
            self.copy_button,
            self.open_oob_button,
            self.use_code_button,
            self.close_button,
        )
        self._copied = QTimer(self)
        self._copied.setSingleShot(True)
        self._copied.setInterval(1500)
        self._copied.timeout.connect(lambda: self.copy_button.setText("Copy"))

        self._links = [
            (flow.phase_changed, self._phase),
            (flow.error, self._error),
            (flow.urls_ready, self._urls),
            (flow.listening_changed, self._changed),
            (flow.signed_in, self._signed_in),
        ]
        self._link()
        self.restyle()
        self._update()
        if not self.instance.text():
            self.instance.setFocus()
        else:
            self.sign_in_button.setFocus()

    # -- actions ----------------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Start the sign-in: Parley registers on the server, then the browser opens its page."""
        if self.flow.phase == "idle" and self.instance.text().strip():
            self.flow.start(self.instance.text(), self.force_login.isChecked())

    def use_code(self) -> None:
        """Finish with the pasted code."""
        self.flow.use_code(self.code.text())

    def _urls(self, url: str, oob_url: str) -> None:
        self.oob_url.setText(oob_url)
        self.oob_url.setToolTip(oob_url)
        self.oob_url.setCursorPosition(0)
        self.code.clear()
        if not self._open(url):
            self._error("Parley could not open a browser here. Open the page below on any device instead.")

    def _open(self, url: str) -> bool:
        return bool(url) and QDesktopServices.openUrl(QUrl(url))

    def _reopen(self) -> None:
        self._open(self.flow.authorize_url)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.oob_url.text())
        self.copy_button.setText("Copied")
        self._copied.start()

    def _close_flow(self) -> None:
        self.flow.close()

    # -- state ------------------------------------------------------------------------------------

    def _error(self, text: str) -> None:
        self._place_error(near_code=bool(text) and self.flow.phase == "waiting")
        self.error.say(text)
        if text and self.flow.phase == "idle":
            self.instance.setFocus()
            self.instance.selectAll()
        elif text and self.flow.phase == "waiting":
            self.code.setFocus()
            self.code.selectAll()

    def _place_error(self, near_code: bool) -> None:
        """Under the form while signing in starts; under the code field once a code is what failed."""
        target = self._fallback_layout if near_code else self.lay
        if target.indexOf(self.error) >= 0:
            return
        (self.lay if near_code else self._fallback_layout).removeWidget(self.error)
        if near_code:
            target.addWidget(self.error)
        else:
            self.lay.insertWidget(self._error_index, self.error)

    def _phase(self, phase: str) -> None:
        if phase == "waiting" and not self.code.text():
            self.code.setFocus()
        self._update()

    def _update(self) -> None:
        phase = self.flow.phase
        idle = phase == "idle"
        self.instance.setEnabled(idle)
        self.instance.setClearButtonEnabled(idle)
        self.force_login.setEnabled(idle)
        self.sign_in_button.setVisible(phase in ("idle", "starting"))
        self.sign_in_button.setEnabled(idle and bool(self.instance.text().strip()))
        host = self.flow.host or shown_address(self.instance.text().strip())
        self.sign_in_button.setText(f"Contacting {host}…" if phase == "starting" else "Sign in with browser")
        underway = phase in ("waiting", "finishing")
        self.waiting.setVisible(underway)
        self.fallback.setVisible(underway)
        listening = self.flow.listening
        if phase == "finishing":
            self.waiting_text.setText(f"Signing in to {self.flow.host}…")
        else:
            self.waiting_text.setText(WAITING_TEXT if listening else STOPPED_TEXT)
        self.reopen_button.setVisible(phase == "waiting" and listening)
        self.cancel_button.setText("Cancel" if listening or phase == "finishing" else "Start again")
        self.code.setEnabled(phase == "waiting")
        self.use_code_button.setEnabled(phase == "waiting" and bool(self.code.text().strip()))
        self.copy_button.setEnabled(bool(self.oob_url.text()))
        self.open_oob_button.setEnabled(bool(self.oob_url.text()))

    def restyle(self) -> None:
        super().restyle()
        c = theme.colors()
        bg = mix(c.base, c.accent, 0.14 if c.dark else 0.07)
        border = mix(c.base, c.accent, 0.4)
        self.waiting.setStyleSheet(
            f"QFrame#signInWaiting {{ background: {bg.name()}; border: 1px solid {border.name()};"
            " border-radius: 8px; }"
            f"QLabel#waitingText {{ color: {theme.readable(c.text, bg, 7.0).name()}; font-weight: 500; }}"
        )
        self.waiting_mark.setPixmap(_browser_mark(theme.readable(c.accent, bg, 3.0)))
        mono = QFont(self.oob_url.font())
        mono.setFamily("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.oob_url.setFont(small_font(mono, -1.0))


class BlueskySignInDialog(_SignInDialog):
    """Sign in to a Bluesky server (PDS) with an app password; only the session is kept."""

    def __init__(
        self,
        flow: BlueskySignInFlow,
        parent: QWidget | None = None,
        *,
        pds: str = DEFAULT_PDS,
        handle: str = "",
        again: bool = False,
    ) -> None:
        super().__init__(
            "Sign in to Bluesky again" if again else "Add a Bluesky account",
            "Sign in with an app password, not your main password: an app password can be revoked on its own "
            "and cannot change your account's settings.",
            parent,
        )
        self.setObjectName("blueskySignIn")
        self.flow = flow
        if again:
            self.notice.say(f"{handle} is signed out. Sign in again with an app password to resume syncing.", "notice")
        form = _Form()
        self.pds = QLineEdit(pds or DEFAULT_PDS, self)
        self.pds.setObjectName("pds")
        self.pds.setPlaceholderText(DEFAULT_PDS)
        self.pds.setAccessibleName("Server (PDS)")
        pds_hint = "Leave this as it is for accounts on bsky.social; a self-hosted server has its own address."
        form.row("Server", self.pds, _hint(pds_hint, self))
        self.handle = QLineEdit(handle, self)
        self.handle.setObjectName("handle")
        self.handle.setPlaceholderText("acme.bsky.social")
        self.handle.setAccessibleName("Handle")
        form.row("Handle", self.handle)
        self.password = QLineEdit(self)
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("xxxx-xxxx-xxxx-xxxx")
        self.password.setAccessibleName("App password")
        self.password_note = _hint(
            f'Make one in Bluesky under <a href="{APP_PASSWORDS_URL}">Settings → App passwords</a>. Parley uses '
            "it once to sign in and keeps only the session it gets back; the password itself is not stored.",
            self,
            rich=True,
        )
        form.row("App password", self.password, self.password_note)
        self.lay.addLayout(form)
        self.error = FormMessage(self)
        self.lay.addWidget(self.error)
        self.lay.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.reject)
        self.sign_in_button = QPushButton("Sign in", self)
        self.sign_in_button.setObjectName("primary")
        self.sign_in_button.clicked.connect(self.sign_in)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.sign_in_button)
        self.lay.addSpacing(6)
        self.lay.addLayout(bottom)
        _plain_buttons(self.cancel_button, self.sign_in_button)
        for field in (self.pds, self.handle, self.password):
            field.textChanged.connect(self._update)
            field.returnPressed.connect(self.sign_in)
        self._links = [
            (flow.phase_changed, self._changed),
            (flow.error, self._error),
            (flow.signed_in, self._signed_in),
        ]
        self._link()
        self.restyle()
        self._update()
        (self.password if handle else self.handle).setFocus()

    def sign_in(self) -> None:
        """Sign in once with the app password."""
        if self.sign_in_button.isEnabled():
            self.flow.sign_in(self.pds.text(), self.handle.text(), self.password.text())

    def _error(self, text: str) -> None:
        self.error.say(text)
        if text:
            self.password.setFocus()
            self.password.selectAll()

    def _update(self) -> None:
        idle = self.flow.phase == "idle"
        for field in (self.pds, self.handle, self.password):
            field.setEnabled(idle)
        filled = all(f.text().strip() for f in (self.pds, self.handle, self.password))
        self.sign_in_button.setEnabled(idle and filled)
        self.sign_in_button.setText("Signing in…" if self.flow.phase == "signing_in" else "Sign in")

    def _close_flow(self) -> None:
        self.flow.close()


__all__ = ["BlueskySignInDialog", "FormMessage", "MastodonSignInDialog", "shown_address"]
