"""The named proxies of one server and the operations the API performs on them."""

from __future__ import annotations

import random

from chaos.toxiproxy import api_errors
from chaos.toxiproxy.definitions import ProxyFields
from chaos.toxiproxy.proxy_runtime import ProxyRuntime


class ProxyCollection:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.proxies: dict[str, ProxyRuntime] = {}

    def get(self, name: str) -> ProxyRuntime:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise api_errors.proxy_not_found()
        return proxy

    async def add(self, fields: ProxyFields) -> ProxyRuntime:
        if fields.name in self.proxies:
            raise api_errors.proxy_already_exists()
        proxy = ProxyRuntime(fields, self.rng)
        if fields.enabled:
            await proxy.start()  # raises before the proxy is registered: a failed create leaves nothing
        self.proxies[fields.name] = proxy
        return proxy

    async def add_or_replace(self, fields: ProxyFields) -> ProxyRuntime:
        """Populate's rule: keep a proxy whose listen and upstream are unchanged, else replace it."""
        existing = self.proxies.get(fields.name)
        if existing is not None:
            if existing.listen == fields.listen and existing.upstream == fields.upstream:
                return existing
            await self.remove(fields.name)
        return await self.add(fields)

    async def update(self, name: str, fields: ProxyFields) -> ProxyRuntime:
        proxy = self.get(name)
        if fields.listen != proxy.listen or fields.upstream != proxy.upstream:
            await proxy.stop()
            proxy.listen = fields.listen
            proxy.upstream = fields.upstream
        if fields.enabled:
            await proxy.start()
        else:
            await proxy.stop()
        return proxy

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enables every proxy and removes every toxic."""
        for proxy in self.proxies.values():
            await proxy.start()
            proxy.remove_all_toxics()

    async def stop_all(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
