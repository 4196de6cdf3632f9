"""Posts in and out: idempotent ingest with triage on arrival, and the timeline's paged queries."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, TextClause, and_, column, func, literal_column, or_, table, text, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from services.networks.base import RemoteAuthor, RemotePost
from services.store.contacts import AuthorHistory
from services.store.models import KIND_OWN_REPLY, Account, Author, OutboxItem, Post
from services.store.search import fts5_query, index_posts, match_clause
from services.triage import Reason, Score, Triage, TriageInput

#: How far back "repeat contact" looks.
REPEAT_WINDOW = timedelta(days=7)
OPEN_STATUSES = ("new", "open")


@dataclass(frozen=True, slots=True)
class PostRow:
    """A post as the timeline and conversation pane show it."""

    id: int
    account_id: int
    account_handle: str
    network: str
    remote_id: str
    conversation_key: str
    parent_remote_id: str | None
    author_id: int
    author_handle: str
    author_name: str
    author_followers: int | None
    text: str
    url: str | None
    lang: str | None
    created_at: datetime
    kind: str
    sentiment: float
    negative: bool
    urgency: float
    urgent: bool
    #: The triage reasons as stored (JSON): ``reasons`` decodes them when something shows them.
    reasons_json: str
    status: str
    assignee: str | None
    answered: bool
    snoozed_until: datetime | None = None
    outbox_state: str | None = None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Why triage scored the post as it did, the weightiest first."""
        return _decoded_reasons(self.reasons_json)

    @property
    def is_own(self) -> bool:
        """Whether this is our brand's own reply."""
        return self.kind == KIND_OWN_REPLY

    def to_json(self) -> dict[str, Any]:
        """The contract's timeline line (design section 6)."""
        return {
            "id": self.id,
            "network": self.network,
            "remote_id": self.remote_id,
            "account": self.account_handle,
            "author": self.author_handle,
            "author_name": self.author_name,
            "text": self.text,
            "url": self.url,
            "lang": self.lang,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "conversation": self.conversation_key,
            "sentiment": round(self.sentiment, 3),
            "negative": self.negative,
            "urgency": round(self.urgency, 3),
            "urgent": self.urgent,
            "reasons": [r.label for r in self.reasons],
            "reason_codes": [r.code for r in self.reasons],
            "status": self.status,
            "answered": self.answered,
            "assignee": self.assignee,
        }


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """Which posts a timeline shows."""

    view: str = "all"  # all | urgent | unanswered | open | mine | snoozed | done | ignored
    network: str | None = None
    account_id: int | None = None
    search: str = ""
    operator: str = ""

    @property
    def by_id(self) -> bool:
        """Search results are paged by id (FTS order is rowid order; ordering by date costs 1000x)."""
        return bool(self.search.strip())


@dataclass(frozen=True, slots=True, order=True)
class PageKey:
    """Where a page ends: the last row's sort key."""

    created_at: datetime
    id: int


VIEWS = ("all", "urgent", "unanswered", "mine", "snoozed", "done")

#: The SQLite full-text table (see the migration); its rowid is the post id.
FTS = table("post_fts", column("rowid", Integer))


def reasons_to_json(reasons: Iterable[Reason]) -> str:
    """Store reasons as JSON text."""
    return json.dumps([{"code": r.code, "label": r.label, "weight": round(r.weight, 4)} for r in reasons])


def reasons_from_json(raw: str) -> tuple[Reason, ...]:
    """Read stored reasons; a damaged value reads as none."""
    try:
        items = json.loads(raw or "[]")
        return tuple(Reason(str(i["code"]), str(i["label"]), float(i.get("weight", 0))) for i in items)
    except (ValueError, KeyError, TypeError):
        return ()


# Rows keep their reasons as JSON and decode them when a card or a command shows them: decoding every
# row of a page was half the cost of a search page. Painting asks for the same rows' reasons again
# and again, and many posts share the same reasons, hence the cache (its values are immutable).
_decoded_reasons = functools.lru_cache(maxsize=4096)(reasons_from_json)


