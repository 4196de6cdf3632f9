"""The Bluesky sync cursor: the newest notification handed over, and the stretches still to read behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.networks.base import Gap, stored_time
from services.networks.holes import add_hole, dump_cursor, gaps_of, hole_tail, load_cursor, read_hole_tail, read_holes


@dataclass(frozen=True, slots=True)
class Mark:
    """A place in the notification list: when it was indexed and its URI (empty: a time only)."""

    at: datetime
    uri: str

    def to_json(self) -> dict[str, str]:
        return {"indexedAt": self.at.isoformat(), "uri": self.uri}

    @classmethod
    def from_json(cls, data: Any) -> Mark | None:
        if not isinstance(data, Mapping):
            return None
        at = stored_time(data.get("indexedAt"))
        return cls(at, str(data.get("uri") or "")) if at else None

    def reached_by(self, uri: str, at: datetime) -> bool:
        """Whether a notification (newest first) is this one or older: the walk down has arrived."""
        return (bool(self.uri) and uri == self.uri) or at < self.at


@dataclass(frozen=True, slots=True)
class Hole:
    """Notifications still to read, newest first, from the server's cursor ``resume`` down to ``stop``.

    ``resume`` None means "from the newest again" (the server refused the saved one; what was read above
    the stretch is passed over). ``last`` is the last notification read above it; ``left`` the mentions
    a first sync's history may still take (None: no allowance).
    """

    resume: str | None
    stop: Mark | None
    last: Mark | None
    kind: str = "gap"
    left: int | None = None

    def gap(self) -> Gap:
        """The stretch in time, as the health panel shows it."""
        return Gap(self.stop.at if self.stop else None, self.last.at if self.last else None, self.kind)

    def to_json(self) -> dict[str, Any]:
        data = hole_tail(self.kind, self.left)
        if self.resume:
            data["resume"] = self.resume
        if self.stop:
            data["stop"] = self.stop.to_json()
        if self.last:
            data["last"] = self.last.to_json()
        return data

    @classmethod
    def from_json(cls, data: Any) -> Hole | None:
        if not isinstance(data, Mapping):
            return None
        resume = str(data["resume"]) if data.get("resume") else None
        return cls(resume, Mark.from_json(data.get("stop")), Mark.from_json(data.get("last")), *read_hole_tail(data))

    def merged(self, older: Hole) -> Hole:
        """This stretch and the next older one as one: from this one's resume point down to the older one's stop."""
        return Hole(self.resume, older.stop, self.last)


@dataclass(frozen=True, slots=True)
class BlueskyCursor:
    """Where a Bluesky account's sync stands, stored as JSON text.

    ``seen`` is the newest notification handed over. ``since`` is set only while nothing was ever seen:
    the account had no mentions when it was added, so anything newer is new. ``holes`` are the stretches
    behind ``seen`` still to read, newest first. Cursors of earlier versions (a walk in progress kept as
    ``resume``/``top``) are read as one stretch.
    """

    seen: Mark | None = None
    since: datetime | None = None
    holes: tuple[Hole, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> BlueskyCursor:
        """From the stored text (None or unreadable: a fresh start)."""
        data = load_cursor(text, "Bluesky") if text else None
        if data is None:
            return cls()
        seen = Mark.from_json(data.get("seen"))
        holes = list(read_holes(data, Hole.from_json))
        if data.get("resume"):  # an earlier version's walk in progress, down to ``seen`` from ``top``
            top = Mark.from_json(data.get("top"))
            holes.insert(0, Hole(str(data["resume"]), seen, None))
            seen = top or seen
        return cls(seen, stored_time(data.get("since")), tuple(holes))

    def dump(self) -> str:
        """As stored (always a value, even with nothing seen yet: the sync keeps its old cursor when given None)."""
        return dump_cursor(self.holes, self.since, seen=self.seen.to_json() if self.seen else None)

    def gaps(self) -> tuple[Gap, ...]:
        """The open stretches in time."""
        return gaps_of(self.holes)

    def with_hole(self, hole: Hole) -> BlueskyCursor:
        """One more stretch to read, the newest; past ``MAX_HOLES`` the oldest two become one."""
        return replace(self, holes=add_hole(self.holes, hole, Hole.merged))
