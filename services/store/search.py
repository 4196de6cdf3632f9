"""Full-text search behind one function: FTS5 on SQLite, a tsvector + GIN index on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import regex
from sqlalchemy import ColumnElement, literal_column, text
from sqlalchemy.orm import Session
from sqlmodel import col

from services.store.models import Post

_WORD = regex.compile(r"[\p{L}\p{N}_]+")


def words(query: str) -> list[str]:
    """The searchable words of what the user typed (punctuation and operators are dropped)."""
    return _WORD.findall(query)[:16]


def fts5_query(query: str) -> str:
    """A safe FTS5 MATCH string: every word must appear, the last one as a prefix."""
    terms = [f'"{w}"' for w in words(query)]
    if terms:
        terms[-1] += "*"
    return " AND ".join(terms)


def match_clause(session: Session, query: str) -> ColumnElement[bool] | None:
    """A WHERE clause on ``post`` that keeps the posts matching ``query`` (None: match nothing)."""
    ws = words(query)
    if not ws:
        return None
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        return col(Post.id).in_(
            text("SELECT rowid FROM post_fts WHERE post_fts MATCH :q").bindparams(q=fts5_query(query))
        )
    # Folded by the function that folded the indexed text (services/store/pgfold.py), then split
    # into words again here: the fold may add characters the tsquery syntax reads (ŉ becomes 'n).
    folded = words(session.execute(text("SELECT parley_fold(:q)"), {"q": " ".join(ws)}).scalar_one() or "")
    if not folded:
        return None
    # The last word as a prefix, like the SQLite path.
    tsq = " & ".join([*(f"'{w}'" for w in folded[:-1]), f"'{folded[-1]}':*"])
    return literal_column("post.search").op("@@")(text("to_tsquery('simple', :q)").bindparams(q=tsq))


def index_posts(session: Session, ids: Sequence[int]) -> None:
    """Add freshly inserted posts to the SQLite FTS5 index (PostgreSQL indexes by itself)."""
    if not ids or session.get_bind().dialect.name != "sqlite":
        return
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join(str(int(i)) for i in chunk)
        session.execute(text(f"INSERT INTO post_fts(rowid, text) SELECT id, text FROM post WHERE id IN ({marks})"))