# -- ingest ---------------------------------------------------------------------------------------


def _insert(session: Session, table: Any) -> Any:
    # The dialects are imported here: PostgreSQL's alone takes ~60 ms, off the first window's path.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def upsert_authors(
    session: Session,
    network: str,
    authors: Iterable[RemoteAuthor],
    known: dict[tuple[str, str], tuple[RemoteAuthor, int]] | None = None,
) -> dict[str, int]:
    """Author ids by remote id, inserting new authors and refreshing what changed.

    ``known`` remembers what was written, for a bulk import: an author written as they are now is
    not written again (most batches of a large archive meet the same frequent authors).
    """
    latest = {a.remote_id: a for a in authors}
    ids: dict[str, int] = {}
    if known is not None:
        for rid, a in list(latest.items()):
            seen = known.get((network, rid))
            if seen is not None and seen[0] == a:
                ids[rid] = seen[1]
                del latest[rid]
    if not latest:
        return ids
    rows = [
        {
            "network": network,
            "remote_id": a.remote_id,
            "handle": a.handle,
            "name": a.name,
            "followers": a.followers,
            "is_bot": a.is_bot,
        }
        for a in latest.values()
    ]
    stmt = _insert(session, Author)
    stmt = stmt.on_conflict_do_update(
        index_elements=["network", "remote_id"],
        set_={
            "handle": stmt.excluded.handle,
            "name": stmt.excluded.name,
            "followers": func.coalesce(stmt.excluded.followers, col(Author.followers)),
            "is_bot": stmt.excluded.is_bot,
        },
    )
    for start in range(0, len(rows), 500):
        session.execute(stmt, rows[start : start + 500])
    keys = list(latest)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        q = select(col(Author.remote_id), col(Author.id)).where(
            col(Author.network) == network,
            col(Author.remote_id).in_(chunk),
        )
        for rid, aid in session.execute(q):
            if aid is not None:
                ids[rid] = aid
                if known is not None:
                    known[(network, rid)] = (latest[rid], aid)
    return ids


@dataclass(frozen=True, slots=True)
class Prepared:
    """New posts of one account with everything triage needs, not yet scored or stored."""

    account: Account
    posts: tuple[RemotePost, ...]
    author_ids: dict[str, int]
    inputs: tuple[TriageInput, ...]
    answered: tuple[bool, ...]


@dataclass
class ImportRun:
    """What a bulk import keeps from batch to batch: its authors' post times and the authors it wrote."""

    history: AuthorHistory
    authors: dict[tuple[str, str], tuple[RemoteAuthor, int]] = field(default_factory=dict)


def prepare(
    session: Session,
    account: Account,
    posts: Sequence[RemotePost],
    now: datetime,
    carry: Sequence[Prepared] = (),
    run: ImportRun | None = None,
) -> Prepared | None:
    """Drop posts already stored, upsert their authors and build their triage inputs.

    ``carry`` holds batches prepared earlier but not stored yet (a bulk import scores one batch in
    worker processes while it prepares the next): they count for repeat contacts and thread sizes,
    but, not being scored yet, not as "earlier urgent post" of their thread. ``run`` is what a bulk
    import keeps from batch to batch (it then counts the carried batches' authors already).
    """
    assert account.id is not None
    if not posts:
        return None
    remote_ids = list({p.remote_id for p in posts})
    known: set[str] = {p.remote_id for c in carry if c.account.id == account.id for p in c.posts}
    for start in range(0, len(remote_ids), 500):
        chunk = remote_ids[start : start + 500]
        known.update(
            session.scalars(
                select(col(Post.remote_id)).where(
                    col(Post.account_id) == account.id,
                    col(Post.remote_id).in_(chunk),
                )
            )
        )
    fresh: dict[str, RemotePost] = {}
    for p in sorted(posts, key=lambda p: p.created_at):
        if p.remote_id not in known:
            fresh.setdefault(p.remote_id, p)
    if not fresh:
        return None
    new = list(fresh.values())
    author_ids = upsert_authors(session, account.network, (p.author for p in new), run.authors if run else None)
    context = _TriageContext.load(session, account, new, author_ids, run.history if run else None)
    for c in carry:
        context.include(c)
    inputs = tuple(context.input_for(p, author_ids[p.author.remote_id], now, account) for p in new)
    answered = tuple(context.answered_later(p) for p in new)
    return Prepared(account, tuple(new), author_ids, inputs, answered)


