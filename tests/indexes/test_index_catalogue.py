"""A table's global secondary indexes in the catalogue: partitions of their own, placed with the table's,
kept across a restart, named to the nodes that host them; a table with GSIs does not split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cluster.api.attribute_values import KeySchema
from cluster.api.index_entries import IndexedTable
from cluster.api.secondary_indexes import GLOBAL, LOCAL, IndexSpec
from cluster.api.tables import TableInfo, describe_table_json
from cluster.metadata.catalogue import HASH_SPACE, with_item_stats
from tests.split.test_split_catalogue import KEY_SCHEMA, Catalogue, begin

BY_CITY = IndexSpec("by-city", GLOBAL, KeySchema("city", "S"), "ALL")
BY_AGE = IndexSpec("by.age", GLOBAL, KeySchema("age", "N", "pk", "S"), "KEYS_ONLY")
LOCAL_ONE = IndexSpec("local", LOCAL, KeySchema("pk", "S", "age", "N"), "ALL")


def _create(catalogue: Catalogue, specs: list[IndexSpec]) -> dict:
    return catalogue.apply({
        "op": "create_table", "name": "people", "key_schema": KEY_SCHEMA, "billing_mode": "PAY_PER_REQUEST",
        "created_at_s": 1.0, "indexes": [spec.to_json() for spec in specs],
        "attribute_definitions": {"pk": "S", "city": "S", "age": "N"},
    })  # fmt: skip


def test_each_global_index_gets_partitions_of_its_own_spread_with_the_tables(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    assert _create(catalogue, [BY_CITY, BY_AGE])["status"] == "ok"
    entry = catalogue.machine.tables["people"]
    assert set(entry.index_partitions) == {"by-city", "by.age"}
    groups = [p.group_id for p in entry.all_partitions()]
    assert len(groups) == len(set(groups)) == 6  # 2 partitions each (the test catalogue's default)
    for partitions in entry.index_partitions.values():
        assert partitions[0].hash_start == 0 and partitions[-1].hash_end == HASH_SPACE
    # The preferred leaders of the six groups fall on six different nodes.
    assert Counter(p.members[0] for p in entry.all_partitions()).most_common(1)[0][1] == 1
    assert entry.index_view("by.age").partition_for_hash(HASH_SPACE - 1) is entry.index_partitions["by.age"][-1]
    assert entry.indexed_table() == IndexedTable(KeySchema("pk", "S"), (BY_CITY, BY_AGE))
    catalogue.reopen()
    again = catalogue.machine.tables["people"]
    assert again.to_json() == entry.to_json() and again.index_specs == [BY_CITY, BY_AGE]


def test_a_local_index_has_no_partitions_and_a_table_without_gsis_keeps_its_old_shape(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    _create(catalogue, [LOCAL_ONE])
    entry = catalogue.machine.tables["people"]
    assert entry.index_partitions == {} and entry.indexed_table() is None
    assert "index_partitions" not in entry.to_json()


def test_a_table_with_global_indexes_is_never_split(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    table_id = _create(catalogue, [BY_CITY])["table"]["table"]["table_id"]
    catalogue.apply({"op": "activate_table", "name": "people", "table_id": table_id})
    entry = catalogue.machine.tables["people"]
    result = begin(catalogue, entry, entry.partitions[0].group_id, HASH_SPACE // 4)
    assert result["status"] == "invalid" and "global secondary indexes" in result["message"]
    assert len(catalogue.machine.tables["people"].partitions) == 2


def _update(catalogue: Catalogue, table_id: str, **change: object) -> dict:
    return catalogue.apply({"op": "update_table", "name": "people", "table_id": table_id, **change})


def test_update_table_adds_a_creating_gsi_with_new_partitions_and_activates_it_then_deletes_one(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    table_id = _create(catalogue, [BY_CITY])["table"]["table"]["table_id"]
    created = _update(catalogue, table_id, create=[BY_AGE.to_json()])
    assert created["status"] == "in_use" and "Table is being created: people" in created["message"]
    catalogue.apply({"op": "activate_table", "name": "people", "table_id": table_id})
    assert _update(catalogue, "another-id", create=[BY_AGE.to_json()])["status"] == "not_found"
    before = {p.group_id for p in catalogue.machine.tables["people"].all_partitions()}
    result = _update(catalogue, table_id, create=[BY_AGE.to_json()], attribute_definitions={"pk": "S", "city": "S", "age": "N"})
    assert result["status"] == "ok"
    entry = catalogue.machine.tables["people"]
    assert entry.table["status"] == "UPDATING" and entry.table["creating_indexes"] == ["by.age"]
    assert entry.index_specs == [BY_CITY, BY_AGE] and entry.indexed_table() == IndexedTable(KeySchema("pk", "S"), (BY_CITY, BY_AGE))
    added = {p.group_id for p in entry.all_partitions()} - before
    assert len(added) == 2 and all("-i1p" in group for group in added)
    # While it backfills the table takes no other index change, and a name in use is refused.
    assert _update(catalogue, table_id, delete=["by-city"])["status"] == "in_use"
    catalogue.apply({"op": "activate_index", "name": "people", "table_id": table_id, "index": "by.age"})
    entry = catalogue.machine.tables["people"]
    assert entry.table["status"] == "ACTIVE" and entry.table["creating_indexes"] == []
    again = _update(catalogue, table_id, create=[BY_CITY.to_json()])
    assert again == {"status": "invalid", "message": "Attempting to create an index which already exists"}
    missing = _update(catalogue, table_id, delete=["nope"])
    assert missing["status"] == "index_not_found" and "Index nope for table people" in missing["message"]
    # Deleted: its spec and partitions go at once; a later index never reuses its groups' names.
    assert _update(catalogue, table_id, delete=["by-city"], update=[["by.age", 7, 9]])["status"] == "ok"
    entry = catalogue.machine.tables["people"]
    assert [spec.name for spec in entry.index_specs] == ["by.age"] and set(entry.index_partitions) == {"by.age"}
    assert entry.index_specs[0].read_capacity_units == 7 and entry.table["status"] == "ACTIVE"
    _update(catalogue, table_id, create=[BY_CITY.to_json()])
    groups = [p.group_id for p in catalogue.machine.tables["people"].index_partitions["by-city"]]
    assert all("-i2p" in group for group in groups)
    catalogue.reopen()
    assert catalogue.machine.tables["people"].table["creating_indexes"] == ["by-city"]


def test_each_index_counts_its_own_partitions_entries_in_describe_table(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    _create(catalogue, [BY_CITY, BY_AGE])
    entry = catalogue.machine.tables["people"]
    by_city, by_age = entry.index_partitions["by-city"], entry.index_partitions["by.age"]
    stats = {entry.partitions[0].group_id: (5, 500), by_city[0].group_id: (2, 90), by_city[1].group_id: (1, 40),
             by_age[0].group_id: (3, 60)}  # fmt: skip
    described = describe_table_json(TableInfo.from_json(with_item_stats(entry, stats)["table"]))
    assert (described["ItemCount"], described["TableSizeBytes"]) == (5, 500)
    counts = {i["IndexName"]: (i["ItemCount"], i["IndexSizeBytes"]) for i in described["GlobalSecondaryIndexes"]}
    assert counts == {"by-city": (3, 130), "by.age": (3, 60)}
