"""The table catalogue and partition map: pure data and the deterministic placement of groups.

Every metadata replica applies the same commands and so computes the same placement: one replica of
each partition per AZ, and preferred leaders spread evenly over the nodes so that losing one node
never takes most leaders with it.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.api.attribute_values import KeySchema
from cluster.api.index_entries import IndexedTable, local_index_code
from cluster.api.secondary_indexes import GLOBAL, IndexSpec

HASH_SPACE = 1 << 64
_TABLE_ID_NAMESPACE = uuid.UUID("6f1c2a52-6a43-4d7c-9b7e-0c4d52a7e9b1")


@dataclass(frozen=True)
class NodePlacement:
    node_id: str
    az: str


@dataclass
class PartitionInfo:
    group_id: str
    index: int
    hash_start: int  # inclusive
    hash_end: int  # exclusive
    members: list[str]  # members[0] is the preferred leader

    def to_json(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "index": self.index,
            "hash_start": self.hash_start,
            "hash_end": self.hash_end,
            "members": list(self.members),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionInfo:
        return cls(data["group_id"], data["index"], data["hash_start"], data["hash_end"], list(data["members"]))


@dataclass
class TableEntry:
    table: dict[str, Any]  # cluster.api.tables.TableInfo.to_json()
    partitions: list[PartitionInfo] = field(default_factory=list)
    # Splits for consumption (cluster/metadata/catalogue_splits.py): at most one "pending", then "finished".
    splits: list[dict[str, Any]] = field(default_factory=list)
    # Time to Live (cluster/api/time_to_live.py): {"attribute": name} while enabled, None while disabled.
    ttl: dict[str, Any] | None = None
    # Each global secondary index's own partitions (its spec is in table["indexes"]); they never split.
    index_partitions: dict[str, list[PartitionInfo]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.table["name"])

    @property
    def key_schema(self) -> KeySchema:
        return KeySchema.from_json(self.table["key_schema"])

    @property
    def index_specs(self) -> list[IndexSpec]:
        return [IndexSpec.from_json(spec) for spec in self.table.get("indexes") or []]

    @property
    def creating_indexes(self) -> list[str]:
        """The GSIs UpdateTable added that are still backfilling (cluster/metadata/catalogue_updates.py)."""
        return list(self.table.get("creating_indexes") or [])

    def global_indexes(self) -> list[IndexSpec]:
        return [spec for spec in self.index_specs if spec.kind == GLOBAL]

    def local_indexes(self) -> tuple[IndexSpec, ...]:
        return tuple(spec for spec in self.index_specs if spec.kind != GLOBAL)

    def indexed_table(self) -> IndexedTable | None:
        """What the table's partitions must know to maintain its GSIs; None without any."""
        specs = tuple(self.global_indexes())
        return IndexedTable(self.key_schema, specs) if specs else None

    def index_view(self, index_name: str) -> TableEntry:
        """The entry as a global secondary index's reads route: its partitions in place of the table's."""
        return TableEntry(self.table, self.index_partitions[index_name])

    def all_partitions(self) -> list[PartitionInfo]:
        """The table's partitions and its indexes': every group the table owns."""
        return [*self.partitions, *(p for partitions in self.index_partitions.values() for p in partitions)]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"table": self.table, "partitions": [p.to_json() for p in self.partitions]}
        if self.splits:  # absent = none, so entries of tables never split read as before
            data["splits"] = [dict(split) for split in self.splits]
        if self.ttl:  # likewise
            data["ttl"] = dict(self.ttl)
        if self.index_partitions:  # likewise
            data["index_partitions"] = {
                name: [p.to_json() for p in partitions] for name, partitions in self.index_partitions.items()
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableEntry:
        return cls(
            dict(data["table"]),
            [PartitionInfo.from_json(p) for p in data["partitions"]],
            [dict(split) for split in data.get("splits") or []],
            dict(data["ttl"]) if data.get("ttl") else None,
            {name: [PartitionInfo.from_json(p) for p in partitions]
             for name, partitions in (data.get("index_partitions") or {}).items()},
        )  # fmt: skip

    def pending_split(self) -> dict[str, Any] | None:
        return next((split for split in self.splits if split.get("state") == "pending"), None)

    def partition_for_hash(self, partition_hash: int) -> PartitionInfo:
        for partition in self.partitions:
            if partition.hash_start <= partition_hash < partition.hash_end:
                return partition
        raise AssertionError(f"hash {partition_hash} not covered by table {self.name}")


def table_id_for(name: str, log_index: int) -> str:
    """Deterministic on every replica, and distinct for a table recreated under the same name."""
    return str(uuid.uuid5(_TABLE_ID_NAMESPACE, f"{name}:{log_index}"))


def placement_load(existing: list[TableEntry]) -> tuple[Counter[str], Counter[str]]:
    """Groups each node leads (as preferred leader) and holds a replica of, over the existing tables."""
    leader_load: Counter[str] = Counter()
    replica_load: Counter[str] = Counter()
    for entry in existing:
        for partition in entry.all_partitions():
            leader_load[partition.members[0]] += 1
            replica_load.update(partition.members)
    return leader_load, replica_load


def place_members(
    nodes: list[NodePlacement],
    leader_candidates: list[NodePlacement],
    leader_load: Counter[str],
    replica_load: Counter[str],
) -> list[str]:
    """One group's members, preferred leader first: the least loaded candidate leads, then one replica in each
    of two more AZs (the least loaded ones, when there are more than three). Updates the loads."""
    azs = sorted({node.az for node in nodes})
    if len(azs) < 3:
        raise ValueError(f"placement needs 3 AZs, the cluster has {azs}")
    leader = min(leader_candidates, key=lambda n: (leader_load[n.node_id], replica_load[n.node_id], n.node_id))
    members = [leader.node_id]
    other_azs = sorted(
        (az for az in azs if az != leader.az),
        key=lambda az: (sum(replica_load[n.node_id] for n in nodes if n.az == az), az),
    )[:2]
    for az in other_azs:
        candidates = [n for n in nodes if n.az == az]
        chosen = min(candidates, key=lambda n: (replica_load[n.node_id], n.node_id))
        members.append(chosen.node_id)
    by_id = {node.node_id: node for node in nodes}
    assert len({by_id[m].az for m in members}) == len(members), "two replicas of a group in one AZ"
    leader_load[leader.node_id] += 1
    replica_load.update(members)
    return members


def place_partitions(
    table_id: str,
    partition_count: int,
    nodes: list[NodePlacement],
    existing: list[TableEntry],
    group_prefix: str = "",
) -> list[PartitionInfo]:
    """`group_prefix` tells an index's groups from the table's (the table's have none)."""
    leader_load, replica_load = placement_load(existing)
    partitions: list[PartitionInfo] = []
    for index in range(partition_count):
        members = place_members(nodes, nodes, leader_load, replica_load)
        start = index * HASH_SPACE // partition_count
        end = (index + 1) * HASH_SPACE // partition_count
        partitions.append(PartitionInfo(f"{table_id[:8]}-{group_prefix}p{index}", index, start, end, members))
    return partitions


# A global secondary index's partition groups, as place_table names them: "<id>-i<number>p<k>".
INDEX_GROUP = re.compile(r"-i(\d+)p\d+$")


def place_table(
    table_id: str, partition_count: int, index_names: list[str], nodes: list[NodePlacement], existing: list[TableEntry]
) -> tuple[list[PartitionInfo], dict[str, list[PartitionInfo]]]:
    """A new table's partitions and its global secondary indexes' (as many each), spread together."""
    placed = list(existing)
    partitions = place_partitions(table_id, partition_count, nodes, placed)
    placed.append(TableEntry({}, partitions))
    index_partitions: dict[str, list[PartitionInfo]] = {}
    for number, name in enumerate(index_names):
        index_partitions[name] = place_partitions(table_id, partition_count, nodes, placed, f"i{number}")
        placed.append(TableEntry({}, index_partitions[name]))
    return partitions, index_partitions


def with_item_stats(
    entry: TableEntry,
    stats: Mapping[str, tuple[int, int]],
    local_stats: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """The entry's JSON with its table's item count and bytes summed over its partitions' latest reports
    (a partition not reported yet counts 0: DynamoDB's own numbers lag behind writes too), and each
    index's: a GSI's over its own partitions, an LSI's over the table's (`local_stats`: group -> LSI
    code -> (items, bytes), the items whole)."""
    data = entry.to_json()
    counted = [stats[partition.group_id] for partition in entry.partitions if partition.group_id in stats]
    data["table"] = {**entry.table, "item_count": sum(c for c, _ in counted), "size_bytes": sum(b for _, b in counted)}
    index_stats = {}
    for name, partitions in entry.index_partitions.items():
        reported = [stats[p.group_id] for p in partitions if p.group_id in stats]
        index_stats[name] = [sum(c for c, _ in reported), sum(b for _, b in reported)]
    for spec in entry.local_indexes():
        code = local_index_code(spec.key_schema)
        reported = [(local_stats or {}).get(p.group_id, {}).get(code, (0, 0)) for p in entry.partitions]
        index_stats[spec.name] = [sum(c for c, _ in reported), sum(b for _, b in reported)]
    if index_stats:
        data["table"]["index_stats"] = index_stats
    return data
