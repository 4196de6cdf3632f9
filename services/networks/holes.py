"""What the Mastodon and Bluesky sync cursors share: their JSON text and the capped list of stretches still to read."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from services.networks.base import Gap

log = logging.getLogger(__name__)

#: More open stretches than this are merged (the oldest two into one): reading a stored stretch again is harmless.
MAX_HOLES = 6


class StoredHole(Protocol):
    """A stretch a cursor still has to read: shown as a gap, stored as JSON."""

    def gap(self) -> Gap:
        """The stretch in time, as the health panel shows it."""
        ...

    def to_json(self) -> dict[str, Any]:
        """As stored inside the cursor."""
        ...


H = TypeVar("H", bound=StoredHole)


def load_cursor(text: str, network: str) -> Mapping[str, Any] | None:
    """A stored cursor's JSON object (None when it is not one; unreadable text is logged, never raised)."""
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("ignoring an unreadable %s sync cursor", network)
        return None
    return data if isinstance(data, Mapping) else None


def dump_cursor(holes: Iterable[StoredHole], since: datetime | None, **fields: Any) -> str:
    """A cursor as stored: its own ``fields`` that have a value, ``since`` and the stretches (format 1)."""
    data: dict[str, Any] = {"v": 1, **{name: value for name, value in fields.items() if value}}
    if since:
        data["since"] = since.isoformat()
    if stored := [h.to_json() for h in holes]:
        data["holes"] = stored
    return json.dumps(data, sort_keys=True)


def read_holes(data: Mapping[str, Any], read: Callable[[Any], H | None]) -> tuple[H, ...]:
    """The stretches of a stored cursor, newest first (one that cannot be read is dropped)."""
    return tuple(h for h in (read(x) for x in data.get("holes") or ()) if h is not None)


def hole_tail(kind: str, left: int | None) -> dict[str, Any]:
    """The part of a stored stretch both networks write: why it is open, and the mentions it may still take."""
    return {"kind": kind} if left is None else {"kind": kind, "left": left}


def read_hole_tail(data: Mapping[str, Any]) -> tuple[str, int | None]:
    """Back from ``hole_tail`` (``gap`` and no allowance when missing)."""
    left = data.get("left")
    return str(data.get("kind") or "gap"), int(left) if isinstance(left, int) else None


def gaps_of(holes: Iterable[StoredHole]) -> tuple[Gap, ...]:
    """The open stretches in time."""
    return tuple(h.gap() for h in holes)


def add_hole(holes: tuple[H, ...], hole: H, merge: Callable[[H, H], H]) -> tuple[H, ...]:
    """``hole`` as the newest stretch; past ``MAX_HOLES`` the oldest two become ``merge(newer, older)``."""
    added = (hole, *holes)
    if len(added) > MAX_HOLES:
        added = (*added[:-2], merge(added[-2], added[-1]))
    return added
