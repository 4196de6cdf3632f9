"""The timeline: a lazy list model over the database, a page of posts at a time, newest first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Protocol

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QObject, Qt

from services.changes import Changes
from services.store.posts import PageKey, PostRow, TimelineFilter
from views.rows import AnyIndex, row_flags

PAGE_SIZE = 200
#: More arrivals than a page in one change: reload the first page rather than insert them one by one.
RELOAD_ABOVE = PAGE_SIZE
#: Search results sort by id only (services page them that way); this stands in for the date.
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


class TimelineSource(Protocol):
    """The part of the core a timeline reads (``services.core.Parley`` has it)."""

    def page(self, flt: TimelineFilter, after: PageKey | None = None, limit: int = PAGE_SIZE) -> list[PostRow]: ...
    def rows_newer_than(self, flt: TimelineFilter, min_id: int) -> list[PostRow]: ...
    def rows_by_id(self, ids: Iterable[int]) -> list[PostRow]: ...
    def matching(self, flt: TimelineFilter, ids: Iterable[int]) -> set[int]: ...
    def max_post_id(self) -> int: ...


class PostRole(IntEnum):
    """Data roles of the timeline (and of the conversation lists built on PostRow)."""

    Row = Qt.ItemDataRole.UserRole + 1
    Id = Qt.ItemDataRole.UserRole + 2
    AuthorName = Qt.ItemDataRole.UserRole + 3
    AuthorHandle = Qt.ItemDataRole.UserRole + 4
    Text = Qt.ItemDataRole.UserRole + 5
    CreatedAt = Qt.ItemDataRole.UserRole + 6
    Urgent = Qt.ItemDataRole.UserRole + 7
    Negative = Qt.ItemDataRole.UserRole + 8
    Urgency = Qt.ItemDataRole.UserRole + 9
    Reasons = Qt.ItemDataRole.UserRole + 10
    Status = Qt.ItemDataRole.UserRole + 11
    OutboxState = Qt.ItemDataRole.UserRole + 12
    AccountLabel = Qt.ItemDataRole.UserRole + 13
    Network = Qt.ItemDataRole.UserRole + 14
    Answered = Qt.ItemDataRole.UserRole + 15


class TimelineModel(QAbstractListModel):
    """Posts of one ``TimelineFilter``, loaded page by page as the view scrolls.

    It never loads every id: ``fetchMore`` asks the core for the next keyset page. ``apply_changes``
    keeps the loaded rows current without a reset, so the selection and scroll position survive.
    """

    def __init__(self, source: TimelineSource, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._filter = TimelineFilter()
        self._rows: list[PostRow] = []
        self._pos: dict[int, int] = {}
        self._exhausted = True
        self._seen_max = 0
        self._account_labels: dict[int, str] = {}
        self._started = False

    # -- state ----------------------------------------------------------------------------------

    @property
    def filter(self) -> TimelineFilter:
        """The filter the model shows."""
        return self._filter

    @property
    def exhausted(self) -> bool:
        """Whether every matching post has been loaded."""
        return self._exhausted

    def set_filter(self, flt: TimelineFilter) -> None:
        """Show another filter: reset and load its first page."""
        self._filter = flt
        self.reload()

    def reload(self) -> None:
        """Drop the loaded rows and load the first page again."""
        self.beginResetModel()
        self._started = True
        self._seen_max = self._source.max_post_id()
        self._rows = self._source.page(self._filter, None, PAGE_SIZE)
        self._exhausted = len(self._rows) < PAGE_SIZE
        self._reindex()
        self.endResetModel()

    def set_account_labels(self, labels: Mapping[int, str]) -> None:
        """How each account is named on the cards ("Demo · Mastodon-style")."""
        self._account_labels = dict(labels)
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1), [PostRole.AccountLabel])

    def post_at(self, row: int) -> PostRow | None:
        """The post shown in ``row``."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, post_id: int) -> int | None:
        """Where a post is shown, if it is loaded."""
        return self._pos.get(post_id)

    def index_of(self, post_id: int) -> QModelIndex:
        """The index of a loaded post (invalid when it is not loaded)."""
        row = self._pos.get(post_id)
        return self.index(row) if row is not None else QModelIndex()

    def loaded(self) -> list[PostRow]:
        """The loaded posts, in display order (a copy)."""
        return list(self._rows)

    # -- Qt model API ---------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's own default)
        return 0 if parent.isValid() else len(self._rows)

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._started and not self._exhausted

    def fetchMore(self, parent: AnyIndex) -> None:
        if parent.isValid() or self._exhausted or not self._started:
            return
        last = self._rows[-1] if self._rows else None
        after = PageKey(last.created_at, last.id) if last is not None else None
        page = self._source.page(self._filter, after, PAGE_SIZE)
        self._exhausted = len(page) < PAGE_SIZE
        known = self._pos
        page = [r for r in page if r.id not in known]  # an insert from apply_changes may already be here
        if not page:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        for i, r in enumerate(page, start=first):
            self._pos[r.id] = i
        self.endInsertRows()

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        for role in PostRole:
            names[int(role)] = QByteArray(role.name[0].lower().encode() + role.name[1:].encode())
        return names

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return row_flags(index)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{r.author_name or r.author_handle}: {r.text}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return r.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            urgent = "Urgent. " if r.urgent else ""
            return f"{urgent}{r.author_name or r.author_handle} wrote: {r.text}"
        return self._role_value(r, role)

    def _role_value(self, r: PostRow, role: int) -> Any:
        match role:
            case PostRole.Row:
                return r
            case PostRole.Id:
                return r.id
            case PostRole.AuthorName:
                return r.author_name or r.author_handle
            case PostRole.AuthorHandle:
                return r.author_handle
            case PostRole.Text:
                return r.text
            case PostRole.CreatedAt:
                return r.created_at
            case PostRole.Urgent:
                return r.urgent
            case PostRole.Negative:
                return r.negative
            case PostRole.Urgency:
                return r.urgency
            case PostRole.Reasons:
                return [reason.label for reason in r.reasons]
            case PostRole.Status:
                return r.status
            case PostRole.OutboxState:
                return r.outbox_state
            case PostRole.AccountLabel:
                return self._account_labels.get(r.account_id, r.account_handle)
            case PostRole.Network:
                return r.network
            case PostRole.Answered:
                return r.answered
        return None

    # -- keeping current ------------------------------------------------------------------------

    def _key(self, r: PostRow) -> tuple[datetime, int]:
        return (_NO_DATE, r.id) if self._filter.by_id else (r.created_at, r.id)

    def _reindex(self, start: int = 0) -> None:
        if start == 0:
            self._pos = {}
        for i in range(start, len(self._rows)):
            self._pos[self._rows[i].id] = i

    def _within_loaded(self, r: PostRow) -> bool:
        """Whether ``r`` belongs to the loaded range (older rows come with a later ``fetchMore``)."""
        if self._exhausted or not self._rows:
            return self._exhausted
        return self._key(r) > self._key(self._rows[-1])

    def _insert_sorted(self, r: PostRow) -> None:
        key = self._key(r)
        lo, hi = 0, len(self._rows)
        while lo < hi:  # the first row older than r (rows are newest first)
            mid = (lo + hi) // 2
            if self._key(self._rows[mid]) > key:
                lo = mid + 1
            else:
                hi = mid
        self.beginInsertRows(QModelIndex(), lo, lo)
        self._rows.insert(lo, r)
        self._reindex(lo)
        self.endInsertRows()

    def _remove(self, post_id: int) -> None:
        row = self._pos.get(post_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        del self._pos[post_id]
        self._reindex(row)
        self.endRemoveRows()

    def _replace(self, r: PostRow) -> None:
        row = self._pos[r.id]
        if self._rows[row] == r:
            return
        self._rows[row] = r
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def apply_changes(self, changes: Changes) -> None:
        """Insert new arrivals in order, refresh changed rows, drop rows the filter no longer keeps."""
        if not self._started:
            return
        if len(changes.new_posts) > RELOAD_ABOVE:
            self.reload()
            return
        touched = set(changes.updated_posts) | set(changes.new_posts)
        if changes.new_posts:
            # Arrivals since the last look, from this process or any other sharing the database.
            for r in self._source.rows_newer_than(self._filter, self._seen_max):
                self._seen_max = max(self._seen_max, r.id)
                touched.discard(r.id)
                if r.id in self._pos:
                    self._replace(r)
                elif self._within_loaded(r):
                    self._insert_sorted(r)
            self._seen_max = max(self._seen_max, max(changes.new_posts))
        if not touched:
            return
        keep = self._source.matching(self._filter, touched)
        for post_id in touched - keep:
            self._remove(post_id)
        if not keep:
            return
        for r in sorted(self._source.rows_by_id(keep), key=self._key, reverse=True):
            if r.id in self._pos:
                self._replace(r)
            elif self._within_loaded(r):
                self._insert_sorted(r)