#: A score as stored: sentiment, negative, urgency, urgent and the reasons as JSON. Import workers
#: send these back rather than ``Score`` objects: a plain tuple pickles several times faster.
StoredScore = tuple[float, bool, float, bool, str]


def stored_score(score: Score) -> StoredScore:
    """A score in the form it is stored in."""
    return (score.sentiment, score.negative, score.urgency, score.urgent, reasons_to_json(score.reasons))


def store_scored(session: Session, prepared: Prepared, scores: Sequence[Score], now: datetime) -> list[int]:
    """Insert prepared posts with their scores (a concurrent insert of the same post is skipped)."""
    return store_prepared(session, prepared, [stored_score(score) for score in scores], now)


def store_prepared(session: Session, prepared: Prepared, scores: Sequence[StoredScore], now: datetime) -> list[int]:
    """Insert prepared posts with their scores in stored form; returns the new ids."""
    account = prepared.account
    assert account.id is not None
    rows = []
    for p, (sentiment, negative, urgency, urgent, reasons), answered in zip(
        prepared.posts, scores, prepared.answered, strict=True
    ):
        rows.append(
            {
                "account_id": account.id,
                "network": account.network,
                "remote_id": p.remote_id,
                "conversation_key": p.conversation_key,
                "parent_remote_id": p.parent_remote_id,
                "author_id": prepared.author_ids[p.author.remote_id],
                "text": p.text,
                "url": p.url,
                "lang": p.lang,
                "created_at": p.created_at,
                "fetched_at": now,
                "kind": p.kind,
                "sentiment": sentiment,
                "negative": negative,
                "urgency": urgency,
                "urgent": urgent,
                "reasons": reasons,
                "scored_at": now,
                "status": "done" if p.kind == KIND_OWN_REPLY else "new",
                "answered": answered,
                "raw": json.dumps(dict(p.raw), default=str)[:200_000] if p.raw else "{}",
                "snoozed_until": None,
                "assignee": None,
            }
        )
    # A Core insert of the table, not the ORM's bulk insert: the same SQL without the ORM's per-row work.
    post_table = Post.metadata.tables["post"]
    stmt = _insert(session, post_table).on_conflict_do_nothing(index_elements=["account_id", "remote_id"])
    new_ids: list[int] = []
    for start in range(0, len(rows), 500):
        result = session.connection().execute(stmt.returning(post_table.c.id), rows[start : start + 500])
        new_ids.extend(int(r) for r in result.scalars())
    index_posts(session, new_ids)
    own = [p for p in prepared.posts if p.kind == KIND_OWN_REPLY]
    if own:
        mark_answered(session, account.id, own)
    return sorted(new_ids)


def ingest(
    session: Session,
    account: Account,
    posts: Sequence[RemotePost],
    triage: Triage,
    now: datetime,
) -> list[int]:
    """Store new posts of ``account`` (re-fetched ones are skipped), each triaged; returns new ids."""
    prepared = prepare(session, account, posts, now)
    if prepared is None:
        return []
    return store_scored(session, prepared, triage.score_many(prepared.inputs), now)


