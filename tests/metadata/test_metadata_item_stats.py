"""DescribeTable's ItemCount and TableSizeBytes: the metadata service sums its partitions' latest counts."""

from __future__ import annotations

from cluster.api.attribute_values import KeySchema
from cluster.api.index_entries import local_index_code
from cluster.api.secondary_indexes import LOCAL, IndexSpec
from cluster.metadata.catalogue import PartitionInfo, TableEntry, with_item_stats


def _entry() -> TableEntry:
    table = {"name": "t1", "item_count": 0, "size_bytes": 0}
    partitions = [PartitionInfo(f"t-p{n}", n, n * 10, n * 10 + 10, ["a", "b", "c"]) for n in range(3)]
    return TableEntry(table, partitions)


def test_a_table_counts_the_sum_of_its_reported_partitions_and_others_count_nothing() -> None:
    entry = _entry()
    stats = {"t-p0": (5, 500), "t-p2": (7, 30), "other-p0": (1000, 10**6)}
    data = with_item_stats(entry, stats)
    assert (data["table"]["item_count"], data["table"]["size_bytes"]) == (12, 530)
    assert [p["group_id"] for p in data["partitions"]] == ["t-p0", "t-p1", "t-p2"]
    # The catalogue's own entry is not changed: the counts are not replicated state.
    assert entry.table["item_count"] == 0 and entry.to_json()["table"]["size_bytes"] == 0


def test_a_table_no_partition_reported_yet_counts_zero() -> None:
    data = with_item_stats(_entry(), {})
    assert (data["table"]["item_count"], data["table"]["size_bytes"]) == (0, 0)


def test_a_local_index_counts_what_the_tables_partitions_report_for_its_code() -> None:
    schema = KeySchema("pk", "S", "score", "N")
    spec = IndexSpec("by-score", LOCAL, schema, "KEYS_ONLY")
    other = local_index_code(KeySchema("pk", "S", "other", "S"))
    entry = TableEntry({**_entry().table, "indexes": [spec.to_json()]}, _entry().partitions)
    local = {"t-p0": {local_index_code(schema): (3, 300), other: (50, 5000)}, "t-p1": {local_index_code(schema): (1, 10)}}
    data = with_item_stats(entry, {"t-p0": (5, 500)}, local)
    assert data["table"]["index_stats"] == {"by-score": [4, 310]}  # t-p2 not reported yet: 0
    assert "index_stats" not in with_item_stats(_entry(), {})["table"]  # a table without indexes
