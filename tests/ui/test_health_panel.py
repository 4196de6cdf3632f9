"""The account health panel, and the "sign in again" banner a refused token brings (never a silent failure)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices

from services.core import Parley
from services.gaps import local_time, write_gaps
from services.networks.base import Gap
from services.store.db import open_database, sqlite_url
from services.store.models import Account
from services.store.posts import ingest
from tests.conftest import Clock
from tests.fakes.mastodon import FakeMastodon
from tests.helpers.factories import remote_post
from tests.ui.conftest import build_window, close_window
from tests.ui.test_sign_in import Browser, approve_in_browser
from tests.views.qtasync import run, wait_until
from ui.health_panel import HealthPanel
from ui.sign_in import BlueskySignInDialog, MastodonSignInDialog

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    b = Browser()
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(b.open))
    return b


def _account(core: Parley, handle: str, network: str, server: str, **fields: Any) -> Account:
    with core.db.session() as s:
        acc = Account(network=network, handle=handle, server_url=server, remote_user_id=handle, **fields)
        s.add(acc)
        s.flush()
        s.refresh(acc)
        return acc


@pytest.fixture
def clocked(data_dir: Path, clock: Clock) -> Iterator[Parley]:
    """Three accounts: one quiet for longer than usual, one whose token was refused, one with no Bluesky session."""
    core = Parley(open_database(sqlite_url(data_dir / "health.sqlite")), data_dir, clock=clock)
    quiet = _account(core, "@acme@mastodon.example", "mastodon", "https://mastodon.example")
    posts = [remote_post(f"m{n}", f"question {n}", at=T0 + timedelta(minutes=20 * n)) for n in range(24)]
    with core.db.session() as s:
        ingest(s, quiet, posts, core.triage(), T0)
    clock.now = T0 + timedelta(minutes=20 * 23, hours=5)
    with core.db.session() as s:
        row = s.get(Account, quiet.id)
        assert row is not None
        row.last_sync_at = clock.now - timedelta(minutes=12)
        s.add(row)
    _account(
        core,
        "@help@mastodon.example",
        "mastodon",
        "https://mastodon.example",
        last_error="mastodon.example refused the access token (The access token is invalid).",
        last_error_kind="signed_out",
    )
    _account(core, "acme.bsky.social", "bluesky", "https://pds.example")
    yield core
    core.db.close()


def _open_panel(qloop: Any, win: Any, count: int) -> HealthPanel:
    win.health_action.trigger()  # Accounts → Account health…
    panel = win.health_panel
    assert isinstance(panel, HealthPanel) and panel.isVisible() and not panel.isModal()
    run(qloop, wait_until(lambda: len(panel.cards) == count, what="the cards"))
    return panel


def test_the_panel_shows_sync_errors_silence_and_sign_in_state(
    qtbot: Any, qloop: Any, themed: Any, clocked: Parley
) -> None:
    win, vm = build_window(qtbot, qloop, clocked)
    try:
        # Signed out in an earlier session: the banner says so at start, before any sync.
        assert win.banner.isVisible() and win.banner.kind == "signed_out"
        assert win.banner.message.text().startswith("@help@mastodon.example is signed out. Sign in again")
        panel = _open_panel(qloop, win, 3)
        assert vm.accounts_vm.watched
        # The accounts that need the person come first.
        assert [c.handle.text() for c in panel.cards] == [
            "@help@mastodon.example",
            "acme.bsky.social",
            "@acme@mastodon.example",
        ]
        help_, bsky, quiet = panel.cards
        assert panel.updated.text().startswith("3 accounts · 3 need a look · Updated just now")
        assert quiet.handle.text() == "@acme@mastodon.example" and quiet.where.text() == "Mastodon · mastodon.example"
        assert quiet.line_text("sync") == "12 min ago" and quiet.line_state("sync") == "ok"
        assert quiet.line_text("error") == "None"
        assert quiet.line_text("mentions") == "No mentions for 5 h; usually every 20 min."
        assert quiet.line_state("mentions") == "warning" and quiet.badge.text() == "Needs a look"
        assert "do not expire" in quiet.line_text("sign_in")
        assert quiet.line_state("rate") == "unknown" and not quiet.sign_in_button.isVisible()

        assert help_.needs_sign_in and help_.badge.text() == "Signed out" and help_.state == "error"
        assert help_.line_text("error") == "mastodon.example refused the access token (The access token is invalid)."
        assert help_.line_state("error") == "error" and help_.line_state("sign_in") == "error"
        assert help_.line_text("sync") == "Not synced yet"
        assert help_.sign_in_button.isVisible()

        assert bsky.needs_sign_in and bsky.line_text("sign_in") == "Signed out. No saved session; sign in again."
        assert bsky.where.text() == "Bluesky · pds.example"

        # "Sign in again" on a card opens the right dialog, filled in.
        qtbot.mouseClick(help_.sign_in_button, LEFT)
        dialog = win.sign_in_dialog
        assert isinstance(dialog, MastodonSignInDialog) and dialog.isVisible()
        assert dialog.instance.text() == "mastodon.example"
        assert "@help@mastodon.example is signed out" in dialog.notice.text()
        qtbot.mouseClick(bsky.sign_in_button, LEFT)  # the panel is not blocked; one sign-in at a time
        dialog2 = win.sign_in_dialog
        assert isinstance(dialog2, BlueskySignInDialog) and dialog2.isVisible()
        assert (dialog2.pds.text(), dialog2.handle.text()) == ("https://pds.example", "acme.bsky.social")
        assert dialog2.focusWidget() is dialog2.password and dialog2.windowTitle() == "Sign in to Bluesky again"
        dialog2.reject()

        # The panel follows the clock and the database.
        clocked.clock.advance(minutes=30)  # type: ignore[attr-defined]
        panel._clock()
        assert quiet.line_text("sync") == "42 min ago"
        with clocked.db.session() as s:
            row = s.get(Account, 1)
            assert row is not None
            row.last_error, row.last_error_kind = "mastodon.example cannot be reached (ConnectError).", "offline"
            s.add(row)
        qtbot.mouseClick(panel.refresh_button, LEFT)
        run(qloop, wait_until(lambda: panel.cards[-1].line_text("error").startswith("mastodon.example cannot")))
        card = panel.cards[-1]
        assert card.line_state("error") == "warning" and card.line_text("sync") == "42 min ago; later tries failed"
        assert card.line_text("mentions") == "Last one 5 h ago; usually every 20 min"  # no alarm while failing
        panel.close()
        assert not vm.accounts_vm.watched
    finally:
        close_window(qloop, win, vm)


def test_a_401_during_sync_brings_the_sign_in_again_banner_and_its_action_signs_in(
    qtbot: Any, qloop: Any, themed: Any, data_dir: Path, browser: Browser
) -> None:
    fake = FakeMastodon()
    fake.add_mention("maria@social.example", "@acme my parcel never came")
    with fake.serving():
        core = Parley(open_database(sqlite_url(data_dir / "p.sqlite")), data_dir)
        run(qloop, core.add_mastodon_account(fake.url, "test-token"))
        win, vm = build_window(qtbot, qloop, core)
        try:
            vm.sync_now()
            run(qloop, wait_until(lambda: vm.syncs_done == 1 and vm.timeline.rowCount() == 1, what="a sync"))
            assert not win.banner.isVisible()
            panel = _open_panel(qloop, win, 1)
            assert panel.cards[0].badge.text() == "Healthy"

            fake.tokens.clear()  # revoked on the server
            vm.sync_now()
            run(qloop, wait_until(lambda: win.banner.isVisible(), what="the banner"))
            assert win.banner.kind == "signed_out"
            assert win.banner.message.text() == (
                "@acme@fake.social is signed out. Sign in again to resume syncing; "
                "its replies wait in the outbox meanwhile."
            )
            assert win.banner.button.isVisible() and win.banner.button.text() == "Sign in again"
            assert "refused the access token" in win.banner.toolTip()
            run(qloop, wait_until(lambda: panel.cards[0].needs_sign_in, what="the panel to follow the sync"))
            assert panel.cards[0].sign_in_button.isVisible()

            qtbot.mouseClick(win.banner.button, LEFT)
            dialog = win.sign_in_dialog
            assert isinstance(dialog, MastodonSignInDialog) and dialog.isVisible()
            assert dialog.instance.text() == fake.url and dialog.windowTitle() == "Sign in to Mastodon again"
            qtbot.mouseClick(dialog.sign_in_button, LEFT)
            run(qloop, wait_until(lambda: browser.opened, what="the browser"))
            assert run(qloop, asyncio.to_thread(approve_in_browser, fake, browser.opened[0])) == 200
            run(qloop, wait_until(lambda: win.sign_in_dialog is None, what="the dialog to close"))
            run(qloop, wait_until(lambda: not win.banner.isVisible(), what="the banner to go"))
            [account] = vm.accounts  # the same account, with a new token
            assert not account.needs_sign_in
            run(qloop, wait_until(lambda: not panel.cards[0].needs_sign_in, what="the panel"))
            run(qloop, wait_until(lambda: vm.syncs_done >= 3 and not vm.syncing, what="the sync after signing in"))
            assert vm.current_banner is None
        finally:
            close_window(qloop, win, vm)
            run(qloop, core.networks.aclose())
            core.db.close()


def test_an_open_gap_shows_on_the_card_until_it_is_filled(qtbot: Any, qloop: Any, themed: Any, clocked: Parley) -> None:
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=7)
    with clocked.db.session() as s:
        quiet = s.get(Account, 1)
        assert quiet is not None
        write_gaps(s, quiet, (Gap(start, end, "gap"),))
    win, vm = build_window(qtbot, qloop, clocked)
    try:
        panel = _open_panel(qloop, win, 3)
        card = panel.card(1)
        assert card is not None
        words = f"Mentions may be missing between {local_time(start)} and {local_time(end)}; filling."
        assert card.line_text("gaps") == words and card.line_state("gaps") == "warning"
        assert card.line_labels["gaps"].text() == "Coverage" and card.line_texts["gaps"].isVisible()
        assert card.badge.text() == "Needs a look"
        # A later sync filled it: the line goes (not left showing its last words).
        with clocked.db.session() as s:
            quiet = s.get(Account, 1)
            assert quiet is not None
            write_gaps(s, quiet, ())
        qtbot.mouseClick(panel.refresh_button, LEFT)
        run(qloop, wait_until(lambda: panel.card(1) is not None and panel.card(1).line_text("gaps") == ""))  # type: ignore[union-attr]
        card = panel.card(1)
        assert card is not None and not card.line_texts["gaps"].isVisible() and not card.line_labels["gaps"].isVisible()
        panel.close()
    finally:
        close_window(qloop, win, vm)
