"""Triage quality on the hand-labelled holdout set must not slip (see tests/data/triage_eval/README.md)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.triage_eval import (
    DATA,
    LANGS,
    NETWORKS,
    NO_NEGATIVE_WORDS,
    TONES,
    Confusion,
    Post,
    evaluate,
    load,
    ours,
    split_ids,
    textblob_alone,
)

# Measured on the holdout when the rules were frozen (bench/README.md, "Triage quality"):
# negative recall 0.85, MCC 0.78; urgent recall 0.87, MCC 0.79; complaints without negative
# words 0.79 against TextBlob's 0.09.  The floors sit a little below, so a real regression fails.
NEGATIVE_RECALL_FLOOR = 0.80
NEGATIVE_MCC_FLOOR = 0.72
URGENT_RECALL_FLOOR = 0.80
URGENT_MCC_FLOOR = 0.72
NO_NEGATIVE_WORDS_MARGIN = 0.5  # our recall minus TextBlob's, on the NO_NEGATIVE_WORDS tone


@pytest.fixture(scope="module")
def holdout() -> list[Post]:
    return load("holdout")


@pytest.fixture(scope="module")
def tune() -> list[Post]:
    return load("tune")


# --- The set itself ------------------------------------------------------------------------------


def test_the_set_is_big_varied_and_consistently_labelled(tune: list[Post], holdout: list[Post]) -> None:
    posts = tune + holdout
    assert len(posts) >= 600
    assert len({p.id for p in posts}) == len(posts)
    assert len({p.text.casefold() for p in posts}) == len(posts), "duplicate texts"
    assert {p.tone for p in posts} == set(TONES)
    assert {p.lang for p in posts} == set(LANGS)
    assert {p.network for p in posts} == set(NETWORKS)
    assert 0.12 <= sum(p.lang != "en" for p in posts) / len(posts) <= 0.2
    assert all(p.negative for p in posts if p.urgent), "urgent posts are complaints"
    assert not any(p.negative for p in posts if p.tone in ("praise", "question", "neutral", "spam"))
    assert all(p.negative for p in posts if p.tone in ("angry", "sarcastic", "implicit", "urgent"))


def test_the_split_is_the_seeded_one(tune: list[Post], holdout: list[Post]) -> None:
    # The holdout was drawn at random before any post was scored; nobody moved posts since.
    expected_tune, expected_holdout = split_ids((p.id, p.tone) for p in tune + holdout)
    assert {p.id for p in tune} == expected_tune
    assert {p.id for p in holdout} == expected_holdout
    assert 0.3 <= len(holdout) / (len(tune) + len(holdout)) <= 0.4


def test_every_line_is_one_json_object_with_the_documented_fields() -> None:
    allowed = {"id", "network", "lang", "tone", "negative", "urgent", "text", "followers", "waited_hours"}
    allowed.add("repeat_contacts")
    for split in ("tune", "holdout"):
        for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            assert set(data) <= allowed
            assert isinstance(data["negative"], bool) and isinstance(data["urgent"], bool)


# --- Our triage on the holdout -----------------------------------------------------------------


def test_negative_recall_and_mcc_stay_above_their_floors(holdout: list[Post]) -> None:
    result = evaluate(holdout, ours(holdout))
    assert result.negative.recall >= NEGATIVE_RECALL_FLOOR, result.negative
    assert result.negative.mcc >= NEGATIVE_MCC_FLOOR, result.negative


def test_urgent_recall_and_mcc_stay_above_their_floors(holdout: list[Post]) -> None:
    result = evaluate(holdout, ours(holdout))
    assert result.urgent.recall >= URGENT_RECALL_FLOOR, result.urgent
    assert result.urgent.mcc >= URGENT_MCC_FLOOR, result.urgent


def test_complaints_without_negative_words_beat_textblob_by_a_clear_margin(holdout: list[Post]) -> None:
    subset = [p for p in holdout if p.tone == NO_NEGATIVE_WORDS]
    assert len(subset) >= 30
    ours_recall = evaluate(subset, ours(subset)).no_negative_words_recall
    textblob_recall = evaluate(subset, textblob_alone(subset)).no_negative_words_recall
    assert ours_recall - textblob_recall >= NO_NEGATIVE_WORDS_MARGIN, (ours_recall, textblob_recall)


def test_praise_questions_neutral_posts_and_spam_are_rarely_urgent(holdout: list[Post]) -> None:
    calm = [p for p in holdout if p.tone in ("praise", "question", "neutral", "spam")]
    urgent = sum(prediction.urgent for prediction in ours(calm))
    assert urgent <= 1, f"{urgent} of {len(calm)} calm posts called urgent"


# --- The metrics -----------------------------------------------------------------------------------


def test_confusion_metrics() -> None:
    c = Confusion.of([True, True, False, False, True], [True, False, True, False, True])
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.mcc == pytest.approx((2 * 1 - 1 * 1) / (3 * 3 * 2 * 2) ** 0.5)
    empty = Confusion.of([False, False], [False, False])
    assert (empty.precision, empty.recall, empty.f1, empty.mcc) == (0.0, 0.0, 0.0, 0.0)


def test_split_ids_is_stratified_and_deterministic() -> None:
    pairs = [(f"x{i}", "a" if i % 3 else "b") for i in range(60)]
    first = split_ids(pairs)
    assert first == split_ids(list(reversed(pairs)))
    tones = Counter("a" if int(ident[1:]) % 3 else "b" for ident in first[1])
    assert tones == {"a": 14, "b": 7}
