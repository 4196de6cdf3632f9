"""Triage quality on hand-labelled posts (ours vs TextBlob vs VADER) and the triage CLI's throughput.

    python -m bench.triage_eval [--no-throughput] [--posts N] [--split tune|holdout]

Scores tests/data/triage_eval/{tune,holdout}.jsonl three ways and prints markdown tables of
precision, recall, F1 and MCC for "negative" and "urgent", with the confusion counts; then
pipes N posts through ``python main.py triage`` and times it.  Copy the tables into
bench/README.md ("Triage quality").
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.triage import Triage, TriageInput

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "triage_eval"
SPLITS = ("tune", "holdout")

#: The split is random within each tone, with this seed; tests check the files still match it.
SPLIT_SEED = 20250314
HOLDOUT_SHARE = 0.35

#: The tone tag of complaints written without negative words.
NO_NEGATIVE_WORDS = "implicit"

#: "Now" for posts that carry ``waited_hours``.
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

TONES = ("angry", "sarcastic", "implicit", "urgent", "mild", "praise", "question", "neutral", "spam")
LANGS = ("en", "de", "fr", "es", "it", "nl", "pt")
NETWORKS = ("x", "bluesky", "mastodon", "facebook")


@dataclass(frozen=True, slots=True)
class Post:
    """One labelled post of the evaluation set."""

    id: str
    text: str
    lang: str
    network: str
    tone: str
    negative: bool
    urgent: bool
    followers: int | None = None
    waited_hours: float | None = None
    repeat_contacts: int = 0

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Post:
        followers = data.get("followers")
        waited = data.get("waited_hours")
        repeats = data.get("repeat_contacts", 0)
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            lang=str(data["lang"]),
            network=str(data["network"]),
            tone=str(data["tone"]),
            negative=bool(data["negative"]),
            urgent=bool(data["urgent"]),
            followers=int(followers) if isinstance(followers, int) else None,
            waited_hours=float(waited) if isinstance(waited, int | float) else None,
            repeat_contacts=int(repeats) if isinstance(repeats, int) else 0,
        )

    def to_input(self) -> TriageInput:
        """The post as Triage sees it in the app: text, language tag and what we know of the author."""
        created = NOW - timedelta(hours=self.waited_hours) if self.waited_hours is not None else None
        return TriageInput(
            text=self.text,
            lang=self.lang,
            created_at=created,
            now=NOW if created is not None else None,
            author_followers=self.followers,
            repeat_contacts=self.repeat_contacts,
        )


def load(split: str, data_dir: Path = DATA) -> list[Post]:
    """The posts of one split, in file order."""
    with open(data_dir / f"{split}.jsonl", encoding="utf-8") as fh:
        return [Post.from_json(json.loads(line)) for line in fh if line.strip()]


def split_ids(posts: Iterable[tuple[str, str]], seed: int = SPLIT_SEED) -> tuple[set[str], set[str]]:
    """(tune ids, holdout ids) from (id, tone) pairs: a seeded shuffle within each tone, 35% held out."""
    by_tone: dict[str, list[str]] = {}
    for ident, tone in posts:
        by_tone.setdefault(tone, []).append(ident)
    rng = random.Random(seed)
    tune: set[str] = set()
    holdout: set[str] = set()
    for tone in sorted(by_tone):
        ids = sorted(by_tone[tone])
        rng.shuffle(ids)
        cut = round(len(ids) * HOLDOUT_SHARE)
        holdout.update(ids[:cut])
        tune.update(ids[cut:])
    return tune, holdout


# --- Metrics -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confusion:
    """Confusion counts of one binary label."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, truth: Sequence[bool], predicted: Sequence[bool]) -> Confusion:
        pairs = list(zip(truth, predicted, strict=True))
        return cls(
            tp=sum(t and p for t, p in pairs),
            fp=sum(p and not t for t, p in pairs),
            fn=sum(t and not p for t, p in pairs),
            tn=sum(not t and not p for t, p in pairs),
        )

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mcc(self) -> float:
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return (tp * tn - fp * fn) / denominator if denominator else 0.0


@dataclass(frozen=True, slots=True)
class Prediction:
    negative: bool
    urgent: bool


Scorer = Callable[[Sequence[Post]], list[Prediction]]


def ours(posts: Sequence[Post], triage: Triage | None = None) -> list[Prediction]:
    """Parley's Triage with the post's context, at the default threshold."""
    scorer = triage or Triage()
    return [Prediction(s.negative, s.urgent) for s in scorer.score_many([p.to_input() for p in posts])]


def textblob_alone(posts: Sequence[Post]) -> list[Prediction]:
    """TextBlob's polarity: negative below 0; urgent = negative (it has no notion of urgency)."""
    from textblob import TextBlob

    negative = [TextBlob(p.text).sentiment.polarity < 0 for p in posts]
    return [Prediction(n, n) for n in negative]