def same_account(account_id: int | None) -> ColumnElement[bool]:
    """``post.account_id = X`` written so that SQLite looks posts up by the other condition's index.

    Without statistics, SQLite prefers the account's index for ``account_id = X AND conversation_key
    = Y`` and then walks every post of the account: seconds at a million posts, for one conversation.
    ``account_id + 0`` is not an indexed column any more, so the conversation's index is used; the
    result is the same on every database.
    """
    return (col(Post.account_id) + 0) == account_id


def mark_answered(session: Session, account_id: int, replies: Iterable[RemotePost]) -> None:
    """A brand reply answers every earlier post of its conversation."""
    for r in replies:
        session.execute(
            update(Post)
            .where(
                same_account(account_id),
                col(Post.conversation_key) == r.conversation_key,
                col(Post.created_at) <= r.created_at,
                col(Post.kind) != KIND_OWN_REPLY,
            )
            .values(answered=True)
        )


@dataclass
class _TriageContext:
    """What triage needs beyond the text: repeat contacts, thread size, earlier urgency, answers."""

    history: AuthorHistory = field(default_factory=AuthorHistory)
    #: The history is a bulk import's, which holds every post of the run already.
    shared_history: bool = False
    thread_sizes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # When each urgent post of a thread was written: only earlier ones escalate a post (not itself).
    thread_urgent: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    replies_at: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    account_id: int | None = None

    @classmethod
    def load(
        cls,
        session: Session,
        account: Account,
        new: Sequence[RemotePost],
        author_ids: dict[str, int],
        history: AuthorHistory | None = None,
    ) -> _TriageContext:
        ctx = cls(account_id=account.id)
        if history is not None:
            ctx.history, ctx.shared_history = history, True
        since = min(p.created_at for p in new) - REPEAT_WINDOW
        ctx.history.load(session, (author_ids[p.author.remote_id] for p in new), since)
        convs = sorted({p.conversation_key for p in new})
        for start in range(0, len(convs), 500):
            conv_chunk = convs[start : start + 500]
            q2 = select(col(Post.conversation_key), col(Post.kind), col(Post.urgent), col(Post.created_at)).where(
                same_account(account.id),
                col(Post.conversation_key).in_(conv_chunk),
            )
            for conv, kind, urgent, at in session.execute(q2):
                ctx.thread_sizes[conv] += 1
                if urgent:
                    ctx.thread_urgent[conv].append(at)
                if kind == KIND_OWN_REPLY:
                    ctx.replies_at[conv].append(at)
        for p in new:
            if p.kind == KIND_OWN_REPLY:
                ctx.replies_at[p.conversation_key].append(p.created_at)
        return ctx

    def include(self, batch: Prepared) -> None:
        """Count a batch that is prepared but not stored yet, as if it were stored."""
        if batch.account.id != self.account_id:
            return
        for p in batch.posts:
            if not self.shared_history:
                self.history.add(batch.author_ids[p.author.remote_id], p.created_at)
            self.thread_sizes[p.conversation_key] += 1
            if p.kind == KIND_OWN_REPLY:
                self.replies_at[p.conversation_key].append(p.created_at)

    def answered_later(self, post: RemotePost) -> bool:
        return post.kind != KIND_OWN_REPLY and any(
            at >= post.created_at for at in self.replies_at.get(post.conversation_key, ())
        )

    def input_for(
        self, post: RemotePost, author_id: int, now: datetime, account: Account, *, stored: bool = False
    ) -> TriageInput:
        """The triage input for ``post``; ``stored`` posts are already counted in the context."""
        earlier = self.history.count(author_id, post.created_at - REPEAT_WINDOW, post.created_at)
        if not stored:
            self.history.add(author_id, post.created_at)
            self.thread_sizes[post.conversation_key] += 1
        own = post.kind == KIND_OWN_REPLY
        item = TriageInput(
            text=post.text,
            lang=post.lang,
            created_at=post.created_at,
            now=now,
            author_followers=post.author.followers,
            repeat_contacts=0 if own else earlier,
            thread_length=self.thread_sizes[post.conversation_key],
            earlier_urgent_in_thread=any(
                at < post.created_at for at in self.thread_urgent.get(post.conversation_key, ())
            ),
            answered=self.answered_later(post),
            is_own=own,
            is_repost=post.is_repost,
            author_is_bot=post.author.is_bot,
        )
        return item


