"""Builds the connector for a stored account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import ParleyError
from services.networks.base import Network
from services.secrets import SecretStore, account_key
from services.store.models import Account

# Each connector (and httpx under it) is imported when the first account of its network needs it,
# not with the first window.
if TYPE_CHECKING:
    from services.networks import demo


class NetworkRegistry:
    """One connector per account, created on first use and closed together."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._demo_world: demo.DemoWorld | None = None
        self._cache: dict[int, Network] = {}
        self._retired: list[Network] = []
        self.secrets = SecretStore(data_dir)

    @property
    def demo_world(self) -> demo.DemoWorld:
        """The demo network's simulated server for this data dir."""
        from services.networks import demo

        if self._demo_world is None:
            self._demo_world = demo.DemoWorld(self.data_dir / "demo-network.sqlite")
        return self._demo_world

    def get(self, account: Account) -> Network:
        """The connector for ``account``."""
        assert account.id is not None
        if account.id in self._cache:
            return self._cache[account.id]
        from services.networks import bluesky, demo, mastodon

        config = json.loads(account.config or "{}")
        if account.network == demo.NETWORK:
            net: Network = demo.DemoNetwork(self.demo_world, str(config.get("key", "masto")))
        elif account.network == mastodon.NETWORK:
            key = account_key(account.network, account.server_url, account.handle)
            limit = config.get("max_characters")
            net = mastodon.MastodonNetwork(
                account.server_url,
                # Loaded on the first request, off the event loop (a keyring read can block).
                lambda: self.secrets.get(key),
                account_id=account.remote_user_id or None,
                max_characters=limit if isinstance(limit, int) else None,
                domain=str(config.get("domain") or "") or None,
            )
        elif account.network == bluesky.NETWORK:
            # The session (never the app password) is filed under the account's DID, which survives
            # a change of handle.
            store = bluesky.SecretSessionStore(
                self.secrets, bluesky.session_key(account.server_url, account.remote_user_id or account.handle)
            )
            langs = config.get("reply_langs")
            net = bluesky.BlueskyNetwork(
                account.server_url,
                store,
                reply_langs=[str(x) for x in langs] if isinstance(langs, list) else (),
            )
        else:
            raise ParleyError(
                f"This version of Parley cannot connect to {account.network} accounts yet "
                f"({account.handle} is kept but not synced)."
            )
        self._cache[account.id] = net
        return net

    def cached(self, account_id: int) -> Network | None:
        """The connector of an account if one was built (without building one: no side effects)."""
        return self._cache.get(account_id)

    def forget(self, account_id: int) -> None:
        """Drop the cached connector of one account (its credentials changed); it is rebuilt on next use."""
        net = self._cache.pop(account_id, None)
        if net is not None:
            self._retired.append(net)

    async def aclose(self) -> None:
        """Close every connector."""
        for net in [*self._cache.values(), *self._retired]:
            await net.aclose()
        self._cache.clear()
        self._retired.clear()
