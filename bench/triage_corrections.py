"""What operators' corrections do to triage: quality on the holdout, repeats of corrected posts, and cost.

    python -m bench.triage_corrections [--posts N] [--corrections N]

1. Corrections from the tune split's mistakes: every tune post triage got wrong is corrected the
   way an operator would (labelled not negative but scored negative: "not negative"; scored urgent
   but labelled not: "not urgent"; labelled urgent but not scored so: "urgent"). The holdout, on
   which no rule and no correction was made, is scored before and after: P, R, F1 and MCC.
2. Repeats: each corrected tune post written again by another customer (another handle, another
   number, one filler word more), as campaigns, outages and copy-paste complaints do. How many of
   them triage gets right before and after.
3. Cost: scoring N posts with no index, and with an index of M corrections; building the index; and
   the look for similar open posts that follows a correction (5,000 candidates).

Copy the tables into bench/README.md ("Operator corrections").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from bench.triage_eval import Confusion, Post, Prediction, cli_lines, evaluate, load
from services.corrections import (
    MIN_SIMILARITY,
    NOT_NEGATIVE,
    NOT_URGENT,
    URGENT,
    Correction,
    CorrectionIndex,
    features,
    nudged_posts,
)
from services.triage import Triage, TriageInput

SEED = 20250602
FILLERS = ("honestly", "seriously", "again", "today", "guys", "please", "folks", "ugh")


def verdict_for(post: Post, predicted: Prediction) -> str | None:
    """The correction an operator gives a post triage got wrong (None when it got it right)."""
    if predicted.negative and not post.negative:
        return NOT_NEGATIVE
    if predicted.urgent and not post.urgent:
        return NOT_URGENT
    if post.urgent and not predicted.urgent:
        return URGENT
    return None  # a complaint scored as none but not urgent: no verdict says "negative" alone


def corrections_from(posts: Sequence[Post], predictions: Sequence[Prediction]) -> list[tuple[Post, str]]:
    """(post, verdict) for every mistake."""
    out = []
    for post, predicted in zip(posts, predictions, strict=True):
        verdict = verdict_for(post, predicted)
        if verdict is not None:
            out.append((post, verdict))
    return out


def index_of(corrected: Sequence[tuple[Post, str]], least: float = MIN_SIMILARITY, shared: int = 2) -> CorrectionIndex:
    """The corrections as the app holds them (post ids are positions; the eval posts are not stored)."""
    entries = (
        Correction(n, 100_000 + n, verdict, "bench", features(post.text))
        for n, (post, verdict) in enumerate(corrected, start=1)
    )
    return CorrectionIndex(entries, min_similarity=least, min_shared=shared)


def predict(posts: Sequence[Post], triage: Triage) -> list[Prediction]:
    return [Prediction(s.negative, s.urgent) for s in triage.score_many([p.to_input() for p in posts])]


def repeat_of(post: Post, rng: random.Random) -> Post:
    """The same post written again by someone else: another handle and number, one filler word more."""
    words = [w for w in post.text.split() if not w.startswith("@")]
    words = [str(rng.randint(2, 99)) if w.isdigit() else w for w in words]
    words.insert(rng.randint(0, len(words)), rng.choice(FILLERS))
    return replace(post, id=f"{post.id}-again", text=f"@user{rng.randint(100, 999)} " + " ".join(words))


def _row(name: str, c: Confusion) -> str:
    counts = f"{c.tp} | {c.fp} | {c.fn} | {c.tn}"
    return f"| {name} | {c.precision:.2f} | {c.recall:.2f} | {c.f1:.2f} | {c.mcc:.2f} | {counts} |"


def _right(post: Post, p: Prediction) -> bool:
    return (p.urgent, p.negative) == (post.urgent, post.negative)


def quality(out: list[str]) -> None:
    tune, holdout = load("tune"), load("holdout")
    plain = Triage()
    corrected = corrections_from(tune, predict(tune, plain))
    index = index_of(corrected)
    nudged = Triage(corrections=index)
    counts = {v: sum(1 for _, x in corrected if x == v) for v in (URGENT, NOT_URGENT, NOT_NEGATIVE)}
    out += [
        f"### Holdout ({len(holdout)} posts) with {len(corrected)} corrections from the tune split's mistakes",
        "",
        "Corrections: " + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.items()) + ".",
        "",
    ]
    before, after = predict(holdout, plain), predict(holdout, nudged)
    results = {"before": evaluate(holdout, before), "after": evaluate(holdout, after)}
    head = "| triage | P | R | F1 | MCC | TP | FP | FN | TN |\n|---|---|---|---|---|---|---|---|---|"
    for label in ("negative", "urgent"):
        out += [f"**{label}**", "", head]
        out += [_row(name, getattr(r, label)) for name, r in results.items()]
        out.append("")
    touched = [
        (p, b, a)
        for p, b, a, s in zip(holdout, before, after, nudged.score_many([p.to_input() for p in holdout]), strict=True)
        if any(r.code.startswith("like_corrected:") for r in s.reasons)
    ]
    fixed = sum(not _right(p, b) and _right(p, a) for p, b, a in touched)
    broken = sum(_right(p, b) and not _right(p, a) for p, b, a in touched)
    changed = sum(b != a for _, b, a in touched)
    out += [
        f"Holdout posts nudged by a similar correction: {len(touched)}; their verdict changed on {changed}: "
        f"{fixed} now right, {broken} now wrong.",
        "",
    ]

    out += [
        "How much likeness a nudge takes (the app: 0.3 and 2 shared words), and what that does on the holdout:",
        "",
        "| least similarity | least shared words | holdout verdicts changed | now right | now wrong | urgent MCC |",
        "|---|---|---|---|---|---|",
    ]
    for least in (0.15, 0.2, 0.3, 0.45):
        for shared in (1, 2):
            swept = predict(holdout, Triage(corrections=index_of(corrected, least, shared)))
            moved = [(p, a) for p, b, a in zip(holdout, before, swept, strict=True) if b != a]
            right = sum(_right(p, a) for p, a in moved)
            mcc = evaluate(holdout, swept).urgent.mcc
            out.append(f"| {least} | {shared} | {len(moved)} | {right} | {len(moved) - right} | {mcc:.2f} |")
    out.append("")

    rng = random.Random(SEED)
    repeats = [repeat_of(p, rng) for p, _ in corrected]
    truth = [(p.urgent, p.negative) for p in repeats]
    right_before = sum((x.urgent, x.negative) == t for x, t in zip(predict(repeats, plain), truth, strict=True))
    right_after = sum((x.urgent, x.negative) == t for x, t in zip(predict(repeats, nudged), truth, strict=True))
    out += [
        f"### Repeats of the {len(repeats)} corrected tune posts (another customer, another number, a filler word)",
        "",
        "| triage | right (urgent and negative both) |",
        "|---|---|",
        f"| before | {right_before} / {len(repeats)} |",
        f"| after | {right_after} / {len(repeats)} |",
        "",
    ]


def cost(out: list[str], n_posts: int, n_corrections: int) -> None:
    posts = load("tune") + load("holdout")
    rng = random.Random(SEED)
    # Corrections written like real ones: eval posts, each reworded the way repeats are.
    pool = [repeat_of(rng.choice(posts), rng) for _ in range(n_corrections)]
    verdicts = (URGENT, NOT_URGENT, NOT_NEGATIVE)
    start = time.perf_counter()
    entries = [Correction(n, n, verdicts[n % 3], "bench", features(p.text)) for n, p in enumerate(pool, start=1)]
    extract = time.perf_counter() - start
    start = time.perf_counter()
    index = CorrectionIndex(entries)
    build = time.perf_counter() - start

    lines = [json.loads(line) for line in cli_lines(posts, n_posts)]
    inputs = [TriageInput(text=line["text"], lang=line["lang"]) for line in lines]
    plain_triage, indexed = Triage(), Triage(corrections=index)
    plain_triage.score_many(inputs[:200])  # TextBlob's lexicon loads once
    plain = with_index = float("inf")
    for _ in range(2):  # alternating, best of two: the machine is shared
        start = time.perf_counter()
        plain_triage.score_many(inputs)
        plain = min(plain, time.perf_counter() - start)
        start = time.perf_counter()
        scores = indexed.score_many(inputs)
        with_index = min(with_index, time.perf_counter() - start)
    nudged = sum(any(r.code.startswith("like_corrected:") for r in s.reasons) for s in scores)
    candidates = [(n, p.text) for n, p in enumerate(rng.choices(posts, k=5_000))]
    start = time.perf_counter()
    found = nudged_posts(entries[0], candidates)
    look = time.perf_counter() - start

    out += [
        f"### Cost: {n_posts:,} posts, {n_corrections:,} corrections",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| features of {n_corrections:,} corrected posts (done once, when each is made) | {extract:.2f} |",
        f"| building the index from them (every start and every correction) | {build:.3f} |",
        f"| scoring {n_posts:,} posts, no corrections | {plain:.2f} |",
        f"| scoring {n_posts:,} posts with the index ({nudged:,} nudged) "
        f"| {with_index:.2f} ({with_index / plain:.2f}x) |",
        f"| after one correction: finding the similar ones among 5,000 open posts ({len(found)} found) | {look:.2f} |",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--corrections", type=int, default=1_000)
    args = parser.parse_args(argv)
    out: list[str] = []
    quality(out)
    cost(out, args.posts, args.corrections)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
