"""One call to the partition that holds a hash: a proposal to its leader, or a read, following splits.

A MOVED answer means the call certainly did not take effect, so it is sent again to the partition the
refreshed table map names (bounded by MovedRetry's budget). The *_once forms make one attempt and
raise PartitionMoved, for callers (the batch operations) that regroup what moved themselves.
"""

from __future__ import annotations

from typing import Any

from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.cluster_client import ClusterClient, PartitionMoved
from cluster.router.moved_retry import MovedRetry


async def propose_once(cluster: ClusterClient, partition: PartitionInfo, command_hash: int, command: bytes) -> Any:
    result = await cluster.call_leader(
        partition,
        "node.propose",
        # The hash lets the node sample hot keys for admission and splits (cluster/admission/).
        {"group": partition.group_id, "command": command.decode(), "hash": command_hash},
        is_write=True,
    )
    if isinstance(result, dict) and result.get("status") == "moved":
        raise PartitionMoved(f"{partition.group_id}: moved to {result.get('child')}")
    return result


async def propose(cluster: ClusterClient, entry: TableEntry, command_hash: int, command: bytes) -> Any:
    """The replicated result of `command` on the partition owning `command_hash`."""
    moved = MovedRetry(cluster, entry.name)
    while True:
        try:
            return await propose_once(cluster, entry.partition_for_hash(command_hash), command_hash, command)
        except PartitionMoved as error:  # certainly not applied: safe to send again
            entry = await moved.refreshed(error)


async def read_once(
    cluster: ClusterClient, partition: PartitionInfo, method: str, params: dict[str, Any], consistent: bool
) -> Any:
    """One read RPC: the partition's leader when consistent, else any replica."""
    with_group = {**params, "group": partition.group_id}
    if consistent:
        return await cluster.call_leader(partition, method, with_group, is_write=False)
    return await cluster.call_any_replica(partition, method, with_group)


async def read(
    cluster: ClusterClient, entry: TableEntry, item_hash: int, method: str, params: dict[str, Any], consistent: bool
) -> Any:
    """One read RPC to the partition holding `item_hash`."""
    moved = MovedRetry(cluster, entry.name)
    while True:
        try:
            return await read_once(cluster, entry.partition_for_hash(item_hash), method, params, consistent)
        except PartitionMoved as error:
            entry = await moved.refreshed(error)
