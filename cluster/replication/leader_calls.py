"""Calling whichever member of a replicated group leads it: hints remembered, NotLeader hints followed.

A storage node asks the metadata group (its reports, a split's catalogue steps) and a split's child group
(the copied items) this way. Each caller used to keep its own hint and its own loop. The router keeps its
own loop (cluster/router/cluster_client.py): it must tell a write that certainly did not happen from one
that may have, which these callers do not need (what they send is idempotent or read-only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cluster.replication.remote_errors import leader_hint_of
from cluster.runtime.peer_clients import PeerClients, hint_first
from cluster.runtime.rpc import RpcError, RpcTimeout, RpcUnavailable


class NoLeaderAnswered(Exception):
    """No member answered within the budget; the message is the last member's error."""


class LeaderHints:
    """Per group: the member believed to lead it, learned from who answered and from NotLeader hints."""

    def __init__(self) -> None:
        self._leaders: dict[str, str] = {}

    def order(self, group: str, members: Sequence[str]) -> list[str]:
        """Whom to ask: the believed leader first, then the other members in their order."""
        return hint_first(members, self._leaders.get(group))

    def answered(self, group: str, member: str) -> None:
        self._leaders[group] = member

    def learn(self, group: str, members: Sequence[str], error: RpcError) -> str | None:
        """The member a NotLeader `error` names, remembered, when it is one of `members`; else None."""
        hint = leader_hint_of(error)
        if isinstance(hint, str) and hint in members:
            self._leaders[group] = hint
            return hint
        return None

    def forget(self, group: str, member: str) -> None:
        """`member` did not answer as the leader: no longer believed to be it."""
        if self._leaders.get(group) == member:
            del self._leaders[group]


async def call_leader(
    peers: PeerClients,
    hints: LeaderHints,
    group: str,
    members: Sequence[str],
    method: str,
    params: dict[str, Any],
    *,
    timeout_s: float,
    budget_s: float = 0.0,
    retry_pause_s: float = 0.1,
) -> Any:
    """`method` on the group's leader. Each pass asks the members in hint order, going at once to a member
    a NotLeader names; after a pass nobody answered, waits `retry_pause_s` and passes again until `budget_s`
    is spent (0: one pass). Any answer counts (the caller judges it); raises NoLeaderAnswered."""
    if not members:
        raise NoLeaderAnswered(f"{group} has no members to ask")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    last_error = "no member answered"
    while True:
        order = hints.order(group, members)
        position = 0
        followed: set[str] = set()
        while position < len(order):
            target = order[position]
            position += 1
            try:
                result = await peers.get(target).call(method, params, timeout_s=timeout_s)
            except RpcError as error:
                last_error = f"{target}: {error.code}: {error.message}"
                hint = hints.learn(group, members, error)
                if hint is not None and hint != target and hint not in followed:
                    followed.add(hint)  # a fresh hint is worth asking at once; one already followed is stale
                    order = [hint] + [member for member in order[position:] if member != hint]
                    position = 0
                elif hint is None:
                    hints.forget(group, target)
                continue
            except (RpcUnavailable, RpcTimeout) as error:
                last_error = f"{target}: {error}"
                hints.forget(group, target)
                continue
            hints.answered(group, target)
            return result
        if loop.time() + retry_pause_s >= deadline:
            raise NoLeaderAnswered(last_error)
        await asyncio.sleep(retry_pause_s)
