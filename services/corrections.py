"""Operator corrections: a post's own verdict, and a local, explainable nudge for similar posts.

An operator says a post is urgent, not urgent or not negative. That post takes the verdict at
once. Later posts that look like it (they share at least two content words, and enough of their
words and cue codes overall) are nudged the same way, in proportion to how alike they are, each
nudge shown as a reason that names the corrected post and its weight. Nothing leaves the machine
and nothing is learned in the dark: the index is the corrections table, held in memory.

Similarity is the Jaccard overlap of two posts' features: the content words of the folded text
(mentions, links, numbers, short and very common words left out) plus the codes of the cue families
triage found (``refund``, ``outage``...). Candidates come from an inverted index over the words, so
a post is compared only with the corrections it shares a word with.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from services.errors import InvalidInput
from services.triage import VERDICT_REASON, Adjustment, Reason, cue_codes, fold_text
from services.triage_rules import ENGLISH_WORDS, FOREIGN_WORDS

__all__ = [
    "MIN_SHARED_WORDS",
    "MIN_SIMILARITY",
    "NOT_NEGATIVE",
    "NOT_URGENT",
    "STRONG_SIMILARITY",
    "URGENT",
    "VERDICTS",
    "Correction",
    "CorrectionIndex",
    "Features",
    "features",
    "features_of_folded",
    "is_correction_reason",
    "nudged_posts",
    "parse_verdict",
    "similarity",
    "verdict_words",
]

URGENT = "urgent"
NOT_URGENT = "not_urgent"
NOT_NEGATIVE = "not_negative"
VERDICTS = (URGENT, NOT_URGENT, NOT_NEGATIVE)

#: Below this similarity a correction says nothing about a post.
MIN_SIMILARITY = 0.3
#: Posts must share at least this many content words: one shared word ("refund") is a topic, not a likeness.
MIN_SHARED_WORDS = 2
#: From this similarity on, "urgent" also makes a post a complaint and "not negative" makes it none.
STRONG_SIMILARITY = 0.6
#: At most this many corrections nudge one post (the most similar ones).
MAX_SIMILAR = 3

# How hard each verdict pulls a similar post, times the similarity. Positive weights add to urgency;
# negative ones scale it down (triage's _combine): a not-urgent twin (similarity 1) keeps a tenth.
_PULL = {URGENT: 0.6, NOT_URGENT: -0.9, NOT_NEGATIVE: -0.9}
# The weight of a verdict on the post itself (the verdict decides; the weight only orders and explains).
_OWN_WEIGHT = {URGENT: 0.6, NOT_URGENT: -0.9, NOT_NEGATIVE: -0.9}

#: The reason code prefix of a nudge from a similar corrected post; the corrected post's id follows.
SIMILAR_REASON = "like_corrected:"

_MENTION = re.compile(r"(?<![\w@])@[\w.@-]+")
_URL = re.compile(r"(?:https?://|www\.)\S*")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Function words the language check already knows, and a few more that say nothing about a post.
_STOP = (
    ENGLISH_WORDS
    | FOREIGN_WORDS
    | frozenset(
        (
            "the and for you your with this that was are has had not but its out off too yet via than then them "
            "what who how can cant can't dont don't didn't isn't i've i'd you're we're they're won't hasn't "
            "haven't wasn't aren't did does doing done been being were one also very really some more most "
            "now today yesterday day days time hours hour week weeks thanks thank hello dear guys folks see know let "
            "sie ihr ihre ihnen einen einem auch das die les des une que est sont pour vous los las una por "
            "con del che per una sono het een van zijn voor com para uma"
        ).split()
    )
)


def parse_verdict(value: str) -> str:
    """``urgent``, ``not_urgent`` or ``not_negative`` from what a person types ("not-urgent", "Not urgent")."""
    verdict = re.sub(r"[\s-]+", "_", value.strip().lower())
    if verdict not in VERDICTS:
        raise InvalidInput(f"{value!r} is not a verdict; use urgent, not-urgent or not-negative.")
    return verdict


def verdict_words(verdict: str) -> str:
    """A verdict as words: "not urgent"."""
    return verdict.replace("_", " ")


def is_correction_reason(code: str) -> bool:
    """Whether a reason code comes from an operator's correction (the post's own or a similar one's)."""
    return code == VERDICT_REASON or code.startswith(SIMILAR_REASON)


