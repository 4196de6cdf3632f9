"""The sidebar: views, then networks, then accounts, each with its count and its timeline filter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt

from services.store.posts import TimelineFilter
from views.rows import AnyIndex

#: The fixed views, in sidebar order, with their labels.
VIEWS: tuple[tuple[str, str], ...] = (
    ("all", "All"),
    ("urgent", "Urgent"),
    ("unanswered", "Unanswered"),
    ("mine", "Mine"),
    ("snoozed", "Snoozed"),
    ("done", "Done"),
)

#: How networks are named in the sidebar.
NETWORK_NAMES: dict[str, str] = {
    "demo": "Demo network",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "x": "X",
    "facebook": "Facebook",
}


class SidebarRole(IntEnum):
    """Data roles of the sidebar."""

    Filter = Qt.ItemDataRole.UserRole + 1
    Count = Qt.ItemDataRole.UserRole + 2
    Key = Qt.ItemDataRole.UserRole + 3
    IsGroup = Qt.ItemDataRole.UserRole + 4
    Kind = Qt.ItemDataRole.UserRole + 5  # "view" | "network" | "account" | "group"


@dataclass(frozen=True, slots=True)
class SidebarEntry:
    """One selectable line: a view, a network or an account."""

    key: str  # the key of core.counts(): "urgent", "net:demo", "acc:3"
    label: str
    kind: str
    filter: TimelineFilter
    count: int = 0
    tooltip: str = ""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What the sidebar needs of an account (``services.core.AccountRow`` has these fields)."""

    id: int
    network: str
    handle: str
    display_name: str
    label: str


@dataclass(slots=True)
class _Group:
    title: str
    entries: list[SidebarEntry]


class SidebarModel(QAbstractItemModel):
    """A two-level tree: group headers ("Views", "Networks", "Accounts") holding selectable entries.

    Top-level indexes carry internal id 0; an entry carries its group's row + 1, so ``parent()``
    needs no pointers into Python objects.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._groups: list[_Group] = []
        self._operator = ""
        self._set_structure([])

    # -- building -------------------------------------------------------------------------------

    def _build(self, accounts: Sequence[AccountInfo]) -> list[_Group]:
        op = self._operator
        views = [SidebarEntry(key, label, "view", TimelineFilter(view=key, operator=op)) for key, label in VIEWS]
        groups = [_Group("Views", views)]
        networks = list(dict.fromkeys(a.network for a in accounts))
        if networks:
            groups.append(
                _Group(
                    "Networks",
                    [
                        SidebarEntry(
                            f"net:{n}", NETWORK_NAMES.get(n, n.capitalize()), "network", TimelineFilter(network=n)
                        )
                        for n in networks
                    ],
                )
            )
        if accounts:
            groups.append(
                _Group(
                    "Accounts",
                    [
                        SidebarEntry(
                            f"acc:{a.id}",
                            a.handle,
                            "account",
                            TimelineFilter(account_id=a.id),
                            tooltip=f"{a.display_name or a.handle} ({a.label})",
                        )
                        for a in accounts
                    ],
                )
            )
        return groups

    def _set_structure(self, accounts: Sequence[AccountInfo]) -> None:
        self._groups = self._build(accounts)

    def set_accounts(self, accounts: Sequence[AccountInfo], operator: str = "") -> None:
        """Rebuild the entries when the accounts changed (a reset only if the structure differs)."""
        self._operator = operator
        new = self._build(accounts)
        old_keys = [[(e.key, e.label, e.filter) for e in g.entries] for g in self._groups]
        new_keys = [[(e.key, e.label, e.filter) for e in g.entries] for g in new]
        if old_keys == new_keys and [g.title for g in self._groups] == [g.title for g in new]:
            return
        counts = {e.key: e.count for g in self._groups for e in g.entries}
        for g in new:
            g.entries = [replace(e, count=counts.get(e.key, 0)) for e in g.entries]
        self.beginResetModel()
        self._groups = new
        self.endResetModel()

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Update the counts in place (selection and expansion stay as they are)."""
        for gi, g in enumerate(self._groups):
            for ri, e in enumerate(g.entries):
                n = int(counts.get(e.key, 0))
                if n != e.count:
                    g.entries[ri] = replace(e, count=n)
                    idx = self.createIndex(ri, 0, gi + 1)
                    self.dataChanged.emit(idx, idx, [SidebarRole.Count, Qt.ItemDataRole.DisplayRole])

    # -- lookups --------------------------------------------------------------------------------

    def entry(self, index: AnyIndex) -> SidebarEntry | None:
        """The entry at ``index`` (None for a group header)."""
        if not index.isValid() or index.internalId() == 0:
            return None
        g = self._groups[index.internalId() - 1]
        return g.entries[index.row()] if 0 <= index.row() < len(g.entries) else None

    def index_of_key(self, key: str) -> QModelIndex:
        """The index of the entry with this key (invalid if there is none)."""
        for gi, g in enumerate(self._groups):
            for ri, e in enumerate(g.entries):
                if e.key == key:
                    return self.createIndex(ri, 0, gi + 1)
        return QModelIndex()

    def entries(self) -> list[SidebarEntry]:
        """Every entry, in order."""
        return [e for g in self._groups for e in g.entries]

    # -- Qt model API ---------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column != 0 or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, 0, 0) if row < len(self._groups) else QModelIndex()
        if parent.internalId() != 0 or parent.column() != 0:
            return QModelIndex()
        gi = parent.row()
        if gi >= len(self._groups) or row >= len(self._groups[gi].entries):
            return QModelIndex()
        return self.createIndex(row, 0, gi + 1)

    def parent(self, index: AnyIndex | None = None) -> Any:
        # QObject.parent() and QAbstractItemModel.parent(index) share a name: without an index this
        # is the QObject owner, with one it is the tree parent Qt asks for.
        if index is None:
            return QObject.parent(self)
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() != 0 or parent.column() != 0:
            return 0
        return len(self._groups[parent.row()].entries) if parent.row() < len(self._groups) else 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.internalId() == 0:
            return Qt.ItemFlag.ItemIsEnabled  # headers group entries; they are not a timeline
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            if index.row() >= len(self._groups):
                return None
            title = self._groups[index.row()].title
            match role:
                case Qt.ItemDataRole.DisplayRole | Qt.ItemDataRole.AccessibleTextRole:
                    return title
                case SidebarRole.IsGroup:
                    return True
                case SidebarRole.Kind:
                    return "group"
                case SidebarRole.Key:
                    return f"group:{title.lower()}"
            return None
        e = self.entry(index)
        if e is None:
            return None
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return e.label
            case Qt.ItemDataRole.AccessibleTextRole:
                return f"{e.label}, {e.count}"
            case Qt.ItemDataRole.ToolTipRole:
                return e.tooltip or None
            case SidebarRole.Filter:
                return e.filter
            case SidebarRole.Count:
                return e.count
            case SidebarRole.Key:
                return e.key
            case SidebarRole.IsGroup:
                return False
            case SidebarRole.Kind:
                return e.kind
        return None
