"""Bulk import of JSON lines: parse, prepare, triage on every core, store, in a pipeline."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from services.networks.base import RemoteAuthor, RemotePost
from services.store import posts as store
from services.store.contacts import AuthorHistory
from services.store.db import Database
from services.store.models import ARCHIVE_SERVER, KIND_OWN_REPLY, Account
from services.triage import Adjuster, Triage, TriageInput

#: Lines per batch: large enough to amortise the round trips, small enough to keep memory flat.
BATCH = 2000
#: Posts per task sent to a worker process.
CHUNK = 500
#: Below this many lines, starting worker processes costs more than it saves.
PARALLEL_FROM = 5000

_worker_triage: Triage | None = None


def _start_worker(threshold: float, corrections: Adjuster | None) -> None:
    """Build a worker process's scorer once, with the operators' corrections as they were when the import began."""
    global _worker_triage
    _worker_triage = Triage(threshold, corrections)


def _score_in_worker(inputs: tuple[TriageInput, ...], threshold: float) -> list[store.StoredScore]:
    """Score one chunk in a worker process (the scorer is built once per process)."""
    global _worker_triage
    if _worker_triage is None:
        _worker_triage = Triage(threshold)
    _worker_triage.threshold = threshold
    # In stored form: the reasons' JSON is written here, on a worker's core, and plain tuples travel back fast.
    return [store.stored_score(score) for score in _worker_triage.score_many(inputs)]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did."""

    new: int
    skipped: int
    errors: tuple[str, ...]


def parse_line(line: str) -> tuple[str, str, RemotePost]:
    """One import line as (network, account handle, post); raises ValueError/KeyError/TypeError."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key in ("network", "remote_id", "author", "text", "created_at"):
        if key not in data or data[key] in (None, ""):
            raise KeyError(f"missing {key!r}")
    created = datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00"))
    if created.tzinfo is None:
        raise ValueError("created_at has no time zone")
    author = str(data["author"])
    network = str(data["network"])
    kind = str(data.get("kind") or "mention")
    post = RemotePost(
        remote_id=str(data["remote_id"]),
        author=RemoteAuthor(remote_id=author, handle=author, name=str(data.get("author_name") or "")),
        text=str(data["text"]),
        created_at=created,
        conversation_key=str(data.get("conversation") or data["remote_id"]),
        url=data.get("url"),
        lang=data.get("lang"),
        kind=kind if kind in ("mention", "comment", "dm", KIND_OWN_REPLY) else "mention",
        raw={},
    )
    return network, str(data.get("account") or f"{network} import"), post


class Importer:
    """Imports posts into one database; with ``workers`` > 1, triage runs in other processes."""

    def __init__(self, db: Database, triage: Triage, clock: Callable[[], datetime], workers: int | None = None):
        self.db = db
        self.triage = triage
        self.clock = clock
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._accounts: dict[tuple[str, str], Account] = {}
        self._dupes = 0  # posts dropped as already stored while preparing
        self._run = store.ImportRun(AuthorHistory())

    def account(self, network: str, handle: str) -> Account:
        """The account posts are filed under (created, disabled, for archives of unknown accounts)."""
        key = (network, handle)
        if key not in self._accounts:
            with self.db.session() as s:
                found = s.exec(select(Account).where(Account.network == network, Account.handle == handle)).first()
                if found is None:
                    found = Account(network=network, handle=handle, server_url=ARCHIVE_SERVER, enabled=False)
                    s.add(found)
                    s.flush()
                self._accounts[key] = found
        return self._accounts[key]

    def run(self, lines: Iterable[str], *, expected: int | None = None) -> ImportResult:
        """Import every line; unreadable lines are reported, never fatal."""
        errors: list[str] = []
        self._dupes = 0
        with self.db.session() as s:
            # Stored posts up to here are read for repeat contacts; this run's own are kept in memory.
            self._run = store.ImportRun(AuthorHistory(until_id=store.max_id(s)))
        batches = self._batches(lines, errors)
        if self.workers > 1 and (expected is None or expected >= PARALLEL_FROM):
            new, skipped = self._run_parallel(batches)
        else:
            new = skipped = 0
            for prepared_batch in self._prepared(batches, carry=tuple):
                for prep in prepared_batch:
                    n = self._store(prep, [store.stored_score(x) for x in self.triage.score_many(prep.inputs)])
                    new, skipped = new + n, skipped + len(prep.posts) - n
        return ImportResult(new, skipped + self._dupes, tuple(errors))

    def _store(self, prep: store.Prepared, scores: list[store.StoredScore]) -> int:
        with self.db.session() as s:
            return len(store.store_prepared(s, prep, scores, self.clock()))

    def _batches(self, lines: Iterable[str], errors: list[str]) -> Iterator[list[tuple[str, str, RemotePost]]]:
        batch: list[tuple[str, str, RemotePost]] = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                batch.append(parse_line(line))
            except (ValueError, KeyError, TypeError) as exc:
                errors.append(f"line {n}: {exc}")
                continue
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _prepared(
        self,
        batches: Iterable[list[tuple[str, str, RemotePost]]],
        carry: Callable[[], Iterable[store.Prepared]],
    ) -> Iterator[list[store.Prepared]]:
        """Each batch as prepared groups (one per account); posts already stored are dropped here."""
        for batch in batches:
            groups: dict[tuple[str, str], list[RemotePost]] = {}
            for network, handle, post in batch:
                groups.setdefault((network, handle), []).append(post)
            out = []
            for (network, handle), posts in groups.items():
                account = self.account(network, handle)
                with self.db.session() as s:
                    prep = store.prepare(s, account, posts, self.clock(), tuple(carry()), self._run)
                if prep is None:
                    self._dupes += len(posts)
                else:
                    self._dupes += len(posts) - len(prep.posts)
                    out.append(prep)
            yield out

    def _run_parallel(self, batches: Iterator[list[tuple[str, str, RemotePost]]]) -> tuple[int, int]:
        """Score batch N in worker processes while batch N-1 is stored and batch N+1 prepared."""
        new = skipped = 0
        inflight: list[tuple[store.Prepared, list[Future[list[store.StoredScore]]]]] = []
        # spawn, not fork: the database worker thread may hold locks a forked child would inherit.
        ctx = multiprocessing.get_context("spawn")
        # The corrections travel once per worker (they pickle as the corrections themselves), not with each chunk.
        start = (self.triage.threshold, self.triage.corrections)
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_start_worker, initargs=start
        ) as pool:

            def settle(keep: int) -> None:
                nonlocal new, skipped
                while len(inflight) > keep:
                    prep, futures = inflight.pop(0)
                    n = self._store(prep, [score for f in futures for score in f.result()])
                    new, skipped = new + n, skipped + len(prep.posts) - n

            for prepared_batch in self._prepared(batches, carry=lambda: (p for p, _ in inflight)):
                for prep in prepared_batch:
                    # Chunks of at most CHUNK keep both workers busy to the end of a batch.
                    step = max(1, min(CHUNK, -(-len(prep.inputs) // self.workers)))
                    chunks = [prep.inputs[i : i + step] for i in range(0, len(prep.inputs), step)]
                    futures = [pool.submit(_score_in_worker, c, self.triage.threshold) for c in chunks]
                    inflight.append((prep, futures))
                # One batch in the workers while this process stores the last and prepares the next.
                settle(keep=1)
            settle(keep=0)
        return new, skipped
