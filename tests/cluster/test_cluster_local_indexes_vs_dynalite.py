"""Local secondary indexes against the oracle: the same table, items and reads sent to a real cluster and to
dynalite, which keeps LSIs as DynamoDB does, must answer the same (items, order, counts, page keys, refusals)."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.dynalite_differential import DynaliteUnavailable, running_dynalite
from cluster.deploy.local_processes import LocalCluster
from tests.cluster.conftest import make_client

pytestmark = pytest.mark.cluster

TABLE = "lsi-oracle"
OWNERS = ("ann", "bob")


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Any]:
    try:
        with running_dynalite() as port:
            yield make_client(f"http://127.0.0.1:{port}")
    except DynaliteUnavailable as error:
        pytest.skip(f"dynalite unavailable: {error}")


@pytest.fixture(scope="module")
def both(data_plane_cluster: LocalCluster, dynalite: Any) -> tuple[Any, Any]:
    ours = make_client(data_plane_cluster.endpoints()["az-b"])
    rng = random.Random(11)
    items = []
    for owner in OWNERS:
        for number in range(25):
            item = {"owner": {"S": owner}, "id": {"N": str(number)}, "body": {"S": "x" * rng.randint(1, 30)}}
            if rng.random() < 0.8:
                item["score"] = {"N": rng.choice(["-3", "0", "1.5", "1.5", "20", "300"])}
            if rng.random() < 0.7:
                item["tag"] = {"S": rng.choice(["a", "ab", "b", "ba", "c"])}
            if rng.random() < 0.5:
                item["level"] = {"N": str(rng.randint(1, 5))}
            items.append(item)
    for client in (ours, dynalite):
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind}
                                  for name, kind in (("owner", "S"), ("id", "N"), ("score", "N"), ("tag", "S"))],
            LocalSecondaryIndexes=[
                {"IndexName": "by-score", "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["level"]},
                 "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"},
                               {"AttributeName": "score", "KeyType": "RANGE"}]},
                {"IndexName": "by-tag", "Projection": {"ProjectionType": "KEYS_ONLY"},
                 "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"},
                               {"AttributeName": "tag", "KeyType": "RANGE"}]},
            ],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        for item in items:
            client.put_item(TableName=TABLE, Item=item)
    return ours, dynalite


def _answer(call: Any) -> dict[str, Any]:
    try:
        answer = dict(call())
    except ClientError as error:
        return {"error": error.response["Error"]["Code"], "message": error.response["Error"]["Message"]}
    answer.pop("ResponseMetadata", None)
    answer.pop("ConsumedCapacity", None)
    return answer


def _all_pages(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Every page of a Query, as what must agree: each page's counts, refusals, and the items in order, except
    that items tied on the index's sort key are sorted among themselves (DynamoDB promises no order for
    them, and dynalite's differs from ours), which also lets page keys differ inside a tie."""
    pages = []
    while True:
        page = _answer(lambda request=request: client.query(**request))
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            break
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}
    sort_key = "score" if request["IndexName"] == "by-score" else "tag"
    items = [item for page in pages for item in page.get("Items", [])]
    ties = itertools.groupby(items, key=lambda item: json.dumps(item.get(sort_key)))
    return {
        "items": [sorted(tied, key=lambda item: json.dumps(item, sort_keys=True)) for _, tied in ties],
        "counts": [(page.get("Count"), page.get("ScannedCount")) for page in pages],
        "refusals": [page for page in pages if "error" in page],
    }


QUERIES = [
    {"IndexName": "by-score"},
    {"IndexName": "by-score", "ScanIndexForward": False, "Limit": 4},
    {"IndexName": "by-score", "Limit": 3, "ConsistentRead": True},
    {"IndexName": "by-score", "Select": "ALL_ATTRIBUTES", "Limit": 5},
    {"IndexName": "by-score", "Select": "COUNT"},
    # (A ProjectionExpression naming an attribute the LSI does not project is left out: AWS fetches it from
    # the table, dynalite leaves it out; tests/cluster/test_cluster_local_indexes.py checks AWS's way.)
    {"IndexName": "by-score", "ProjectionExpression": "score, #o", "ExpressionAttributeNames": {"#o": "owner"}},
    {"IndexName": "by-score", "KeyConditionExpression": "#o = :o AND score BETWEEN :a AND :b",
     "ExpressionAttributeValues": {":a": {"N": "0"}, ":b": {"N": "20"}}},
    {"IndexName": "by-score", "KeyConditionExpression": "#o = :o AND score > :a",
     "ExpressionAttributeValues": {":a": {"N": "1.5"}}, "FilterExpression": "attribute_exists(level)"},
    {"IndexName": "by-tag", "KeyConditionExpression": "#o = :o AND begins_with(tag, :t)",
     "ExpressionAttributeValues": {":t": {"S": "a"}}},
    {"IndexName": "by-tag", "ScanIndexForward": False, "Limit": 2},
    {"IndexName": "by-tag", "Select": "ALL_PROJECTED_ATTRIBUTES", "KeyConditionExpression": "#o = :o AND tag <= :t",
     "ExpressionAttributeValues": {":t": {"S": "b"}}},
]  # fmt: skip


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: repr(query)[:90])
@pytest.mark.parametrize("owner", OWNERS)
def test_local_index_queries_answer_as_dynalite_answers(both: tuple[Any, Any], query: dict[str, Any], owner: str) -> None:
    request = {"TableName": TABLE, "KeyConditionExpression": "#o = :o", **query}
    request["ExpressionAttributeNames"] = {"#o": "owner", **query.get("ExpressionAttributeNames", {})}
    request["ExpressionAttributeValues"] = {":o": {"S": owner}, **query.get("ExpressionAttributeValues", {})}
    ours, dynalite = both
    assert _all_pages(ours, request) == _all_pages(dynalite, request)


def test_local_index_scans_and_refusals_answer_as_dynalite_answers(both: tuple[Any, Any]) -> None:
    ours, dynalite = both

    def scanned(client: Any) -> list[tuple[str, str]]:
        items = client.scan(TableName=TABLE, IndexName="by-tag", ConsistentRead=True)["Items"]
        return sorted((item["owner"]["S"], item["id"]["N"]) for item in items)  # the hash orders differ

    assert scanned(ours) == scanned(dynalite)
    refused = [
        lambda c: c.put_item(TableName=TABLE, Item={"owner": {"S": "cid"}, "id": {"N": "1"}, "tag": {"N": "1"}}),
        lambda c: c.update_item(TableName=TABLE, Key={"owner": {"S": "ann"}, "id": {"N": "1"}},
                                UpdateExpression="SET score = :s", ExpressionAttributeValues={":s": {"S": "x"}}),
        lambda c: c.query(TableName=TABLE, IndexName="by-tag", KeyConditionExpression="id = :i",
                          ExpressionAttributeValues={":i": {"N": "1"}}),
        lambda c: c.query(TableName=TABLE, IndexName="by-score", KeyConditionExpression="#o = :o",
                          ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": "ann"}},
                          ExclusiveStartKey={"owner": {"S": "ann"}, "id": {"N": "1"}}),
    ]  # fmt: skip
    for call in refused:
        assert _answer(lambda call=call: call(ours)) == _answer(lambda call=call: call(dynalite))
    # (ReturnItemCollectionMetrics is not compared: dynalite never answers ItemCollectionMetrics.)
