"""Calling a group's leader over real RPC servers on loopback: NotLeader hints followed, a dead member
skipped, the leader remembered, and a clear error when nobody answers within the budget."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.replication.leader_calls import LeaderHints, NoLeaderAnswered, call_leader
from cluster.replication.remote_errors import not_leader
from cluster.runtime.peer_clients import PeerClients
from cluster.runtime.rpc import RpcError, RpcServer

MEMBERS = ["meta-a", "meta-b", "meta-c"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nobody listens once it is closed: connection refused


async def _scenario(leader: str | None, down: set[str], calls: list[str], budget_s: float = 0.0) -> tuple[Any, LeaderHints]:
    """Members answer NotLeader naming `leader` (None: naming nobody); the leader answers who it is."""
    servers: list[RpcServer] = []
    topology = build_topology(3, 1, 4)
    links: dict[str, str] = {}
    for member in MEMBERS:
        if member in down:
            links[member] = f"127.0.0.1:{_closed_port()}"
            continue

        async def handle(method: str, params: dict[str, Any], member: str = member) -> Any:
            calls.append(member)
            if member != leader:
                raise not_leader(leader)
            return {"status": "ok", "from": member, "method": method, "params": params}

        server = RpcServer(handle)
        links[member] = f"127.0.0.1:{await server.start('127.0.0.1', 0)}"
        servers.append(server)
    topology.links = {"node-a1": links}
    peers = PeerClients(topology, "node-a1")
    hints = LeaderHints()
    try:
        result = await call_leader(
            peers, hints, "metadata", MEMBERS, "meta.ping", {"n": 1}, timeout_s=1.0, budget_s=budget_s, retry_pause_s=0.01
        )
        again = await call_leader(peers, hints, "metadata", MEMBERS, "meta.ping", {"n": 2}, timeout_s=1.0)
        assert again["from"] == result["from"]
        return result, hints
    finally:
        await peers.close()
        for server in servers:
            await server.stop()


def test_a_not_leader_hint_is_followed_at_once_and_the_leader_is_asked_first_next_time() -> None:
    calls: list[str] = []
    result, hints = asyncio.run(_scenario("meta-c", set(), calls))
    assert result == {"status": "ok", "from": "meta-c", "method": "meta.ping", "params": {"n": 1}}
    # meta-a named meta-c, which answered; the second call went straight to meta-c.
    assert calls == ["meta-a", "meta-c", "meta-c"]
    assert hints.order("metadata", MEMBERS)[0] == "meta-c"


def test_a_dead_member_is_skipped() -> None:
    calls: list[str] = []
    result, _ = asyncio.run(_scenario("meta-b", {"meta-a"}, calls))
    assert result["from"] == "meta-b" and calls == ["meta-b", "meta-b"]


def test_nobody_leading_is_an_error_naming_the_last_member_after_the_budget() -> None:
    calls: list[str] = []
    with pytest.raises(NoLeaderAnswered, match="meta-c: NotLeader: not the leader"):
        asyncio.run(_scenario(None, set(), calls, budget_s=0.2))
    # Several passes over every member within the budget, none of them hinted.
    assert calls[:3] == MEMBERS and len(calls) > 3 and len(calls) % 3 == 0


def test_a_hint_naming_a_stranger_is_ignored_and_a_refusal_forgets_only_its_own_member() -> None:
    hints = LeaderHints()
    assert hints.learn("g", MEMBERS, not_leader("node-z9")) is None
    assert hints.learn("g", MEMBERS, not_leader("meta-b")) == "meta-b"
    hints.forget("g", "meta-a")  # not the believed leader: the belief stays
    assert hints.order("g", MEMBERS) == ["meta-b", "meta-a", "meta-c"]
    hints.forget("g", "meta-b")
    assert hints.order("g", MEMBERS) == MEMBERS
    assert hints.learn("g", MEMBERS, RpcError("Throttled", "busy")) is None
