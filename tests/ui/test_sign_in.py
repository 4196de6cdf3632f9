"""Adding accounts from the GUI: Mastodon through the (captured) browser or a pasted code, Bluesky with an app password.

Every test talks to a real fake server on 127.0.0.1; ``QDesktopServices.openUrl`` is captured instead of opening
a browser, and the "browser" that approves is a thread that follows the server's redirect to Parley's listener.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLineEdit

from tests.fakes.bluesky import FakePDS
from tests.fakes.mastodon import FakeMastodon
from tests.ui.conftest import build_window, close_window
from tests.views.qtasync import run, settle, wait_until
from ui.sign_in import STOPPED_TEXT, WAITING_TEXT, BlueskySignInDialog, MastodonSignInDialog

LEFT = Qt.MouseButton.LeftButton


class Browser:
    """Stands in for the system browser: remembers what Parley asked it to open."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.works = True

    def open(self, url: QUrl) -> bool:
        self.opened.append(url.toString(QUrl.ComponentFormattingOption.FullyEncoded))
        return self.works


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    b = Browser()
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(b.open))
    return b


@pytest.fixture
def empty_core(data_dir: Path) -> Iterator[Any]:
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    c = Parley(open_database(sqlite_url(data_dir / "empty.sqlite")), data_dir)
    yield c
    c.db.close()


@pytest.fixture
def masto() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    fake.add_mention("maria@social.example", "@acme where is my refund? Third time I ask!")
    with fake.serving():
        yield fake


@pytest.fixture
def pds() -> Iterator[FakePDS]:
    fake = FakePDS(handle="acme.test", password="abcd-efgh-ijkl-mnop")
    with fake:
        yield fake


@pytest.fixture
def gui(qtbot: Any, qloop: Any, themed: Any, empty_core: Any) -> Iterator[tuple[Any, Any]]:
    win, vm = build_window(qtbot, qloop, empty_core)
    yield win, vm
    close_window(qloop, win, vm)
    run(qloop, empty_core.networks.aclose())  # the connectors the first sync opened


def approve_in_browser(fake: FakeMastodon, url: str) -> int:
    """The person approves; the browser follows the redirect to Parley's listener on 127.0.0.1 (blocking)."""
    location = fake.approve(url)
    return httpx.get(location, trust_env=False, timeout=10).status_code


def redirect_port(url: str) -> int:
    port = urlsplit(parse_qs(urlsplit(url).query)["redirect_uri"][0]).port
    assert port is not None
    return port


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def open_mastodon(qtbot: Any, win: Any) -> MastodonSignInDialog:
    dialog = win.sign_in_dialog
    assert isinstance(dialog, MastodonSignInDialog) and dialog.isVisible() and dialog.isModal()
    return dialog


def test_mastodon_browser_sign_in_adds_the_account_and_syncs_it(
    qtbot: Any, qloop: Any, gui: Any, masto: FakeMastodon, browser: Browser
) -> None:
    win, vm = gui
    assert win.stack.currentWidget() is win.welcome
    qtbot.mouseClick(win.welcome.network_buttons[0], LEFT)
    dialog = open_mastodon(qtbot, win)
    assert not dialog.sign_in_button.isEnabled()  # nothing typed yet
    assert not dialog.waiting.isVisible() and not dialog.fallback.isVisible()
    qtbot.keyClicks(dialog.instance, masto.url)
    qtbot.mouseClick(dialog.sign_in_button, LEFT)
    run(qloop, wait_until(lambda: browser.opened, what="the browser to open"))
    url = browser.opened[0]
    assert url.startswith(masto.url + "/oauth/authorize?") and "force_login" not in url
    run(qloop, wait_until(lambda: dialog.waiting.isVisible()))
    assert dialog.waiting_text.text() == WAITING_TEXT
    assert dialog.fallback.isVisible() and dialog.copy_button.isEnabled()
    assert "redirect_uri=urn" in dialog.oob_url.text() and dialog.oob_url.isReadOnly()
    assert dialog.error.text() == ""
    port = redirect_port(url)

    assert run(qloop, asyncio.to_thread(approve_in_browser, masto, url)) == 200
    run(qloop, wait_until(lambda: win.sign_in_dialog is None, what="the dialog to close"))
    [account] = vm.accounts
    assert account.handle == "@acme@fake.social" and account.network == "mastodon"
    assert win.stack.currentWidget() is win.splitter
    idx = vm.sidebar.index_of_key(f"acc:{account.id}")
    assert idx.isValid() and idx.data() == "@acme@fake.social"
    assert "Signed in as @acme@fake.social" in win.notice_label.text()
    # The sign-in triggered a sync: the mention waiting on the server arrives.
    run(qloop, wait_until(lambda: vm.timeline.rowCount() == 1, what="the first sync"))
    assert "refund" in vm.timeline.post_at(0).text
    assert port_closed(port)
    run(qloop, wait_until(lambda: not vm.accounts_vm._flows, what="the sign-in to let go"))


