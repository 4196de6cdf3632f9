"""The accounts view-model: health in plain words (qtmodeltester), refreshes off the Qt thread, sign-in flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.gaps import local_time
from services.health import AccountHealth
from services.networks.base import Gap
from services.store.models import Account
from services.sync import AccountProblem, SyncReport
from tests.views.qtasync import run, wait_until
from views.accounts_vm import (
    AccountHealthModel,
    AccountsViewModel,
    HealthRole,
    HealthRow,
    health_lines,
    worst,
)
from views.main_vm import MainViewModel

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def health(account_id: int = 1, **kw: Any) -> AccountHealth:
    values: dict[str, Any] = {
        "account_id": account_id,
        "network": "mastodon",
        "handle": f"@acme{account_id}@mastodon.social",
        "last_sync_at": NOW - timedelta(minutes=12),
        "last_error": None,
        "last_error_kind": None,
        "needs_sign_in": False,
        "session_expires_at": None,
        "session_note": "Mastodon tokens do not expire; they stop only when revoked.",
        "rate_limit": 300,
        "rate_remaining": 280,
        "rate_reset_at": NOW + timedelta(minutes=4),
        "last_mention_at": NOW - timedelta(minutes=30),
        "typical_gap": timedelta(minutes=20),
        "silent_for": timedelta(minutes=30),
        "silent_alarm": None,
    }
    values.update(kw)
    return AccountHealth(**values)


def said(h: AccountHealth) -> dict[str, tuple[str, str]]:
    return {line.key: (line.text, line.state) for line in health_lines(h, NOW)}


def test_a_healthy_account_in_words() -> None:
    lines = said(health())
    assert lines == {
        "sync": ("12 min ago", "ok"),
        "error": ("None", "ok"),
        "sign_in": ("Mastodon tokens do not expire; they stop only when revoked.", "ok"),
        "rate": ("280 of 300 requests left; the budget refills in 4 min", "ok"),
        "mentions": ("Last one 30 min ago; usually every 20 min", "ok"),
    }
    assert worst(state for _, state in lines.values()) == "ok"
    assert HealthRow(health()).summary(NOW) == "Healthy"


def test_problems_in_words_with_their_states() -> None:
    signed_out = health(
        last_error="mastodon.social refused the access token (The access token is invalid)",
        last_error_kind="signed_out",
        needs_sign_in=True,
        rate_remaining=0,
    )
    lines = said(signed_out)
    assert lines["error"] == ("mastodon.social refused the access token (The access token is invalid).", "error")
    assert lines["sign_in"] == (
        "Signed out. The server no longer accepts Parley's access. Sign in again to resume.",
        "error",
    )
    assert lines["sync"] == ("12 min ago; later tries failed", "warning")
    assert lines["rate"][1] == "error"
    row = HealthRow(signed_out, "https://mastodon.social")
    assert row.summary(NOW) == "Signed out" and row.state(NOW) == "error" and row.can_sign_in

    quiet = said(health(silent_alarm="No mentions for 5 h; usually every 20 min", rate_remaining=12))
    assert quiet["mentions"] == ("No mentions for 5 h; usually every 20 min.", "warning")
    assert quiet["rate"] == ("12 of 300 requests left; the budget refills in 4 min", "warning")  # under a tenth
    offline = said(health(last_error="mastodon.social cannot be reached.", last_error_kind="offline"))
    assert offline["error"] == ("mastodon.social cannot be reached.", "warning")  # it clears up by itself

    soon = said(
        health(network="bluesky", session_expires_at=NOW + timedelta(days=2), session_note="Lasts another 2 days")
    )
    assert soon["sign_in"] == ("Lasts another 2 days.", "warning")
    new = said(health(last_sync_at=None, rate_limit=None, rate_remaining=None, last_mention_at=None))
    assert new["sync"] == ("Not synced yet", "unknown") and new["rate"][1] == "unknown"
    assert new["mentions"] == ("None yet", "unknown")
    assert said(health(network="demo", session_note=""))["sign_in"] == ("Not needed on the demo network", "ok")
    assert not HealthRow(health(network="demo")).can_sign_in


def test_open_gaps_add_a_coverage_line_that_goes_when_they_close() -> None:
    start, end = NOW - timedelta(hours=30), NOW - timedelta(hours=2)
    gap = Gap(start, end, "gap")
    lines = said(health(gaps=(gap,)))
    assert lines["gaps"] == (
        f"Mentions may be missing between {local_time(start)} and {local_time(end)}; filling.",
        "warning",
    )
    row = HealthRow(health(gaps=(gap,)))
    assert row.state(NOW) == "warning" and row.summary(NOW) == "Needs a look"
    # A first sync still reading its history is said, but nothing is wrong.
    history = said(health(gaps=(Gap(start, end, "history"),)))
    assert history["gaps"] == (
        f"Reading older mentions back to {local_time(start)} (read back to {local_time(end)} so far).",
        "unknown",
    )
    assert HealthRow(health(gaps=(Gap(start, end, "history"),))).summary(NOW) == "Healthy"
    stream = said(health(gaps=(Gap(start, None, "stream"),)))["gaps"]
    assert stream[0].startswith(f"The live connection dropped at {local_time(start)}") and stream[1] == "warning"
    assert "gaps" not in said(health())


def test_the_health_model_passes_qtmodeltester(qtmodeltester: Any) -> None:
    clock = [NOW]
    model = AccountHealthModel(clock=lambda: clock[0])
    signed_out = health(2, needs_sign_in=True, last_error="x", last_error_kind="signed_out")
    model.set_rows([HealthRow(health(1)), HealthRow(signed_out)])
    # The tester stays connected: every change below is checked as it happens.
    qtmodeltester.check(model, force_py=True)
    first, second = model.index(0), model.index(1)
    assert first.data() == "@acme1@mastodon.social" and first.data(HealthRole.State) == "ok"
    assert second.data(HealthRole.NeedsSignIn) is True and second.data(HealthRole.Summary) == "Signed out"
    assert second.data(HealthRole.AccountId) == 2 and second.data(HealthRole.Network) == "Mastodon"
    assert first.data(HealthRole.Lines)[0].text == "12 min ago"

    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, _roles=(): changed.append((a.row(), b.row())))
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.set_rows([HealthRow(health(1)), HealthRow(health(2))])  # the same accounts: in place
    assert changed == [(1, 1)] and not resets
    clock[0] = NOW + timedelta(minutes=10)
    model.tick()
    assert changed[-1] == (0, 1) and first.data(HealthRole.Lines)[0].text == "22 min ago"
    model.set_rows([HealthRow(health(3))])  # other accounts: reset
    assert resets == [1] and model.rowCount() == 1
    model.set_rows([])
    assert model.rowCount() == 0


def test_the_health_model_passes_qts_own_tester(qtmodeltester: Any) -> None:
    model = AccountHealthModel(clock=lambda: NOW)
    qtmodeltester.check(model)  # Qt's own QAbstractItemModelTester, empty, then filled and changed
    model.set_rows([HealthRow(health(1)), HealthRow(health(2, silent_alarm="No mentions for 5 h"))])
    model.tick()
    model.set_rows([HealthRow(health(4))])
    assert model.index(0).data(HealthRole.State) == "ok"


def test_refresh_reads_health_off_the_qt_thread(qloop: Any, core: Any) -> None:
    vm = AccountsViewModel(core)
    seen: list[int] = []
    vm.refreshed.connect(lambda: seen.append(vm.model.rowCount()))
    vm.refresh_if_watched()  # nobody looks: nothing is read
    assert vm.model.rowCount() == 0
    vm.watch(True)
    run(qloop, wait_until(lambda: seen, what="the first read"))
    assert seen == [3] and vm.updated_at is not None
    rows = vm.model.rows()
    assert [r.health.network for r in rows] == ["demo", "demo", "demo"]
    assert all(r.server_url for r in rows)
    target = vm.sign_in_target(rows[0].account_id)
    assert target is not None and target.network == "demo" and target.handle == rows[0].health.handle
    assert vm.sign_in_target(999) is None
    vm.watch(False)
    assert not vm.watched
    run(qloop, vm.aclose())


def test_mastodon_flow_refuses_plain_http_in_words_without_starting(qloop: Any, core: Any) -> None:
    vm = AccountsViewModel(core)
    flow = vm.mastodon_flow()
    errors: list[str] = []
    flow.error.connect(errors.append)
    flow.start("http://social.example")
    assert flow.phase == "idle" and errors[-1].startswith("Use an https:// address for social.example")
    flow.use_code("abc")  # nothing started: ignored
    assert flow.phase == "idle"
    bsky = vm.bluesky_flow()
    bsky.error.connect(errors.append)
    bsky.sign_in("https://bsky.social", "  @ ", "pw")
    assert errors[-1] == "Give the account's handle, for example acme.bsky.social."
    bsky.sign_in("https://bsky.social", "acme.bsky.social", " ")
    assert errors[-1] == "Enter an app password." and bsky.phase == "idle"
    run(qloop, vm.aclose())


def test_signed_out_accounts_from_an_earlier_session_and_signing_in_again(qloop: Any, core: Any) -> None:
    with core.db.session() as s:
        acc = s.get(Account, 2)
        acc.last_error, acc.last_error_kind = "The token was revoked.", "signed_out"
        s.add(acc)
    vm = MainViewModel(core)
    banners: list[tuple[str, str]] = []
    vm.banner.connect(lambda k, m: banners.append((k, m)))
    vm.load()  # before any sync
    [out] = vm.signed_out_accounts()
    assert (out.account_id, out.reason) == (2, "The token was revoked.")
    assert banners[-1][0] == "signed_out" and banners[-1][1].endswith("its replies wait in the outbox meanwhile.")

    async def two_signed_out() -> SyncReport:
        return SyncReport(problems=(AccountProblem(1, "@acme@demo.social", "signed_out", "Refused."),))

    core.sync_once = two_signed_out
    vm.sync_now()
    run(qloop, wait_until(lambda: len(banners) > 1))
    assert banners[-1][1].startswith("@acme@demo.social and 1 other account are signed out. Sign in again")

    with core.db.session() as s:  # what a new sign-in does to the row
        acc = s.get(Account, 2)
        acc.last_error = acc.last_error_kind = None
        s.add(acc)
    vm.account_added(2)
    assert [s.account_id for s in vm.signed_out_accounts()] == [1]
    vm.account_added(1)
    assert vm.signed_out_accounts() == [] and vm.current_banner is None
    run(qloop, vm.aclose())
