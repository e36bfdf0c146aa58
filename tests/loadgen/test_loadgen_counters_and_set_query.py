"""The register workload's counters (UpdateItem ADD) and the set's final read by Query, against moto_server."""

from __future__ import annotations

import random

import pytest

from loadgen.dynamodb_client import ClientSettings, TableNotReadyError, ensure_table, make_client
from loadgen.dynamodb_operations import SET_BUCKETS, SET_SORT_KEY, add_element, execute, read_set
from loadgen.operations import PlannedOperation, UniqueValues
from loadgen.register_workload import RegisterWeights, RegisterWorkload


def planned_operations(workload: RegisterWorkload, count: int) -> list[PlannedOperation]:
    """Plan `count` operations, each answered ok (reads see 5), so cas has values to expect."""
    planned = []
    for _ in range(count):
        operation = workload.plan()
        workload.observe(operation, "ok", 5 if operation.function == "read" else operation.value)
        planned.append(operation)
    return planned


def test_without_an_incr_weight_the_workload_has_no_counters() -> None:
    workload = RegisterWorkload(3, RegisterWeights(), UniqueValues(0), random.Random(1))
    planned = planned_operations(workload, 300)
    assert {operation.function for operation in planned} == {"read", "write", "cas"}
    assert {operation.key for operation in planned} == {"r0", "r1", "r2"}


def test_with_an_incr_weight_counters_are_incremented_and_read_but_never_written() -> None:
    workload = RegisterWorkload(2, RegisterWeights(read=1, write=1, cas=1, incr=1), UniqueValues(0), random.Random(1))
    planned = planned_operations(workload, 400)
    by_function: dict[str, set[str | None]] = {}
    for operation in planned:
        by_function.setdefault(operation.function, set()).add(operation.key)
    assert by_function["incr"] == {"c0", "c1"}
    assert {"c0", "c1", "r0", "r1"} == by_function["read"]
    assert by_function["write"] | by_function["cas"] == {"r0", "r1"}
    assert all(operation.value == 1 for operation in planned if operation.function == "incr")


def test_increments_return_the_new_count(moto_endpoint: str) -> None:
    client = make_client(ClientSettings(moto_endpoint))
    ensure_table(client, "counters", timeout_s=15.0)
    counts = [execute(client, "counters", PlannedOperation("incr", "c0", 1)) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert execute(client, "counters", PlannedOperation("read", "c0", None)) == 3


def test_the_final_read_queries_every_bucket_of_the_range_key_table(moto_endpoint: str) -> None:
    client = make_client(ClientSettings(moto_endpoint))
    ensure_table(client, "set", timeout_s=15.0, sort_key=SET_SORT_KEY)
    elements = list(range(1, 3 * SET_BUCKETS + 2))
    for element in elements:
        add_element(client, "set", element)
    assert read_set(client, "set") == elements
    assert client.describe_table(TableName="set")["Table"]["KeySchema"][1] == {
        "AttributeName": SET_SORT_KEY, "KeyType": "RANGE"
    }


def test_a_table_with_another_key_schema_is_refused(moto_endpoint: str) -> None:
    client = make_client(ClientSettings(moto_endpoint))
    ensure_table(client, "plain", timeout_s=15.0)
    with pytest.raises(TableNotReadyError, match="key schema"):
        ensure_table(client, "plain", timeout_s=15.0, sort_key=SET_SORT_KEY)
