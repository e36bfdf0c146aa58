"""What the node's managers (scrub, log replicas, splits) may use of the storage node that hosts them.

They receive the node as this protocol rather than as `StorageNode`: no import cycle between the node
and its managers, and one place that says how a manager reaches a hosted group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cluster.replication.group_runner import GroupRunner
from cluster.replication.leader_calls import LeaderHints
from cluster.runtime.peer_clients import PeerClients
from cluster.runtime.topology import Topology


class GroupHost(Protocol):
    process_id: str
    topology: Topology
    tick_s: float
    groups: dict[str, GroupRunner]  # every group hosted here, by id
    members: dict[str, list[str]]  # each storage group's members as placed
    peers: PeerClients  # this node's clients to other processes
    leader_hints: LeaderHints  # whom it asks first in each group (replication/leader_calls.py)

    def register(self, method: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Serves `method` to peers with `handler`."""

    def is_log_replica(self, group_id: str) -> bool: ...

    def open_group(
        self,
        group_id: str,
        members: list[str],
        log_replicas: list[str] | None = None,
        learners: list[str] | None = None,
    ) -> GroupRunner: ...

    def drop_group(self, group_id: str) -> None: ...