# --- Features and similarity ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Features:
    """What similarity compares: a post's content words and its cue codes."""

    words: frozenset[str]
    cues: frozenset[str]

    def to_columns(self) -> tuple[str, str]:
        """As stored in the correction table: (words, cues), each space-separated and sorted."""
        return " ".join(sorted(self.words)), " ".join(sorted(self.cues))

    @classmethod
    def from_columns(cls, words: str, cues: str) -> Features:
        """Read what ``to_columns`` wrote."""
        return cls(frozenset(words.split()), frozenset(cues.split()))


def features_of_folded(folded: str, codes: Iterable[str]) -> Features:
    """Features of a folded text (``services.triage.fold_text``) whose cue codes are known."""
    if "@" in folded:
        folded = _MENTION.sub(" ", folded)  # handles are who, not what: every post names the brand
    if "www" in folded or "http" in folded:
        folded = _URL.sub(" ", folded)
    words = frozenset(w for w in _WORD.findall(folded) if len(w) >= 3 and w not in _STOP)
    return Features(words, frozenset(c for c in codes if not c.startswith("_")))


def features(text: str) -> Features:
    """Features of a post's text."""
    folded = fold_text(text)
    return features_of_folded(folded, cue_codes(folded))


def similarity(a: Features, b: Features, min_shared: int = MIN_SHARED_WORDS) -> float:
    """0..1: the Jaccard overlap of words and cue codes; 0 when fewer than ``min_shared`` words are shared."""
    shared_words = len(a.words & b.words)
    if shared_words < min_shared:
        return 0.0
    shared = shared_words + len(a.cues & b.cues)
    return shared / (len(a.words) + len(a.cues) + len(b.words) + len(b.cues) - shared)


# --- The index -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Correction:
    """An active correction as the index needs it."""

    id: int
    post_id: int
    verdict: str
    operator: str
    features: Features

    def own_label(self) -> str:
        """The corrected post's chip: "marked not urgent by Ana"."""
        by = f" by {self.operator}" if self.operator else ""
        return f"marked {verdict_words(self.verdict)}{by}"


@dataclass(frozen=True, slots=True)
class Match:
    """A correction similar to a post, and how similar (MIN_SIMILARITY..1)."""

    correction: Correction
    similarity: float

    @property
    def weight(self) -> float:
        """The nudge: the verdict's pull times the similarity."""
        return round(_PULL[self.correction.verdict] * self.similarity, 3)

    def reason(self) -> Reason:
        """The chip: "like #123 marked not urgent (-0.45)"."""
        c = self.correction
        label = f"like #{c.post_id} marked {verdict_words(c.verdict)} ({self.weight:+.2f})"
        return Reason(f"{SIMILAR_REASON}{c.post_id}", label, self.weight)


