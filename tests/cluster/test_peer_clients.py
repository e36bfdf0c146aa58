"""One client per peer for everything a process asks its peers, through the proxy on its own link."""

from __future__ import annotations

import asyncio

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.runtime.peer_clients import PeerClients, hint_first
from cluster.runtime.rpc import RpcUnavailable


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
