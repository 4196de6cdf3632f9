"""Posts in and out: idempotent ingest with triage on arrival, and the timeline's paged queries."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.networks.base import RemoteAuthor, RemotePost
from services.store.models import KIND_OWN_REPLY, Account, Author, OutboxItem, Post
from services.store.search import index_posts, match_clause
from services.triage import Reason, Triage, TriageInput

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
    reasons: tuple[Reason, ...]
    status: str
    assignee: str | None
    answered: bool
    snoozed_until: datetime | None = None
    outbox_state: str | None = None

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

    view: str = "all"  # all | urgent | unanswered | mine | snoozed | done
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


# -- ingest ---------------------------------------------------------------------------------------


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def upsert_authors(session: Session, network: str, authors: Iterable[RemoteAuthor]) -> dict[str, int]:
    """Author ids by remote id, inserting new authors and refreshing what changed."""
    latest = {a.remote_id: a for a in authors}
    if not latest:
        return {}
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
            "followers": func.coalesce(stmt.excluded.followers, Author.followers),
            "is_bot": stmt.excluded.is_bot,
        },
    )
    for start in range(0, len(rows), 500):
        session.execute(stmt, rows[start : start + 500])
    ids: dict[str, int] = {}
    keys = list(latest)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        q = select(Author.remote_id, Author.id).where(
            Author.network == network,
            Author.remote_id.in_(chunk),  # type: ignore[attr-defined]
        )
        ids.update({rid: aid for rid, aid in session.execute(q)})
    return ids


def ingest(
    session: Session,
    account: Account,
    posts: Sequence[RemotePost],
    triage: Triage,
    now: datetime,
) -> list[int]:
    """Store new posts of ``account`` (re-fetched ones are skipped), each triaged; returns new ids."""
    assert account.id is not None
    if not posts:
        return []
    remote_ids = list({p.remote_id for p in posts})
    known: set[str] = set()
    for start in range(0, len(remote_ids), 500):
        chunk = remote_ids[start : start + 500]
        known.update(
            session.scalars(
                select(Post.remote_id).where(
                    Post.account_id == account.id,
                    Post.remote_id.in_(chunk),  # type: ignore[attr-defined]
                )
            )
        )
    fresh: dict[str, RemotePost] = {}
    for p in sorted(posts, key=lambda p: p.created_at):
        if p.remote_id not in known:
            fresh.setdefault(p.remote_id, p)
    if not fresh:
        return []
    new = list(fresh.values())
    author_ids = upsert_authors(session, account.network, (p.author for p in new))
    context = _TriageContext.load(session, account, new, author_ids)
    inputs = [context.input_for(p, author_ids[p.author.remote_id], now, account) for p in new]
    scores = triage.score_many(inputs)
    rows = []
    for p, score in zip(new, scores, strict=True):
        rows.append(
            {
                "account_id": account.id,
                "network": account.network,
                "remote_id": p.remote_id,
                "conversation_key": p.conversation_key,
                "parent_remote_id": p.parent_remote_id,
                "author_id": author_ids[p.author.remote_id],
                "text": p.text,
                "url": p.url,
                "lang": p.lang,
                "created_at": p.created_at,
                "fetched_at": now,
                "kind": p.kind,
                "sentiment": score.sentiment,
                "negative": score.negative,
                "urgency": score.urgency,
                "urgent": score.urgent,
                "reasons": reasons_to_json(score.reasons),
                "status": "done" if p.kind == KIND_OWN_REPLY else "new",
                "answered": context.answered_later(p),
                "raw": json.dumps(dict(p.raw), default=str)[:200_000],
                "snoozed_until": None,
                "assignee": None,
            }
        )
    stmt = _insert(session, Post).on_conflict_do_nothing(index_elements=["account_id", "remote_id"])
    new_ids: list[int] = []
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        result = session.execute(stmt.returning(Post.id), chunk)  # type: ignore[arg-type]
        new_ids.extend(int(r) for r in result.scalars())
    index_posts(session, new_ids)
    own = [p for p in new if p.kind == KIND_OWN_REPLY]
    if own:
        mark_answered(session, account.id, own)
    return sorted(new_ids)


def mark_answered(session: Session, account_id: int, replies: Iterable[RemotePost]) -> None:
    """A brand reply answers every earlier post of its conversation."""
    for r in replies:
        session.execute(
            update(Post)
            .where(
                Post.account_id == account_id,  # type: ignore[arg-type]
                Post.conversation_key == r.conversation_key,  # type: ignore[arg-type]
                Post.created_at <= r.created_at,  # type: ignore[arg-type]
                Post.kind != KIND_OWN_REPLY,  # type: ignore[arg-type]
            )
            .values(answered=True)
        )


@dataclass
class _TriageContext:
    """What triage needs beyond the text: repeat contacts, thread size, earlier urgency, answers."""

    author_times: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    thread_sizes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    thread_urgent: set[str] = field(default_factory=set)
    replies_at: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def load(
        cls, session: Session, account: Account, new: Sequence[RemotePost], author_ids: dict[str, int]
    ) -> _TriageContext:
        ctx = cls()
        since = min(p.created_at for p in new) - REPEAT_WINDOW
        authors = sorted({author_ids[p.author.remote_id] for p in new})
        for start in range(0, len(authors), 500):
            chunk = authors[start : start + 500]
            q = select(Post.author_id, Post.created_at).where(
                Post.author_id.in_(chunk),
                Post.created_at >= since,  # type: ignore[attr-defined, arg-type]
            )
            for aid, at in session.execute(q):
                ctx.author_times[aid].append(at)
        convs = sorted({p.conversation_key for p in new})
        for start in range(0, len(convs), 500):
            chunk = convs[start : start + 500]
            q2 = select(Post.conversation_key, Post.kind, Post.urgent, Post.created_at).where(
                Post.account_id == account.id,
                Post.conversation_key.in_(chunk),  # type: ignore[attr-defined]
            )
            for conv, kind, urgent, at in session.execute(q2):
                ctx.thread_sizes[conv] += 1
                if urgent:
                    ctx.thread_urgent.add(conv)
                if kind == KIND_OWN_REPLY:
                    ctx.replies_at[conv].append(at)
        for p in new:
            if p.kind == KIND_OWN_REPLY:
                ctx.replies_at[p.conversation_key].append(p.created_at)
        return ctx

    def answered_later(self, post: RemotePost) -> bool:
        return post.kind != KIND_OWN_REPLY and any(
            at >= post.created_at for at in self.replies_at.get(post.conversation_key, ())
        )

    def input_for(self, post: RemotePost, author_id: int, now: datetime, account: Account) -> TriageInput:
        window_start = post.created_at - REPEAT_WINDOW
        earlier = [t for t in self.author_times[author_id] if window_start <= t < post.created_at]
        self.author_times[author_id].append(post.created_at)
        self.thread_sizes[post.conversation_key] += 1
        own = post.kind == KIND_OWN_REPLY
        item = TriageInput(
            text=post.text,
            lang=post.lang,
            created_at=post.created_at,
            now=now,
            author_followers=post.author.followers,
            repeat_contacts=0 if own else len(earlier),
            thread_length=self.thread_sizes[post.conversation_key],
            earlier_urgent_in_thread=post.conversation_key in self.thread_urgent,
            answered=self.answered_later(post),
            is_own=own,
            is_repost=post.is_repost,
            author_is_bot=post.author.is_bot,
        )
        return item


# -- reading --------------------------------------------------------------------------------------

_COLUMNS = (
    Post.id,
    Post.account_id,
    Account.handle,
    Post.network,
    Post.remote_id,
    Post.conversation_key,
    Post.parent_remote_id,
    Post.author_id,
    Author.handle,
    Author.name,
    Author.followers,
    Post.text,
    Post.url,
    Post.lang,
    Post.created_at,
    Post.kind,
    Post.sentiment,
    Post.negative,
    Post.urgency,
    Post.urgent,
    Post.reasons,
    Post.status,
    Post.assignee,
    Post.answered,
    Post.snoozed_until,
)


def _base() -> Any:
    return (
        select(*_COLUMNS)
        .join(Account, Account.id == Post.account_id)  # type: ignore[arg-type]
        .join(Author, Author.id == Post.author_id)  # type: ignore[arg-type]
    )


def _rows(session: Session, stmt: Any) -> list[PostRow]:
    raw = session.execute(stmt).all()
    states = _outbox_states(session, [r[0] for r in raw])
    return [
        PostRow(*r[:20], reasons_from_json(r[20]), *r[21:], outbox_state=states.get(r[0]))  # type: ignore[misc]
        for r in raw
    ]


def _outbox_states(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    q = (
        select(OutboxItem.post_id, OutboxItem.state)
        .where(OutboxItem.post_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(OutboxItem.id)  # type: ignore[arg-type]
    )
    return {pid: state for pid, state in session.execute(q)}  # the newest item wins


def filter_clauses(session: Session, flt: TimelineFilter) -> list[ColumnElement[bool]] | None:
    """WHERE clauses for a filter; None when the filter can match nothing (an empty search)."""
    c: list[ColumnElement[bool]] = [Post.kind != KIND_OWN_REPLY]  # type: ignore[list-item]
    open_ = Post.status.in_(OPEN_STATUSES)  # type: ignore[attr-defined]
    if flt.view == "urgent":
        c += [Post.urgent == True, open_]  # type: ignore[list-item]  # noqa: E712
    elif flt.view == "unanswered":
        c += [Post.answered == False, open_]  # type: ignore[list-item]  # noqa: E712
    elif flt.view == "mine":
        c.append(Post.assignee == (flt.operator or "\x00nobody"))  # type: ignore[arg-type]
    elif flt.view == "snoozed":
        c.append(Post.status == "snoozed")  # type: ignore[arg-type]
    elif flt.view == "done":
        c.append(Post.status.in_(("done", "ignored")))  # type: ignore[attr-defined]
    if flt.network:
        c.append(Post.network == flt.network)  # type: ignore[arg-type]
    if flt.account_id is not None:
        c.append(Post.account_id == flt.account_id)  # type: ignore[arg-type]
    if flt.search.strip():
        m = match_clause(session, flt.search)
        if m is None:
            return None
        c.append(m)
    return c


def page(session: Session, flt: TimelineFilter, after: PageKey | None, limit: int) -> list[PostRow]:
    """One page of the timeline, newest first, after ``after`` (keyset paging, never OFFSET)."""
    clauses = filter_clauses(session, flt)
    if clauses is None:
        return []
    stmt = _base().where(*clauses)
    if flt.by_id:
        if after is not None:
            stmt = stmt.where(Post.id < after.id)  # type: ignore[operator]
        stmt = stmt.order_by(Post.id.desc())  # type: ignore[union-attr]
    else:
        if after is not None:
            stmt = stmt.where(
                or_(
                    Post.created_at < after.created_at,  # type: ignore[arg-type]
                    and_(Post.created_at == after.created_at, Post.id < after.id),  # type: ignore[arg-type]
                )
            )
        stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc())  # type: ignore[attr-defined]
    return _rows(session, stmt.limit(limit))


def rows_newer_than(session: Session, flt: TimelineFilter, min_id: int) -> list[PostRow]:
    """Posts stored after id ``min_id`` that match the filter (new arrivals)."""
    clauses = filter_clauses(session, flt)
    if clauses is None:
        return []
    stmt = _base().where(*clauses, Post.id > min_id).order_by(Post.id)  # type: ignore[operator]
    return _rows(session, stmt.limit(5000))


def rows_by_id(session: Session, ids: Sequence[int]) -> list[PostRow]:
    """Fresh rows for these ids (any order)."""
    if not ids:
        return []
    return _rows(session, _base().where(Post.id.in_(ids)))  # type: ignore[union-attr]


def matches(session: Session, flt: TimelineFilter, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` the filter keeps."""
    clauses = filter_clauses(session, flt)
    if clauses is None or not ids:
        return set()
    return set(session.scalars(select(Post.id).where(*clauses, Post.id.in_(ids))))  # type: ignore[union-attr]


