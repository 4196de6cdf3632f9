"""A wrapper around the real demo connector that injects send faults and records what it sent.

It is not a stand-in for the outbox under test: every call still reaches the real demo network;
the wrapper only decides, per send, whether the answer is lost before or after delivery, and counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.errors import AuthExpired, Offline, RateLimited, Rejected, UnknownOutcome
from services.networks.base import Network, SentReply
from services.networks.demo import DemoWorld
from services.networks.registry import NetworkRegistry
from services.store.models import Account

#: Scripted faults that refuse every send of the account, with messages that name no condition.
ACCOUNT_REFUSALS: dict[str, Callable[[], Exception]] = {
    "offline": lambda: Offline("Connection refused by 10.0.0.7."),
    "signed_out": lambda: AuthExpired("The access token was revoked by the server."),
    "rate_limited": lambda: RateLimited("The reply budget for this hour is used up."),
    # The server answered the send with a 5xx: it may have arrived, so it is an unknown outcome.
    "server_error": lambda: UnknownOutcome("The server had a problem; the reply may have arrived.", status=503),
}


class Crash(Exception):
    """The sender died mid-send: nothing after the delivery is recorded by that sender."""


@dataclass
class InFlight:
    """Concurrent sends per account, shared by every wrapper of a test (across outboxes)."""

    now: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)

    def enter(self, account: str) -> None:
        self.now[account] += 1
        self.peak[account] = max(self.peak[account], self.now[account])

    def leave(self, account: str) -> None:
        self.now[account] -= 1


class ScriptedNetwork:
    """Delegates to a real connector; ``faults`` scripts what happens to each ``post_reply``.

    Fault kinds: ``None`` (plain send), ``"before"`` (timeout, nothing delivered), ``"after"``
    (delivered, then the answer is lost), ``"crash"`` (delivered, then the sender dies),
    ``"reject"`` (a final refusal without delivery), and refusals of the whole account without
    delivery: ``"offline"``, ``"signed_out"``, ``"rate_limited"`` (no reset time given) and ``"server_error"``
    (a 503).
    """

    def __init__(
        self,
        inner: Network,
        account_key: str,
        faults: list[str | None],
        log: list[str],
        in_flight: InFlight,
        delay: float = 0.0,
    ) -> None:
        self._inner = inner
        self.account_key = account_key
        self.faults = faults
        self.log = log  # client keys delivered, in order
        self.in_flight = in_flight
        self.delay = delay
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def post_reply(self, payload: Mapping[str, Any], client_key: str) -> SentReply:
        fault = self.faults.pop(0) if self.faults else None
        self.in_flight.enter(self.account_key)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if fault == "before":
                raise UnknownOutcome("Timed out before the reply arrived.")
            if fault == "reject":
                raise Rejected("The network refused the reply: duplicate content.")
            if fault in ACCOUNT_REFUSALS:
                raise ACCOUNT_REFUSALS[fault]()
            sent = await self._inner.post_reply(payload, client_key)
            self.log.append(client_key)
            if fault == "after":
                raise UnknownOutcome("Timed out after the reply arrived.")
            if fault == "crash":
                raise Crash("the sender was killed")
            return sent
        finally:
            self.in_flight.leave(self.account_key)


class ScriptedRegistry(NetworkRegistry):
    """The real registry, with every connector wrapped in a ``ScriptedNetwork``."""

    def __init__(
        self,
        data_dir: Path,
        world: DemoWorld | None = None,
        *,
        delay: float = 0.0,
        in_flight: InFlight | None = None,
        delivered: list[str] | None = None,
    ) -> None:
        super().__init__(data_dir)
        if world is not None:
            self._demo_world = world
        self.faults: dict[int, list[str | None]] = {}
        self.delivered: list[str] = delivered if delivered is not None else []
        self.in_flight = in_flight or InFlight()
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
                inner,
                account.handle,
                self.faults.setdefault(account.id, []),
                self.delivered,
                self.in_flight,
                self.delay,
            )
        return self.wrapped[account.id]  # type: ignore[return-value]

    def deliveries(self) -> Counter[str]:
        """How many times each client key was delivered through this registry."""
        return Counter(self.delivered)
