"""Operator corrections: similarity, the adjustment and its reasons, undo, persistence, and every scoring path."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from services import corrections
from services.core import Parley
from services.corrections import (
    MIN_SIMILARITY,
    NOT_NEGATIVE,
    NOT_URGENT,
    URGENT,
    Correction,
    CorrectionIndex,
    features,
    similarity,
)
from services.errors import InvalidInput, NotFound
from services.store.db import open_database, sqlite_url
from services.store.models import AuditEvent, Post
from services.store.models import Correction as CorrectionRecord
from services.store.posts import rescore_open
from services.triage import VERDICT_REASON, Score, Triage, TriageInput
from tests.conftest import Clock
from tests.helpers.factories import (
    GIFT_CARD,
    OUTAGE,
    PARCEL,
    PARCEL_AGAIN,
    PARCEL_MILD,
    PRAISE,
    clocked_core,
    community,
    import_texts,
    write_community,
)


def index_of(*entries: tuple[int, str, str]) -> CorrectionIndex:
    """An index of (post id, verdict, text) corrections, made by Ana, ids in order."""
    return CorrectionIndex(
        Correction(n, post, verdict, "Ana", features(text)) for n, (post, verdict, text) in enumerate(entries, start=1)
    )


def score(text: str, index: CorrectionIndex | None = None, *, post_id: int | None = None, **context: object) -> Score:
    return Triage(corrections=index).score(TriageInput(text=text, post_id=post_id, **context))  # type: ignore[arg-type]


def labels(s: Score) -> list[str]:
    return [r.label for r in s.reasons]


# -- features and similarity ---------------------------------------------------------------------------


def test_features_are_content_words_and_cue_codes_without_handles_links_or_function_words() -> None:
    f = features("@acme@social.example my PARCEL tracking says délivered, see https://track.example/123 !!")
    assert f.words == {"parcel", "tracking", "says", "delivered"}
    assert "acme" not in f.words and "track" not in f.words and "example" not in f.words
    assert features(PARCEL).cues >= {"refund", "delivery", "repeat_contact"}
    assert not any(code.startswith("_") for code in features(PARCEL).cues)
    assert features(PARCEL) == features(PARCEL)  # deterministic


def test_similarity_needs_two_shared_words_and_is_symmetric() -> None:
    a, b = features(PARCEL), features(PARCEL_AGAIN)
    assert similarity(a, a) == 1.0
    assert similarity(a, b) == similarity(b, a) > 0.5
    # One shared word is a topic, not a likeness: "refund" alone says nothing.
    assert similarity(features("where is my refund for the broken kettle"), a) == 0.0
    assert similarity(features(OUTAGE), a) == 0.0


def test_stored_features_read_back_identically() -> None:
    f = features(PARCEL)
    assert corrections.Features.from_columns(*f.to_columns()) == f


def test_verdicts_are_read_the_way_people_type_them() -> None:
    assert corrections.parse_verdict("not-urgent") == NOT_URGENT
    assert corrections.parse_verdict(" Not negative ") == NOT_NEGATIVE
    assert corrections.parse_verdict("URGENT") == URGENT
    with pytest.raises(InvalidInput, match="not a verdict; use urgent, not-urgent or not-negative"):
        corrections.parse_verdict("meh")


# -- the index ---------------------------------------------------------------------------------------


def test_the_index_finds_the_most_similar_corrections_first_and_at_most_three() -> None:
    index = index_of(
        (10, NOT_URGENT, PARCEL),
        (11, URGENT, PARCEL_MILD),
        (12, URGENT, OUTAGE),
        (13, NOT_URGENT, PARCEL_AGAIN),
        (14, NOT_NEGATIVE, "@acme parcel tracking delivered nothing arrived refund third"),
    )
    found = index.similar(features(PARCEL_AGAIN))
    assert len(found) == 3
    assert [m.similarity for m in found] == sorted((m.similarity for m in found), reverse=True)
    assert found[0].correction.post_id == 13 and found[0].similarity == 1.0
    assert 12 not in {m.correction.post_id for m in found}
    assert all(m.similarity >= MIN_SIMILARITY for m in found)
    assert index.similar(features(PARCEL_AGAIN), exclude_post=13)[0].correction.post_id != 13


def test_a_later_correction_of_the_same_post_replaces_the_earlier_one() -> None:
    index = CorrectionIndex(
        [Correction(1, 7, URGENT, "Ana", features(PARCEL)), Correction(2, 7, NOT_URGENT, "Bo", features(PARCEL))]
    )
    assert len(index) == 1
    verdict = index.verdict_on(7)
    assert verdict is not None and verdict.verdict == NOT_URGENT and verdict.operator == "Bo"


def test_the_index_pickles_for_worker_processes() -> None:
    index = index_of((10, NOT_URGENT, PARCEL), (11, URGENT, OUTAGE))
    copy = pickle.loads(pickle.dumps(index))
    assert copy.corrections == index.corrections
    assert score(PARCEL_AGAIN, copy) == score(PARCEL_AGAIN, index)


# -- the adjustment, and what it says -----------------------------------------------------------------


def test_the_corrected_post_takes_the_verdict_and_says_who_gave_it() -> None:
    assert score(PARCEL).urgent
    index = index_of((5, NOT_URGENT, PARCEL))
    own = score(PARCEL, index, post_id=5)
    assert not own.urgent and own.negative
    assert own.reasons[0].code == VERDICT_REASON and own.reasons[0].label == "marked not urgent by Ana"

    assert not score(PRAISE).urgent
    urgent = score(PRAISE, index_of((6, URGENT, PRAISE)), post_id=6)
    assert urgent.urgent and urgent.negative and urgent.urgency >= Triage().threshold
    assert labels(urgent)[0] == "marked urgent by Ana"

    calm = score(OUTAGE, index_of((7, NOT_NEGATIVE, OUTAGE)), post_id=7)
    assert not calm.negative and not calm.urgent and labels(calm)[0] == "marked not negative by Ana"


def test_a_verdict_without_a_name_reads_plainly() -> None:
    index = CorrectionIndex([Correction(1, 5, NOT_URGENT, "", features(PARCEL))])
    assert labels(score(PARCEL, index, post_id=5))[0] == "marked not urgent"


def test_a_similar_post_is_nudged_with_a_reason_that_names_the_post_and_the_weight() -> None:
    before = score(PARCEL_AGAIN)
    assert before.urgent
    after = score(PARCEL_AGAIN, index_of((42, NOT_URGENT, PARCEL)))
    nudge = next(r for r in after.reasons if r.code == "like_corrected:42")
    sim = similarity(features(PARCEL), features(PARCEL_AGAIN))
    assert nudge.weight == round(-0.9 * sim, 3) < 0
    assert nudge.label == f"like #42 marked not urgent ({nudge.weight:+.2f})"
    assert after.urgency < before.urgency and not after.urgent
    # Everything triage found is still there and said: the nudge only adds.
    assert {r.code for r in before.reasons} <= {r.code for r in after.reasons}


def test_an_urgent_twin_makes_a_mild_post_urgent_and_a_complaint() -> None:
    mild = score(PARCEL_MILD)
    assert mild.negative and not mild.urgent
    index = index_of((3, URGENT, "@other parcel tracking says delivered but nothing arrived"))
    nudged = score(PARCEL_MILD, index)
    assert nudged.urgent and nudged.urgency > mild.urgency
    assert "like #3 marked urgent (+0.60)" in labels(nudged)


def test_a_strong_not_negative_twin_clears_the_complaint() -> None:
    assert score(PARCEL_MILD).negative
    index = index_of((3, NOT_NEGATIVE, "@other parcel tracking says delivered but nothing arrived"))
    cleared = score(PARCEL_MILD, index)
    assert not cleared.negative and not cleared.urgent


def test_noise_stays_out_of_the_urgent_view_whatever_a_similar_post_was_marked() -> None:
    index = index_of((3, URGENT, PARCEL))
    for flag in ("is_own", "is_repost", "author_is_bot"):
        assert not score(PARCEL_AGAIN, index, **{flag: True}).urgent, flag


def test_an_empty_index_changes_nothing() -> None:
    for text in (PARCEL, GIFT_CARD, OUTAGE, PRAISE):
        assert score(text, CorrectionIndex()) == score(text)


WORDS_A = ["parcel", "tracking", "courier", "porch", "delivered", "label", "driver", "refund", "missing"]
WORDS_B = ["router", "internet", "outage", "signal", "broadband", "engineer", "modem", "fibre", "down"]
sentences = st.lists(st.sampled_from(WORDS_A), min_size=1, max_size=9).map(" ".join)
other_sentences = st.lists(st.sampled_from(WORDS_B), min_size=1, max_size=9).map(" ".join)
verdicts = st.sampled_from([URGENT, NOT_URGENT, NOT_NEGATIVE])
noise = st.sampled_from(["", "!!", " still waiting", " third time", " since 7am", "?"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrected=other_sentences, post=sentences, tail=noise, verdict=verdicts)
def test_a_correction_never_changes_an_unrelated_post(corrected: str, post: str, tail: str, verdict: str) -> None:
    index = index_of((1, verdict, corrected))
    text = f"@acme {post}{tail}"
    assert score(text, index) == score(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrected=st.text(max_size=80), post=st.text(max_size=80), verdict=verdicts)
def test_a_correction_never_touches_a_post_it_shares_no_likeness_with(corrected: str, post: str, verdict: str) -> None:
    index = index_of((1, verdict, corrected))
    if similarity(features(corrected), features(post)) < MIN_SIMILARITY:
        assert score(post, index) == score(post)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrected=sentences, post=sentences, tail=noise, verdict=st.sampled_from([NOT_URGENT, NOT_NEGATIVE]))
def test_calming_corrections_never_make_a_post_urgent(corrected: str, post: str, tail: str, verdict: str) -> None:
    text = f"@acme {post}{tail}"
    before, after = score(text), score(text, index_of((1, verdict, corrected)))
    assert after.urgency <= before.urgency
    assert before.urgent or not after.urgent


# -- stored corrections: the core -------------------------------------------------------------------


def test_correct_stores_the_verdict_with_frozen_features_and_rescores_similar_open_posts(core: Parley) -> None:
    ids = import_texts(core, [PARCEL, PARCEL_AGAIN, OUTAGE, GIFT_CARD])
    first, twin, outage, gift = ids
    assert all(r.urgent for r in core.rows_by_id([first, twin]))
    outcome = core.correct(first, "not-urgent", "Ana")
    assert outcome.similar == (twin,)
    assert set(outcome.rescored) == {first, twin}
    assert outcome.changes.updated_posts == {first, twin}
    rows = {r.id: r for r in core.rows_by_id(ids)}
    assert not rows[first].urgent and rows[first].reasons[0].label == "marked not urgent by Ana"
    assert not rows[twin].urgent
    assert any(r.label.startswith(f"like #{first} marked not urgent (") for r in rows[twin].reasons)
    assert rows[outage].urgent
    for other in (outage, gift):
        assert not any(corrections.is_correction_reason(r.code) for r in rows[other].reasons)
    with core.db.session() as s:
        stored = s.exec(select(CorrectionRecord)).one()
        audit = s.exec(select(AuditEvent)).all()
    assert (stored.post_id, stored.verdict, stored.operator) == (first, NOT_URGENT, "Ana")
    assert stored.before_urgent and stored.before_negative and stored.before_urgency > 0.5
    assert corrections.Features.from_columns(stored.words, stored.cues) == features(PARCEL)
    assert [(a.action, a.target, a.operator) for a in audit] == [("correct", f"post:{first}", "Ana")]
    listed = core.corrections()
    assert [(c.post_id, c.verdict, c.active) for c in listed] == [(first, NOT_URGENT, True)]
    assert listed[0].to_json()["before"]["urgent"] is True


def test_the_operator_setting_names_the_correction(core: Parley) -> None:
    (post,) = import_texts(core, [OUTAGE])
    core.save_setting("operator", "Bo")
    core.correct(post, "not_negative")
    row = core.rows_by_id([post])[0]
    assert not row.negative and not row.urgent and row.reasons[0].label == "marked not negative by Bo"


def test_undo_restores_triage_and_withdraws_the_nudges_but_keeps_the_record(core: Parley) -> None:
    first, twin = import_texts(core, [PARCEL, PARCEL_AGAIN])
    before = {r.id: (r.urgent, r.urgency, r.reasons) for r in core.rows_by_id([first, twin])}
    core.correct(first, NOT_URGENT, "Ana")
    outcome = core.undo_correction(first, "Bo")
    assert not outcome.correction.active and outcome.correction.withdrawn_by == "Bo"
    assert outcome.changes.updated_posts == {first, twin}
    after = {r.id: (r.urgent, r.urgency, r.reasons) for r in core.rows_by_id([first, twin])}
    assert after == before
    assert core.corrections() == []
    assert [c.active for c in core.corrections(include_withdrawn=True)] == [False]
    assert len(core.triage().corrections or ()) == 0  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=f"Post {first} has no correction to undo"):
        core.undo_correction(first)


def test_a_second_correction_of_a_post_replaces_the_first(core: Parley) -> None:
    (post,) = import_texts(core, [GIFT_CARD])
    core.correct(post, URGENT, "Ana")
    assert core.rows_by_id([post])[0].urgent
    core.correct(post, NOT_NEGATIVE, "Bo")
    row = core.rows_by_id([post])[0]
    assert not row.urgent and not row.negative and row.reasons[0].label == "marked not negative by Bo"
    history = core.corrections(include_withdrawn=True)
    assert [(c.verdict, c.active, c.withdrawn_by) for c in history] == [
        (NOT_NEGATIVE, True, None),
        (URGENT, False, "Bo"),
    ]


def test_bad_corrections_are_refused_in_plain_words_and_change_nothing(core: Parley) -> None:
    (post,) = import_texts(core, [PARCEL])
    with pytest.raises(NotFound, match="There is no post 9999"):
        core.correct(9999, URGENT)
    with pytest.raises(InvalidInput, match="is not a verdict"):
        core.correct(post, "very urgent")
    with pytest.raises(NotFound):
        core.undo_correction(9999)
    assert core.corrections(include_withdrawn=True) == []
    assert core.rows_by_id([post])[0].urgent


def test_our_own_replies_cannot_be_corrected(core: Parley) -> None:
    asyncio.run(core.sync_once())
    with core.db.session() as s:
        reply = s.exec(select(Post).where(Post.kind == "own_reply")).first()
    assert reply is not None and reply.id is not None
    with pytest.raises(InvalidInput, match="our own reply; only incoming posts can be corrected"):
        core.correct(reply.id, URGENT)
    assert core.corrections(include_withdrawn=True) == []


def test_corrections_survive_a_restart_and_keep_applying_when_posts_are_rescored(data_dir: Path, clock: Clock) -> None:
    core = clocked_core(data_dir, clock)
    try:
        first, twin = import_texts(core, [PARCEL, PARCEL_AGAIN])
        core.correct(first, NOT_URGENT, "Ana")
    finally:
        core.db.close()
    again = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir, clock=clock)
    try:
        index = again.triage().corrections
        assert isinstance(index, CorrectionIndex) and [c.post_id for c in index.corrections] == [first]
        # Half an hour later the waiting time is scored again: the verdict and the nudge stay.
        clock.advance(minutes=40)
        with again.db.session() as s:
            changed = rescore_open(s, again.triage(), clock())
        assert {first, twin} <= set(changed)
        rows = {r.id: r for r in again.rows_by_id([first, twin])}
        assert not rows[first].urgent and rows[first].reasons[0].code == VERDICT_REASON
        assert any(r.label.startswith("waited") for r in rows[first].reasons)
        assert not rows[twin].urgent and any(r.code == f"like_corrected:{first}" for r in rows[twin].reasons)
    finally:
        again.db.close()


def test_a_teammates_correction_reaches_this_scorer_on_the_next_sync(data_dir: Path, clock: Clock) -> None:
    mine = clocked_core(data_dir, clock)
    theirs = Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir, clock=clock)
    try:
        (first,) = import_texts(mine, [PARCEL])
        assert len(mine.triage().corrections or ()) == 0  # type: ignore[arg-type]
        theirs.correct(first, NOT_URGENT, "Bo")
        asyncio.run(mine.sync_once())
        index = mine.triage().corrections
        assert isinstance(index, CorrectionIndex) and index.verdict_on(first) is not None
        assert not mine.refresh_corrections()  # nothing new since
    finally:
        theirs.db.close()
        mine.db.close()


# -- every scoring path uses the corrections ----------------------------------------------------------


def test_imported_posts_are_nudged_in_process_and_in_worker_processes(core: Parley) -> None:
    (first,) = import_texts(core, [PARCEL])
    core.correct(first, NOT_URGENT, "Ana")
    (one,) = import_texts(core, [PARCEL_AGAIN])
    two = import_texts(core, [PARCEL_AGAIN, OUTAGE], workers=2)  # spawned workers get the corrections
    rows = {r.id: r for r in core.rows_by_id([one, *two])}
    for post in (one, two[0]):
        assert not rows[post].urgent
        assert any(r.code == f"like_corrected:{first}" for r in rows[post].reasons)
    assert rows[two[1]].urgent


def test_posts_arriving_by_sync_are_nudged(
    data_dir: Path, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = community([-60, 3])
    data["posts"][0]["text"] = PARCEL
    data["posts"][1]["text"] = PARCEL_AGAIN
    monkeypatch.setenv("PARLEY_DEMO_DATASET", str(write_community(tmp_path / "parcels.json", data)))
    core = clocked_core(data_dir, clock)
    try:
        report = asyncio.run(core.sync_once())
        (first,) = report.changes.new_posts
        core.correct(first, NOT_URGENT, "Ana")
        clock.advance(minutes=5)
        report = asyncio.run(core.sync_once())
        (later,) = report.changes.new_posts
        row = core.rows_by_id([later])[0]
        assert not row.urgent and any(r.code == f"like_corrected:{first}" for r in row.reasons)
    finally:
        core.db.close()


def test_the_migration_drops_and_recreates_the_table(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from services.store.db import MIGRATIONS

    db = open_database(sqlite_url(tmp_path / "p.sqlite"))
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert "correction" not in inspect(db.engine).get_table_names()
        db.migrate()
        assert "correction" in inspect(db.engine).get_table_names()
    finally:
        db.close()


def test_rescoring_never_counts_a_post_as_its_own_earlier_urgent_post(data_dir: Path, clock: Clock) -> None:
    # Otherwise a post marked not urgent would be pushed back up by its own former urgency.
    core = clocked_core(data_dir, clock)
    try:
        (post,) = import_texts(core, [PARCEL])
        assert core.rows_by_id([post])[0].urgent
        clock.advance(minutes=40)
        with core.db.session() as s:
            rescore_open(s, core.triage(), clock())
        codes = [r.code for r in core.rows_by_id([post])[0].reasons]
        assert "waiting" in codes and "escalated_thread" not in codes
    finally:
        core.db.close()
