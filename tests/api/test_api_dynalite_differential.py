"""Differential test against dynalite: the request generator alone (pure), then a few hundred random
requests answered by a real local cluster and by dynalite, agreeing on at least 99 % of them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.differential_compare import Answer, mismatch, success_shape
from bench.differential_requests import OPERATIONS, Call, generate
from bench.dynalite_differential import run_calls, running_cluster

SEED = 7
REQUESTS = 400
MIN_AGREEMENT = 0.99


def test_the_same_seed_gives_the_same_sequence_and_another_seed_another() -> None:
    first = generate(SEED, 300)
    assert [json.dumps(call.body, sort_keys=True) for call in first] == [
        json.dumps(call.body, sort_keys=True) for call in generate(SEED, 300)
    ]
    assert [call.mutation for call in first] == [call.mutation for call in generate(SEED, 300)]
    assert [call.body for call in generate(SEED + 1, 300)] != [call.body for call in first]


def test_every_operation_comes_both_valid_and_mutated() -> None:
    calls = generate(1, 3000)
    valid = {call.operation for call in calls if call.mutation is None}
    mutated = {call.operation for call in calls if call.mutation is not None}
    assert valid == set(OPERATIONS)
    assert mutated == set(OPERATIONS)
    kinds = {call.mutation for call in calls if call.mutation}
    for expected in ("hash-key-too-large", "unused-value", "undefined-value", "duplicate-keys", "too-many-writes",
                     "key-wrong-type", "bad-return-values", "existing-table", "limit-zero"):
        assert expected in kinds


def test_valid_requests_use_only_tables_the_sequence_created() -> None:
    created: set[str] = set()
    for call in generate(3, 1500):
        if call.mutation is not None:
            continue
        if call.operation == "CreateTable":
            created.add(call.body["TableName"])
        elif call.operation in ("PutItem", "GetItem", "UpdateItem", "Query", "Scan"):
            assert call.body["TableName"] in created, call


def test_scan_order_is_not_compared_but_query_order_is() -> None:
    items = [{"pk": {"S": "a"}, "n": {"N": "1"}}, {"pk": {"S": "b"}, "n": {"N": "2"}}]
    scan = Call("Scan", {"TableName": "t"}, None)
    ours = Answer(200, {"Items": items, "Count": 2, "ScannedCount": 2})
    theirs = Answer(200, {"Items": items[::-1], "Count": 2, "ScannedCount": 2})
    assert mismatch(scan, ours, theirs) is None
    query = Call("Query", {"TableName": "t", "KeyConditionExpression": "pk = :p"}, None)
    assert mismatch(query, ours, theirs) == "200 but Items differs"


def test_error_codes_must_match_and_sets_compare_in_any_order() -> None:
    call = Call("GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}, None)
    refused = Answer(400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "x"})
    missing = Answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"})
    assert mismatch(call, refused, missing) == "ours 400 ValidationException / dynalite 400 ResourceNotFoundException"
    left = Answer(200, {"Item": {"s": {"NS": ["10", "9"]}}, "ConsumedCapacity": {"CapacityUnits": 1}})
    right = Answer(200, {"Item": {"s": {"NS": ["9", "10"]}}})
    assert mismatch(call, left, right) is None
    assert success_shape(call, left.body) == {"Item": {"s": {"NS": ["9", "10"]}}}


@pytest.mark.cluster
def test_our_store_agrees_with_dynalite_on_random_requests(dynalite_port: int, tmp_path: Path) -> None:
    calls = generate(SEED, REQUESTS)
    with running_cluster(tmp_path / "cluster") as ours_port:
        tally = asyncio.run(run_calls(calls, ours_port, dynalite_port))
    assert sum(tally.total.values()) == REQUESTS
    listing = "\n".join(
        f"{count} x {label}\n    request {json.dumps(tally.examples[label].call.body)[:300]}\n"
        f"    ours {tally.examples[label].ours.body}\n    dynalite {tally.examples[label].theirs.body}"
        for label, count in tally.classes.most_common()
    )
    assert tally.agreement() >= MIN_AGREEMENT, f"agreement {tally.agreement():.2%} < 99 %:\n{listing}"
