"""Sentiment and urgency for incoming posts, with the reasons an operator can read."""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.triage_rules import (
    ACRONYMS,
    COUNT_WORDS,
    CUES,
    ENGLISH_WORDS,
    FOREIGN_WORDS,
    INFO_QUESTIONS,
    ORDINALS,
    QUESTION_STARTERS,
    SARCASM_EMOJI,
    Cue,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_CHARS",
    "VERDICT_REASON",
    "Adjuster",
    "Adjustment",
    "Reason",
    "Score",
    "Triage",
    "TriageInput",
    "cue_codes",
    "fold_text",
    "score_text",
]

#: Urgency at or above which a negative post is urgent.
DEFAULT_THRESHOLD: float = 0.5

#: Only this much of a post is analysed: enough for any real post, and a 1 MB paste stays fast.
MAX_CHARS = 5_000

#: The reason code of an operator's own verdict on a post; it is listed before every other reason.
VERDICT_REASON = "operator_verdict"

# Weights of the reasons that do not come from the cue lexicons.
_SPAM_WORDS = next(index for index, cue in enumerate(CUES) if cue.code == "_spam_word")
_NOISE_WEIGHT = -0.9  # own posts, reposts, bots, spam: urgency falls to a tenth at most
_QUESTION_WEIGHT = 0.05
_RESOLVED_WEIGHT = -0.6  # praise of a problem already solved: urgency falls to 40% at most
_NEGATIVE_TONE_WEIGHT = 0.2
# Complaint families that a plain question may contain without complaining ("what happens to my
# credit when I switch supplier?", "can I pause my package while I'm travelling for 3 months?").
_SOFT_IN_QUESTIONS = frozenset({"waiting", "churn", "cancelled", "billing", "refund", "deadline"})
# Complaint evidence that clear praise outweighs: "why is everyone talking about your new phone? looks nice".
_OUTWEIGHED_BY_PRAISE = frozenset({"pointed_question"})
_PRAISE_ABOVE = 0.25
_ESCALATED_WEIGHT = 0.25
_SHOUT_WEIGHT = 0.12
_EXCLAIM_WEIGHT = 0.1
_ANGER_CAP = 0.35
_LARGE_AUDIENCE = 10_000
_WAIT_MIN_HOURS = 0.5
_NEGATIVE_BELOW = -0.05
_POSITIVE_ABOVE = 0.05


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason behind a score, shown to operators as a chip."""

    code: str
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class TriageInput:
    """A post and what we know about its author and conversation."""

    text: str
    lang: str | None = None
    created_at: datetime | None = None
    now: datetime | None = None
    author_followers: int | None = None
    repeat_contacts: int = 0
    thread_length: int = 1
    earlier_urgent_in_thread: bool = False
    answered: bool = False
    is_own: bool = False
    is_repost: bool = False
    author_is_bot: bool = False
    #: The stored post being scored again, if any: an operator's verdict on it applies.
    post_id: int | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What operators' corrections change in one post's score.

    Attributes:
        reasons: Reasons to add (each names the correction behind it and carries its weight).
        negative: Overrides "negative" when not None.
        urgent: Overrides "urgent" when not None (an operator's verdict on the post itself);
            urgent posts then have at least the threshold's urgency.
    """

    reasons: tuple[Reason, ...]
    negative: bool | None = None
    urgent: bool | None = None


class Adjuster(Protocol):
    """Adjusts scores from operators' corrections (services/corrections.py holds the one we use)."""

    def adjust(self, post_id: int | None, folded: str, codes: frozenset[str]) -> Adjustment | None:
        """The adjustment for a post (its id when stored, its folded text, its cue codes), or None."""
        ...


@dataclass(frozen=True, slots=True)
class Score:
    """Triage's verdict on one post.

    Attributes:
        sentiment: -1..1, TextBlob's polarity (English) blended with Parley's cue rules.
        negative: The post reads as a complaint.
        urgency: 0..1, the saturating combination of the reasons' weights.
        urgent: Negative, urgency at or above the threshold, and not noise.
        reasons: Every reason found, the one that weighs most (in either direction) first.
    """

    sentiment: float
    negative: bool
    urgency: float
    urgent: bool
    reasons: tuple[Reason, ...]


# --- Text preparation ------------------------------------------------------------------------

