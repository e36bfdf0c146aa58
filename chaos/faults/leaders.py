"""Who leads which replication group, read from the live cluster's status, and leader selectors resolved.

The scheduler plans `{"of": "partition", "index": n}`; only the live cluster knows which process that
is, so resolution happens here at apply time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.metadata.catalogue import INDEX_GROUP

METADATA_GROUP = "metadata"


@dataclass(frozen=True)
class LeaderView:
    leaders: dict[str, str]  # group id -> process id that leads it now
    groups: list[str] = field(default_factory=list)  # every group any process reported, led or not


def leader_view_from_status(status: Mapping[str, Any]) -> LeaderView:
    """From LocalCluster.status(): when two processes claim a group (a stale leader), the higher term wins."""
    claims: dict[str, tuple[int, str]] = {}
    groups: set[str] = set()
    for process in status.get("processes", []):
        terms = {entry.get("group"): entry.get("term") or 0 for entry in process.get("groups", [])}
        groups.update(group for group in terms if isinstance(group, str))
        for group in process.get("leading", []):
            groups.add(group)
            claim = (int(terms.get(group) or 0), process["id"])
            if group not in claims or claim > claims[group]:
                claims[group] = claim
    return LeaderView({group: claim[1] for group, claim in claims.items()}, sorted(groups))


def choose_leader(selector: Mapping[str, Any], view: LeaderView, node_ids: set[str]) -> tuple[str, str | None]:
    """(process id, group id or None) for a selector; raises LookupError when nobody leads it now.

    `node_ids` are the storage nodes: "most-groups" counts only them, metadata replicas lead one group.
    """
    of = selector.get("of", "partition")
    if of == "metadata":
        if METADATA_GROUP not in view.leaders:
            raise LookupError("no process leads the metadata group")
        return view.leaders[METADATA_GROUP], METADATA_GROUP
    if of in ("partition", "index-partition"):
        partitions = [group for group in view.groups if group != METADATA_GROUP]
        if of == "index-partition":
            partitions = [group for group in partitions if INDEX_GROUP.search(group)]
        if not partitions:
            raise LookupError(f"no {of} group exists (no table{' with a global secondary index' if of != 'partition' else ''} yet?)")
        group = partitions[int(selector.get("index", 0)) % len(partitions)]
        if group not in view.leaders:
            raise LookupError(f"no process leads {group}")
        return view.leaders[group], group
    if of == "most-groups":
        counts: dict[str, int] = {}
        for group, process_id in view.leaders.items():
            if process_id in node_ids and group != METADATA_GROUP:
                counts[process_id] = counts.get(process_id, 0) + 1
        if not counts:
            raise LookupError("no storage node leads any group")
        # Ties go to the smallest process id so the same cluster state always picks the same node.
        return min(counts, key=lambda process_id: (-counts[process_id], process_id)), None
    raise ValueError(f"unknown leader selector of={of!r}")