#: Open posts are scored again when their score is this old (waiting time keeps growing).
RESCORE_AFTER = timedelta(minutes=10)
#: Only posts this recent are rescored; older ones already carry their "waited" reason.
RESCORE_WINDOW = timedelta(days=3)


def rescore_open(session: Session, triage: Triage, now: datetime, limit: int = 300) -> list[int]:
    """Score unanswered open posts again so "waited 2 h" keeps up with the clock; returns changed ids."""
    stale = session.execute(
        select(Post, Author)
        .join(Author, col(Author.id) == col(Post.author_id))
        .where(
            text(INCOMING_SQL),
            text(UNANSWERED_SQL),
            text(OPEN_SQL),
            col(Post.created_at) >= now - RESCORE_WINDOW,
            or_(col(Post.scored_at) == None, col(Post.scored_at) < now - RESCORE_AFTER),  # noqa: E711
        )
        .order_by(col(Post.scored_at))
        .limit(limit)
    ).all()
    return _rescore(session, triage, now, [(post, author) for post, author in stale])


def rescore_posts(session: Session, triage: Triage, now: datetime, ids: Sequence[int]) -> list[int]:
    """Score these posts again at once, whatever their status (after an operator's correction); returns changed ids."""
    pairs: list[tuple[Post, Author]] = []
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        found = session.execute(
            select(Post, Author)
            .join(Author, col(Author.id) == col(Post.author_id))
            .where(col(Post.id).in_(unique[start : start + 500]))
        ).all()
        pairs.extend((post, author) for post, author in found)
    return _rescore(session, triage, now, pairs)


def _rescore(session: Session, triage: Triage, now: datetime, stored: Sequence[tuple[Post, Author]]) -> list[int]:
    by_account: dict[int, list[tuple[Post, Author]]] = defaultdict(list)
    for post, author in stored:
        by_account[post.account_id].append((post, author))
    changed: list[int] = []
    for account_id, pairs in by_account.items():
        account = session.get(Account, account_id)
        assert account is not None
        remote = [_as_remote(p, a) for p, a in pairs]
        author_ids = {a.remote_id: a.id for _, a in pairs if a.id is not None}
        ctx = _TriageContext.load(session, account, remote, author_ids)
        # The post id lets an operator's verdict on that very post apply.
        inputs = [
            replace(ctx.input_for(r, author_ids[r.author.remote_id], now, account, stored=True), post_id=p.id)
            for r, (p, _) in zip(remote, pairs, strict=True)
        ]
        for (post, _), score in zip(pairs, triage.score_many(inputs), strict=True):
            reasons = reasons_to_json(score.reasons)
            if post.urgent != score.urgent or post.reasons != reasons:
                assert post.id is not None
                changed.append(post.id)
            post.sentiment, post.negative, post.urgency = score.sentiment, score.negative, score.urgency
            post.urgent, post.reasons, post.scored_at = score.urgent, reasons, now
            session.add(post)
    return changed


def _as_remote(post: Post, author: Author) -> RemotePost:
    return RemotePost(
        remote_id=post.remote_id,
        author=RemoteAuthor(author.remote_id, author.handle, author.name, author.followers, author.is_bot),
        text=post.text,
        created_at=post.created_at,
        conversation_key=post.conversation_key,
        parent_remote_id=post.parent_remote_id,
        lang=post.lang,
        kind=post.kind,
    )


# -- reading --------------------------------------------------------------------------------------

