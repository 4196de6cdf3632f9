"""The ``Changes`` record: what a service call touched, so each view decides whether to redraw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Changes:
    """Ids of what changed; empty means nothing did."""

    new_posts: frozenset[int] = field(default_factory=frozenset)
    updated_posts: frozenset[int] = field(default_factory=frozenset)
    outbox: frozenset[int] = field(default_factory=frozenset)
    accounts: frozenset[int] = field(default_factory=frozenset)
    settings: bool = False

    def __bool__(self) -> bool:
        return bool(self.new_posts or self.updated_posts or self.outbox or self.accounts or self.settings)

    def __or__(self, other: Changes) -> Changes:
        return Changes(
            self.new_posts | other.new_posts,
            self.updated_posts | other.updated_posts,
            self.outbox | other.outbox,
            self.accounts | other.accounts,
            self.settings or other.settings,
        )
