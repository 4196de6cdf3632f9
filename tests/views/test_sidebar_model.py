"""The sidebar model: views, networks, accounts, counts refreshed in place."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from services.store.posts import TimelineFilter
from views.sidebar_model import AccountInfo, SidebarModel, SidebarRole

ACCOUNTS = [
    AccountInfo(1, "demo", "@acme@demo.social", "Acme Support", "Demo · Mastodon-style"),
    AccountInfo(2, "demo", "acme.demo.bsky", "Acme", "Demo · Bluesky-style"),
    AccountInfo(3, "mastodon", "@brand@masto.example", "", "Mastodon"),
]


def _model(operator: str = "") -> SidebarModel:
    model = SidebarModel()
    model.set_accounts(ACCOUNTS, operator)
    return model


def test_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = _model()
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester
    model.set_counts({"all": 10, "urgent": 3, "net:demo": 7, "acc:1": 4})
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester


def test_an_empty_sidebar_still_has_the_views(qtmodeltester: Any) -> None:
    model = SidebarModel()
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester
    assert [e.key for e in model.entries()] == ["all", "urgent", "unanswered", "mine", "snoozed", "done"]


def test_groups_then_entries_each_with_its_filter(qapp: Any) -> None:
    model = _model(operator="jo")
    groups = [model.index(i, 0).data() for i in range(model.rowCount())]
    assert groups == ["Views", "Networks", "Accounts"]
    keys = [e.key for e in model.entries()]
    assert keys == [
        "all",
        "urgent",
        "unanswered",
        "mine",
        "snoozed",
        "done",
        "net:demo",
        "net:mastodon",
        "acc:1",
        "acc:2",
        "acc:3",
    ]
    mine = model.index_of_key("mine")
    assert mine.data(SidebarRole.Filter) == TimelineFilter(view="mine", operator="jo")
    assert model.index_of_key("net:demo").data(SidebarRole.Filter) == TimelineFilter(network="demo")
    assert model.index_of_key("acc:2").data(SidebarRole.Filter) == TimelineFilter(account_id=2)
    assert model.index_of_key("net:demo").data() == "Demo network"
    assert model.index_of_key("acc:1").data(Qt.ItemDataRole.ToolTipRole) == "Acme Support (Demo · Mastodon-style)"
    header = model.index(0, 0)
    assert header.data(SidebarRole.IsGroup) is True
    assert not model.flags(header) & Qt.ItemFlag.ItemIsSelectable
    assert model.flags(model.index_of_key("all")) & Qt.ItemFlag.ItemIsSelectable
    assert model.entry(header) is None
    assert model.parent(model.index_of_key("acc:3")) == model.index(2, 0)
    assert model.parent(header) == QModelIndex()


def test_counts_update_in_place_without_a_reset(qapp: Any) -> None:
    model = _model()
    resets: list[int] = []
    changed: list[str] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda a, _b, _r=None: changed.append(a.data(SidebarRole.Key)))
    model.set_counts({"all": 5, "urgent": 2, "acc:1": 5})
    assert not resets
    assert sorted(changed) == ["acc:1", "all", "urgent"]
    assert model.index_of_key("urgent").data(SidebarRole.Count) == 2
    changed.clear()
    model.set_counts({"all": 5, "urgent": 2, "acc:1": 5})
    assert changed == []  # nothing changed, nothing redrawn
    model.set_accounts(ACCOUNTS)  # the same accounts: no reset either
    assert not resets


def test_new_accounts_rebuild_and_keep_counts(qapp: Any) -> None:
    model = SidebarModel()
    model.set_counts({"all": 9})
    model.set_accounts(ACCOUNTS[:1])
    assert model.index_of_key("all").data(SidebarRole.Count) == 9
    assert model.index_of_key("acc:1").isValid()
    assert not model.index_of_key("acc:3").isValid()


def test_counts_from_the_core(qapp: Any, core: Any) -> None:
    model = SidebarModel()
    model.set_accounts([AccountInfo(a.id, a.network, a.handle, a.display_name, a.label) for a in core.accounts()])
    model.set_counts(core.counts())
    assert model.index_of_key("all").data(SidebarRole.Count) == core.counts()["all"]
    assert len([e for e in model.entries() if e.kind == "account"]) == 3
