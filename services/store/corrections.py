"""The correction table: record and withdraw operators' verdicts, list them, and load the active ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services import corrections
from services.changes import Changes
from services.errors import InvalidInput, NotFound
from services.store.models import ACTIVE_CORRECTION, KIND_OWN_REPLY, AuditEvent, Author, Correction, Post
from services.store.posts import INCOMING_SQL, OPEN_SQL, rescore_posts
from services.triage import Triage

#: After a correction, this many of the newest open posts are checked for likeness and scored again.
CANDIDATES = 5_000


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """A correction as ``corrections list`` and the conversation pane show it."""

    id: int
    post_id: int
    verdict: str
    operator: str
    created_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    before_urgency: float
    before_urgent: bool
    before_negative: bool
    author_handle: str
    text: str

    @property
    def active(self) -> bool:
        """Whether it still applies (not withdrawn)."""
        return self.withdrawn_at is None

    def to_json(self) -> dict[str, Any]:
        """One ``corrections list --json`` line."""
        return {
            "id": self.id,
            "post": self.post_id,
            "verdict": self.verdict,
            "operator": self.operator,
            "created_at": self.created_at.isoformat(),
            "active": self.active,
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
            "withdrawn_by": self.withdrawn_by,
            "before": {
                "urgency": round(self.before_urgency, 3),
                "urgent": self.before_urgent,
                "negative": self.before_negative,
            },
            "author": self.author_handle,
            "text": self.text,
        }


def _active(post_id: int) -> Any:
    return select(Correction).where(col(Correction.post_id) == post_id, text(f"correction.{ACTIVE_CORRECTION}"))


def record(session: Session, post: Post, verdict: str, operator: str, now: datetime) -> Correction:
    """Store a verdict on ``post`` with its features frozen; an earlier active one on the post is withdrawn."""
    assert post.id is not None
    earlier = session.exec(_active(post.id)).first()
    if earlier is not None:
        earlier.withdrawn_at, earlier.withdrawn_by = now, operator or None
        session.add(earlier)
        session.flush()  # one active correction per post: the unique index checks it row by row
    words, cues = corrections.features(post.text).to_columns()
    row = Correction(
        post_id=post.id,
        verdict=verdict,
        operator=operator,
        created_at=now,
        words=words,
        cues=cues,
        before_urgency=post.urgency,
        before_urgent=post.urgent,
        before_negative=post.negative,
    )
    session.add(row)
    session.flush()
    return row


def withdraw(session: Session, post_id: int, operator: str, now: datetime) -> Correction | None:
    """Withdraw the active correction of a post (kept, marked withdrawn); None when it has none."""
    row: Correction | None = session.exec(_active(post_id)).first()
    if row is not None:
        row.withdrawn_at, row.withdrawn_by = now, operator or None
        session.add(row)
        session.flush()
    return row


def to_index_entry(row: Correction) -> corrections.Correction:
    """A stored correction as the similarity index holds it."""
    assert row.id is not None
    return corrections.Correction(
        row.id, row.post_id, row.verdict, row.operator, corrections.Features.from_columns(row.words, row.cues)
    )


def load_index(session: Session) -> corrections.CorrectionIndex:
    """Every active correction, indexed."""
    rows = session.exec(select(Correction).where(text(f"correction.{ACTIVE_CORRECTION}")).order_by(col(Correction.id)))
    return corrections.CorrectionIndex(to_index_entry(r) for r in rows)


def signature(session: Session) -> tuple[int, int]:
    """Changes whenever a correction is added or withdrawn (another operator's, in team mode)."""
    newest, withdrawn = session.execute(
        select(func.max(col(Correction.id)), func.count(col(Correction.withdrawn_at)))
    ).one()
    return int(newest or 0), int(withdrawn or 0)


def rows(session: Session, *, include_withdrawn: bool = False, post_id: int | None = None) -> list[CorrectionRow]:
    """Corrections, newest first (only active ones unless ``include_withdrawn``)."""
    q = (
        select(Correction, col(Author.handle), col(Post.text))
        .join(Post, col(Post.id) == col(Correction.post_id))
        .join(Author, col(Author.id) == col(Post.author_id))
        .order_by(col(Correction.id).desc())
    )
    if not include_withdrawn:
        q = q.where(text(f"correction.{ACTIVE_CORRECTION}"))
    if post_id is not None:
        q = q.where(col(Correction.post_id) == post_id)
    out = []
    for c, handle, body in session.execute(q):
        assert c.id is not None
        out.append(
            CorrectionRow(
                c.id,
                c.post_id,
                c.verdict,
                c.operator,
                c.created_at,
                c.withdrawn_at,
                c.withdrawn_by,
                c.before_urgency,
                c.before_urgent,
                c.before_negative,
                handle,
                body,
            )
        )
    return out


def open_candidates(session: Session, limit: int = CANDIDATES) -> list[tuple[int, str]]:
    """(id, text) of the newest open incoming posts: the ones a new or withdrawn correction may change."""
    q = (
        select(col(Post.id), col(Post.text))
        .where(text(INCOMING_SQL), text(OPEN_SQL))
        .order_by(col(Post.created_at).desc(), col(Post.id).desc())
        .limit(limit)
    )
    return [(int(pid), body) for pid, body in session.execute(q) if pid is not None]


# -- correcting, with the rescoring it causes -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a correction (or its withdrawal) did."""

    correction: CorrectionRow
    index: corrections.CorrectionIndex  # every active correction afterwards: the scorer's new index
    similar: tuple[int, ...]  # open posts like the corrected one, scored again
    rescored: tuple[int, ...]  # posts whose score changed, the corrected one included

    @property
    def changes(self) -> Changes:
        """For the views: the corrected post and every post whose score moved."""
        return Changes(updated_posts=frozenset({self.correction.post_id, *self.rescored}))


def correct(session: Session, post_id: int, verdict: str, operator: str, now: datetime, threshold: float) -> Outcome:
    """Record a verdict on a post, then score it and the open posts like it again with the new index.

    Raises:
        InvalidInput: Not a verdict, or the post is one of our own replies.
        NotFound: There is no such post.
    """
    verdict = corrections.parse_verdict(verdict)
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(f"There is no post {post_id}.")
    if post.kind == KIND_OWN_REPLY:
        raise InvalidInput(f"Post {post_id} is our own reply; only incoming posts can be corrected.")
    try:
        row = record(session, post, verdict, operator, now)
    except IntegrityError:
        raise InvalidInput(
            f"Someone else corrected post {post_id} at the same moment; look at it again and retry."
        ) from None
    session.add(
        AuditEvent(at=now, operator=operator or None, action="correct", target=f"post:{post_id}", detail=verdict)
    )
    return _rescore_after(session, row, now, threshold)


def undo(session: Session, post_id: int, operator: str, now: datetime, threshold: float) -> Outcome:
    """Withdraw the active correction of a post and score it and the open posts like it again.

    Raises:
        InvalidInput: The post has no active correction.
        NotFound: There is no such post.
    """
    if session.get(Post, post_id) is None:
        raise NotFound(f"There is no post {post_id}.")
    row = withdraw(session, post_id, operator, now)
    if row is None:
        raise InvalidInput(f"Post {post_id} has no correction to undo.")
    session.add(AuditEvent(at=now, operator=operator or None, action="withdraw correction", target=f"post:{post_id}"))
    return _rescore_after(session, row, now, threshold)


def _rescore_after(session: Session, row: Correction, now: datetime, threshold: float) -> Outcome:
    index = load_index(session)
    entry = to_index_entry(row)
    similar = corrections.nudged_posts(entry, open_candidates(session))
    changed = rescore_posts(session, Triage(threshold, index), now, [row.post_id, *similar])
    shown = rows(session, include_withdrawn=True, post_id=row.post_id)
    return Outcome(next(r for r in shown if r.id == row.id), index, tuple(similar), tuple(changed))
