"""One client per peer for everything a process asks its peers, through the proxy on its own link."""

from __future__ import annotations

import asyncio

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.runtime.peer_clients import PeerClients, hint_first
from cluster.runtime.rpc import RpcClient, RpcUnavailable


def test_hint_first_asks_the_hinted_member_first_and_ignores_a_stranger() -> None:
    members = ["meta-a", "meta-b", "meta-c"]
    assert hint_first(members, "meta-b") == ["meta-b", "meta-a", "meta-c"]
    assert hint_first(members, None) == members
    assert hint_first(members, "node-a1") == members  # a hint from elsewhere is no member: no one first
    assert hint_first((), "meta-a") == []


def test_peers_share_one_client_each_through_the_proxy_on_this_link() -> None:
    topology = build_topology(3, 1, 4)
    topology.links = {"node-a1": {"meta-b": "127.0.0.1:1"}}
    peers = PeerClients(topology, "node-a1")
    assert peers.get("meta-b") is peers.get("meta-b")
    assert peers.get("meta-b").address == ("127.0.0.1", 1)  # the proxy on node-a1's link
    spec = topology.get("meta-c")
    assert peers.get("meta-c").address == (spec.host, spec.port)
    assert PeerClients(topology, "router-a").get("meta-b").address == (topology.get("meta-b").host, topology.get("meta-b").port)


def test_closed_peers_refuse_calls() -> None:
    peers = PeerClients(build_topology(3, 1, 4), "node-a1")
    client = peers.get("meta-a")

    async def close_then_call() -> None:
        await peers.close()
        await client.call("meta.catalogue", {}, timeout_s=1.0)

    with pytest.raises(RpcUnavailable):
        asyncio.run(close_then_call())


def test_a_client_closed_while_it_connects_starts_no_reader_and_its_call_is_refused() -> None:
    # A node stopped just after it started: a connect that finished after close used to start a reader
    # that outlived the event loop ("Event loop is closed" in the node's log: a store-errors finding).
    async def scenario() -> list[asyncio.Task]:
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda _reader, writer: accepted.append(writer), "127.0.0.1", 0)
        client = RpcClient(server.sockets[0].getsockname()[:2])
        call = asyncio.ensure_future(client.call("node.status", {}, timeout_s=2.0))
        await asyncio.sleep(0)  # the call is connecting
        await client.close()
        with pytest.raises(RpcUnavailable):
            await call
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()]
        for writer in accepted:
            writer.close()
        server.close()
        return left

    assert asyncio.run(scenario()) == []


def test_closed_peers_open_no_new_client() -> None:
    peers = PeerClients(build_topology(3, 1, 4), "node-a1")
    asyncio.run(peers.close())
    with pytest.raises(RpcUnavailable, match="stopping"):
        peers.get("meta-a")
