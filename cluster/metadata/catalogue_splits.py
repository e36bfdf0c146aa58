"""Catalogue commands of a split for consumption: pure, deterministic on every metadata replica.

`begin_split` records a pending split in the table's entry with the child partition already placed, so
the child's nodes open it (node_report assignments) while routers still send the whole range to the
parent. `finish_split` shrinks the parent to [hash_start, split_hash) and makes the child routable. Both
are idempotent: a split driver that crashed and was replaced by another may repeat either one.
"""

from __future__ import annotations

from typing import Any

from cluster.metadata.catalogue import NodePlacement, PartitionInfo, TableEntry, place_members, placement_load

DEFAULT_MAX_PARTITIONS_PER_TABLE = 16


def place_child(
    table_id: str,
    index: int,
    hash_start: int,
    hash_end: int,
    avoid_leader: str,
    nodes: list[NodePlacement],
    existing: list[TableEntry],
) -> PartitionInfo:
    """One partition placed like place_partitions places each, but led by another node than `avoid_leader`:
    the point of splitting is to move half of the load off the hot partition's leader."""
    leader_load, replica_load = placement_load(existing)
    candidates = [n for n in nodes if n.node_id != avoid_leader] or list(nodes)
    members = place_members(nodes, candidates, leader_load, replica_load)
    return PartitionInfo(f"{table_id[:8]}-p{index}", index, hash_start, hash_end, members)


def begin_split(
    entry: TableEntry, command: dict[str, Any], nodes: list[NodePlacement], existing: list[TableEntry]
) -> dict[str, Any]:
    """Adds the pending split to `entry` (the caller persists it); the answer is the command's result."""
    if entry.table.get("table_id") != command["table_id"]:
        return {"status": "not_found", "message": f"table {entry.name} has another id"}
    parent_group = str(command["parent_group"])
    split_hash = int(command["split_hash"])
    for split in entry.splits:
        if split["parent"] == parent_group and split["split_hash"] == split_hash:
            return {"status": "ok", "split": dict(split), "table": entry.to_json()}  # a repeat
    pending = entry.pending_split()
    if pending is not None:
        return {"status": "busy", "message": f"table {entry.name} is already splitting {pending['parent']}"}
    if entry.table.get("status") != "ACTIVE":
        return {"status": "invalid", "message": f"table {entry.name} is {entry.table.get('status')}, not ACTIVE"}
    if entry.global_indexes():
        # A moved item's index changes could then come from two partitions in either order.
        return {"status": "invalid", "message": f"table {entry.name} has global secondary indexes: it does not split"}
    parent = next((p for p in entry.partitions if p.group_id == parent_group), None)
    if parent is None:
        return {"status": "invalid", "message": f"table {entry.name} has no partition {parent_group}"}
    if not parent.hash_start < split_hash < parent.hash_end:
        return {
            "status": "invalid",
            "message": f"split hash {split_hash} is not strictly inside [{parent.hash_start}, {parent.hash_end})",
        }
    max_partitions = int(command.get("max_partitions") or DEFAULT_MAX_PARTITIONS_PER_TABLE)
    if len(entry.partitions) >= max_partitions:
        return {"status": "limit", "message": f"table {entry.name} has {len(entry.partitions)} partitions already"}
    index = 1 + max(p.index for p in entry.partitions)
    child = place_child(
        entry.table["table_id"], index, split_hash, parent.hash_end, parent.members[0], nodes, existing
    )
    split = {
        "state": "pending",
        "parent": parent_group,
        "child": child.to_json(),
        "split_hash": split_hash,
        "reason": str(command.get("reason") or "manual"),
        "begun_wall_s": float(command.get("begun_wall_s") or 0.0),
        "finished_wall_s": None,
    }
    entry.splits.append(split)
    return {"status": "ok", "split": dict(split), "table": entry.to_json()}


def finish_split(entry: TableEntry, command: dict[str, Any]) -> dict[str, Any]:
    if entry.table.get("table_id") != command["table_id"]:
        return {"status": "not_found", "message": f"table {entry.name} has another id"}
    parent_group, child_group = str(command["parent_group"]), str(command["child_group"])
    split = next(
        (s for s in entry.splits if s["parent"] == parent_group and s["child"]["group_id"] == child_group), None
    )
    if split is None:
        return {"status": "not_found", "message": f"no split of {parent_group} into {child_group}"}
    if split["state"] == "finished":
        return {"status": "ok", "split": dict(split), "table": entry.to_json()}  # a repeat
    parent = next(p for p in entry.partitions if p.group_id == parent_group)
    child = PartitionInfo.from_json(split["child"])
    parent.hash_end = child.hash_start
    entry.partitions.append(child)
    entry.partitions.sort(key=lambda p: p.hash_start)
    entry.table["partition_count"] = len(entry.partitions)
    split["state"] = "finished"
    split["finished_wall_s"] = float(command.get("finished_wall_s") or 0.0)
    return {"status": "ok", "split": dict(split), "table": entry.to_json()}


def split_summaries(entries: list[TableEntry]) -> list[dict[str, Any]]:
    """The metadata status "splits" list (contract §5), oldest first."""
    summaries = []
    for entry in entries:
        for split in entry.splits:
            summaries.append(
                {
                    "table": entry.name,
                    "parent": split["parent"],
                    "child": split["child"]["group_id"],
                    "split_hash": split["split_hash"],
                    "reason": split["reason"],
                    "begun_wall_s": split["begun_wall_s"],
                    "finished_wall_s": split["finished_wall_s"],
                }
            )
    return sorted(summaries, key=lambda s: (s["begun_wall_s"], s["table"], s["child"]))
