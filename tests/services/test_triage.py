"""Tests for services.triage: sentiment, urgency and the reasons shown to operators."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import triage
from services.triage import (
    DEFAULT_THRESHOLD,
    MAX_CHARS,
    Reason,
    Score,
    Triage,
    TriageInput,
    score_text,
)

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
HYPOTHESIS = settings(max_examples=150, deadline=None, database=None)


def codes(score: Score) -> list[str]:
    return [reason.code for reason in score.reasons]


def reason(score: Score, code: str) -> Reason:
    found = [r for r in score.reasons if r.code == code]
    assert found, f"no {code!r} reason in {score.reasons}"
    return found[0]


def score(text: str = "hello", **context: object) -> Score:
    return Triage().score(TriageInput(text=text, **context))  # type: ignore[arg-type]


# --- Complaints without negative words ---------------------------------------------------------


def test_still_waiting_for_refund_is_a_negative_refund_complaint() -> None:
    result = score_text("still waiting for my refund from March")
    assert result.negative
    assert result.sentiment < -0.05
    assert "refund" in codes(result)
    assert reason(result, "waiting").label == "still waiting"
    assert result.urgent


def test_third_time_asking_about_the_bill_is_a_repeat_billing_complaint() -> None:
    result = score_text("third time I ask about my bill")
    assert result.negative
    assert reason(result, "repeat_contact").label == "repeat contact (3rd)"
    assert "billing" in codes(result)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("no one picks up the phone", "no_response"),
        ("I was charged twice this month", "billing"),
        ("my flight was cancelled without any notice", "cancelled"),
        ("internet is down again in Leeds", "outage"),
        ("someone hacked my account and made unauthorised payments", "fraud"),
        ("I will be contacting my lawyer", "legal"),
        ("I'm switching to another provider next week", "churn"),
        ("my elderly mother has had no phone line for days and needs it for her medical alarm", "vulnerable"),
        ("I run my business from home and I'm losing customers", "business_impact"),
    ],
)
def test_complaint_cues_give_their_reason_and_read_negative(text: str, code: str) -> None:
    result = score_text(text)
    assert code in codes(result)
    assert result.negative


def test_reason_labels_are_readable_words() -> None:
    result = score_text("I will report you to the ombudsman and switch provider")
    assert reason(result, "legal").label == "legal threat"
    assert reason(result, "churn").label == "wants to leave"


def test_praise_is_positive_and_not_urgent() -> None:
    result = score_text("Thanks Acme, the engineer was brilliant!")
    assert not result.negative
    assert result.sentiment > 0.3
    assert not result.urgent
    assert "positive_tone" in codes(result)
    assert "anger" not in codes(result)


def test_happy_shouting_is_not_anger() -> None:
    result = score_text("I LOVE YOU ACME!!!")
    assert not result.negative
    assert "anger" not in codes(result)


def test_angry_shouting_is_anger() -> None:
    result = score_text("WHERE IS MY REFUND!!!")
    assert result.negative
    assert reason(result, "anger").label == "angry tone"


def test_acronyms_are_not_shouting() -> None:
    assert "anger" not in codes(score_text("My ISP says the DSL and VPN are fine"))


def test_sarcasm_flips_textblobs_positive_reading() -> None:
    text = "Great, another outage. Thanks for nothing"
    assert triage._polarity(text) > 0  # what TextBlob alone says
    result = score_text(text)
    assert result.negative
    assert result.sentiment < 0
    assert "sarcasm" in codes(result)
    assert "outage" in codes(result)


@pytest.mark.parametrize(
    "text",
    [
        "oh wonderful, the app crashed again",
        "I just love paying for a service I never get",
        "Brilliant service as always 🙄",
    ],
)
def test_sarcasm_cues(text: str) -> None:
    result = score_text(text)
    assert "sarcasm" in codes(result)
    assert result.negative


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("why has my direct debit gone up by £15?", "pointed_question"),
        ("you said the engineer would come on Monday. that was last Monday", "broken_promise"),
        ("tracking says delivered, there's no parcel on my doorstep", "delivery"),
        ("the app does nothing when I press pay", "problem"),
    ],
)
def test_complaints_stated_as_facts_or_questions_are_negative(text: str, code: str) -> None:
    result = score_text(text)
    assert result.negative
    assert code in codes(result)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("there's a strong smell of gas coming from the meter cupboard", "safety"),
        ("we're stuck at the airport, the desk is closed and nobody is answering", "stranded"),
        ("my card has been blocked and I can't pay for my shopping", "hardship"),
        ("i didn't make these payments, someone has my card details", "fraud"),
        ("two direct debits taken this month, my account's overdrawn", "billing"),
    ],
)
def test_complaints_with_something_at_stake_are_urgent(text: str, code: str) -> None:
    result = score_text(text)
    assert result.urgent
    assert code in codes(result)


def test_thanks_for_a_problem_already_solved_is_praise() -> None:
    result = score_text("Thanks for spotting the suspicious payment and blocking my card before I noticed, brilliant")
    assert not result.negative
    assert not result.urgent
    assert reason(result, "resolved").label == "already sorted"


@pytest.mark.parametrize(
    "text",
    [
        "do you offer a discount if I switch supplier?",
        "that new tariff is sick, signed up straight away",
        "work from home and earn $400 a day, link in bio",
    ],
)
def test_plain_questions_slang_praise_and_spam_are_not_complaints(text: str) -> None:
    assert not score_text(text).negative


# --- Other languages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Seit Tagen kein Internet und niemand antwortet", "de"),
        ("Ich warte immer noch auf meine Rückerstattung", "de"),
        ("Toujours pas de remboursement, c'est honteux", "fr"),
        ("Sigo esperando el reembolso desde hace dos semanas", "es"),
        ("Ancora nessun rimborso dopo un mese", "it"),
        ("Nog steeds geen terugbetaling ontvangen", "nl"),
        ("Ainda não recebi o reembolso", "pt"),
    ],
)
@pytest.mark.parametrize("tagged", [True, False])
def test_complaints_in_other_languages_are_negative(text: str, lang: str, tagged: bool) -> None:
    result = score(text, lang=lang if tagged else None)
    assert result.negative
    assert result.sentiment < -0.05
    assert {"refund", "outage"} & set(codes(result))


def test_german_words_are_not_fed_to_the_english_lexicon() -> None:
    # "die" is a German article, not the English verb.
    assert not score("Die Rechnung ist da, danke", lang="de").negative
    assert not score_text("Die Rechnung ist da, danke").negative


def test_accents_may_be_left_out() -> None:
    assert "refund" in codes(score_text("Wo bleibt meine Rueckerstattung"))
    assert "refund" in codes(score_text("toujours pas de remboursement"))


# --- Context: waiting, repeat contacts, audience, threads --------------------------------------


def test_waiting_time_label_for_an_unanswered_post() -> None:
    result = score(created_at=NOW - timedelta(hours=3), now=NOW)
    assert reason(result, "waiting").label == "waited 3 h"


def test_waiting_time_does_not_count_once_answered() -> None:
    result = score(created_at=NOW - timedelta(hours=3), now=NOW, answered=True)
    assert "waiting" not in codes(result)


@pytest.mark.parametrize(
    ("age", "label"),
    [(timedelta(minutes=45), "waited 45 min"), (timedelta(hours=23), "waited 23 h"), (timedelta(days=2), "waited 2 d")],
)
def test_waiting_time_labels(age: timedelta, label: str) -> None:
    assert reason(score(created_at=NOW - age, now=NOW), "waiting").label == label


def test_no_waiting_reason_without_now_or_for_future_posts() -> None:
    assert "waiting" not in codes(score(created_at=NOW - timedelta(hours=3)))
    assert "waiting" not in codes(score(created_at=NOW + timedelta(hours=3), now=NOW))


def test_naive_datetimes_are_taken_as_utc() -> None:
    naive = datetime(2025, 3, 14, 9, 0)
    assert reason(score(created_at=naive, now=NOW), "waiting").label == "waited 3 h"


def test_measured_wait_labels_a_written_still_waiting() -> None:
    result = score("still waiting for my refund", created_at=NOW - timedelta(hours=5), now=NOW)
    assert [r.label for r in result.reasons if r.code == "waiting"] == ["waited 5 h"]


def test_waiting_weight_grows_with_hours() -> None:
    weights = [reason(score(created_at=NOW - timedelta(hours=h), now=NOW), "waiting").weight for h in (1, 3, 8, 24, 72)]
    assert weights == sorted(weights)
    assert weights[0] < weights[-1]


def test_repeat_contacts_from_history() -> None:
    assert reason(score(repeat_contacts=1), "repeat_contact").label == "repeat contact (2nd)"
    assert reason(score(repeat_contacts=2), "repeat_contact").label == "repeat contact (3rd)"
    assert reason(score(repeat_contacts=10), "repeat_contact").label == "repeat contact (11th)"
    assert reason(score(repeat_contacts=20), "repeat_contact").label == "repeat contact (21st)"
    assert "repeat_contact" not in codes(score(repeat_contacts=0))
    weights = [reason(score(repeat_contacts=n), "repeat_contact").weight for n in range(1, 6)]
    assert weights == sorted(weights)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is the 4th time I've asked", "repeat contact (4th)"),
        ("I've called you 5 times about this", "repeat contact (5th)"),
        ("Zum dritten Mal: wo ist meine Rechnung?", "repeat contact (3rd)"),
        ("C'est la troisième fois que je demande", "repeat contact (3rd)"),
        ("I have already asked about this", "repeat contact"),
    ],
)
def test_repeat_contact_from_the_text(text: str, label: str) -> None:
    assert reason(score_text(text), "repeat_contact").label == label


def test_large_audience_label() -> None:
    assert reason(score(author_followers=52_300), "large_audience").label == "large audience (52k)"
    assert reason(score(author_followers=1_250_000), "large_audience").label == "large audience (1.2M)"
    assert "large_audience" not in codes(score(author_followers=9_999))
    assert "large_audience" not in codes(score(author_followers=None))


def test_thread_and_escalation_reasons() -> None:
    assert "thread_length" not in codes(score(thread_length=3))
    assert reason(score(thread_length=5), "thread_length").label == "long thread (5)"
    assert "escalated_thread" in codes(score(earlier_urgent_in_thread=True))


def test_question_is_a_small_informational_reason() -> None:
    result = score_text("When will my router arrive?")
    assert 0 < reason(result, "question").weight <= 0.1
    assert "question" not in codes(score_text("see https://example.com/page?id=3 for details"))


# --- Urgency -----------------------------------------------------------------------------------

COMPLAINT = "still waiting for my refund"


@HYPOTHESIS
@given(low=st.integers(0, 10**9), high=st.integers(0, 10**9))
def test_urgency_is_monotone_in_followers(low: int, high: int) -> None:
    low, high = sorted((low, high))
    assert score(COMPLAINT, author_followers=low).urgency <= score(COMPLAINT, author_followers=high).urgency


@HYPOTHESIS
@given(low=st.floats(0, 24 * 365), high=st.floats(0, 24 * 365))
def test_urgency_is_monotone_in_waiting_hours(low: float, high: float) -> None:
    low, high = sorted((low, high))

    def urgency(hours: float) -> float:
        return score(COMPLAINT, created_at=NOW - timedelta(hours=hours), now=NOW).urgency

    assert urgency(low) <= urgency(high)


def test_more_context_makes_a_complaint_more_urgent() -> None:
    plain = score(COMPLAINT)
    loud = score(COMPLAINT, author_followers=80_000, repeat_contacts=2, created_at=NOW - timedelta(hours=6), now=NOW)
    assert loud.urgency > plain.urgency


@HYPOTHESIS
@given(
    text=st.text(max_size=300),
    lang=st.sampled_from([None, "en", "de", "fr", "xx"]),
    followers=st.none() | st.integers(-10, 10**10),
    repeats=st.integers(-3, 1_000),
    thread=st.integers(-3, 1_000),
    hours=st.floats(-1_000, 100_000),
    flags=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_any_input_gives_a_bounded_deterministic_score(
    text: str,
    lang: str | None,
    followers: int | None,
    repeats: int,
    thread: int,
    hours: float,
    flags: list[bool],
) -> None:
    item = TriageInput(
        text=text,
        lang=lang,
        created_at=NOW - timedelta(hours=hours),
        now=NOW,
        author_followers=followers,
        repeat_contacts=repeats,
        thread_length=thread,
        earlier_urgent_in_thread=flags[0],
        answered=flags[1],
        is_own=flags[2],
        is_repost=flags[3],
        author_is_bot=flags[4],
    )
    result = Triage().score(item)
    assert 0.0 <= result.urgency <= 1.0
    assert -1.0 <= result.sentiment <= 1.0
    assert result.urgent == (result.negative and result.urgency >= DEFAULT_THRESHOLD and result.urgency > 0.1)
    magnitudes = [abs(r.weight) for r in result.reasons]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert len({r.code for r in result.reasons}) == len(result.reasons)
    assert Triage().score(item) == result


@HYPOTHESIS
@given(text=st.text(max_size=200))
def test_urgency_bounded_for_arbitrary_text(text: str) -> None:
    result = score_text(text)
    assert 0.0 <= result.urgency <= 1.0


def test_threshold_flips_urgent() -> None:
    triage_ = Triage()
    item = TriageInput(text=COMPLAINT)
    urgency = triage_.score(item).urgency
    assert 0.2 < urgency < 0.9
    triage_.threshold = urgency - 0.01
    assert triage_.score(item).urgent
    triage_.threshold = urgency + 0.01
    assert not triage_.score(item).urgent
    assert score_text(COMPLAINT, threshold=urgency + 0.01).urgent is False
    assert score_text(COMPLAINT, threshold=urgency - 0.01).urgent is True


def test_threshold_must_be_within_0_and_1() -> None:
    assert Triage().threshold == DEFAULT_THRESHOLD
    with pytest.raises(ValueError):
        Triage(1.5)
    with pytest.raises(ValueError):
        Triage().threshold = -0.1


def test_positive_posts_are_never_urgent_even_at_threshold_zero() -> None:
    assert not Triage(0.0).score(TriageInput(text="Thanks, all sorted now!", author_followers=10**7)).urgent


# --- Noise -------------------------------------------------------------------------------------


def test_spam_giveaway_with_links_is_never_urgent() -> None:
    text = "🎉 Crypto GIVEAWAY! Win 5 BTC now: https://a.example/x https://b.example/y"
    result = Triage(0.0).score(
        TriageInput(
            text=text,
            author_followers=2_000_000,
            repeat_contacts=5,
            created_at=NOW - timedelta(days=3),
            now=NOW,
        )
    )
    assert not result.urgent
    assert result.urgency <= 0.1
    assert reason(result, "spam").label == "spam"
    assert result.reasons[0].code == "spam"


@pytest.mark.parametrize(
    "text",
    [
        "Follow back for follow back! f4f",
        "DM me for promo, link in bio",
        "Claim your free airdrop tokens now https://scam.example",
        "Free iPhone giveaway, click the link: https://x.example https://y.example https://z.example",
    ],
)
def test_spam_cues(text: str) -> None:
    assert "spam" in codes(score_text(text))


@pytest.mark.parametrize(
    "text",
    [
        "My bitcoin wallet was hacked, help!",
        "Your promo code doesn't work, screenshot: https://img.example/a",
        "I was charged $50 twice, see https://img.example/a and https://img.example/b",
    ],
)
def test_complaints_that_mention_money_or_links_are_not_spam(text: str) -> None:
    result = score_text(text)
    assert "spam" not in codes(result)
    assert result.negative


@pytest.mark.parametrize(
    ("flag", "code", "label"),
    [("is_own", "own_post", "own post"), ("is_repost", "repost", "repost"), ("author_is_bot", "bot", "bot")],
)
def test_own_posts_reposts_and_bots_are_never_urgent(flag: str, code: str, label: str) -> None:
    text = "WHERE IS MY REFUND?!! Third time I ask, I'm calling my lawyer"
    context: dict[str, object] = {flag: True, "author_followers": 10**6, "created_at": NOW - timedelta(days=2)}
    result = Triage(0.0).score(TriageInput(text=text, now=NOW, **context))  # type: ignore[arg-type]
    assert result.negative  # the words still say complaint...
    assert not result.urgent  # ...but it is not a customer waiting for us
    assert result.urgency <= 0.1
    assert reason(result, code).label == label
    assert score(text).urgent


# --- Robustness --------------------------------------------------------------------------------


def test_empty_and_blank_text() -> None:
    for text in ("", " ", "\n\t", "\u200b"):
        result = score_text(text)
        assert result.urgency == 0.0
        assert not result.negative
        assert not result.urgent
        assert result.reasons == ()


def test_one_megabyte_text_is_capped() -> None:
    text = "still waiting for my refund. " + "blah " * 200_000
    assert len(text) > 1_000_000
    result = score_text(text)
    assert "refund" in codes(result)
    late = score_text("blah " * 200_000 + "refund")
    assert "refund" not in codes(late)  # beyond MAX_CHARS: never read
    assert MAX_CHARS <= 10_000


@pytest.mark.parametrize(
    "text",
    [
        "<b>still waiting</b> for my &quot;refund&quot;",
        "ref\u200bund please, still waiting",
        "\u202estill waiting for my refund\u202c",
        "still\x00waiting for my\x07refund",
        "<script>alert('refund')</script> still waiting",
    ],
)
def test_hostile_text_is_just_text(text: str) -> None:
    result = score_text(text)
    assert "refund" in codes(result)
    assert "waiting" in codes(result)


def test_odd_unicode_does_not_crash() -> None:
    for text in ("\U0001f644" * 10_000, "\ud7ff\ue000\uffff", "ﬁ" * 50, "İstanbul ǅ ß ẞ", "\u0301" * 100, "a\r\nb"):
        assert 0.0 <= score_text(text).urgency <= 1.0


# --- API ---------------------------------------------------------------------------------------


def test_score_many_returns_one_score_per_input_in_order() -> None:
    texts = [COMPLAINT, "Thanks Acme, the engineer was brilliant!", "", "no one picks up", COMPLAINT]
    items = [TriageInput(text=t, author_followers=i * 20_000) for i, t in enumerate(texts)]
    triage_ = Triage()
    results = triage_.score_many(items)
    assert results == [triage_.score(item) for item in items]
    assert len(results) == len(items)
    assert results[0] != results[4]  # same text, different audience: order really is kept
    assert triage_.score_many([]) == []


def test_value_types_are_frozen() -> None:
    result = score_text(COMPLAINT)
    with pytest.raises(AttributeError):
        result.urgency = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.reasons[0].weight = 1.0  # type: ignore[misc]
    assert isinstance(result.reasons, tuple)
    hash(result)


def test_polarity_matches_textblobs_pattern_analyzer() -> None:
    from textblob.en.sentiments import PatternAnalyzer

    analyzer = PatternAnalyzer()
    for text in ("I love it", "worst service ever", "not happy at all", "meh", ""):
        assert triage._polarity(text) == analyzer.analyze(text).polarity


def test_importing_triage_does_not_import_textblob() -> None:
    code = "import sys, services.triage; assert 'textblob' not in sys.modules, 'textblob imported eagerly'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