# Invisible format characters (zero-width spaces and joiners, soft hyphens, bidi marks and
# overrides) are dropped: slipped inside a word ("ref\u200bund") they would hide a cue.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
# Control characters become spaces: they separate words like whitespace does.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_TAG = re.compile(r"<[^<>]{0,500}>")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LETTERS = re.compile(r"[^\W\d_]+")
_EXCLAIM = re.compile(r"!!|\?!|!\?")
_QUESTION = re.compile(r"[?？](?!\S)|¿")
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?[$€£]|\b(?:usd|eur|gbp)\b", re.IGNORECASE)
_SARCASM_TAG = re.compile(r"(?:^|\s)/s\s*$")
_LEADING_MENTIONS = re.compile(r"^(?:[@.][\w.@-]+[,:]?\s+)+")
_INFO_QUESTION = re.compile(r"(?:" + "|".join(INFO_QUESTIONS) + r")\b")
_NUMBER = re.compile(r"(\d+)(?:st|nd|rd|th|e|\.)?")
_VAGUE_COUNT = frozenset(
    "several multiple many countless numerous umpteenth nth zoveelste ennesima enesima enieme mehrfach "
    "mehrmals wiederholten x-ten plusieurs varias muchas tantas piu tante meerdere zoveel muitas so".split()
)


def _clean(text: str) -> str:
    """The post as a person reads it: capped, without markup and invisible characters."""
    text = text[:MAX_CHARS]
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return _CONTROL.sub(" ", _INVISIBLE.sub("", text))


def _fold(text: str) -> str:
    """The form the cue phrases are written in: casefolded, unaccented, single-spaced."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = _COMBINING.sub("", text).translate(_APOSTROPHES)
    return _SPACES.sub(" ", text).strip()


def fold_text(text: str) -> str:
    """A post's text as triage reads it: capped, without markup, casefolded, unaccented, single-spaced."""
    return _fold(_clean(text))


# --- The cue matcher -------------------------------------------------------------------------