def test_mastodon_paste_the_code_with_a_wrong_code_first(
    qtbot: Any, qloop: Any, gui: Any, masto: FakeMastodon, browser: Browser
) -> None:
    win, vm = gui
    win.add_mastodon_action.trigger()  # Accounts → Add Mastodon account…
    dialog = open_mastodon(qtbot, win)
    dialog.instance.setText(masto.url)
    dialog.force_login.click()
    qtbot.keyClick(dialog.instance, Qt.Key.Key_Return)
    run(qloop, wait_until(lambda: dialog.fallback.isVisible(), what="the fallback"))
    assert "force_login=true" in browser.opened[0]
    assert not dialog.use_code_button.isEnabled()

    qtbot.keyClicks(dialog.code, "not-a-code")
    qtbot.mouseClick(dialog.use_code_button, LEFT)
    run(qloop, wait_until(lambda: dialog.error.text(), what="the refusal"))
    assert "did not accept that code" in dialog.error.text() and "Traceback" not in dialog.error.text()
    assert dialog.flow.phase == "waiting" and dialog.flow.listening  # the browser may still come back
    assert dialog.waiting_text.text() == WAITING_TEXT

    code = masto.approve(dialog.oob_url.text())  # the server's page shows a code; the person copies it
    dialog.code.setText(f"  {code}\n")
    qtbot.keyClick(dialog.code, Qt.Key.Key_Return)
    run(qloop, wait_until(lambda: win.sign_in_dialog is None, what="the dialog to close"))
    assert [a.handle for a in vm.accounts] == ["@acme@fake.social"]
    assert vm.sidebar.index_of_key(f"acc:{vm.accounts[0].id}").isValid()


def test_mastodon_wrong_instance_and_offline_are_said_inline(
    qtbot: Any, qloop: Any, gui: Any, browser: Browser
) -> None:
    win, vm = gui
    dialog = win.open_mastodon_sign_in()
    dialog.instance.setText("http://social.example")  # a token must never cross the network in clear text
    qtbot.mouseClick(dialog.sign_in_button, LEFT)
    assert "Use an https:// address for social.example" in dialog.error.text()
    assert dialog.flow.phase == "idle" and dialog.instance.isEnabled()

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    dialog.instance.setText(f"http://127.0.0.1:{dead}")
    qtbot.mouseClick(dialog.sign_in_button, LEFT)
    assert dialog.sign_in_button.text().startswith("Contacting 127.0.0.1")
    run(qloop, wait_until(lambda: dialog.error.text(), what="the error"))
    assert dialog.error.text() == f"127.0.0.1:{dead} cannot be reached (ConnectError)."
    assert dialog.flow.phase == "idle" and dialog.sign_in_button.isEnabled()
    assert not dialog.waiting.isVisible() and not browser.opened
    assert vm.accounts == []


def test_cancel_and_close_stop_the_listener(
    qtbot: Any, qloop: Any, gui: Any, masto: FakeMastodon, browser: Browser
) -> None:
    win, vm = gui
    dialog = win.open_mastodon_sign_in()
    dialog.instance.setText(masto.url)
    dialog.sign_in()
    run(qloop, wait_until(lambda: browser.opened))
    first = redirect_port(browser.opened[0])
    qtbot.mouseClick(dialog.cancel_button, LEFT)
    assert dialog.flow.phase == "idle" and not dialog.waiting.isVisible() and dialog.instance.isEnabled()
    run(qloop, wait_until(lambda: port_closed(first), what="the listener to close"))

    # The browser said no: the wait ends in words, and the code can still be pasted.
    dialog.sign_in()
    run(qloop, wait_until(lambda: len(browser.opened) == 2))
    location = masto.approve(browser.opened[1], deny=True)
    run(qloop, asyncio.to_thread(lambda: httpx.get(location, trust_env=False, timeout=10)))
    run(qloop, wait_until(lambda: "declined" in dialog.error.text(), what="the refusal"))
    assert dialog.waiting_text.text() == STOPPED_TEXT and dialog.cancel_button.text() == "Start again"
    assert dialog.code.isEnabled()

    dialog.cancel_button.click()
    dialog.sign_in()
    run(qloop, wait_until(lambda: len(browser.opened) == 3))
    port = redirect_port(browser.opened[2])
    assert not port_closed(port)
    flow = dialog.flow
    qtbot.mouseClick(dialog.close_button, LEFT)  # closing mid-wait lets go of everything
    assert win.sign_in_dialog is None
    run(qloop, wait_until(lambda: port_closed(port), what="the listener to close"))
    run(qloop, wait_until(lambda: flow not in vm.accounts_vm._flows, what="the flow to go"))
    assert vm.accounts == []


def test_bluesky_sign_in_with_an_app_password(qtbot: Any, qloop: Any, gui: Any, pds: FakePDS, data_dir: Path) -> None:
    win, vm = gui
    qtbot.mouseClick(win.welcome.network_buttons[1], LEFT)
    dialog = win.sign_in_dialog
    assert isinstance(dialog, BlueskySignInDialog) and dialog.isVisible()
    assert dialog.pds.text() == "https://bsky.social"
    assert dialog.password.echoMode() == QLineEdit.EchoMode.Password
    note = dialog.password_note.text()
    assert "Settings → App passwords" in note and "the password itself is not stored" in note
    assert not dialog.sign_in_button.isEnabled()

    dialog.pds.setText(pds.url)
    qtbot.keyClicks(dialog.handle, "@acme.test")
    qtbot.keyClicks(dialog.password, "wrong-pass-word-here")
    qtbot.mouseClick(dialog.sign_in_button, LEFT)
    run(qloop, wait_until(lambda: dialog.error.text(), what="the refusal"))
    assert "refused acme.test with that app password" in dialog.error.text()
    assert dialog.flow.phase == "idle" and dialog.password.hasFocus()
    assert vm.accounts == []

    dialog.password.setText(pds.password)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    run(qloop, wait_until(lambda: win.sign_in_dialog is None, what="the dialog to close"))
    [account] = vm.accounts
    assert account.network == "bluesky" and account.handle == "acme.test"
    assert vm.sidebar.index_of_key(f"acc:{account.id}").isValid()
    assert pds.calls["com.atproto.server.createSession"] == 2
    kept = (data_dir / "secrets-INSECURE.json").read_text(encoding="utf-8")
    assert pds.password not in kept  # only the session is kept
    settle(qloop)
