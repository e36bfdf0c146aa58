"""The RPC clients a process keeps to its peers, one per peer, shared by everything in the process.

The Raft transport keeps its own connections (replica_host.py): its heartbeats must not queue behind a
scrub's item reads or a split's copy. Everything else a process asks its peers (metadata reports, log
replica moves, scrub rounds, split steps, a router's calls) goes through one client per peer.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.runtime.rpc import RpcClient, RpcUnavailable
from cluster.runtime.topology import Topology

CONNECT_TIMEOUT_S = 0.5


class PeerClients:
    def __init__(self, topology: Topology, own_id: str) -> None:
        self._topology = topology
        self._own_id = own_id
        self._clients: dict[str, RpcClient] = {}
        self._closed = False

    def get(self, process_id: str) -> RpcClient:
        """The client to `process_id` (through the proxy on our link to it, when links are proxied).
        Raises RpcUnavailable once closed: a request still being served when the process stops must not
        open a connection that outlives its event loop."""
        if self._closed:
            raise RpcUnavailable(f"{self._own_id} is stopping: no new connection to {process_id}")
        client = self._clients.get(process_id)
        if client is None:
            client = RpcClient(self._topology.address(self._own_id, process_id), connect_timeout_s=CONNECT_TIMEOUT_S)
            self._clients[process_id] = client
        return client

    async def close(self) -> None:
        self._closed = True
        for client in list(self._clients.values()):
            await client.close()


def hint_first(members: Sequence[str], hint: str | None) -> list[str]:
    """Whom to ask, in order: the hinted leader first when it is one of `members`, then the others."""
    return ([hint] if hint is not None and hint in members else []) + [m for m in members if m != hint]
