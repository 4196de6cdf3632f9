"""Open gaps per account: kept beside the mentions cursor in ``sync_cursor``, and said in plain words."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session, col, select

from services.networks.base import Gap
from services.store.models import Account, SyncCursor

#: The ``sync_cursor`` row of an account that holds its open gaps (a JSON list), beside its mentions cursor.
GAPS_STREAM = "mentions:gaps"


def cursor_row(s: Session, account_id: int, stream: str) -> SyncCursor | None:
    """An account's ``sync_cursor`` row for ``stream`` (the mentions cursor, or the gaps beside it)."""
    return s.exec(
        select(SyncCursor).where(col(SyncCursor.account_id) == account_id, col(SyncCursor.stream) == stream)
    ).first()


def read_gaps(s: Session, account_id: int) -> tuple[Gap, ...]:
    """The open gaps of an account (none when it has none, or when the stored value cannot be read)."""
    row = cursor_row(s, account_id, GAPS_STREAM)
    if row is None or not row.cursor:
        return ()
    try:
        items = json.loads(row.cursor)
    except ValueError:
        return ()
    return tuple(Gap.from_json(x) for x in items if isinstance(x, dict)) if isinstance(items, list) else ()


def write_gaps(s: Session, account: Account, gaps: tuple[Gap, ...]) -> None:
    """Replace an account's open gaps (the row goes when there are none)."""
    assert account.id is not None
    row = cursor_row(s, account.id, GAPS_STREAM)
    if not gaps:
        if row is not None:
            s.delete(row)
        return
    if row is None:
        row = SyncCursor(account_id=account.id, stream=GAPS_STREAM)
    row.cursor = json.dumps([g.to_json() for g in gaps])
    s.add(row)


def local_time(at: datetime) -> str:
    """A time as a person reads it here: "3 Mar 14:05" in the machine's time zone."""
    local = at.astimezone()
    return f"{local.day} {local:%b %H:%M}"


def gap_words(gap: Gap, when: Callable[[datetime], str] = local_time) -> str:
    """One gap in a sentence, for the health panel and ``accounts list``."""
    start = when(gap.start) if gap.start else None
    end = when(gap.end) if gap.end else None
    if gap.kind == "history":
        back = f" back to {start}" if start else ""
        reached = f" (read back to {end} so far)" if end else ""
        return f"Reading older mentions{back}{reached}."
    if gap.kind == "stream":
        since = f" at {start}" if start else ""
        return f"The live connection dropped{since}; mentions since then may be missing until the next sync."
    if start and end:
        return f"Mentions may be missing between {start} and {end}; filling."
    if end:
        return f"Mentions before {end} may be missing; filling."
    if start:
        return f"Mentions since {start} may be missing; filling."
    return "Some mentions may be missing; filling."