#: PostRow's fields in order, so that a row of them is a PostRow's arguments as it comes.
_COLUMNS: tuple[Any, ...] = (
    col(Post.id),
    col(Post.account_id),
    col(Account.handle),
    col(Post.network),
    col(Post.remote_id),
    col(Post.conversation_key),
    col(Post.parent_remote_id),
    col(Post.author_id),
    col(Author.handle),
    col(Author.name),
    col(Author.followers),
    col(Post.text),
    col(Post.url),
    col(Post.lang),
    col(Post.created_at),
    col(Post.kind),
    col(Post.sentiment),
    col(Post.negative),
    col(Post.urgency),
    col(Post.urgent),
    col(Post.reasons),
    col(Post.status),
    col(Post.assignee),
    col(Post.answered),
    col(Post.snoozed_until),
    # The state of the post's newest reply in the outbox, in the same query.
    select(col(OutboxItem.state))
    .where(col(OutboxItem.post_id) == col(Post.id))
    .order_by(col(OutboxItem.id).desc())
    .limit(1)
    .correlate(Post)
    .scalar_subquery(),
)


def _base() -> Any:
    return (
        select(*_COLUMNS)
        .join(Account, col(Account.id) == col(Post.account_id))
        .join(Author, col(Author.id) == col(Post.author_id))
    )


def _rows(session: Session, stmt: Any) -> list[PostRow]:
    return [PostRow(*r) for r in session.execute(stmt)]


# The views' conditions are written as literal SQL, identical to the WHERE of the partial indexes in
# models.py: SQLite (and PostgreSQL) use a partial index only when the query states its condition
# literally, and those indexes turn the Urgent and Unanswered views at a million posts from
# seconds into milliseconds.
INCOMING_SQL = "post.kind != 'own_reply'"
OPEN_SQL = "post.status IN ('new', 'open')"
URGENT_SQL = "post.urgent = TRUE"
UNANSWERED_SQL = "post.answered = FALSE"


def filter_clauses(
    session: Session, flt: TimelineFilter, *, with_search: bool = True
) -> list[ColumnElement[bool] | TextClause] | None:
    """WHERE clauses for a filter; None when the filter can match nothing (an empty search)."""
    c: list[ColumnElement[bool] | TextClause] = [text(INCOMING_SQL)]
    if flt.view == "urgent":
        c += [text(URGENT_SQL), text(OPEN_SQL)]
    elif flt.view == "unanswered":
        c += [text(UNANSWERED_SQL), text(OPEN_SQL)]
    elif flt.view == "open":
        c.append(text(OPEN_SQL))
    elif flt.view == "mine":
        c.append(col(Post.assignee) == (flt.operator or "\x00nobody"))
    elif flt.view in ("snoozed", "done", "ignored"):
        c.append(text(f"post.status = '{flt.view}'"))  # literal, for its partial index
    if flt.network:
        c.append(col(Post.network) == flt.network)
    if flt.account_id is not None:
        c.append(col(Post.account_id) == flt.account_id)
    if flt.search.strip():
        m = match_clause(session, flt.search)
        if m is None:
            return None
        if with_search:
            c.append(m)
    return c


def page(session: Session, flt: TimelineFilter, after: PageKey | None, limit: int) -> list[PostRow]:
    """One page of the timeline, newest first, after ``after`` (keyset paging, never OFFSET)."""
    sqlite_search = flt.by_id and session.get_bind().dialect.name == "sqlite"
    clauses = filter_clauses(session, flt, with_search=not sqlite_search)
    if clauses is None:
        return []
    stmt = _base().where(*clauses)
    if sqlite_search:
        # Drive the query from FTS5 in rowid order: it stops after one page instead of collecting
        # every match first (0.5 ms instead of 100 ms for a common word at a million posts).
        stmt = stmt.join(FTS, FTS.c.rowid == col(Post.id)).where(
            text("post_fts MATCH :q").bindparams(q=fts5_query(flt.search))
        )
        if after is not None:
            stmt = stmt.where(FTS.c.rowid < after.id)
        stmt = stmt.order_by(FTS.c.rowid.desc())
    elif flt.by_id:
        if after is not None:
            stmt = stmt.where(col(Post.id) < after.id)
        stmt = stmt.order_by(col(Post.id).desc())
    else:
        if after is not None:
            stmt = stmt.where(
                or_(
                    col(Post.created_at) < after.created_at,
                    and_(col(Post.created_at) == after.created_at, col(Post.id) < after.id),
                )
            )
        stmt = stmt.order_by(col(Post.created_at).desc(), col(Post.id).desc())
    return _rows(session, stmt.limit(limit))


