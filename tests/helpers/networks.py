"""A wrapper around the real demo connector that injects send faults and records what it sent.

It is not a stand-in for the outbox under test: every call still reaches the real demo network;
the wrapper only decides, per send, whether the answer is lost before or after delivery, and counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.errors import Rejected, UnknownOutcome
from services.networks.base import Network, SentReply
from services.networks.demo import DemoWorld
from services.networks.registry import NetworkRegistry
from services.store.models import Account


class Crash(BaseException):
    """The process died mid-send (like ``kill -9``: nothing after it runs in that sender)."""


class ScriptedNetwork:
    """Delegates to a real connector; ``faults`` scripts what happens to each ``post_reply``.

    Fault kinds: ``None`` (plain send), ``"before"`` (timeout, nothing delivered), ``"after"``
    (delivered, then the answer is lost), ``"crash"`` (delivered, then the sender dies),
    ``"reject"`` (a final refusal without delivery).
    """

    def __init__(self, inner: Network, faults: list[str | None], log: list[str], delay: float = 0.0) -> None:
        self._inner = inner
        self.faults = faults
        self.log = log  # client keys delivered, in order (shared between wrappers)
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        fault = self.faults.pop(0) if self.faults else None
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if fault == "before":
                raise UnknownOutcome("Timed out before the reply arrived.")
            if fault == "reject":
                raise Rejected("The network refused the reply: duplicate content.")
            sent = await self._inner.post_reply(payload, client_key)
            self.log.append(client_key)
            if fault == "after":
                raise UnknownOutcome("Timed out after the reply arrived.")
            if fault == "crash":
                raise Crash()
            return sent
        finally:
            self.in_flight -= 1


class ScriptedRegistry(NetworkRegistry):
    """The real registry, with every connector wrapped in a ``ScriptedNetwork``."""

    def __init__(self, data_dir: Path, world: DemoWorld | None = None, delay: float = 0.0) -> None:
        super().__init__(data_dir)
        if world is not None:
            self._demo_world = world
        self.faults: dict[int, list[str | None]] = {}
        self.delivered: list[str] = []
        self.delay = delay
        self.wrapped: dict[int, ScriptedNetwork] = {}

    def script(self, account_id: int, *faults: str | None) -> None:
        """Queue fault kinds for the next sends of one account."""
        self.faults.setdefault(account_id, []).extend(faults)

    def get(self, account: Account) -> Network:
        assert account.id is not None
        if account.id not in self.wrapped:
            inner = super().get(account)
            self.wrapped[account.id] = ScriptedNetwork(
                inner, self.faults.setdefault(account.id, []), self.delivered, self.delay
            )
        return self.wrapped[account.id]  # type: ignore[return-value]

    def deliveries(self) -> Counter[str]:
        """How many times each client key was delivered through this registry."""
        return Counter(self.delivered)
