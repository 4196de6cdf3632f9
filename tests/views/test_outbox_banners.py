"""The GUI names an outbox stop by its kind (offline, signed out, rate limited, failing), not by its message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.outbox import Outbox
from tests.helpers.networks import ScriptedRegistry
from tests.views.qtasync import run, wait_until
from views.main_vm import MainViewModel


def started_with_faults(qloop: Any, core: Any, data_dir: Path) -> tuple[MainViewModel, ScriptedRegistry]:
    """A started view-model whose core sends through scripted connectors (syncs use the real demo ones)."""
    registry = ScriptedRegistry(data_dir, core.networks.demo_world)
    core.outbox = Outbox(core.db, registry)
    vm = MainViewModel(core)
    vm.load()
    vm.start()
    run(qloop, wait_until(lambda: vm.syncs_done >= 1, what="the first sync"))
    return vm, registry


def first_post_of(vm: MainViewModel, account_id: int) -> int:
    return next(r.id for r in vm.timeline.loaded() if r.account_id == account_id and r.kind != "own_reply")


@pytest.mark.parametrize(
    ("fault", "kind", "says"),
    [
        ("rate_limited", "rate_limited", "The reply budget for this hour is used up. Parley waits"),
        ("signed_out", "signed_out", "is signed out. Sign in again"),
        ("offline", "offline", "You are offline. 1 reply is queued"),
        # 5xx only: a plain banner naming the server (demo://acme-connect), never "offline".
        ("server_error", "server_failing", "acme-connect is failing (HTTP 503); replies wait and are retried by"),
    ],
)
def test_a_stop_while_sending_picks_the_banner_by_its_kind(
    qloop: Any, core: Any, data_dir: Path, fault: str, kind: str, says: str
) -> None:
    vm, registry = started_with_faults(qloop, core, data_dir)
    banners: list[tuple[str, str]] = []
    vm.banner.connect(lambda k, m: banners.append((k, m)))
    try:
        account = vm.accounts[0]
        registry.script(account.id, fault)  # none of the scripted messages says "offline" or "slow down"
        vm.queue_reply(first_post_of(vm, account.id), "We are looking into it.")
        run(qloop, wait_until(lambda: bool(banners), what="a banner"))
        assert banners[-1][0] == kind
        assert says in banners[-1][1]
        assert vm.online == (kind != "offline")
        assert vm.outbox.paused()[0].kind == ("unknown" if fault == "server_error" else kind)
        if kind == "signed_out":
            assert [s.account_id for s in vm.signed_out_accounts()] == [account.id]
            assert banners[-1][1].startswith(f"{account.handle} is signed out.")
    finally:
        run(qloop, vm.aclose())


def test_a_sync_that_works_lifts_the_stop_and_sends(qloop: Any, core: Any, data_dir: Path) -> None:
    vm, registry = started_with_faults(qloop, core, data_dir)
    cleared: list[bool] = []
    vm.banner_cleared.connect(lambda: cleared.append(True))
    try:
        account = vm.accounts[0]
        registry.script(account.id, "offline")
        vm.queue_reply(first_post_of(vm, account.id), "We are looking into it.")
        run(qloop, wait_until(lambda: vm.current_banner is not None and not vm.online))
        vm.sync_now()  # the demo network answers the sync: the account may send again at once
        run(qloop, wait_until(lambda: vm.outbox.item_at(0) is not None and vm.outbox.item_at(0).state == "sent"))  # type: ignore[union-attr]
        run(qloop, wait_until(lambda: vm.current_banner is None))
        assert vm.online and cleared
        assert vm.outbox.item_at(0).last_error is None  # type: ignore[union-attr]
    finally:
        run(qloop, vm.aclose())
