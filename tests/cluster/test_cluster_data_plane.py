"""The data plane through boto3 against a real cluster: UpdateItem, Query, projections, batches."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from cluster.api.attribute_values import item_size_bytes
from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.rpc import RpcError, RpcUnavailable
from tests.cluster.cluster_rpc import rpc, wait_until
from tests.cluster.conftest import create_table, make_client
from tests.split.split_cluster_helpers import finished, metadata_call, table_partitions

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def client(data_plane_cluster: LocalCluster):  # noqa: ANN201
    client = make_client(data_plane_cluster.endpoints()["az-a"])
    create_table(client, "updates")
    create_table(client, "ranges", range_key=True)
    return client


def _error(call) -> tuple[str, str]:  # noqa: ANN001
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _copies_on_replicas(cluster: LocalCluster, pk: str) -> list[dict]:
    """Every replica's copy of the item with partition key `pk`, read from each node's own store."""
    return [item for _, _, item in _replicas_holding(cluster, pk)]


def _replicas_holding(cluster: LocalCluster, pk: str) -> list[tuple[str, str, dict]]:
    """(node, group, item) for every replica holding the item with partition key `pk`."""
    copies = []
    for spec in cluster.topology().processes:
        if spec.role != "node":
            continue
        process_id = spec.process_id
        try:
            status = rpc(cluster, process_id, "status", {})
        except RpcUnavailable:  # a node that is down (or not yet up) holds no copy we can see
            continue
        for group in status["groups"]:
            if group["group"] == "metadata":
                continue
            try:
                rows = rpc(cluster, process_id, "node.scan", {"group": group["group"], "limit": 1000})["items"]
            except RpcError:  # e.g. still opening its groups after a restart
                continue
            copies.extend((process_id, group["group"], item) for _, _, item in rows if item.get("pk") == {"S": pk})
    return copies


def test_update_item_expressions_and_return_values(client) -> None:  # noqa: ANN001
    key = {"pk": {"S": "u1"}}
    created = client.update_item(
        TableName="updates", Key=key,
        UpdateExpression="SET #n = :zero, doc = :doc, tags = :tags",
        ExpressionAttributeNames={"#n": "count"},
        ExpressionAttributeValues={
            ":zero": {"N": "0"}, ":tags": {"SS": ["a"]},
            ":doc": {"M": {"lst": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}, "deep": {"M": {}}}},
        },
        ReturnValues="ALL_NEW",
    )
    assert created["Attributes"]["count"] == {"N": "0"} and created["Attributes"]["pk"] == key["pk"]
    updated = client.update_item(
        TableName="updates", Key=key,
        UpdateExpression="SET #n = #n + :one, doc.deep.x = :one, doc.lst[0] = :one ADD tags :more REMOVE doc.lst[2]",
        ConditionExpression="#n = :zero",
        ExpressionAttributeNames={"#n": "count"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":more": {"SS": ["b"]}},
        ReturnValues="UPDATED_NEW",
    )
    assert updated["Attributes"] == {
        "count": {"N": "1"},
        "doc": {"M": {"deep": {"M": {"x": {"N": "1"}}}, "lst": {"L": [{"N": "1"}]}}},
        "tags": {"SS": ["a", "b"]},
    }
    old = client.update_item(
        TableName="updates", Key=key, UpdateExpression="DELETE tags :a", ExpressionAttributeValues={":a": {"SS": ["a"]}},
        ReturnValues="UPDATED_OLD",
    )
    assert old["Attributes"] == {"tags": {"SS": ["a", "b"]}}
    final = client.get_item(TableName="updates", Key=key, ConsistentRead=True)["Item"]
    assert final["doc"]["M"]["lst"] == {"L": [{"N": "1"}, {"N": "2"}]} and final["tags"] == {"SS": ["b"]}
    assert "Attributes" not in client.update_item(
        TableName="updates", Key=key, UpdateExpression="REMOVE nothere", ReturnValues="NONE"
    )


def test_update_item_errors(client) -> None:  # noqa: ANN001
    key = {"pk": {"S": "u2"}}
    client.put_item(TableName="updates", Item={**key, "s": {"S": "x"}})
    code, message = _error(lambda: client.update_item(
        TableName="updates", Key=key, UpdateExpression="SET s = s + :one", ExpressionAttributeValues={":one": {"N": "1"}}
    ))
    assert (code, message) == ("ValidationException", "An operand in the update expression has an incorrect data type")
    code, message = _error(lambda: client.update_item(
        TableName="updates", Key=key, UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": {"S": "y"}}
    ))
    assert message == "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    code, _ = _error(lambda: client.update_item(
        TableName="updates", Key=key, UpdateExpression="SET s = :v", ConditionExpression="attribute_not_exists(pk)",
        ExpressionAttributeValues={":v": {"S": "y"}},
    ))
    assert code == "ConditionalCheckFailedException"
    code, message = _error(lambda: client.update_item(
        TableName="updates", Key=key, UpdateExpression="SET s = :v", ExpressionAttributeValues={":v": {"S": "y"}, ":w": {"S": "z"}}
    ))
    assert message == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    assert client.get_item(TableName="updates", Key=key, ConsistentRead=True)["Item"]["s"] == {"S": "x"}


def test_concurrent_counter_updates_are_identical_on_every_replica(data_plane_cluster: LocalCluster, client) -> None:  # noqa: ANN001
    # Increments through every router: each one applied once, on every replica alike.
    clients = [make_client(endpoint) for endpoint in data_plane_cluster.endpoints().values()]
    for round_number in range(5):
        for each in clients:
            each.update_item(
                TableName="updates", Key={"pk": {"S": "counter"}},
                UpdateExpression="ADD hits :one SET seen = list_append(if_not_exists(seen, :empty), :me)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":empty": {"L": []}, ":me": {"L": [{"N": str(round_number)}]}},
            )
    expected = client.get_item(TableName="updates", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert expected["hits"] == {"N": str(5 * len(clients))} and len(expected["seen"]["L"]) == 5 * len(clients)

    def every_replica_agrees() -> bool:
        copies = _copies_on_replicas(data_plane_cluster, "counter")
        return len(copies) == 3 and all(json.dumps(c, sort_keys=True) == json.dumps(expected, sort_keys=True) for c in copies)

    wait_until(every_replica_agrees, 20, "three equal replicas of the counter")
    assert Decimal(expected["hits"]["N"]) == 5 * len(clients)


@pytest.fixture(scope="module")
def ranges(client):  # noqa: ANN001, ANN201
    """Partition "p" holds sort keys -3..16 (some tagged), "q" one item: what Query tests read."""
    for sk in range(-3, 17):
        item = {"pk": {"S": "p"}, "sk": {"N": str(sk)}, "v": {"S": f"value-{sk}"}}
        if sk % 2 == 0:
            item["even"] = {"BOOL": True}
        client.put_item(TableName="ranges", Item=item)
    client.put_item(TableName="ranges", Item={"pk": {"S": "q"}, "sk": {"N": "1"}})
    return client


def _sort_keys(response: dict) -> list[int]:
    return [int(item["sk"]["N"]) for item in response["Items"]]


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("pk = :p", {}, list(range(-3, 17))),
        ("pk = :p AND sk = :a", {":a": {"N": "4"}}, [4]),
        ("pk = :p AND sk < :a", {":a": {"N": "0"}}, [-3, -2, -1]),
        ("pk = :p AND sk <= :a", {":a": {"N": "0"}}, [-3, -2, -1, 0]),
        ("pk = :p AND :a < sk", {":a": {"N": "14"}}, [15, 16]),
        ("sk >= :a AND pk = :p", {":a": {"N": "14"}}, [14, 15, 16]),
        ("pk = :p AND sk BETWEEN :a AND :b", {":a": {"N": "2"}, ":b": {"N": "5"}}, [2, 3, 4, 5]),
    ],
)
def test_query_key_conditions(ranges, condition: str, values: dict, expected: list[int]) -> None:  # noqa: ANN001
    # Consistent reads: an eventually consistent one may miss the fixture's last puts.
    response = ranges.query(
        TableName="ranges", KeyConditionExpression=condition, ConsistentRead=True,
        ExpressionAttributeValues={":p": {"S": "p"}, **values},
    )
    assert _sort_keys(response) == expected
    assert response["Count"] == response["ScannedCount"] == len(expected)
    backwards = ranges.query(
        TableName="ranges", KeyConditionExpression=condition, ScanIndexForward=False, ConsistentRead=True,
        ExpressionAttributeValues={":p": {"S": "p"}, **values},
    )
    assert _sort_keys(backwards) == expected[::-1]


def test_query_pages_with_limit_filter_and_projection(ranges) -> None:  # noqa: ANN001
    seen: list[int] = []
    scanned = 0
    start: dict | None = None
    pages = 0
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = ranges.query(
            TableName="ranges", KeyConditionExpression="pk = :p", FilterExpression="even = :t",
            ProjectionExpression="sk, #v", ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues={":p": {"S": "p"}, ":t": {"BOOL": True}}, Limit=6, ScanIndexForward=False,
            ConsistentRead=True,
            **extra,
        )
        pages += 1
        scanned += page["ScannedCount"]
        seen += _sort_keys(page)
        assert all(set(item) == {"sk", "v"} for item in page["Items"])
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"pk", "sk"}
    assert seen == [16, 14, 12, 10, 8, 6, 4, 2, 0, -2]
    assert scanned == 20 and pages == 4  # Limit counts items read before the filter
    count = ranges.query(
        TableName="ranges", KeyConditionExpression="pk = :p", Select="COUNT", ConsistentRead=True,
        ExpressionAttributeValues={":p": {"S": "p"}},
    )
    assert count["Count"] == 20 and "Items" not in count


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"KeyConditionExpression": "sk = :a", "ExpressionAttributeValues": {":a": {"N": "1"}}},
         "Query condition missed key schema element: pk"),
        ({"KeyConditionExpression": "pk = :p OR sk = :a", "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"N": "1"}}},
         "Invalid operator used in KeyConditionExpression: OR"),
        ({"KeyConditionExpression": "pk = :p AND sk = :a", "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"S": "1"}}},
         "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ({"KeyConditionExpression": "pk = :p", "FilterExpression": "sk > :a",
          "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"N": "1"}}},
         "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"),
        ({"KeyConditionExpression": "pk = :p AND sk > :a", "ExclusiveStartKey": {"pk": {"S": "p"}, "sk": {"N": "0"}},
          "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"N": "1"}}},
         "The provided starting key does not match the range key predicate"),
        ({"KeyConditionExpression": "pk = :p", "ExclusiveStartKey": {"pk": {"S": "q"}, "sk": {"N": "0"}},
          "ExpressionAttributeValues": {":p": {"S": "p"}}},
         "The provided starting key is outside query boundaries based on provided conditions"),
        ({}, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
    ],
)
def test_query_errors(ranges, arguments: dict, message: str) -> None:  # noqa: ANN001
    assert _error(lambda: ranges.query(TableName="ranges", **arguments)) == ("ValidationException", message)


def test_batch_write_then_batch_get_across_tables_and_partitions(client) -> None:  # noqa: ANN001
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "n": {"N": str(i)},
                                     "doc": {"M": {"lst": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}}}}}}
            for i in range(20)]
    range_puts = [{"PutRequest": {"Item": {"pk": {"S": "batch"}, "sk": {"N": str(i)}}}} for i in range(5)]
    written = client.batch_write_item(RequestItems={"updates": puts, "ranges": range_puts})
    assert written["UnprocessedItems"] == {}
    deleted = client.batch_write_item(RequestItems={
        "updates": [{"DeleteRequest": {"Key": {"pk": {"S": f"b{i}"}}}} for i in range(15, 20)],
    })
    assert deleted["UnprocessedItems"] == {}
    got = client.batch_get_item(RequestItems={
        "updates": {"Keys": [{"pk": {"S": f"b{i}"}} for i in range(0, 20, 2)], "ConsistentRead": True,
                    "ProjectionExpression": "#n, doc.lst[2], doc.lst[0]", "ExpressionAttributeNames": {"#n": "n"}},
        "ranges": {"Keys": [{"pk": {"S": "batch"}, "sk": {"N": str(i)}} for i in range(5)], "ConsistentRead": True},
    })
    assert got["UnprocessedKeys"] == {}
    numbers = sorted(int(item["n"]["N"]) for item in got["Responses"]["updates"])
    assert numbers == [0, 2, 4, 6, 8, 10, 12, 14]  # 16 and 18 were deleted
    assert all(item["doc"] == {"M": {"lst": {"L": [{"N": "0"}, {"N": "2"}]}}} for item in got["Responses"]["updates"])
    assert sorted(int(item["sk"]["N"]) for item in got["Responses"]["ranges"]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("operation", "arguments", "message"),
    [
        ("batch_write_item", {"RequestItems": {"updates": [{"PutRequest": {"Item": {"pk": {"S": "d"}}}},
                                                           {"DeleteRequest": {"Key": {"pk": {"S": "d"}}}}]}},
         "Provided list of item keys contains duplicates"),
        ("batch_write_item", {"RequestItems": {"updates": [{"PutRequest": {"Item": {"x": {"S": "d"}}}}]}},
         "The provided key element does not match the schema"),
        ("batch_write_item", {"RequestItems": {"updates": [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(13)],
                                               "ranges": [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"N": str(i)}}}} for i in range(13)]}},
         "Too many items requested for the BatchWriteItem call"),
        ("batch_get_item", {"RequestItems": {"updates": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}}},
         "Provided list of item keys contains duplicates"),
        ("batch_get_item", {"RequestItems": {"updates": {"Keys": [{"x": {"S": "a"}}]}}},
         "The provided key element does not match the schema"),
        ("batch_get_item", {"RequestItems": {}},
         "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"),
    ],
)
def test_batch_errors(client, operation: str, arguments: dict, message: str) -> None:  # noqa: ANN001
    assert _error(lambda: getattr(client, operation)(**arguments)) == ("ValidationException", message)


def test_batch_limits_match_dynamodb(client) -> None:  # noqa: ANN001
    code, message = _error(lambda: client.batch_write_item(
        RequestItems={"updates": [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(26)]}
    ))
    assert message.startswith("1 validation error detected: Value '{\"updates\":[{\"PutRequest\"")
    assert message.endswith(
        "at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"
    )
    code, message = _error(lambda: client.batch_get_item(
        RequestItems={"updates": {"Keys": [{"pk": {"S": str(i)}} for i in range(101)]}}
    ))
    assert message.endswith(
        "at 'requestItems.updates.member.keys' failed to satisfy constraint: Member must have length less than or equal to 100"
    )
    code, _ = _error(lambda: client.batch_get_item(RequestItems={"nope-table": {"Keys": [{"pk": {"S": "a"}}]}}))
    assert code == "ResourceNotFoundException"


def test_nested_projections_on_get_and_scan(client) -> None:  # noqa: ANN001
    item = {"pk": {"S": "proj"}, "doc": {"M": {"a": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}, "b": {"S": "x"}}}, "c": {"N": "9"}}
    client.put_item(TableName="updates", Item=item)
    got = client.get_item(TableName="updates", Key={"pk": {"S": "proj"}}, ConsistentRead=True,
                          ProjectionExpression="doc.a[2], doc.a[0], c, nothere.x")
    assert got["Item"] == {"doc": {"M": {"a": {"L": [{"N": "1"}, {"N": "3"}]}}}, "c": {"N": "9"}}
    scanned = client.scan(TableName="updates", ConsistentRead=True, FilterExpression="pk = :p",
                          ProjectionExpression="doc.b", ExpressionAttributeValues={":p": {"S": "proj"}})
    assert scanned["Items"] == [{"doc": {"M": {"b": {"S": "x"}}}}]


def test_batch_write_over_capacity_returns_exactly_what_it_did_not_write(client) -> None:  # noqa: ANN001
    # Ten write units a second over eight partitions: the router's table bucket empties part way
    # through a batch, and what it refused comes back as the client sent it.
    client.create_table(
        TableName="narrow", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 1000, "WriteCapacityUnits": 10},
        Tags=[{"Key": "gameday:partition-count", "Value": "8"}],
    )
    client.get_waiter("table_exists").wait(TableName="narrow", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    padding = "x" * 100  # one write unit per item
    unprocessed: list[dict] = []
    requested: list[dict] = []
    for round_number in range(4):
        puts = [{"PutRequest": {"Item": {"pk": {"S": f"r{round_number}-{i}"}, "pad": {"S": padding}}}} for i in range(25)]
        requested += puts
        try:
            answer = client.batch_write_item(RequestItems={"narrow": puts})
        except ClientError as error:  # nothing at all could be written: every item is unwritten
            assert error.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            unprocessed += puts
            continue
        unprocessed += answer["UnprocessedItems"].get("narrow", [])
        assert set(answer["UnprocessedItems"]) <= {"narrow"}
    assert unprocessed, "a 10-WCU table took 100 write units at once"
    assert all(entry in requested for entry in unprocessed)
    keys = [entry["PutRequest"]["Item"]["pk"]["S"] for entry in requested]
    refused = {entry["PutRequest"]["Item"]["pk"]["S"] for entry in unprocessed}
    for key in keys:
        present = "Item" in client.get_item(TableName="narrow", Key={"pk": {"S": key}}, ConsistentRead=True)
        assert present == (key not in refused), key


def test_parallel_scan_segments_cover_the_table_once(client) -> None:  # noqa: ANN001
    for first in (0, 20):
        client.batch_write_item(RequestItems={"updates": [
            {"PutRequest": {"Item": {"pk": {"S": f"seg{i}"}}}} for i in range(first, first + 20)
        ]})
    everything = client.scan(TableName="updates", ConsistentRead=True)["Items"]
    for total in (1, 3, 7):
        seen = []
        for segment in range(total):
            start: dict | None = None
            while True:
                extra = {"ExclusiveStartKey": start} if start else {}
                page = client.scan(TableName="updates", ConsistentRead=True, Segment=segment, TotalSegments=total,
                                   Limit=4, **extra)
                seen += [item["pk"]["S"] for item in page["Items"]]
                start = page.get("LastEvaluatedKey")
                if start is None:
                    break
        assert sorted(seen) == sorted(item["pk"]["S"] for item in everything), total
    assert len(everything) >= 40
    first_of_segment_0 = client.scan(TableName="updates", Segment=0, TotalSegments=2, Limit=1, ConsistentRead=True)
    if first_of_segment_0["Items"]:  # 40 items: all in segment 1 has chance 2**-40
        code, message = _error(lambda: client.scan(
            TableName="updates", Segment=1, TotalSegments=2, ExclusiveStartKey=first_of_segment_0["LastEvaluatedKey"]
        ))
        assert message == ("The provided starting key is invalid: Invalid ExclusiveStartKey. Please use "
                           "ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 1")


def test_legacy_parameters_through_boto3(ranges) -> None:  # noqa: ANN001
    client = ranges
    key = {"pk": {"S": "legacy"}}
    client.put_item(TableName="updates", Item={**key, "n": {"N": "1"}}, Expected={"pk": {"Exists": False}})
    code, _ = _error(lambda: client.put_item(TableName="updates", Item=key, Expected={"pk": {"Exists": False}}))
    assert code == "ConditionalCheckFailedException"
    updated = client.update_item(
        TableName="updates", Key=key, ReturnValues="ALL_NEW",
        AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "2"}}, "s": {"Action": "PUT", "Value": {"S": "legacy-x"}}},
        Expected={"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
    )
    assert updated["Attributes"] == {**key, "n": {"N": "3"}, "s": {"S": "legacy-x"}}
    queried = client.query(
        TableName="ranges", ConsistentRead=True, AttributesToGet=["sk"],
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                       "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "3"}, {"N": "8"}]}},
        QueryFilter={"even": {"ComparisonOperator": "NOT_NULL"}},
    )
    assert _sort_keys(queried) == [4, 6, 8] and queried["ScannedCount"] == 6
    scanned = client.scan(
        TableName="updates", ConsistentRead=True, ConditionalOperator="OR",
        ScanFilter={"s": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "legacy-x"}]},
                    "n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "100"}]}},
    )
    assert [item["pk"]["S"] for item in scanned["Items"]] == ["legacy"]


def test_return_consumed_capacity_matches_dynalite(ranges) -> None:  # noqa: ANN001
    client = ranges
    # Expected values are what dynalite answers to the same calls.
    key = {"pk": {"S": "capacity"}}
    big = {"S": "x" * 5000}
    put = client.put_item(TableName="updates", Item={**key, "b": big}, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"] == {"TableName": "updates", "CapacityUnits": 5.0}
    overwrite = client.put_item(TableName="updates", Item=key, ReturnConsumedCapacity="INDEXES")
    assert overwrite["ConsumedCapacity"] == {"TableName": "updates", "CapacityUnits": 5.0, "Table": {"CapacityUnits": 5.0}}
    got = client.get_item(TableName="updates", Key=key, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert got["ConsumedCapacity"] == {"TableName": "updates", "CapacityUnits": 1.0}
    updated = client.update_item(TableName="updates", Key=key, UpdateExpression="SET b = :b",
                                 ExpressionAttributeValues={":b": big}, ReturnConsumedCapacity="TOTAL")
    assert updated["ConsumedCapacity"]["CapacityUnits"] == 5.0
    deleted = client.delete_item(TableName="updates", Key=key, ReturnConsumedCapacity="TOTAL")
    assert deleted["ConsumedCapacity"]["CapacityUnits"] == 5.0
    batch = client.batch_get_item(RequestItems={"updates": {"Keys": [key, {"pk": {"S": "b0"}}], "ConsistentRead": True}},
                                  ReturnConsumedCapacity="INDEXES")
    assert batch["ConsumedCapacity"] == [{"TableName": "updates", "CapacityUnits": 2.0, "Table": {"CapacityUnits": 2.0}}]
    assert "ConsumedCapacity" not in client.get_item(TableName="updates", Key=key)
    queried = client.query(TableName="ranges", KeyConditionExpression="pk = :q", ExpressionAttributeValues={":q": {"S": "q"}},
                           Select="COUNT", ReturnConsumedCapacity="TOTAL")
    assert queried["ConsumedCapacity"] == {"TableName": "ranges", "CapacityUnits": 0.5}


def _put_backing_off(client, item: dict, attempts: int = 20) -> None:  # noqa: ANN001
    """A put as an SDK with retries sends it: four 342-unit items within a second exceed one partition's
    1,000 WCU/s, which DynamoDB may throttle too (and a busy machine's late capacity grant did)."""
    for attempt in range(attempts):
        try:
            client.put_item(TableName="ranges", Item=item)
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "ProvisionedThroughputExceededException" or attempt == attempts - 1:
                raise
            time.sleep(0.25)


def test_query_page_stops_at_one_megabyte(ranges) -> None:  # noqa: ANN001
    client = ranges
    blob = {"S": "x" * 350_000}
    for sk in range(4):
        _put_backing_off(client, {"pk": {"S": "big"}, "sk": {"N": str(sk)}, "blob": blob})
    arguments = {"TableName": "ranges", "KeyConditionExpression": "pk = :b", "ConsistentRead": True,
                 "ExpressionAttributeValues": {":b": {"S": "big"}}, "ProjectionExpression": "sk"}
    first = client.query(**arguments)
    # The item that takes the page past 1 MB is the page's last, as in DynamoDB (and dynalite).
    assert _sort_keys(first) == [0, 1, 2] and first["LastEvaluatedKey"] == {"pk": {"S": "big"}, "sk": {"N": "2"}}
    rest = client.query(**arguments, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert _sort_keys(rest) == [3] and "LastEvaluatedKey" not in rest

def test_batch_get_over_capacity_returns_the_keys_it_did_not_read(client) -> None:  # noqa: ANN001
    client.create_table(
        TableName="narrowreads", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 1000},
        Tags=[{"Key": "gameday:partition-count", "Value": "8"}],
    )
    client.get_waiter("table_exists").wait(TableName="narrowreads", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    keys = [{"pk": {"S": f"k{i}"}} for i in range(100)]
    for first in range(0, 100, 25):
        written = client.batch_write_item(RequestItems={"narrowreads": [
            {"PutRequest": {"Item": {**key, "v": {"N": "1"}}}} for key in keys[first:first + 25]]})
        assert written["UnprocessedItems"] == {}
    returned: list[str] = []
    unprocessed: list[str] = []
    for _ in range(3):
        try:
            answer = client.batch_get_item(RequestItems={"narrowreads": {
                "Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}})
        except ClientError as error:  # nothing could be read at all
            assert error.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            continue
        returned = [item["pk"]["S"] for item in answer["Responses"]["narrowreads"]]
        left = answer["UnprocessedKeys"].get("narrowreads")
        if left:
            # Shaped as sent, options included, so the SDK can send it again as it is.
            assert left["ConsistentRead"] is True and left["ProjectionExpression"] == "pk"
            unprocessed = [key["pk"]["S"] for key in left["Keys"]]
            break
    assert unprocessed, "a 100-RCU table read 100 keys at once three times"
    assert sorted(returned + unprocessed) == sorted(key["pk"]["S"] for key in keys)


def test_boto3_resource_api_unchanged(data_plane_cluster: LocalCluster, ranges) -> None:  # noqa: ANN001
    # The high-level API builds its own expressions and placeholders, and batch_writer resends
    # UnprocessedItems by itself: both must work against a router as they do against DynamoDB.
    table = boto3.resource(
        "dynamodb", endpoint_url=data_plane_cluster.endpoints()["az-b"], region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    ).Table("ranges")
    with table.batch_writer() as batch:
        for sk in range(60):
            batch.put_item(Item={"pk": "resource", "sk": sk, "tags": {"a", f"t{sk % 3}"}})
    page = table.query(KeyConditionExpression=Key("pk").eq("resource") & Key("sk").between(10, 19),
                       FilterExpression=Attr("tags").contains("t1"), ConsistentRead=True)
    assert [int(item["sk"]) for item in page["Items"]] == [10, 13, 16, 19]
    updated = table.update_item(
        Key={"pk": "resource", "sk": 10}, UpdateExpression="ADD tags :more SET hits = if_not_exists(hits, :zero) + :one",
        ConditionExpression=Attr("tags").contains("a"),
        ExpressionAttributeValues={":more": {"z"}, ":zero": 0, ":one": 1}, ReturnValues="UPDATED_NEW",
    )
    assert updated["Attributes"] == {"tags": {"a", "t1", "z"}, "hits": 1}


def test_batches_across_a_split_answer_every_key(data_plane_cluster: LocalCluster, client) -> None:  # noqa: ANN001
    # One partition split in two while every router still maps the table to the parent: the
    # parent refuses (MOVED) and the router regroups the batch by the refreshed map.
    client.create_table(
        TableName="splitting", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "gameday:partition-count", "Value": "1"}],
    )
    client.get_waiter("table_exists").wait(TableName="splitting", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    keys = [{"pk": {"S": f"s{i}"}} for i in range(25)]
    clients = [make_client(endpoint) for endpoint in data_plane_cluster.endpoints().values()]
    for each in clients:  # every router learns the one-partition map
        assert each.batch_write_item(RequestItems={"splitting": [
            {"PutRequest": {"Item": {**key, "v": {"N": "1"}}}} for key in keys]})["UnprocessedItems"] == {}
    [parent] = table_partitions(data_plane_cluster, "splitting")
    begun = metadata_call(data_plane_cluster, "meta.split_partition", {"table": "splitting", "group": parent["group_id"]})
    assert begun["status"] == "ok", begun
    child = begun["split"]["child"]["group_id"]
    wait_until(lambda: finished(data_plane_cluster, child), 60, f"the split into {child}")
    for number, each in enumerate(clients, start=2):
        written = each.batch_write_item(RequestItems={"splitting": [
            {"PutRequest": {"Item": {**key, "v": {"N": str(number)}}}} for key in keys]})
        assert written["UnprocessedItems"] == {}
        got = each.batch_get_item(RequestItems={"splitting": {"Keys": keys, "ConsistentRead": True}})
        assert got["UnprocessedKeys"] == {}
        assert sorted(item["pk"]["S"] for item in got["Responses"]["splitting"]) == sorted(k["pk"]["S"] for k in keys)
        assert {item["v"]["N"] for item in got["Responses"]["splitting"]} == {str(number)}


def _leader_of(cluster: LocalCluster, group: str) -> str | None:
    for process in cluster.status()["processes"]:
        if group in process.get("leading", []):
            return str(process["id"])
    return None


def test_updates_after_a_leader_is_killed_leave_every_replica_equal(data_plane_cluster: LocalCluster, client) -> None:  # noqa: ANN001
    # Last in the module: it kills a node of the shared cluster, and starts it again for the PynamoDB module.
    key = {"pk": {"S": "failover"}}
    increment = {"UpdateExpression": "ADD hits :one SET trail = list_append(if_not_exists(trail, :empty), :me)"}
    for number in range(3):
        client.update_item(TableName="updates", Key=key, **increment, ExpressionAttributeValues={
            ":one": {"N": "1"}, ":empty": {"L": []}, ":me": {"L": [{"N": str(number)}]}})
    wait_until(lambda: len(_replicas_holding(data_plane_cluster, "failover")) == 3, 20, "three replicas of the item")
    group = _replicas_holding(data_plane_cluster, "failover")[0][1]
    victim = _leader_of(data_plane_cluster, group)
    assert victim is not None
    data_plane_cluster.signal_process(victim, signal.SIGKILL)

    def readable() -> bool:
        try:
            client.get_item(TableName="updates", Key=key, ConsistentRead=True)
            return True
        except ClientError:
            return False

    wait_until(readable, 30, f"a new leader of {group}")
    for number in range(3, 6):
        client.update_item(TableName="updates", Key=key, **increment, ExpressionAttributeValues={
            ":one": {"N": "1"}, ":empty": {"L": []}, ":me": {"L": [{"N": str(number)}]}})
    after = client.get_item(TableName="updates", Key=key, ConsistentRead=True)["Item"]
    assert after["hits"] == {"N": "6"} and [int(v["N"]) for v in after["trail"]["L"]] == list(range(6))
    assert _leader_of(data_plane_cluster, group) != victim
    data_plane_cluster.start_process(victim)
    data_plane_cluster.wait_until_serving(30)

    def every_replica_agrees() -> bool:
        copies = _copies_on_replicas(data_plane_cluster, "failover")
        return len(copies) == 3 and all(copy == after for copy in copies)

    wait_until(every_replica_agrees, 30, "the restarted replica to hold the same item")



def test_describe_table_counts_items_and_bytes_a_few_seconds_behind_the_writes(client) -> None:  # noqa: ANN001
    """ItemCount and TableSizeBytes (PynamoDB's Model.count() without a key reads them): each partition's
    leader counts its items and their recorded sizes, and the metadata service sums the latest counts."""
    create_table(client, "counted")
    items = [{"pk": {"S": f"c{n}"}, "v": {"S": "x" * n}} for n in range(30)]
    for item in items:
        client.put_item(TableName="counted", Item=item)

    def counts() -> tuple[int, int]:
        table = client.describe_table(TableName="counted")["Table"]
        return table["ItemCount"], table["TableSizeBytes"]

    expected_bytes = sum(item_size_bytes(item) for item in items)
    wait_until(lambda: counts() == (30, expected_bytes), 20, "30 items counted")
    for item in items[:10]:
        client.delete_item(TableName="counted", Key={"pk": item["pk"]})
    wait_until(lambda: counts() == (20, sum(item_size_bytes(item) for item in items[10:])), 20, "20 items counted")


def test_time_to_live_is_switched_through_the_api_and_only_items_past_their_expiry_are_deleted(client) -> None:  # noqa: ANN001
    create_table(client, "expiring")
    assert client.describe_time_to_live(TableName="expiring")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    now = int(time.time())
    items = {
        "past": {"pk": {"S": "past"}, "ttl": {"N": str(now - 60)}},
        "future": {"pk": {"S": "future"}, "ttl": {"N": str(now + 3600)}},
        "text": {"pk": {"S": "text"}, "ttl": {"S": str(now - 60)}},  # not a Number: never expires
        "none": {"pk": {"S": "none"}},
    }
    for item in items.values():
        client.put_item(TableName="expiring", Item=item)
    answer = client.update_time_to_live(TableName="expiring", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    assert answer["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "ttl"}
    assert client.describe_time_to_live(TableName="expiring")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"
    }

    def present() -> set[str]:
        return {item["pk"]["S"] for item in client.scan(TableName="expiring", ConsistentRead=True)["Items"]}

    wait_until(lambda: present() == {"future", "text", "none"}, 20, "the expired item deleted")
    assert _error(lambda: client.update_time_to_live(
        TableName="expiring", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )) == ("ValidationException", "TimeToLive is already enabled")
    assert _error(lambda: client.update_time_to_live(
        TableName="expiring", TimeToLiveSpecification={"Enabled": True, "AttributeName": "other"}
    )) == ("ValidationException", "TimeToLive is active on a different AttributeName: current AttributeName is ttl")
    client.update_time_to_live(TableName="expiring", TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"})
    assert client.describe_time_to_live(TableName="expiring")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    assert _error(lambda: client.update_time_to_live(
        TableName="expiring", TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )) == ("ValidationException", "TimeToLive is already disabled")
    assert _error(lambda: client.describe_time_to_live(TableName="nowhere"))[0] == "ResourceNotFoundException"
