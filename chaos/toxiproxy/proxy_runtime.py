"""A proxy: a listener, its upstream, its toxics and its live connections (asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import random

from chaos.toxiproxy.api_errors import ApiError
from chaos.toxiproxy.definitions import ProxyFields, ToxicDefinition, split_address
from chaos.toxiproxy.proxied_connection import ProxiedConnection
from chaos.toxiproxy.toxic_chain import roll_behaviour

UPSTREAM_CONNECT_TIMEOUT_S = 5.0


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProxyRuntime:
    def __init__(self, fields: ProxyFields, rng: random.Random) -> None:
        self.name = fields.name
        self.listen = fields.listen
        self.upstream = fields.upstream
        self.enabled = False
        self.rng = rng
        self.toxics: dict[str, ToxicDefinition] = {}
        self.connections: set[ProxiedConnection] = set()
        self.server: asyncio.Server | None = None

    @property
    def fields(self) -> ProxyFields:
        return ProxyFields(self.name, self.listen, self.upstream, self.enabled)

    def clock(self) -> float:
        return asyncio.get_running_loop().time()

    def toxics_in_order(self) -> list[ToxicDefinition]:
        """Upstream toxics first, then downstream, each in the order added (as Toxiproxy lists them)."""
        return sorted(self.toxics.values(), key=lambda toxic: toxic.stream != "upstream")

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics_in_order()],
        }

    async def start(self) -> None:
        """Listens on `listen`; a port 0 becomes the real port, so a later restart reuses it."""
        if self.enabled:
            return
        host, port = split_address(self.listen)
        try:
            self.server = await asyncio.start_server(
                self.accept, host or None, port, reuse_address=True, limit=2 * 64 * 1024
            )
        except OSError as error:
            raise ApiError(f"listen tcp {self.listen}: {error.strerror or error}", 500) from None
        bound_host, bound_port = self.server.sockets[0].getsockname()[:2]
        self.listen = format_address(host or bound_host, bound_port)
        self.enabled = True

    async def stop(self) -> None:
        """Closes the listener and every open connection."""
        if not self.enabled:
            return
        self.enabled = False
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self.connections):
            connection.terminate_now()

    async def accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, port = split_address(self.upstream)
        try:
            upstream = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=2 * 64 * 1024), UPSTREAM_CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            client_writer.close()
            return
        if not self.enabled:  # disabled while we were connecting
            client_writer.close()
            upstream[1].close()
            return
        connection = ProxiedConnection((client_reader, client_writer), upstream, self.clock, self.forget)
        self.connections.add(connection)
        for toxic in self.toxics_in_order():
            self.attach(connection, toxic)
        connection.start()

    def forget(self, connection: ProxiedConnection) -> None:
        self.connections.discard(connection)

    def attach(self, connection: ProxiedConnection, toxic: ToxicDefinition) -> None:
        behaviour = roll_behaviour(toxic.type, toxic.attributes, toxic.toxicity, self.rng)
        termination = connection.pumps[toxic.stream].chain.add(toxic.name, behaviour, self.clock())
        connection.schedule(termination, toxic.stream)

    def add_toxic(self, toxic: ToxicDefinition) -> None:
        assert toxic.name not in self.toxics
        self.toxics[toxic.name] = toxic
        for connection in list(self.connections):
            self.attach(connection, toxic)

    def update_toxic(self, toxic: ToxicDefinition) -> None:
        self.toxics[toxic.name] = toxic
        for connection in list(self.connections):
            behaviour = roll_behaviour(toxic.type, toxic.attributes, toxic.toxicity, self.rng)
            termination = connection.pumps[toxic.stream].chain.replace(toxic.name, behaviour, self.clock())
            connection.schedule(termination, toxic.stream)

    def remove_toxic(self, name: str) -> None:
        toxic = self.toxics.pop(name)
        for connection in list(self.connections):
            with contextlib.suppress(KeyError):
                termination = connection.pumps[toxic.stream].chain.remove(name, self.clock())
                connection.schedule(termination, toxic.stream)

    def remove_all_toxics(self) -> None:
        for name in list(self.toxics):
            self.remove_toxic(name)
