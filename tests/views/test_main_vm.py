"""The main view-model: the sync loop, the reply queue offline and online, banners, actions, error routing."""

from __future__ import annotations

from typing import Any

from services.changes import Changes
from services.errors import AuthExpired
from services.store.posts import TimelineFilter
from services.sync import AccountProblem, SyncReport
from tests.views.qtasync import run, wait_until
from views.main_vm import MainViewModel, StatusInfo
from views.sidebar_model import SidebarRole


class Recorder:
    """Collects a view-model's signals."""

    def __init__(self, vm: MainViewModel) -> None:
        self.banners: list[tuple[str, str]] = []
        self.cleared = 0
        self.notices: list[str] = []
        self.unexpected: list[tuple[str, object]] = []
        self.status: list[StatusInfo] = []
        self.online: list[bool] = []
        self.changes: list[Changes] = []
        vm.banner.connect(lambda k, m: self.banners.append((k, m)))
        vm.banner_cleared.connect(self._clear)
        vm.notice.connect(self.notices.append)
        vm.unexpected.connect(lambda n, e: self.unexpected.append((n, e)))
        vm.status.connect(self.status.append)
        vm.online_changed.connect(self.online.append)
        vm.changed.connect(self.changes.append)

    def _clear(self) -> None:
        self.cleared += 1


def _started(qloop: Any, core: Any) -> tuple[MainViewModel, Recorder]:
    vm = MainViewModel(core)
    rec = Recorder(vm)
    vm.load()
    vm.start()
    run(qloop, wait_until(lambda: vm.syncs_done >= 1, what="the first sync"))
    return vm, rec


def test_the_first_sync_fills_the_models(qloop: Any, core: Any) -> None:
    vm, rec = _started(qloop, core)
    try:
        assert vm.timeline.rowCount() == core.count(TimelineFilter()) > 0
        assert vm.sidebar.index_of_key("all").data(SidebarRole.Count) == vm.timeline.rowCount()
        assert vm.sidebar.index_of_key("urgent").data(SidebarRole.Count) > 0
        assert vm.online and vm.has_demo and not vm.demo_offline
        last = rec.status[-1]
        assert len(last.accounts) == 3 and all(a.last_sync is not None for a in last.accounts)
        assert last.queued == 0 and last.last_sync is not None
        assert rec.changes and rec.changes[-1].new_posts
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_a_reply_waits_offline_and_is_sent_when_online(qloop: Any, core: Any) -> None:
    vm, rec = _started(qloop, core)
    try:
        urgent = next(r for r in vm.timeline.loaded() if r.urgent)
        vm.set_demo_offline(True)
        run(qloop, wait_until(lambda: not vm.online and rec.banners))
        assert rec.banners[-1][0] == "offline"
        vm.queue_reply(urgent.id, "So sorry, we're looking into it now.")
        run(qloop, wait_until(lambda: vm.outbox.rowCount() == 1))
        item = vm.outbox.item_at(0)
        assert item is not None and item.state == "queued"
        row = vm.timeline.row_of(urgent.id)
        assert row is not None and vm.timeline.post_at(row).outbox_state == "queued"  # type: ignore[union-attr]
        run(qloop, wait_until(lambda: "1 reply is queued" in rec.banners[-1][1]))
        assert rec.banners[-1][1] == (
            "You are offline. 1 reply is queued and will be sent when the connection returns."
        )
        assert rec.status[-1].queued == 1
        vm.set_demo_offline(False)
        run(qloop, wait_until(lambda: vm.outbox.item_at(0).state == "sent", what="the reply to be sent"))  # type: ignore[union-attr]
        run(qloop, wait_until(lambda: vm.current_banner is None))
        assert vm.online and rec.cleared >= 1
        assert core.networks.demo_world.replies_count() == 1
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_done_removes_a_post_from_urgent(qloop: Any, core: Any) -> None:
    vm, _rec = _started(qloop, core)
    try:
        vm.set_scope(TimelineFilter(view="urgent"))
        first = vm.timeline.post_at(0)
        assert first is not None and first.urgent
        before = vm.timeline.rowCount()
        vm.set_status([first.id], "done")
        run(qloop, wait_until(lambda: vm.timeline.rowCount() == before - 1))
        assert vm.timeline.row_of(first.id) is None
        assert vm.sidebar.index_of_key("done").data(SidebarRole.Count) == 1
        vm.snooze([vm.timeline.post_at(0).id], "1h")  # type: ignore[union-attr]
        run(qloop, wait_until(lambda: vm.sidebar.index_of_key("snoozed").data(SidebarRole.Count) == 1))
    finally:
        run(qloop, vm.aclose())


def test_filters_combine_scope_search_and_urgent_only(qloop: Any, core: Any) -> None:
    vm, _rec = _started(qloop, core)
    try:
        acc = vm.accounts[0].id
        vm.set_scope(TimelineFilter(account_id=acc))
        vm.set_urgent_only(True)
        assert vm.timeline.filter == TimelineFilter(view="urgent", account_id=acc)
        vm.set_search("refund ")
        assert vm.timeline.filter.search == "refund"
        assert all(r.account_id == acc and r.urgent for r in vm.timeline.loaded())
        vm.set_urgent_only(False)
        vm.set_search("")
        assert vm.timeline.filter == TimelineFilter(account_id=acc)
    finally:
        run(qloop, vm.aclose())


