"""The TTL sweeper's deletes go through the group's log, conditioned on the expiry it read: in-process,
against a real partition state machine standing in for the group's replicas (the group's log minus Raft)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cluster.api.attribute_values import KeySchema, encode_key, partition_hash
from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.types import Entry
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.ttl_sweeper import TtlSweeper

SCHEMA = KeySchema("pk", "S")
NOW_S = 1_000_000.0


class _Group:
    """What the sweeper uses of a group: it leads, and a proposal is applied at the next index."""

    group_id = "t-p0"
    closed = False
    is_leader = True

    def __init__(self, machine: PartitionStateMachine) -> None:
        self.state_machine = machine
        self.before_each_proposal: list[bytes] = []  # client writes that land between the scan and the delete

    async def propose(self, command: bytes, timeout_s: float) -> Any:
        for write in self.before_each_proposal:
            self._apply(write)
        self.before_each_proposal = []
        return self._apply(command)

    def _apply(self, command: bytes) -> Any:
        index = self.state_machine.applied_index + 1
        return self.state_machine.apply([Entry(1, index, command)])[index]


class _Host:
    process_id = "node-a1"

    def __init__(self, group: _Group) -> None:
        self.groups = {group.group_id: group}


def _put(pk: str, ttl: dict | None) -> bytes:
    item = {"pk": {"S": pk}, **({"ttl": ttl} if ttl else {})}
    key = {"pk": item["pk"]}
    return encode_command(PutCommand(partition_hash(key, SCHEMA), encode_key(key, SCHEMA), item))


def _keys(machine: PartitionStateMachine) -> set[str]:
    return {item["pk"]["S"] for _, _, item in machine.scan(None, 100)}


def test_expired_items_are_deleted_and_one_whose_expiry_moved_meanwhile_is_kept(tmp_path: Path) -> None:
    machine = PartitionStateMachine(tmp_path / "state")
    group = _Group(machine)
    try:
        for pk, ttl in [("old", {"N": "999000"}), ("older", {"N": "5"}), ("later", {"N": "1000001"}),
                        ("text", {"S": "5"}), ("none", None)]:  # fmt: skip
            group._apply(_put(pk, ttl))
        sweeper = TtlSweeper(_Host(group), clock=lambda: NOW_S)  # type: ignore[arg-type]
        sweeper.on_assignments([{"group_id": "t-p0", "ttl_attribute": "ttl"}, {"group_id": "t-p1"}])
        assert sweeper.attributes == {"t-p0": "ttl"}
        # A client renews "old" after the sweeper read it, before its delete commits: the renewal wins.
        group.before_each_proposal = [_put("old", {"N": "2000000"})]
        asyncio.run(sweeper._sweep())
        assert _keys(machine) == {"old", "later", "text", "none"}
        assert sweeper.deleted_total == 1  # "older"; "old"'s conditioned delete failed
        asyncio.run(sweeper._sweep())  # nothing left to expire
        assert sweeper.deleted_total == 1 and _keys(machine) == {"old", "later", "text", "none"}
        sweeper.on_assignments([])  # TTL switched off: the next reports carry no attribute
        assert sweeper.attributes == {}
    finally:
        machine.close()
