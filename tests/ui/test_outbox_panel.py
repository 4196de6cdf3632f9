"""The outbox panel says which account's sending is paused by an outage, and each waiting reply says why."""

from __future__ import annotations

from typing import Any

from services.outbox import Outbox
from tests.helpers.networks import ScriptedRegistry
from tests.views.qtasync import run, wait_until
from views.outbox_model import OutboxColumn


def test_a_paused_account_shows_in_the_summary_and_the_reasons(window: Any, qloop: Any, core: Any) -> None:
    win, vm = window
    registry = ScriptedRegistry(core.data_dir, core.networks.demo_world)
    core.outbox = Outbox(core.db, registry)  # sends through scripted connectors; syncs stay real
    vm.sync_now()
    run(qloop, wait_until(lambda: vm.syncs_done >= 1, what="the first sync"))
    account = vm.accounts[0]
    registry.script(account.id, "offline")
    posts = [r.id for r in vm.timeline.loaded() if r.account_id == account.id and r.kind != "own_reply"][:2]
    for post in posts:
        vm.queue_reply(post, "We are looking into it.")
        run(qloop, wait_until(lambda: vm.outbox.paused(), what="the account's pause"))
    run(qloop, wait_until(lambda: vm.outbox.rowCount() == 2))
    panel = win.outbox_panel
    assert f"{account.handle} paused (the network cannot be reached)" in panel.summary.text()
    reasons = {vm.outbox.index(i, OutboxColumn.Error).data() for i in range(2)}
    assert "Connection refused by 10.0.0.7." in reasons  # the reply that met the outage
    assert any(r.startswith("Waiting: the network cannot be reached; next try ") for r in reasons)
    vm.sync_now()  # the demo network answers: the pause is lifted and both replies go
    run(qloop, wait_until(lambda: {vm.outbox.item_at(i).state for i in range(2)} == {"sent"}))
    assert "paused" not in panel.summary.text()