def rows_newer_than(session: Session, flt: TimelineFilter, min_id: int) -> list[PostRow]:
    """Posts stored after id ``min_id`` that match the filter (new arrivals)."""
    clauses = filter_clauses(session, flt)
    if clauses is None:
        return []
    stmt = _base().where(*clauses, col(Post.id) > min_id).order_by(col(Post.id))
    return _rows(session, stmt.limit(5000))


def rows_by_id(session: Session, ids: Sequence[int]) -> list[PostRow]:
    """Fresh rows for these ids (any order)."""
    if not ids:
        return []
    return _rows(session, _base().where(col(Post.id).in_(ids)))


def matches(session: Session, flt: TimelineFilter, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` the filter keeps."""
    clauses = filter_clauses(session, flt)
    if clauses is None or not ids:
        return set()
    return set(session.scalars(select(col(Post.id)).where(*clauses, col(Post.id).in_(ids))))


#: Counts stop here: past ten thousand an exact figure does not help triage, and counting a
#: million rows takes a quarter of a second every refresh.
COUNT_CAP = 10_000


def count(session: Session, flt: TimelineFilter, cap: int = COUNT_CAP) -> int:
    """How many posts a filter shows, up to ``cap`` (a result of ``cap`` means "at least")."""
    clauses = filter_clauses(session, flt)
    if clauses is None:
        return 0
    inner = select(literal_column("1")).select_from(Post).where(*clauses).limit(cap).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def max_id(session: Session) -> int:
    """The newest post id (0 when empty)."""
    return int(session.scalar(select(func.max(col(Post.id)))) or 0)


def conversation(session: Session, post_id: int) -> list[PostRow]:
    """Every stored post of the conversation ``post_id`` is in, oldest first."""
    post = session.get(Post, post_id)
    if post is None:
        return []
    stmt = (
        _base()
        .where(same_account(post.account_id), col(Post.conversation_key) == post.conversation_key)
        .order_by(col(Post.created_at), col(Post.id))
    )
    return _rows(session, stmt)


def author_history(session: Session, post_id: int, limit: int = 20) -> list[PostRow]:
    """The author's other posts, newest first."""
    post = session.get(Post, post_id)
    if post is None:
        return []
    stmt = (
        _base()
        .where(col(Post.author_id) == post.author_id, col(Post.id) != post_id)
        .order_by(col(Post.created_at).desc())
        .limit(limit)
    )
    return _rows(session, stmt)


def set_status(session: Session, ids: Sequence[int], status: str, snoozed_until: datetime | None = None) -> list[int]:
    """Mark posts done, snoozed, ignored, open or new; returns the ids changed."""
    posts = [p for p in (session.get(Post, i) for i in ids) if p is not None]
    for p in posts:
        p.status = status
        p.snoozed_until = snoozed_until if status == "snoozed" else None
        session.add(p)
    return [p.id for p in posts if p.id is not None]


def wake_snoozed(session: Session, now: datetime) -> list[int]:
    """Snoozed posts whose time has come go back to open."""
    ids = list(
        session.scalars(select(col(Post.id)).where(col(Post.status) == "snoozed", col(Post.snoozed_until) <= now))
    )
    if ids:
        session.execute(update(Post).where(col(Post.id).in_(ids)).values(status="open", snoozed_until=None))
    return [int(i) for i in ids if i is not None]
