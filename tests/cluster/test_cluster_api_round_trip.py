"""boto3, unmodified, against a real 3-AZ cluster of OS processes: every type and every error."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from cluster.deploy.local_processes import LocalCluster
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster

EVERY_TYPE_ITEM = {
    "pk": {"S": "every-type"},
    "string": {"S": "héllo wörld"},
    "empty_string": {"S": ""},
    "number": {"N": "12345678901234567890123456789012345678"},
    "negative_fraction": {"N": "-0.000000000000000000000000000000000001"},
    "big_exponent": {"N": "9.9999999999999999999999999999999999999E+125"},
    "binary": {"B": b"\x00\x01\xfe\xff"},
    "true": {"BOOL": True},
    "false": {"BOOL": False},
    "nothing": {"NULL": True},
    "strings": {"SS": ["a", "b", "c"]},
    "numbers": {"NS": ["1", "2.5", "-3"]},
    "binaries": {"BS": [b"x", b"y"]},
    "list": {"L": [{"S": "nested"}, {"N": "1"}, {"L": [{"BOOL": False}]}, {"M": {"k": {"NULL": True}}}]},
    "map": {"M": {"inner": {"M": {"deep": {"SS": ["z"]}}}, "n": {"N": "0"}}},
}


def _canonical(value: dict) -> object:
    """Sets come back in any order, as in DynamoDB; compare them as sets."""
    (type_name, inner), = value.items()
    if type_name in ("SS", "BS"):
        return (type_name, frozenset(inner))
    if type_name == "NS":
        return (type_name, frozenset(Decimal(n) for n in inner))
    if type_name == "N":
        return (type_name, Decimal(inner))
    if type_name == "L":
        return (type_name, tuple(_canonical(v) for v in inner))
    if type_name == "M":
        return (type_name, frozenset((k, _canonical(v)) for k, v in inner.items()))
    return (type_name, inner)


def _canonical_item(item: dict) -> dict:
    return {name: _canonical(value) for name, value in item.items()}


@pytest.fixture(scope="module")
def client(shared_cluster: LocalCluster):  # noqa: ANN201
    client = make_client(shared_cluster.endpoints()["az-a"])
    create_table(client, "items")
    return client


def _raw_post(endpoint: str, target: str | None, body: bytes) -> tuple[int, dict]:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(endpoint, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_check_answers_on_every_endpoint(shared_cluster: LocalCluster) -> None:
    for endpoint in shared_cluster.endpoints().values():
        with urllib.request.urlopen(endpoint + "/", timeout=5) as response:
            assert response.status == 200
            assert response.read().startswith(b"healthy")


def test_table_is_active_with_every_partition_led(client, shared_cluster: LocalCluster) -> None:  # noqa: ANN001
    table = client.describe_table(TableName="items")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert "items" in client.list_tables()["TableNames"]
    leaders: dict[str, str] = {}
    for process in shared_cluster.status()["processes"]:
        if process["role"] == "node":
            for group in process["leading"]:
                assert group not in leaders, f"{group} has two leaders"
                leaders[group] = process["id"]
    table_groups = [g for g in leaders if g.endswith(("-p0", "-p1", "-p2", "-p3"))]
    assert len(table_groups) >= 4
    # Placement spreads preferred leaders: no single node leads every partition.
    assert len(set(leaders.values())) > 1
    # Every replica of a group names the same preferred member, one of the group's own (tests that wait
    # for settled leaders stop waiting once each group is led by it), and they differ between groups.
    preferred: dict[str, set[str]] = {}
    for process in shared_cluster.status()["processes"]:
        for group in process.get("groups", []):
            if group["group"] in table_groups:
                assert group["preferred"] in group["membership"]["storage"], group
                preferred.setdefault(group["group"], set()).add(group["preferred"])
    assert set(preferred) == set(table_groups) and all(len(members) == 1 for members in preferred.values()), preferred
    assert len(set().union(*preferred.values())) > 1, preferred


def test_every_type_round_trips_exactly(client) -> None:  # noqa: ANN001
    client.put_item(TableName="items", Item=EVERY_TYPE_ITEM)
    for consistent in (True, False):
        # An eventually consistent read may land on a follower that has not applied the write yet.
        for _ in range(40 if not consistent else 1):
            got = client.get_item(TableName="items", Key={"pk": {"S": "every-type"}}, ConsistentRead=consistent)
            if "Item" in got:
                break
            time.sleep(0.05)
        assert _canonical_item(got["Item"]) == _canonical_item(EVERY_TYPE_ITEM)
    consistent = client.get_item(TableName="items", Key={"pk": {"S": "every-type"}}, ConsistentRead=True)["Item"]
    assert consistent["number"] == {"N": "12345678901234567890123456789012345678"}
    assert consistent["binary"] == {"B": b"\x00\x01\xfe\xff"}


def test_numbers_come_back_in_dynamodb_canonical_form(client) -> None:  # noqa: ANN001
    client.put_item(TableName="items", Item={"pk": {"S": "numbers"}, "a": {"N": "01.50"}, "b": {"N": "1E2"}})
    item = client.get_item(TableName="items", Key={"pk": {"S": "numbers"}}, ConsistentRead=True)["Item"]
    assert item["a"] == {"N": "1.5"}
    assert item["b"] == {"N": "100"}


def test_conditions_and_return_values(client) -> None:  # noqa: ANN001
    key = {"pk": {"S": "conditional"}}
    client.put_item(
        TableName="items", Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)"
    )
    with pytest.raises(ClientError) as caught:
        client.put_item(
            TableName="items", Item={**key, "v": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert type(caught.value).__name__ == "ConditionalCheckFailedException"
    old = client.put_item(
        TableName="items",
        Item={**key, "v": {"N": "2"}},
        ConditionExpression="#v = :one AND NOT (#v <> :one) OR attribute_exists(nothing_here)",
        ExpressionAttributeNames={"#v": "v"},
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_OLD",
    )
    assert old["Attributes"] == {**key, "v": {"N": "1"}}
    with pytest.raises(ClientError) as caught:
        client.delete_item(
            TableName="items", Key=key, ConditionExpression="v = :x", ExpressionAttributeValues={":x": {"N": "9"}}
        )
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    deleted = client.delete_item(TableName="items", Key=key, ReturnValues="ALL_OLD")
    assert deleted["Attributes"]["v"] == {"N": "2"}
    assert "Item" not in client.get_item(TableName="items", Key=key, ConsistentRead=True)


@pytest.mark.parametrize(
    "item, fragment",
    [
        ({"other": {"S": "x"}}, "key"),
        ({"pk": {"N": "1"}}, "type"),
        ({"pk": {"S": ""}}, "empty"),
        ({"pk": {"S": "big"}, "blob": {"S": "x" * (400 * 1024)}}, "size"),
        ({"pk": {"S": "dup"}, "s": {"SS": ["a", "a"]}}, "duplicate"),
        ({"pk": {"S": "n"}, "n": {"N": "1" * 39}}, "38 significant digits"),
    ],
)
def test_invalid_items_are_validation_errors(client, item: dict, fragment: str) -> None:  # noqa: ANN001
    with pytest.raises(ClientError) as caught:
        client.put_item(TableName="items", Item=item)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment.lower() in caught.value.response["Error"]["Message"].lower()


def test_resource_errors(client) -> None:  # noqa: ANN001
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key={"pk": {"S": "x"}})
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_table(TableName="no-such-table")
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName="items",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    with pytest.raises(ClientError) as caught:
        client.get_item(TableName="items", Key={"pk": {"S": "x"}, "extra": {"S": "y"}})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_malformed_requests_never_crash_the_router(shared_cluster: LocalCluster) -> None:
    endpoint = shared_cluster.endpoints()["az-b"]
    status, body = _raw_post(endpoint, "DynamoDB_20120810.PutItem", b"{not json")
    assert status == 400 and body["__type"].endswith("#ValidationException")
    status, body = _raw_post(endpoint, "DynamoDB_20120810.Frobnicate", b"{}")
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body = _raw_post(endpoint, None, b"{}")
    assert status == 400
    status, body = _raw_post(endpoint, "DynamoDB_20120810.PutItem", b'{"TableName": 7, "Item": []}')
    assert status == 400 and body["__type"].endswith("#ValidationException")
    status, body = _raw_post(endpoint, "DynamoDB_20120810.PutItem", b"[1, 2, 3]")
    assert status == 400
    # And it still serves.
    status, body = _raw_post(endpoint, "DynamoDB_20120810.ListTables", b"{}")
    assert status == 200 and "TableNames" in body


def test_scan_pages_through_every_item_once(client) -> None:  # noqa: ANN001
    create_table(client, "scanned")
    for number in range(45):
        client.put_item(TableName="scanned", Item={"pk": {"S": f"item-{number:03d}"}, "n": {"N": str(number)}})
    for consistent in (True, False):
        seen: list[str] = []
        start: dict | None = None
        pages = 0
        while True:
            arguments = {"TableName": "scanned", "Limit": 7, "ConsistentRead": consistent}
            if start:
                arguments["ExclusiveStartKey"] = start
            page = client.scan(**arguments)
            pages += 1
            assert page["ScannedCount"] <= 7
            seen.extend(item["pk"]["S"] for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        if consistent:
            assert sorted(seen) == [f"item-{n:03d}" for n in range(45)]
            assert len(seen) == len(set(seen))
            assert pages >= 7
    filtered = client.scan(
        TableName="scanned", ConsistentRead=True, FilterExpression="n < :ten", ExpressionAttributeValues={":ten": {"N": "10"}}
    )
    assert filtered["Count"] == 10 and filtered["ScannedCount"] == 45


def test_range_keys_and_delete_table(client) -> None:  # noqa: ANN001
    create_table(client, "ranged", range_key=True)
    for sort in (3, 1, 2):
        client.put_item(TableName="ranged", Item={"pk": {"S": "p"}, "sk": {"N": str(sort)}, "v": {"S": f"v{sort}"}})
    for sort in (1, 2, 3):
        item = client.get_item(TableName="ranged", Key={"pk": {"S": "p"}, "sk": {"N": str(sort)}}, ConsistentRead=True)
        assert item["Item"]["v"] == {"S": f"v{sort}"}
    with pytest.raises(ClientError) as caught:
        client.get_item(TableName="ranged", Key={"pk": {"S": "p"}})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    description = client.delete_table(TableName="ranged")["TableDescription"]
    assert description["TableStatus"] == "DELETING"
    assert "ranged" not in client.list_tables()["TableNames"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="ranged", Key={"pk": {"S": "p"}, "sk": {"N": "1"}})


def test_conditional_put_race_has_exactly_one_winner(shared_cluster: LocalCluster, client) -> None:  # noqa: ANN001
    endpoints = list(shared_cluster.endpoints().values())
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(24)

    def contender(number: int) -> None:
        racer = make_client(endpoints[number % len(endpoints)])
        barrier.wait()
        try:
            racer.put_item(
                TableName="items",
                Item={"pk": {"S": "race"}, "winner": {"N": str(number)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            result = f"won:{number}"
        except ClientError as error:
            result = error.response["Error"]["Code"]
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("won:")]
    assert len(winners) == 1, outcomes
    assert outcomes.count("ConditionalCheckFailedException") == 23, outcomes
    stored = client.get_item(TableName="items", Key={"pk": {"S": "race"}}, ConsistentRead=True)["Item"]
    assert f"won:{stored['winner']['N']}" == winners[0]
