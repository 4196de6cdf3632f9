"""The Mastodon sync cursor: the newest notification handed over, and the stretches still to read behind it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.networks.base import Gap

log = logging.getLogger(__name__)

#: More open stretches than this are merged (the oldest two into one): reading a stored stretch again is harmless.
MAX_HOLES = 6


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class Hole:
    """Notifications still to read, newest first: older than the id ``upper`` and newer than the id ``lower``.

    ``lower`` is None for the first sync's history, which ends at the time ``start`` or after ``left`` more
    mentions instead. Ids are only compared (by length, then text), never looked up: a server may have
    purged the one at ``lower``.
    """

    upper: str
    lower: str | None
    start: datetime | None
    end: datetime | None
    kind: str = "gap"
    left: int | None = None

    def gap(self) -> Gap:
        """The stretch in time, as the health panel shows it."""
        return Gap(self.start, self.end, self.kind)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"upper": self.upper, "kind": self.kind}
        for name, value in (("lower", self.lower), ("start", _iso(self.start)), ("end", _iso(self.end))):
            if value:
                data[name] = value
        if self.left is not None:
            data["left"] = self.left
        return data

    @classmethod
    def from_json(cls, data: Any) -> Hole | None:
        if not isinstance(data, dict) or not data.get("upper"):
            return None
        left = data.get("left")
        return cls(
            str(data["upper"]),
            str(data["lower"]) if data.get("lower") else None,
            _when(data.get("start")),
            _when(data.get("end")),
            str(data.get("kind") or "gap"),
            int(left) if isinstance(left, int) else None,
        )


@dataclass(frozen=True, slots=True)
class MastodonCursor:
    """Where a Mastodon account's sync stands, stored as JSON text (a bare id from earlier versions is read too).

    ``seen`` is the newest notification handed over and ``seen_at`` its time. ``since`` is set only while
    nothing was ever seen: the account had no mentions when it was added, so anything newer is new.
    ``holes`` are the stretches behind ``seen`` still to read, newest first.
    """

    seen: str | None = None
    seen_at: datetime | None = None
    since: datetime | None = None
    holes: tuple[Hole, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> MastodonCursor:
        """From the stored text (None or unreadable: a fresh start)."""
        if not text:
            return cls()
        if not text.lstrip().startswith("{"):
            return cls(seen=text.strip())  # the plain notification id earlier versions stored
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ignoring an unreadable Mastodon sync cursor")
            return cls()
        if not isinstance(data, dict):
            return cls()
        holes = tuple(h for h in (Hole.from_json(x) for x in data.get("holes") or ()) if h is not None)
        seen = data.get("seen")
        return cls(str(seen) if seen else None, _when(data.get("seen_at")), _when(data.get("since")), holes)

    def dump(self) -> str:
        """As stored."""
        data: dict[str, Any] = {"v": 1}
        if self.seen:
            data["seen"] = self.seen
        if self.seen_at:
            data["seen_at"] = self.seen_at.isoformat()
        if self.since:
            data["since"] = self.since.isoformat()
        if self.holes:
            data["holes"] = [h.to_json() for h in self.holes]
        return json.dumps(data, sort_keys=True)

    def gaps(self) -> tuple[Gap, ...]:
        """The open stretches in time."""
        return tuple(h.gap() for h in self.holes)

    def with_hole(self, hole: Hole) -> MastodonCursor:
        """One more stretch to read, the newest; past ``MAX_HOLES`` the oldest two become one."""
        holes = (hole, *self.holes)
        if len(holes) > MAX_HOLES:
            newer, older = holes[-2], holes[-1]
            merged = Hole(newer.upper, older.lower, older.start, newer.end, "gap", None)
            holes = (*holes[:-2], merged)
        return replace(self, holes=holes)
