"""Reading a connector's mentions the way the sync service does: new ones first, then into open gaps."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.networks.base import FetchResult, Gap, GapFilling, History, Network, RemotePost


@dataclass
class Read:
    """What a run of calls handed over."""

    posts: list[RemotePost] = field(default_factory=list)
    cursor: str | None = None
    calls: int = 0
    gaps: tuple[Gap, ...] = ()

    def take(self, page: FetchResult) -> bool:
        """Count one page in; whether the connector said there is more."""
        self.posts += page.posts
        self.cursor, self.gaps = page.cursor, page.gaps
        self.calls += 1
        return page.more

    @property
    def ids(self) -> list[str]:
        """The remote ids, oldest first (fills arrive after newer pages)."""
        return [p.remote_id for p in sorted(self.posts, key=lambda p: (p.created_at, p.remote_id))]


async def read_new(net: Network, cursor: str | None, history: History | None = None) -> Read:
    """``fetch_mentions`` until it says there is no more (no gap filling)."""
    read = Read(cursor=cursor)
    while read.take(await net.fetch_mentions(read.cursor, history)):
        pass
    return read


async def read_all(net: Network, cursor: str | None, history: History | None = None, fills: int = 1000) -> Read:
    """New mentions, then ``fill_gap`` until no gap is left (or ``fills`` calls), as one sync does."""
    read = await read_new(net, cursor, history)
    if isinstance(net, GapFilling):
        for _ in range(fills):
            if not read.gaps or read.cursor is None or not read.take(await net.fill_gap(read.cursor)):
                break
    return read