class CorrectionIndex:
    """Active corrections in memory: verdicts by post, and an inverted index from words to corrections.

    Immutable once built (a new correction builds a new index), so one can be shared by threads and
    swapped on a running scorer. Pickles as its corrections, for triage in worker processes.
    """

    __slots__ = ("_by_post", "_corrections", "_min_shared", "_min_similarity", "_postings")

    def __init__(
        self,
        corrections: Iterable[Correction] = (),
        *,
        min_similarity: float = MIN_SIMILARITY,
        min_shared: int = MIN_SHARED_WORDS,
    ) -> None:
        """Index these corrections (at most one per post: a later one replaces an earlier one).

        The thresholds are the app's; bench/triage_corrections.py tries others.
        """
        self._min_similarity, self._min_shared = min_similarity, min_shared
        by_post: dict[int, Correction] = {}
        for c in sorted(corrections, key=lambda c: c.id):
            by_post[c.post_id] = c
        self._by_post = by_post
        self._corrections: tuple[Correction, ...] = tuple(by_post.values())
        postings: dict[str, list[int]] = {}
        for position, c in enumerate(self._corrections):
            for word in c.features.words:
                postings.setdefault(word, []).append(position)
        self._postings = postings

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._corrections, self._min_similarity, self._min_shared))

    def __len__(self) -> int:
        return len(self._corrections)

    @property
    def corrections(self) -> tuple[Correction, ...]:
        """Every indexed correction, oldest first."""
        return self._corrections

    def verdict_on(self, post_id: int) -> Correction | None:
        """The active correction of one post."""
        return self._by_post.get(post_id)

    def similar(self, post: Features, *, exclude_post: int | None = None) -> list[Match]:
        """The corrections most like ``post`` (at most MAX_SIMILAR), the most similar first, newer first on ties."""
        postings = [self._postings[w] for w in post.words if w in self._postings]
        if len(postings) < self._min_shared:
            return []
        shared = Counter(chain.from_iterable(postings))
        matches = []
        for position, count in shared.items():
            if count < self._min_shared:
                continue
            c = self._corrections[position]
            if c.post_id == exclude_post:
                continue
            score = similarity(post, c.features, self._min_shared)
            if score >= self._min_similarity:
                matches.append(Match(c, round(score, 3)))
        matches.sort(key=lambda m: (-m.similarity, -m.correction.id))
        return matches[:MAX_SIMILAR]

    def adjust(self, post_id: int | None, folded: str, codes: frozenset[str]) -> Adjustment | None:
        """The post's own verdict if it has one, else the nudges of similar corrections (see Triage)."""
        if not self._corrections:
            return None
        own = self._by_post.get(post_id) if post_id is not None else None
        if own is not None:
            reason = Reason(VERDICT_REASON, own.own_label(), _OWN_WEIGHT[own.verdict])
            if own.verdict == URGENT:
                return Adjustment((reason,), negative=True, urgent=True)
            if own.verdict == NOT_NEGATIVE:
                return Adjustment((reason,), negative=False, urgent=False)
            return Adjustment((reason,), urgent=False)
        if not self._postings:
            return None
        matches = self.similar(features_of_folded(folded, codes), exclude_post=post_id)
        if not matches:
            return None
        return Adjustment(tuple(m.reason() for m in matches), negative=_negative_override(matches))


def _rebuild(corrections: tuple[Correction, ...], min_similarity: float, min_shared: int) -> CorrectionIndex:
    return CorrectionIndex(corrections, min_similarity=min_similarity, min_shared=min_shared)


def nudged_posts(correction: Correction, candidates: Iterable[tuple[int, str]]) -> list[int]:
    """Which of ``candidates`` (post id, text) ``correction`` is similar to: the posts to score again after it."""
    out = []
    words = correction.features.words
    for post_id, text in candidates:
        if post_id == correction.post_id:
            continue
        folded = fold_text(text)
        # A cheap first look at the words; the cue matcher only runs on posts that pass it.
        if len(features_of_folded(folded, ()).words & words) < MIN_SHARED_WORDS:
            continue
        if similarity(features_of_folded(folded, cue_codes(folded)), correction.features) >= MIN_SIMILARITY:
            out.append(post_id)
    return out


def _negative_override(matches: Sequence[Match]) -> bool | None:
    """The most similar strong match's say on "negative": urgent means a complaint, not negative means none."""
    best = matches[0]
    if best.similarity < STRONG_SIMILARITY:
        return None
    if best.correction.verdict == URGENT:
        return True
    if best.correction.verdict == NOT_NEGATIVE:
        return False
    return None
