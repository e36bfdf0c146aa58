"""Placement: one replica per AZ, preferred leaders spread so that no node holds most of them."""

from __future__ import annotations

from collections import Counter

import pytest

from cluster.metadata.catalogue import HASH_SPACE, NodePlacement, TableEntry, place_partitions

NODES = [NodePlacement(f"node-{az}{n}", f"az-{az}") for az in "abc" for n in (1, 2)]


def test_every_group_has_one_replica_in_each_of_three_azs() -> None:
    partitions = place_partitions("table-one", 8, NODES, [])
    az_of = {node.node_id: node.az for node in NODES}
    for partition in partitions:
        assert len(partition.members) == 3
        assert sorted(az_of[m] for m in partition.members) == ["az-a", "az-b", "az-c"]


def test_hash_ranges_tile_the_whole_space_without_overlap() -> None:
    partitions = place_partitions("table-one", 7, NODES, [])
    assert partitions[0].hash_start == 0
    assert partitions[-1].hash_end == HASH_SPACE
    for before, after in zip(partitions, partitions[1:], strict=False):
        assert before.hash_end == after.hash_start
    entry = TableEntry({"name": "t"}, partitions)
    assert entry.partition_for_hash(HASH_SPACE - 1) is partitions[-1]
    assert entry.partition_for_hash(0) is partitions[0]


@pytest.mark.parametrize("tables", [1, 2, 3, 5])
def test_preferred_leaders_and_replicas_spread_evenly_across_tables(tables: int) -> None:
    existing: list[TableEntry] = []
    for number in range(tables):
        existing.append(TableEntry({"name": f"t{number}"}, place_partitions(f"table-{number}", 4, NODES, existing)))
    leaders = Counter(p.members[0] for entry in existing for p in entry.partitions)
    replicas = Counter(m for entry in existing for p in entry.partitions for m in p.members)
    total = 4 * tables
    # Losing any one node loses at most ceil(total / nodes) leaders.
    assert max(leaders.values()) <= -(-total // len(NODES))
    assert max(replicas.values()) - min(replicas.get(n.node_id, 0) for n in NODES) <= 1


def test_placement_is_deterministic() -> None:
    first = place_partitions("same", 4, NODES, [])
    second = place_partitions("same", 4, list(reversed(NODES)), [])
    assert [p.to_json() for p in first] == [p.to_json() for p in second]


def test_fewer_than_three_azs_is_refused() -> None:
    with pytest.raises(ValueError, match="3 AZs"):
        place_partitions("t", 4, [n for n in NODES if n.az != "az-c"], [])
