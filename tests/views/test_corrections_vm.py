"""Correcting triage from the view-models: the timeline follows at once, the pane explains, undo takes it back."""

from __future__ import annotations

from typing import Any

from services.corrections import NOT_NEGATIVE, NOT_URGENT, URGENT
from services.store.posts import TimelineFilter
from tests.helpers.factories import GIFT_CARD, OUTAGE, PARCEL, PARCEL_AGAIN, import_texts
from tests.views.qtasync import run, wait_until
from tests.views.test_main_vm import Recorder
from views.conversation_vm import (
    Conversation,
    ConversationViewModel,
    can_undo_correction,
    correction_choices,
    correction_summary,
)
from views.main_vm import MainViewModel
from views.sidebar_model import SidebarRole


def _loaded(qloop: Any, core: Any) -> tuple[MainViewModel, Recorder, list[int]]:
    ids = import_texts(core, [PARCEL, PARCEL_AGAIN, OUTAGE, GIFT_CARD])
    vm = MainViewModel(core)
    rec = Recorder(vm)
    vm.load()
    vm.set_scope(TimelineFilter(view="urgent"))
    return vm, rec, ids


def _urgent_ids(vm: MainViewModel) -> set[int]:
    return {r.id for r in vm.timeline.loaded()}


def test_a_correction_moves_the_post_and_its_twin_out_of_the_urgent_view_and_undo_brings_them_back(
    qloop: Any, core: Any
) -> None:
    vm, rec, (first, twin, outage, _gift) = _loaded(qloop, core)
    try:
        assert _urgent_ids(vm) == {first, twin, outage}
        vm.correct(first, NOT_URGENT)
        run(qloop, wait_until(lambda: _urgent_ids(vm) == {outage}, what="the urgent view without both parcels"))
        assert rec.notices[-1] == f"Post {first} marked not urgent; 1 similar open post scored again."
        assert rec.changes[-1].updated_posts == {first, twin}
        assert vm.sidebar.index_of_key("urgent").data(SidebarRole.Count) == 1
        assert vm.last_corrected == first

        vm.undo_correction()  # the newest correction of the session
        run(qloop, wait_until(lambda: _urgent_ids(vm) == {first, twin, outage}, what="both parcels back"))
        assert rec.notices[-1] == f"Correction of post {first} withdrawn; 1 similar open post scored again."
        assert vm.last_corrected is None
        vm.undo_correction()
        assert rec.notices[-1] == "No correction to undo."
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_a_post_marked_urgent_joins_the_urgent_view_with_its_reason(qloop: Any, core: Any) -> None:
    vm, rec, (_first, _twin, _outage, gift) = _loaded(qloop, core)
    try:
        assert gift not in _urgent_ids(vm)
        vm.correct(gift, URGENT)
        run(qloop, wait_until(lambda: gift in _urgent_ids(vm), what="the gift card post in Urgent"))
        row = vm.timeline.post_at(vm.timeline.row_of(gift))  # type: ignore[arg-type]
        assert row is not None and row.reasons[0].label == "marked urgent"
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_a_refused_correction_is_a_notice_not_a_crash(qloop: Any, core: Any) -> None:
    vm, rec, _ids = _loaded(qloop, core)
    try:
        vm.undo_correction(10_000)
        run(qloop, wait_until(lambda: rec.notices, what="the notice"))
        assert rec.notices[-1] == "There is no post 10000."
        assert not rec.unexpected
    finally:
        run(qloop, vm.aclose())


def test_the_conversation_says_who_corrected_what_and_what_triage_had_said(qloop: Any, core: Any) -> None:
    first, _twin = import_texts(core, [PARCEL, PARCEL_AGAIN])
    core.save_setting("operator", "Ana")
    vm = ConversationViewModel(core)
    loaded: list[Conversation] = []
    vm.loaded.connect(loaded.append)
    vm.load(first)
    run(qloop, wait_until(lambda: loaded))
    plain = loaded[-1]
    assert plain.correction is None and not can_undo_correction(plain.post)
    assert [(c.verdict, c.enabled, c.checked) for c in plain.correction_choices] == [
        (URGENT, True, False),
        (NOT_URGENT, True, False),
        (NOT_NEGATIVE, True, False),
    ]
    core.correct(first, NOT_URGENT)
    vm.reload()
    run(qloop, wait_until(lambda: len(loaded) == 2))
    corrected = loaded[-1]
    assert corrected.correction is not None and corrected.correction.operator == "Ana"
    assert can_undo_correction(corrected.post)
    assert [(c.verdict, c.enabled, c.checked) for c in corrected.correction_choices] == [
        (URGENT, True, False),
        (NOT_URGENT, False, True),
        (NOT_NEGATIVE, True, False),
    ]
    summary = correction_summary(corrected.correction)
    assert summary.startswith("Marked not urgent by Ana at ")
    assert summary.endswith(f"triage had said urgent ({round(corrected.correction.before_urgency * 100)}% urgency)")


def test_our_own_replies_offer_no_correction(qloop: Any, core: Any) -> None:
    run(qloop, core.sync_once())
    first = next(r for r in core.page(TimelineFilter(), None, 200) if r.remote_id == "p0001")
    own = next(r for r in core.conversation(first.id) if r.is_own)
    assert not any(c.enabled for c in correction_choices(own))
