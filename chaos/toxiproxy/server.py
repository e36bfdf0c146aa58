"""ToxiproxyServer: the HTTP API and every proxy it manages, on the running asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import random

from chaos.toxiproxy.api_routes import ToxiproxyApi
from chaos.toxiproxy.http_protocol import serve_connection
from chaos.toxiproxy.proxy_collection import ProxyCollection


class ToxiproxyServer:
    """A Toxiproxy-compatible server. `rng` decides toxicity, jitter and slicing (seed it to replay)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, rng: random.Random | None = None) -> None:
        self.host = host
        self.port = port
        self.collection = ProxyCollection(rng or random.Random())
        self.api = ToxiproxyApi(self.collection)
        self.server: asyncio.Server | None = None
        self.api_connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); with port 0 the port the system chose."""
        if self.server is None:
            raise RuntimeError("ToxiproxyServer is not started")
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.serve_api_connection, self.host, self.port, reuse_address=True)

    async def serve_api_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.api_connections.add(task)
        try:
            await serve_connection(reader, writer, self.api.handle)
        finally:
            self.api_connections.discard(task)

    async def stop(self) -> None:
        """Stops the API, every proxy listener and every proxied connection."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for task in list(self.api_connections):
            task.cancel()
        for task in list(self.api_connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.collection.stop_all()

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
