"""The Mastodon sync cursor: the newest notification handed over, and the stretches still to read behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.networks.base import Gap, stored_time
from services.networks.holes import add_hole, dump_cursor, gaps_of, hole_tail, load_cursor, read_hole_tail, read_holes


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
        data = {"upper": self.upper, **hole_tail(self.kind, self.left)}
        for name, value in (("lower", self.lower), ("start", _iso(self.start)), ("end", _iso(self.end))):
            if value:
                data[name] = value
        return data

    @classmethod
    def from_json(cls, data: Any) -> Hole | None:
        if not isinstance(data, Mapping) or not data.get("upper"):
            return None
        lower = str(data["lower"]) if data.get("lower") else None
        start, end = stored_time(data.get("start")), stored_time(data.get("end"))
        return cls(str(data["upper"]), lower, start, end, *read_hole_tail(data))

    def merged(self, older: Hole) -> Hole:
        """This stretch and the next older one as one: from this one's upper id down to the older one's lower."""
        return Hole(self.upper, older.lower, older.start, self.end)


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
        data = load_cursor(text, "Mastodon")
        if data is None:
            return cls()
        seen = str(data["seen"]) if data.get("seen") else None
        since = stored_time(data.get("since"))
        return cls(seen, stored_time(data.get("seen_at")), since, read_holes(data, Hole.from_json))

    def dump(self) -> str:
        """As stored."""
        return dump_cursor(self.holes, self.since, seen=self.seen, seen_at=_iso(self.seen_at))

    def gaps(self) -> tuple[Gap, ...]:
        """The open stretches in time."""
        return gaps_of(self.holes)

    def with_hole(self, hole: Hole) -> MastodonCursor:
        """One more stretch to read, the newest; past ``MAX_HOLES`` the oldest two become one."""
        return replace(self, holes=add_hole(self.holes, hole, Hole.merged))
