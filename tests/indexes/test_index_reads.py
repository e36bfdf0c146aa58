"""What a Query or Scan with IndexName reads, and what DynamoDB refuses (dynalite's messages)."""

from __future__ import annotations

import pytest

from cluster.api.attribute_values import KeySchema, encode_key, partition_hash
from cluster.api.errors import ValidationException
from cluster.api.index_entries import entry_hash, entry_key
from cluster.api.secondary_indexes import GLOBAL, LOCAL, IndexSpec
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.index_reads import read_target

TABLE = KeySchema("pk", "S", "sk", "N")
BY_CITY = IndexSpec("by-city", GLOBAL, KeySchema("city", "S", "age", "N"), "KEYS_ONLY")
LOCAL_ONE = IndexSpec("local", LOCAL, KeySchema("pk", "S", "age", "N"), "ALL")


def _entry() -> TableEntry:
    table = {"name": "people", "key_schema": TABLE.to_json(), "indexes": [BY_CITY.to_json(), LOCAL_ONE.to_json()]}
    index_partitions = [PartitionInfo("t-i0p0", 0, 0, 1 << 64, ["n1", "n2", "n3"])]
    return TableEntry(table, [PartitionInfo("t-p0", 0, 0, 1 << 64, ["n1", "n2", "n3"])], index_partitions={"by-city": index_partitions})


def test_a_table_read_and_an_index_read_route_and_page_by_their_own_keys() -> None:
    table = read_target(_entry(), None, True, "ALL_ATTRIBUTES")
    assert table.entry.partitions[0].group_id == "t-p0" and table.key_schema == TABLE
    index = read_target(_entry(), "by-city", False, "ALL_PROJECTED_ATTRIBUTES")
    assert index.entry.partitions[0].group_id == "t-i0p0" and index.key_schema == BY_CITY.key_schema
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "city": {"S": "Oslo"}, "age": {"N": "30"}}
    assert index.last_key(item) == item and table.last_key(item) == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert index.start_key_names() == {"pk", "sk", "city", "age"}
    index_key = {"city": {"S": "Oslo"}, "age": {"N": "30"}}
    expected = (entry_hash(index_key, BY_CITY.key_schema),
                entry_key(index_key, BY_CITY.key_schema, encode_key({"pk": {"S": "a"}, "sk": {"N": "1"}}, TABLE)))
    assert index.start_position(index.validated_start_key(item)) == expected


@pytest.mark.parametrize(("name", "consistent", "select", "message"), [
    ("nope", False, "ALL_PROJECTED_ATTRIBUTES", "The table does not have the specified index: nope"),
    ("by-city", True, "ALL_PROJECTED_ATTRIBUTES", "Consistent reads are not supported on global secondary indexes"),
    ("by-city", False, "ALL_ATTRIBUTES", "Select type ALL_ATTRIBUTES is not supported for global secondary index "
                                         "by-city because its projection type is not ALL"),
])  # fmt: skip
def test_index_reads_dynamodb_refuses_are_refused(name: str, consistent: bool, select: str, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        read_target(_entry(), name, consistent, select)


def test_an_index_start_key_must_hold_both_keys_exactly() -> None:
    index = read_target(_entry(), "by-city", False, "COUNT")
    with pytest.raises(ValidationException, match="The provided starting key is invalid"):
        index.validated_start_key({"pk": {"S": "a"}, "sk": {"N": "1"}, "city": {"S": "Oslo"}})
    with pytest.raises(ValidationException):
        index.validated_start_key({"pk": {"S": "a"}, "sk": {"N": "1"}, "city": {"S": "Oslo"}, "age": {"S": "x"}})


def test_a_local_index_read_routes_to_the_table_and_may_be_consistent_and_read_every_attribute() -> None:
    index = read_target(_entry(), "local", True, "ALL_ATTRIBUTES")  # what a GSI refuses, an LSI allows
    assert index.entry.partitions[0].group_id == "t-p0" and index.key_schema == LOCAL_ONE.key_schema
    assert index.node_params() == {"local_index": LOCAL_ONE.to_json()}
    assert read_target(_entry(), "by-city", False, "COUNT").node_params() == {}
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "age": {"N": "30"}, "note": {"S": "x"}}
    assert index.last_key(item) == {"pk": {"S": "a"}, "age": {"N": "30"}, "sk": {"N": "1"}}
    # Its entries page within the table's partition key: the same hash as the item's.
    assert index.start_position(index.validated_start_key(index.last_key(item)))[0] == partition_hash({"pk": {"S": "a"}}, TABLE)
