"""When each author wrote: the counts behind triage's "repeat contact" reason."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session
from sqlmodel import col, select

from services.store.models import Post

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp would round a microsecond away)."""
    if moment.tzinfo is None:  # stored naive times are UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


class AuthorHistory:
    """The times of authors' posts: read from the database once per author and time range, then kept.

    One sync batch builds its own. A bulk import keeps one for the whole run, so that each batch
    reads only the authors it has not met yet: reading every frequent author's week again for each
    batch was most of an import's database time. Posts of the run itself are added as they are
    prepared, so stored posts are read only up to ``until_id`` (the newest id when the run began)
    and none is counted twice.
    """

    def __init__(self, until_id: int | None = None) -> None:
        """Keep times of posts up to ``until_id`` from the database (None: every stored post)."""
        self.until_id = until_id
        # Sorted microsecond times per author; 8 bytes a post, so a million posts stay small.
        self._times: dict[int, array[int]] = {}
        # How far back each author's stored posts have been read.
        self._since: dict[int, int] = {}

    def load(self, session: Session, author_ids: Iterable[int], since: datetime) -> None:
        """Read the stored posts of these authors from ``since`` on, except what was read before."""
        start = _us(since)
        todo = sorted({a for a in author_ids if self._since.get(a, math.inf) > start})
        for first in range(0, len(todo), 500):
            chunk = todo[first : first + 500]
            q = select(col(Post.author_id), col(Post.created_at)).where(
                col(Post.author_id).in_(chunk), col(Post.created_at) >= since
            )
            known = [self._since[a] for a in chunk if a in self._since]
            if len(known) == len(chunk):  # only older posts are missing (an import not in time order)
                q = q.where(col(Post.created_at) < _EPOCH + max(known) * _MICROSECOND)
            if self.until_id is not None:
                q = q.where(col(Post.id) <= self.until_id)
            for author_id, at in session.execute(q):
                t = _us(at)
                if t < self._since.get(author_id, math.inf):
                    insort(self._times.setdefault(author_id, array("q")), t)
            for a in chunk:
                self._since[a] = start

    def add(self, author_id: int, at: datetime) -> None:
        """Count a post that is not read from the database (new in this batch or this import)."""
        insort(self._times.setdefault(author_id, array("q")), _us(at))

    def count(self, author_id: int, start: datetime, end: datetime) -> int:
        """How many of the author's posts were written in ``[start, end)``."""
        times = self._times.get(author_id)
        if not times:
            return 0
        return bisect_left(times, _us(end)) - bisect_left(times, _us(start))