def count(session: Session, flt: TimelineFilter) -> int:
    """How many posts a filter shows."""
    clauses = filter_clauses(session, flt)
    if clauses is None:
        return 0
    return int(session.scalar(select(func.count()).select_from(Post).where(*clauses)) or 0)


def max_id(session: Session) -> int:
    """The newest post id (0 when empty)."""
    return int(session.scalar(select(func.max(Post.id))) or 0)


def conversation(session: Session, post_id: int) -> list[PostRow]:
    """Every stored post of the conversation ``post_id`` is in, oldest first."""
    post = session.get(Post, post_id)
    if post is None:
        return []
    stmt = (
        _base()
        .where(Post.account_id == post.account_id, Post.conversation_key == post.conversation_key)
        .order_by(Post.created_at, Post.id)  # type: ignore[arg-type]
    )
    return _rows(session, stmt)


def author_history(session: Session, post_id: int, limit: int = 20) -> list[PostRow]:
    """The author's other posts, newest first."""
    post = session.get(Post, post_id)
    if post is None:
        return []
    stmt = (
        _base()
        .where(Post.author_id == post.author_id, Post.id != post_id)  # type: ignore[arg-type]
        .order_by(Post.created_at.desc())  # type: ignore[attr-defined]
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
        session.scalars(
            select(Post.id).where(Post.status == "snoozed", Post.snoozed_until <= now)  # type: ignore[arg-type, operator]
        )
    )
    if ids:
        session.execute(
            update(Post).where(Post.id.in_(ids)).values(status="open", snoozed_until=None)  # type: ignore[union-attr]
        )
    return [int(i) for i in ids]
