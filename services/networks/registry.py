"""Builds the connector for a stored account."""

from __future__ import annotations

import json
from pathlib import Path

from services.errors import ParleyError
from services.networks import demo
from services.networks.base import Network
from services.store.models import Account


class NetworkRegistry:
    """One connector per account, created on first use and closed together."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._demo_world: demo.DemoWorld | None = None
        self._cache: dict[int, Network] = {}

    @property
    def demo_world(self) -> demo.DemoWorld:
        """The demo network's simulated server for this data dir."""
        if self._demo_world is None:
            self._demo_world = demo.DemoWorld(self.data_dir / "demo-network.sqlite")
        return self._demo_world

    def get(self, account: Account) -> Network:
        """The connector for ``account``."""
        assert account.id is not None
        if account.id in self._cache:
            return self._cache[account.id]
        config = json.loads(account.config or "{}")
        if account.network == demo.NETWORK:
            net: Network = demo.DemoNetwork(self.demo_world, str(config.get("key", "masto")))
        else:
            raise ParleyError(
                f"This version of Parley cannot connect to {account.network} accounts yet "
                f"({account.handle} is kept but not synced)."
            )
        self._cache[account.id] = net
        return net

    async def aclose(self) -> None:
        """Close every connector."""
        for net in self._cache.values():
            await net.aclose()
        self._cache.clear()