def _expand(phrase: str) -> list[str]:
    """Split a leading ``(?:a|b)rest`` into ``arest`` and ``brest`` so each starts with a letter.

    An optional leading group ``(?:a|b)?rest`` also gives ``rest``.  The matcher dispatches on
    a phrase's first character, which is what makes it fast; a phrase that starts with a group
    it cannot split is still matched, only more slowly.
    """
    if not phrase.startswith("(?:"):
        return [phrase]
    depth, i = 1, 3
    while i < len(phrase):
        char = phrase[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            return [phrase]  # nested group: leave it whole
        if char == ")":
            depth -= 1
            break
        i += 1
    rest = phrase[i + 1 :]
    branches = phrase[3:i].split("|")
    if not depth and rest[:1] == "?" and rest[1:2] not in ("", "?", "+"):
        branches.append("")
        rest = rest[1:]
    elif depth or rest[:1] in ("?", "*", "+", "{"):
        return [phrase]
    return [expanded for branch in branches for expanded in _expand(branch + rest)]


@dataclass(frozen=True, slots=True)
class _Matcher:
    pattern: re.Pattern[str]
    cue_of: dict[str, int]  # marker group name -> index into CUES


def _first_letter(phrase: str) -> str | None:
    if phrase.startswith("\\d+"):
        return "\\d"  # "\d+th time": dispatched on any digit
    if len(phrase) > 1 and phrase[1] in "?*+{":
        return None
    first = phrase[0]
    return first if first.isalnum() else None


def _branch(first: str, rests: list[str]) -> str:
    if first == "\\d":
        return f"\\d(?:{'|'.join(rests)})"
    return f"{re.escape(first)}(?:{'|'.join(rests)})"


@functools.cache
def _matcher() -> _Matcher:
    """Compile every cue phrase into one pattern (once, on first use).

    The pattern is a zero-width lookahead tried at each word start, so phrases that overlap
    all count.  Phrases are grouped by first letter (or digit): the regex engine then skips a whole
    group with one character comparison, which makes one pass ~10x faster than one search per
    cue.  Each phrase ends in an empty named group that says which phrase matched and where
    it ends.
    """
    buckets: dict[str, list[str]] = {}
    slow: list[str] = []
    cue_of: dict[str, int] = {}
    for index, cue in enumerate(CUES):
        for phrase in cue.phrases:
            for alternative in _expand(phrase):
                name = f"p{len(cue_of)}"
                cue_of[name] = index
                first = _first_letter(alternative)
                if first is None:
                    slow.append(f"{alternative}(?!\\w)(?P<{name}>)")
                else:
                    rest = "\\d*" + alternative[3:] if first == "\\d" else alternative[1:]
                    buckets.setdefault(first, []).append(f"{rest}(?!\\w)(?P<{name}>)")
    branches = [_branch(first, rests) for first, rests in buckets.items()]
    return _Matcher(re.compile(r"\b(?=" + "|".join([*branches, *slow]) + ")"), cue_of)


@dataclass(slots=True)
class _Hits:
    """Which cues matched where."""

    cues: dict[int, list[tuple[int, int]]]  # cue index -> spans in the folded text
    phrases: dict[int, int]  # cue index -> how many distinct phrases matched


def _find_cues(folded: str) -> _Hits:
    matcher = _matcher()
    cues: dict[int, list[tuple[int, int]]] = {}
    seen: dict[int, set[str]] = {}
    for match in matcher.pattern.finditer(folded):
        name = match.lastgroup
        if name is None:  # pragma: no cover - every branch ends in a marker group
            continue
        index = matcher.cue_of[name]
        cues.setdefault(index, []).append((match.start(), match.start(name)))
        seen.setdefault(index, set()).add(name)
    return _Hits(cues, {index: len(names) for index, names in seen.items()})


# --- TextBlob ----------------------------------------------------------------------------------


@functools.cache
def _pattern_sentiment() -> Callable[[str], tuple[float, float]]:
    """TextBlob's PatternAnalyzer engine, imported on first use (the import costs ~0.2-0.3 s).

    ``PatternAnalyzer.analyze`` returns ``tuple(textblob.en.sentiment(text))`` wrapped in a
    namedtuple class it builds anew on every call, which doubles its cost; calling the same
    engine directly gives the identical polarity (tests check that).
    """
    from textblob.en import sentiment

    engine: Callable[[str], tuple[float, float]] = sentiment
    return engine


def _polarity(text: str) -> float:
    # Timelines repeat themselves (quotes, copy-paste campaigns): remember short texts only,
    # so the cache stays a few MB.
    return _short_polarity(text) if len(text) <= 1_000 else _engine_polarity(text)


def _engine_polarity(text: str) -> float:
    polarity = float(_pattern_sentiment()(text)[0])
    return polarity if math.isfinite(polarity) else 0.0


_short_polarity = functools.lru_cache(maxsize=8_192)(_engine_polarity)


# --- Scoring helpers ---------------------------------------------------------------------------


_ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{_ORDINAL_SUFFIX.get(number % 10, 'th')}"


def _compact(count: int) -> str:
    """52_300 -> "52k", 1_250_000 -> "1.2M"."""
    if count < 1_000:
        return str(count)
    if count < 999_500:
        return f"{round(count / 1_000)}k"
    millions = count / 1_000_000
    text = f"{millions:.1f}" if millions < 99.95 else f"{round(millions)}"
    return f"{text.removesuffix('.0')}M"


def _waited(hours: float) -> str:
    if hours < 1:
        return f"waited {int(hours * 60)} min"
    if hours < 24:
        return f"waited {int(hours)} h"
    return f"waited {int(hours // 24)} d"


def _contact_number(phrase: str) -> tuple[int, bool]:
    """Which contact this is, from "third time", "asked 3 times"...; and whether that is exact."""
    for token in phrase.split():
        if token in ORDINALS:
            return ORDINALS[token], True
        if token in COUNT_WORDS:
            return COUNT_WORDS[token], True
        if token in _VAGUE_COUNT:
            return 3, False
        number = _NUMBER.fullmatch(token)
        if number:
            return max(2, min(99, int(number.group(1)))), True
    # "again", "I have already asked": at least the second time.
    return 2, False


def _repeat_weight(contact: int) -> float:
    """Saturating in the number of contacts: 2nd 0.33, 3rd 0.49, 4th 0.57, ... up to 0.65."""
    return 0.65 * (1.0 - 0.5 ** max(0, contact - 1))


def _is_english(lang: str | None, folded: str) -> bool:
    """Whether TextBlob's English lexicon applies: the tag says so and the words agree."""
    if lang:
        base = lang.strip().lower().replace("_", "-").split("-")[0]
        if base not in ("en", "eng", "und", "mul", "zxx", ""):
            return False
    english = foreign = 0
    for token in _WORD.findall(folded[:600]):
        if token in ENGLISH_WORDS:
            english += 1
        elif token in FOREIGN_WORDS:
            foreign += 1
    return english >= foreign


def _utc(moment: datetime) -> datetime:
    # A naive time is taken as UTC rather than crash on a mixed comparison.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class _Reasons:
    """Reasons keyed by code: a code found twice keeps its heavier weight."""

    def __init__(self) -> None:
        self._by_code: dict[str, Reason] = {}

    def add(self, code: str, label: str, weight: float, *, specific: bool = False) -> None:
        """Add a reason; ``specific`` labels (e.g. "waited 3 h") win over generic ones."""
        weight = round(weight, 3)
        old = self._by_code.get(code)
        if old is None:
            self._by_code[code] = Reason(code, label, weight)
            return
        new_label = label if specific or weight > old.weight else old.label
        self._by_code[code] = Reason(code, new_label, max(old.weight, weight))

    def has(self, code: str) -> bool:
        return code in self._by_code

    def ordered(self) -> tuple[Reason, ...]:
        # An operator's verdict comes first whatever its weight: it decides the post.
        return tuple(sorted(self._by_code.values(), key=lambda r: (r.code != VERDICT_REASON, -abs(r.weight), r.code)))


# --- The scorer --------------------------------------------------------------------------------


class Triage:
    """Scores posts; one instance can be shared by the whole app (it keeps no per-post state)."""

    __slots__ = ("_threshold", "corrections")

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, corrections: Adjuster | None = None) -> None:
        """Create a scorer that calls negative posts urgent from ``threshold`` (0..1) up.

        ``corrections`` (operators' verdicts, see services/corrections.py) adjusts the scores of the
        corrected posts and of similar ones; it may be swapped at any time for a newer one.
        """
        self._threshold = DEFAULT_THRESHOLD
        self.threshold = threshold
        self.corrections = corrections

    @property
    def threshold(self) -> float:
        """Urgency (0..1) at or above which a negative post is urgent."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {value!r}")
        self._threshold = value

    def score_many(self, items: Sequence[TriageInput]) -> list[Score]:
        """Score each item; the result is in the same order, one score per item."""
        return [self.score(item) for item in items]

    def score(self, item: TriageInput) -> Score:
        """Score one post."""
        text = _clean(item.text)
        folded = _fold(text)
        hits = _find_cues(folded)
        reasons = _Reasons()

        matched: list[Cue] = [CUES[index] for index in hits.cues]
        codes = {cue.code for cue in matched}
        sarcasm = "sarcasm" in codes or any(e in text for e in SARCASM_EMOJI) or bool(_SARCASM_TAG.search(text))
        # A plain question ("can I...?", "do you...?") may name a topic without complaining about it.
        info_question = (
            not sarcasm and "?" in text and bool(_INFO_QUESTION.match(_LEADING_MENTIONS.sub("", folded, count=1)))
        )
        complaint = any(
            cue.strong
            for cue in matched
            if not cue.code.startswith("_")
            and cue.code != "spam"
            and not (info_question and cue.code in _SOFT_IN_QUESTIONS)
        )
        # Thanks for a problem already solved ("caught a fraudulent payment before I noticed").
        resolved = "_resolved" in codes and not sarcasm and "anger" not in codes

        # Topic and complaint cues: one reason per code, the heaviest phrase family wins.
        for cue in matched:
            if cue.code in ("spam", "anger", "repeat_contact", "deadline") or cue.code.startswith("_"):
                continue
            reasons.add(cue.code, cue.label, cue.weight)
        if sarcasm:
            reasons.add("sarcasm", "sarcasm", 0.15)
            complaint = True

        # Sentiment: TextBlob for English, the cue lexicons for every language.
        tone = 0.0
        for index, cue in enumerate(CUES):
            if index in hits.cues and cue.tone and not (info_question and cue.code in _SOFT_IN_QUESTIONS):
                if cue.code in ("_negative", "_positive"):
                    tone += cue.tone * hits.phrases[index]
                elif cue.code != "sarcasm":
                    tone += cue.tone
        outweighable_tone = sum(
            cue.tone for index, cue in enumerate(CUES) if index in hits.cues and cue.code in _OUTWEIGHED_BY_PRAISE
        )
        # The heaviest tone of a code counts once ("charged twice" and "bill" are one billing).
        tone -= _double_counted_tone(hits)
        if sarcasm:
            tone += -0.4
        tone = _clamp(tone, -1.0, 1.0)
        tone_cues = tone != 0.0 or sarcasm
        if _is_english(item.lang, folded) and folded:
            polarity = _polarity(text)
            if sarcasm and polarity > 0:
                polarity = -polarity  # "great, another outage": the praise is the complaint
            if info_question:
                polarity *= 0.2  # "do you offer green tariffs?": TextBlob's "green" is no complaint
            sentiment = _clamp(0.6 * polarity + tone, -1.0, 1.0) if tone_cues else polarity
        else:
            sentiment = tone
        if complaint and not sarcasm and sentiment - outweighable_tone > _PRAISE_ABOVE:
            strong_codes = {cue.code for cue in matched if cue.strong and not cue.code.startswith("_")}
            if strong_codes <= _OUTWEIGHED_BY_PRAISE:
                complaint = False
                sentiment -= outweighable_tone
        if resolved and complaint and sentiment > -0.3:
            # The praise wins: the complaint cues name what was fixed.
            complaint = False
            sentiment = max(sentiment, 0.1)

        # Anger: swearing always; shouting and "!!" only when the post is not plainly happy.
        anger = 0.0
        if "anger" in codes:
            anger += 0.2
        if sentiment < 0 or complaint:
            if _is_shouting(text):
                anger += _SHOUT_WEIGHT
                sentiment -= 0.1
            if _EXCLAIM.search(text):
                anger += _EXCLAIM_WEIGHT
                sentiment -= 0.1
        if anger:
            reasons.add("anger", "angry tone", min(_ANGER_CAP, anger))
        sentiment = _clamp(sentiment, -1.0, 1.0)
        if complaint and sentiment > -0.1:
            sentiment = -0.1  # a complaint written in friendly words is still a complaint
        negative = sentiment < _NEGATIVE_BELOW or complaint

        if sentiment < _NEGATIVE_BELOW:
            reasons.add("negative_tone", "negative tone", _NEGATIVE_TONE_WEIGHT * min(1.0, -sentiment))
        elif sentiment > _POSITIVE_ABOVE:
            reasons.add("positive_tone", "positive tone", -0.3 * min(1.0, sentiment))
        if resolved and not negative:
            reasons.add("resolved", "already sorted", _RESOLVED_WEIGHT)
        if negative:
            # A deadline makes a complaint more pressing; on anything else it is just a date.
            for cue in matched:
                if cue.code == "deadline":
                    reasons.add(cue.code, cue.label, cue.weight)

        self._add_repeat(item, folded, hits, reasons)
        self._add_context(item, text, folded, reasons)

        spam = self._is_spam(text, hits, codes)
        if spam and not complaint:
            negative = False  # a giveaway's "limited offer" is not a customer's complaint
        noise = False
        for flag, code, label in (
            (item.is_own, "own_post", "own post"),
            (item.is_repost, "repost", "repost"),
            (item.author_is_bot, "bot", "bot"),
            (spam, "spam", "spam"),
        ):
            if flag:
                reasons.add(code, label, _NOISE_WEIGHT)
                noise = True

        adjustment = None
        if self.corrections is not None:
            adjustment = self.corrections.adjust(item.post_id, folded, frozenset(codes))
        if adjustment is not None:
            for reason in adjustment.reasons:
                reasons.add(reason.code, reason.label, reason.weight, specific=True)
            if adjustment.negative is not None:
                negative = adjustment.negative

        ordered = reasons.ordered()
        urgency = _combine(ordered)
        if noise:
            urgency = min(urgency, 0.1)
        urgent = negative and not noise and urgency >= self._threshold
        if adjustment is not None and adjustment.urgent is not None:
            urgent = adjustment.urgent  # the operator's verdict on this very post
            if urgent:
                urgency = max(urgency, self._threshold)
        return Score(
            sentiment=round(sentiment, 4),
            negative=negative,
            urgency=urgency,
            urgent=urgent,
            reasons=ordered,
        )

    @staticmethod
    def _add_repeat(item: TriageInput, folded: str, hits: _Hits, reasons: _Reasons) -> None:
        contact, exact = 0, False
        for index, spans in hits.cues.items():
            if CUES[index].code != "repeat_contact":
                continue
            for start, end in spans:
                number, is_exact = _contact_number(folded[start:end])
                if number > contact or (number == contact and is_exact):
                    contact, exact = number, is_exact
        if item.repeat_contacts > 0:
            from_history = item.repeat_contacts + 1
            if from_history >= contact:
                contact, exact = from_history, True
        if contact:
            label = f"repeat contact ({_ordinal(contact)})" if exact else "repeat contact"
            reasons.add("repeat_contact", label, _repeat_weight(contact))

    @staticmethod
    def _add_context(item: TriageInput, text: str, folded: str, reasons: _Reasons) -> None:
        if item.created_at is not None and item.now is not None and not item.answered:
            hours = (_utc(item.now) - _utc(item.created_at)).total_seconds() / 3600
            if hours >= _WAIT_MIN_HOURS:
                # Grows with every hour and levels off near 0.55 after about a day.
                weight = 0.55 * (1.0 - math.exp(-hours / 8.0))
                reasons.add("waiting", _waited(hours), weight, specific=True)
        followers = item.author_followers
        if followers is not None and followers >= _LARGE_AUDIENCE:
            weight = min(0.5, 0.2 + 0.15 * math.log10(followers / _LARGE_AUDIENCE))
            reasons.add("large_audience", f"large audience ({_compact(followers)})", weight)
        if item.thread_length >= 4:
            weight = min(0.3, 0.05 * (item.thread_length - 2))
            reasons.add("thread_length", f"long thread ({item.thread_length})", weight)
        if item.earlier_urgent_in_thread:
            reasons.add("escalated_thread", "earlier urgent post", _ESCALATED_WEIGHT)
        without_links = _URL.sub(" ", text) if "/" in text or "www" in text else text
        first_word = folded.split(" ", 1)[0] if folded else ""
        if _QUESTION.search(without_links) or first_word in QUESTION_STARTERS:
            reasons.add("question", "question", _QUESTION_WEIGHT)

    @staticmethod
    def _is_spam(text: str, hits: _Hits, codes: set[str]) -> bool:
        if "spam" in codes:
            return True
        score = hits.phrases.get(_SPAM_WORDS, 0)
        if score == 0 and "http" not in text and "www" not in text:
            return False
        links = len(_URL.findall(text))
        score += (links >= 1) + (links >= 3) + (links >= 2 and bool(_MONEY.search(text)))
        # A real complaint may mention a promo code and paste a screenshot link: ask for more.
        complaint = any(not code.startswith("_") for code in codes)
        return score >= (3 if complaint else 2)


def cue_codes(folded: str) -> frozenset[str]:
    """The codes of the cue families found in a folded text (``fold_text``), private ones included."""
    return frozenset(CUES[index].code for index in _find_cues(folded).cues)


def _double_counted_tone(hits: _Hits) -> float:
    """Tone counted more than once for one code (its strong and weak families both matched)."""
    by_code: dict[str, list[float]] = {}
    for index in hits.cues:
        cue = CUES[index]
        if cue.tone and not cue.code.startswith("_") and cue.code != "sarcasm":
            by_code.setdefault(cue.code, []).append(cue.tone)
    extra = 0.0
    for tones in by_code.values():
        if len(tones) > 1:
            extra += sum(tones) - min(tones)  # keep only the most negative
    return extra


def _is_shouting(text: str) -> bool:
    """Two shouted words, or one long one ("AGAIN"); acronyms like "ISP" do not count."""
    shouted = 0
    for word in _LETTERS.findall(text):
        if len(word) >= 3 and word.isupper() and word not in ACRONYMS:
            if len(word) >= 5:
                return True
            shouted += 1
            if shouted >= 2:
                return True
    return False


def _combine(reasons: Sequence[Reason]) -> float:
    """1 - prod(1 - w) over the positive weights, scaled down by each dampener.

    Stays within 0..1, never falls when a positive weight grows, and no single reason can
    reach 1 on its own.
    """
    keep = 1.0
    for reason in reasons:
        if reason.weight > 0:
            keep *= 1.0 - min(reason.weight, 1.0)
    urgency = 1.0 - keep
    for reason in reasons:
        if reason.weight < 0:
            urgency *= 1.0 + max(reason.weight, -1.0)
    return round(_clamp(urgency, 0.0, 1.0), 4)


_DEFAULT = Triage()


def score_text(text: str, threshold: float = DEFAULT_THRESHOLD) -> Score:
    """Score a bare text (no author or conversation context)."""
    triage = _DEFAULT if threshold == DEFAULT_THRESHOLD else Triage(threshold)
    return triage.score(TriageInput(text=text))