def test_known_errors_are_notices_and_bugs_go_to_unexpected(qloop: Any, core: Any) -> None:
    vm, rec = _started(qloop, core)
    try:
        post = vm.timeline.post_at(0)
        assert post is not None
        vm.queue_reply(post.id, "   ")
        run(qloop, wait_until(lambda: rec.notices))
        assert rec.notices[-1] == "The reply is empty."

        async def bug() -> None:
            raise RuntimeError("a bug")

        vm.runner.spawn(bug(), name="bug")
        run(qloop, wait_until(lambda: rec.unexpected))
        assert rec.unexpected[0][0] == "bug" and isinstance(rec.unexpected[0][1], RuntimeError)
    finally:
        run(qloop, vm.aclose())


def test_a_signed_out_account_shows_a_banner(qloop: Any, core: Any) -> None:
    vm = MainViewModel(core)
    rec = Recorder(vm)
    vm.load()

    async def signed_out() -> SyncReport:
        exc = AuthExpired("The token was revoked.")
        return SyncReport(problems=(AccountProblem(1, "@acme@demo.social", exc.kind, str(exc)),))

    core.sync_once = signed_out
    vm.sync_now()
    run(qloop, wait_until(lambda: rec.banners))
    kind, message = rec.banners[-1]
    assert kind == "signed_out"
    assert message.startswith("@acme@demo.social is signed out. Sign in again")
    assert [(s.account_id, s.reason) for s in vm.signed_out_accounts()] == [(1, "The token was revoked.")]
    run(qloop, vm.aclose())


def test_a_bug_in_one_sync_pass_does_not_stop_the_loop(qloop: Any, core: Any) -> None:
    vm = MainViewModel(core)
    rec = Recorder(vm)
    calls: list[int] = []
    real = core.sync_once

    async def flaky() -> SyncReport:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first pass breaks")
        return await real()

    core.sync_once = flaky
    vm.load()
    vm.start()
    run(qloop, wait_until(lambda: rec.unexpected))
    vm.sync_now()
    run(qloop, wait_until(lambda: vm.syncs_done >= 1))
    assert rec.unexpected[0][0] == "sync"
    run(qloop, vm.aclose())


def test_settings_are_saved_and_applied(qloop: Any, core: Any) -> None:
    vm = MainViewModel(core)
    vm.load()
    saved: list[dict[str, Any]] = []
    vm.settings_changed.connect(saved.append)
    vm.save_settings({"sync_interval": 30, "operator": "Jo", "theme": "dark", "urgency_threshold": 0.4})
    run(qloop, wait_until(lambda: saved))
    assert core.settings["sync_interval"] == 30 and core.settings["theme"] == "dark"
    assert core.load_settings()["operator"] == "Jo"  # stored, not only cached
    assert vm.sidebar.index_of_key("mine").data(SidebarRole.Filter) == TimelineFilter(view="mine", operator="Jo")
    notices: list[str] = []
    vm.notice.connect(notices.append)
    vm.save_settings({"sync_interval": 1})
    run(qloop, wait_until(lambda: notices))
    assert "at least" in notices[-1]
    run(qloop, vm.aclose())


def test_outbox_actions(qloop: Any, core: Any) -> None:
    vm, rec = _started(qloop, core)
    try:
        post = vm.timeline.post_at(0)
        assert post is not None
        vm.set_demo_offline(True)
        run(qloop, wait_until(lambda: not vm.online))
        vm.queue_reply(post.id, "First try")
        run(qloop, wait_until(lambda: vm.outbox.rowCount() == 1))
        item = vm.outbox.item_at(0)
        assert item is not None
        vm.edit(item.id, "Second try")
        run(qloop, wait_until(lambda: vm.outbox.item_at(0).text == "Second try"))  # type: ignore[union-attr]
        vm.cancel(item.id)
        run(qloop, wait_until(lambda: vm.outbox.item_at(0).state == "cancelled"))  # type: ignore[union-attr]
        vm.retry(item.id)  # a cancelled reply cannot be retried: a notice, not a crash
        run(qloop, wait_until(lambda: any("cannot be retried" in n for n in rec.notices)))
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_streaming_accounts_are_followed_live_beside_polling(qloop: Any, core: Any) -> None:
    from dataclasses import replace

    from services.errors import InvalidInput

    vm = MainViewModel(core)
    rec = Recorder(vm)
    vm.load()
    first, second, _third = vm.accounts
    # Pretend two accounts are on a network that may stream; the demo ones are polled only.
    vm._accounts = [replace(first, network="mastodon"), replace(second, network="bluesky"), _third]
    streamed: list[int] = []

    async def stream_account(account_id: int, on_new: Any = None) -> None:
        streamed.append(account_id)
        if account_id == second.id:
            raise InvalidInput("This account cannot be followed live; its mentions are polled.")
        ids = [r.id for r in core.page(TimelineFilter(), None, 5)]
        on_new(Changes(new_posts=frozenset(ids)))

    core.stream_account = stream_account
    vm.start()
    run(qloop, wait_until(lambda: len(streamed) == 2 and vm.syncs_done >= 1))
    assert sorted(streamed) == sorted([first.id, second.id])
    assert not rec.unexpected and not any("followed live" in n for n in rec.notices)  # polled quietly
    run(qloop, vm.aclose())
