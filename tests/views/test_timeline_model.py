"""The timeline model: lazy keyset paging, and keeping current with Changes without a reset."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex

from services.changes import Changes
from services.store.posts import PostRow, TimelineFilter
from tests.views.conftest import import_posts
from tests.views.qtasync import run
from views.timeline_model import PAGE_SIZE, PostRole, TimelineModel


def _all_ids(core: Any, flt: TimelineFilter) -> list[int]:
    """Every matching id in display order, read page by page the way the model does."""
    out: list[int] = []
    after = None
    while True:
        page = core.page(flt, after, 500)
        out += [r.id for r in page]
        if len(page) < 500:
            return out
        from services.store.posts import PageKey

        after = PageKey(page[-1].created_at, page[-1].id)


class CountingSource:
    """Wraps the core and counts page reads, to prove the model never loads everything at once."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.pages: list[int] = []

    def page(self, flt: TimelineFilter, after: Any = None, limit: int = PAGE_SIZE) -> list[PostRow]:
        rows: list[PostRow] = self.core.page(flt, after, limit)
        self.pages.append(len(rows))
        assert limit <= PAGE_SIZE
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)


def test_passes_qtmodeltester(qtmodeltester: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    model.set_filter(TimelineFilter())
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester
    model.fetchMore(QModelIndex())
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester


def test_pages_are_fetched_lazily(qapp: Any, big_core: Any) -> None:
    source = CountingSource(big_core)
    model = TimelineModel(source)
    assert model.rowCount() == 0 and not model.canFetchMore(QModelIndex())  # nothing before a filter
    model.set_filter(TimelineFilter())
    assert model.rowCount() == PAGE_SIZE
    assert source.pages == [PAGE_SIZE]
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 2 * PAGE_SIZE
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 450
    assert not model.canFetchMore(QModelIndex())
    assert source.pages == [200, 200, 50]
    ids = [r.id for r in model.loaded()]
    assert ids == _all_ids(big_core, TimelineFilter())  # newest first, no gaps, no repeats


def test_roles_expose_the_row(qapp: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    model.set_filter(TimelineFilter())
    idx = model.index(0)
    row = idx.data(PostRole.Row)
    assert isinstance(row, PostRow)
    assert idx.data(PostRole.Id) == row.id
    assert idx.data(PostRole.Text) == row.text
    assert idx.data(PostRole.Urgent) == row.urgent
    assert idx.data(PostRole.Reasons) == [r.label for r in row.reasons]
    assert model.row_of(row.id) == 0
    assert model.index_of(row.id) == idx
    assert b"authorName" in model.roleNames().values()


def test_new_arrivals_are_inserted_in_order_without_a_reset(qapp: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    flt = TimelineFilter()
    model.set_filter(flt)
    model.fetchMore(QModelIndex())  # 400 of 450 loaded
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    # Newer than everything, between loaded rows, and older than the loaded range.
    new_ids = import_posts(big_core, 3, start=1000, minutes=0, offset=10_000)
    new_ids += import_posts(big_core, 1, start=2000, minutes=0, offset=300.5)
    new_ids += import_posts(big_core, 1, start=3000, minutes=0, offset=10.5)
    model.apply_changes(Changes(new_posts=frozenset(new_ids)))
    assert not resets
    assert len(inserted) == 4  # the old one waits for fetchMore
    loaded = [r.id for r in model.loaded()]
    expected = _all_ids(big_core, flt)
    assert loaded == expected[: len(loaded)]
    model.fetchMore(QModelIndex())
    assert [r.id for r in model.loaded()] == expected  # the old one came with the next page, once


def test_rows_that_stop_matching_are_removed_and_updates_refresh(qapp: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    flt = TimelineFilter(view="unanswered")
    model.set_filter(flt)
    first, second = model.post_at(0), model.post_at(1)
    assert first is not None and second is not None
    changed: list[int] = []
    model.dataChanged.connect(lambda a, _b, _r=None: changed.append(a.row()))
    changes = big_core.set_status([first.id], "done")
    model.apply_changes(changes)
    assert model.row_of(first.id) is None  # done posts leave "unanswered"
    assert model.post_at(0) == second
    changes = big_core.set_status([second.id], "open")
    model.apply_changes(changes)
    assert model.row_of(second.id) == 0
    assert changed == [0]
    assert model.post_at(0) is not None and model.post_at(0).status == "open"  # type: ignore[union-attr]
    # Reopened, it matches again and comes back at its place.
    model.apply_changes(big_core.set_status([first.id], "open"))
    assert model.row_of(first.id) == 0


def test_a_large_arrival_reloads_the_first_page(qapp: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    model.set_filter(TimelineFilter())
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    ids = import_posts(big_core, 250, start=5000, offset=50_000)
    model.apply_changes(Changes(new_posts=frozenset(ids)))
    assert resets == [1]
    assert model.rowCount() == PAGE_SIZE
    assert model.post_at(0) is not None and model.post_at(0).id == max(ids)  # type: ignore[union-attr]


def test_search_pages_by_id(qapp: Any, big_core: Any) -> None:
    model = TimelineModel(big_core)
    model.set_filter(TimelineFilter(search="refund"))
    assert model.rowCount() == 90  # every fifth post mentions a refund
    ids = [r.id for r in model.loaded()]
    assert ids == sorted(ids, reverse=True)
    model.set_filter(TimelineFilter(search="!!!"))  # no searchable word: nothing, rather than everything
    assert model.rowCount() == 0 and model.exhausted


def test_apply_changes_after_a_sync(qapp: Any, qloop: Any, core: Any, qtmodeltester: Any) -> None:
    model = TimelineModel(core)
    model.set_filter(TimelineFilter(view="urgent"))
    assert model.rowCount() == 0
    report = run(qloop, core.sync_once())
    model.apply_changes(report.changes)
    assert model.rowCount() == core.count(TimelineFilter(view="urgent")) > 0
    assert all(r.urgent for r in model.loaded())
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)  # and Qt's own QAbstractItemModelTester