def vader_alone(posts: Sequence[Post]) -> list[Prediction]:
    """VADER's compound score: negative at -0.05 or below; urgent = negative."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    negative = [analyzer.polarity_scores(p.text)["compound"] <= -0.05 for p in posts]
    return [Prediction(n, n) for n in negative]


@dataclass(frozen=True, slots=True)
class Result:
    """One scorer on one split."""

    negative: Confusion
    urgent: Confusion
    no_negative_words_recall: float  # negative recall on the NO_NEGATIVE_WORDS tone


def evaluate(posts: Sequence[Post], predictions: Sequence[Prediction]) -> Result:
    negative = Confusion.of([p.negative for p in posts], [x.negative for x in predictions])
    urgent = Confusion.of([p.urgent for p in posts], [x.urgent for x in predictions])
    subset = [(p, x) for p, x in zip(posts, predictions, strict=True) if p.tone == NO_NEGATIVE_WORDS and p.negative]
    recall = sum(x.negative for _, x in subset) / len(subset) if subset else 0.0
    return Result(negative, urgent, recall)


def by_tone(posts: Sequence[Post], predictions: Sequence[Prediction]) -> dict[str, tuple[int, int, int]]:
    """Tone -> (posts, predicted negative, predicted urgent)."""
    table: dict[str, tuple[int, int, int]] = {}
    for post, prediction in zip(posts, predictions, strict=True):
        n, neg, urg = table.get(post.tone, (0, 0, 0))
        table[post.tone] = (n + 1, neg + prediction.negative, urg + prediction.urgent)
    return table


# --- Throughput ----------------------------------------------------------------------------------


def cli_lines(posts: Sequence[Post], n: int) -> list[str]:
    """N distinct JSON lines for ``main.py triage``, cycling through the set with a varied author mention."""
    lines = []
    for i in range(n):
        post = posts[i % len(posts)]
        data: dict[str, object] = {"id": i, "text": f"@user{i} {post.text}", "lang": post.lang}
        if post.followers is not None:
            data["followers"] = post.followers
        lines.append(json.dumps(data, ensure_ascii=False))
    return lines


@dataclass(frozen=True, slots=True)
class Throughput:
    """One ``main.py triage`` run on N posts, and one on a single post for the start-up."""

    posts: int
    written: int
    seconds: float  # wall clock, start-up included
    startup: float  # wall clock of the one-post run
    cpu: float  # user + system seconds of the N-post run

    @property
    def per_second(self) -> float:
        """Posts scored per second once started."""
        return self.posts / max(self.seconds - self.startup, 1e-9)


def _run_cli(payload: str, data_dir: str) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--data-dir", data_dir, "triage"],
        input=payload,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        check=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done.stdout


def cli_throughput(posts: Sequence[Post], n: int = 10_000) -> Throughput:
    """Time ``python main.py triage`` on N posts (JSON lines in and out), and on one post."""
    with tempfile.TemporaryDirectory() as data_dir:
        startup, _, _ = _run_cli(cli_lines(posts, 1)[0] + "\n", data_dir)
        seconds, cpu, out = _run_cli("\n".join(cli_lines(posts, n)) + "\n", data_dir)
    written = sum(1 for line in out.splitlines() if line.strip())
    return Throughput(posts=n, written=written, seconds=seconds, startup=startup, cpu=cpu)


# --- Report --------------------------------------------------------------------------------------


def _row(name: str, c: Confusion) -> str:
    return (
        f"| {name} | {c.precision:.2f} | {c.recall:.2f} | {c.f1:.2f} | {c.mcc:.2f} "
        f"| {c.tp} | {c.fp} | {c.fn} | {c.tn} |"
    )


def report(split: str, posts: Sequence[Post], results: dict[str, Result]) -> str:
    negatives = sum(p.negative for p in posts)
    urgents = sum(p.urgent for p in posts)
    subset = sum(p.tone == NO_NEGATIVE_WORDS and p.negative for p in posts)
    head = "| scorer | P | R | F1 | MCC | TP | FP | FN | TN |\n|---|---|---|---|---|---|---|---|---|"
    out = [f"### {split} ({len(posts)} posts: {negatives} negative, {urgents} urgent)", ""]
    for label in ("negative", "urgent"):
        out += [f"**{label}**", "", head]
        out += [_row(name, getattr(result, label)) for name, result in results.items()]
        out.append("")
    out += [
        f"Recall on complaints without negative words (tone `{NO_NEGATIVE_WORDS}`, {subset} posts): "
        + ", ".join(f"{name} {result.no_negative_words_recall:.2f}" for name, result in results.items()),
        "",
    ]
    return "\n".join(out)


def tone_report(posts: Sequence[Post], predictions: Sequence[Prediction]) -> str:
    truth = by_tone(posts, [Prediction(p.negative, p.urgent) for p in posts])
    ours_ = by_tone(posts, predictions)
    out = ["| tone | posts | negative (labelled / ours) | urgent (labelled / ours) |", "|---|---|---|---|"]
    for tone in TONES:
        if tone in truth:
            n, neg, urg = truth[tone]
            _, our_neg, our_urg = ours_[tone]
            out.append(f"| {tone} | {n} | {neg} / {our_neg} | {urg} / {our_urg} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--split", choices=SPLITS, action="append", help="only this split (repeatable)")
    parser.add_argument("--posts", type=int, default=10_000, help="posts for the CLI throughput run")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--by-tone", action="store_true", help="also print ours per tone")
    args = parser.parse_args(argv)

    scorers: dict[str, Scorer] = {"Parley triage": ours, "TextBlob alone": textblob_alone, "VADER alone": vader_alone}
    for split in args.split or SPLITS:
        posts = load(split)
        predictions = {name: scorer(posts) for name, scorer in scorers.items()}
        results = {name: evaluate(posts, preds) for name, preds in predictions.items()}
        print(report(split, posts, results))
        if args.by_tone:
            print(tone_report(posts, predictions["Parley triage"]), "\n")

    if not args.no_throughput:
        posts = load("tune") + load("holdout")
        run = cli_throughput(posts, args.posts)
        print("### `python main.py triage` throughput\n")
        print(
            "| posts in | scores out | wall s (all) | wall s (start-up, 1 post) | CPU s (all) "
            "| posts/s after start-up |"
        )
        print("|---|---|---|---|---|---|")
        print(
            f"| {run.posts} | {run.written} | {run.seconds:.2f} | {run.startup:.2f} | {run.cpu:.2f} "
            f"| {run.per_second:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
