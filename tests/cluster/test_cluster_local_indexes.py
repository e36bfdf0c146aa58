"""Local secondary indexes through boto3 and PynamoDB against a real cluster: created with the table, read
from the table's own partitions in the index's order, consistently when asked (a write is there at once),
with the index's projection unless the read asks for more, and writes that break an index key refused."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from cluster.deploy.local_processes import LocalCluster
from tests.cluster.cluster_rpc import wait_until
from tests.cluster.conftest import make_client
from tests.cluster.test_cluster_data_plane_pynamodb import ClusterMeta

pytestmark = pytest.mark.cluster

TABLE = "lsi-scores"


def keys(*elements: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": kind} for name, kind in elements]


@pytest.fixture(scope="module")
def client(data_plane_cluster: LocalCluster):  # noqa: ANN201
    client = make_client(data_plane_cluster.endpoints()["az-c"])
    client.create_table(
        TableName=TABLE,
        KeySchema=keys(("player", "HASH"), ("game", "RANGE")),
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind}
                              for name, kind in (("player", "S"), ("game", "S"), ("score", "N"), ("day", "S"))],
        LocalSecondaryIndexes=[
            {"IndexName": "by-score", "KeySchema": keys(("player", "HASH"), ("score", "RANGE")),
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["level"]}},
            {"IndexName": "by-day", "KeySchema": keys(("player", "HASH"), ("day", "RANGE")),
             "Projection": {"ProjectionType": "ALL"}},
        ],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return client


def _put(client: Any, player: str, game: str, **attributes: dict[str, str]) -> None:
    client.put_item(TableName=TABLE, Item={"player": {"S": player}, "game": {"S": game}, **attributes})


def _by_score(client: Any, player: str, **options: Any) -> dict[str, Any]:
    request = {"TableName": TABLE, "IndexName": "by-score", "KeyConditionExpression": "player = :p",
               "ExpressionAttributeValues": {":p": {"S": player}}, "ConsistentRead": True, **options}  # fmt: skip
    return client.query(**request)


def _games(page: dict[str, Any]) -> list[str]:
    return [item["game"]["S"] for item in page["Items"]]


def test_describe_shows_the_local_indexes_with_their_keys_and_projections(client: Any) -> None:
    table = client.describe_table(TableName=TABLE)["Table"]
    assert "GlobalSecondaryIndexes" not in table
    indexes = {index["IndexName"]: index for index in table["LocalSecondaryIndexes"]}
    assert indexes["by-score"]["KeySchema"] == keys(("player", "HASH"), ("score", "RANGE"))
    assert indexes["by-score"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["level"]}
    assert indexes["by-day"]["IndexArn"].endswith(f"table/{TABLE}/index/by-day")
    assert "IndexStatus" not in indexes["by-day"]  # an LSI has no status of its own, as in DynamoDB


def test_a_consistent_local_index_query_sees_each_write_at_once_in_the_index_order(client: Any) -> None:
    for game, score in (("chess", 30), ("go", 12), ("poker", 30), ("bridge", 7)):
        _put(client, "ann", game, score={"N": str(score)}, level={"N": "2"}, note={"S": f"ann's {game}"})
    _put(client, "ann", "darts", note={"S": "never scored"})  # no score: in by-score, no entry
    _put(client, "bob", "chess", score={"N": "1"})
    page = _by_score(client, "ann")
    assert _games(page) == ["bridge", "go", "chess", "poker"]  # by score, then the table's sort key
    # The index's projection by default: the keys and `level`, not `note`.
    assert page["Items"][0] == {"player": {"S": "ann"}, "game": {"S": "bridge"}, "score": {"N": "7"},
                                "level": {"N": "2"}}  # fmt: skip
    # An LSI may be read for every attribute, or for named ones it does not project: DynamoDB "fetches each of
    # these attributes from the parent table" (the API reference of Query's Select; dynalite does not).
    assert _by_score(client, "ann", Select="ALL_ATTRIBUTES")["Items"][0]["note"] == {"S": "ann's bridge"}
    assert _by_score(client, "ann", ProjectionExpression="note")["Items"][0] == {"note": {"S": "ann's bridge"}}
    client.update_item(TableName=TABLE, Key={"player": {"S": "ann"}, "game": {"S": "go"}},
                       UpdateExpression="SET score = :s", ExpressionAttributeValues={":s": {"N": "99"}})  # fmt: skip
    assert _games(_by_score(client, "ann")) == ["bridge", "chess", "poker", "go"]
    ranged = _by_score(client, "ann", ScanIndexForward=False, KeyConditionExpression="player = :p AND score < :s",
                       ExpressionAttributeValues={":p": {"S": "ann"}, ":s": {"N": "99"}})  # fmt: skip
    assert _games(ranged) == ["poker", "chess", "bridge"]


def test_local_index_pages_resume_from_their_last_key_and_a_scan_reads_only_indexed_items(client: Any) -> None:
    for number in range(7):
        _put(client, "cid", f"g{number}", score={"N": "5"})
    seen: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        page = _by_score(client, "cid", Limit=3, **({"ExclusiveStartKey": start} if start else {}))
        seen += _games(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"player", "game", "score"}
    assert seen == [f"g{number}" for number in range(7)]
    scanned = client.scan(TableName=TABLE, IndexName="by-score", ConsistentRead=True)["Items"]
    assert all("score" in item and "note" not in item for item in scanned)
    assert {item["game"]["S"] for item in scanned if item["player"]["S"] == "ann"} == {"bridge", "go", "chess", "poker"}


def test_writes_that_give_a_local_index_key_the_wrong_type_are_refused_and_change_nothing(client: Any) -> None:
    def refusal(call: Any, code: str = "ValidationException") -> dict[str, Any]:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code
        return dict(caught.value.response)

    expected = ("One or more parameter values were invalid: Type mismatch for Index Key score Expected: N "
                "Actual: S IndexName: by-score")  # fmt: skip
    key = {"player": {"S": "dan"}, "game": {"S": "chess"}}
    put = refusal(lambda: client.put_item(TableName=TABLE, Item={**key, "score": {"S": "high"}}))
    assert put["Error"]["Message"] == expected
    _put(client, "dan", "chess", score={"N": "4"})
    update = refusal(lambda: client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET score = :s",
                                                ExpressionAttributeValues={":s": {"S": "high"}}))  # fmt: skip
    assert update["Error"]["Message"] == expected
    # In a transaction, the item's cancellation reason says it.
    cancelled = refusal(lambda: client.transact_write_items(TransactItems=[{"Update": {
        "TableName": TABLE, "Key": key, "UpdateExpression": "SET score = :s",
        "ExpressionAttributeValues": {":s": {"S": "high"}}}}]), "TransactionCanceledException")  # fmt: skip
    assert cancelled["CancellationReasons"] == [{"Code": "ValidationError", "Message": expected}]
    item = client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    assert item["score"] == {"N": "4"}


def test_writes_to_a_table_with_local_indexes_report_their_item_collection_when_asked(client: Any) -> None:
    key = {"player": {"S": "eve"}, "game": {"S": "chess"}}
    metrics = {"ItemCollectionKey": {"player": {"S": "eve"}}, "SizeEstimateRangeGB": [0.0, 1.0]}
    put = client.put_item(TableName=TABLE, Item={**key, "score": {"N": "1"}}, ReturnItemCollectionMetrics="SIZE")
    assert put["ItemCollectionMetrics"] == metrics
    assert "ItemCollectionMetrics" not in client.put_item(TableName=TABLE, Item={**key, "score": {"N": "2"}})
    update = client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": {"N": "3"}}, ReturnItemCollectionMetrics="SIZE")
    assert update["ItemCollectionMetrics"] == metrics
    batch = client.batch_write_item(RequestItems={TABLE: [
        {"PutRequest": {"Item": {"player": {"S": "eve"}, "game": {"S": "go"}}}},
        {"PutRequest": {"Item": {"player": {"S": "fay"}, "game": {"S": "go"}}}},
    ]}, ReturnItemCollectionMetrics="SIZE")  # fmt: skip
    reported = batch["ItemCollectionMetrics"][TABLE]
    assert sorted(m["ItemCollectionKey"]["player"]["S"] for m in reported) == ["eve", "fay"]
    deleted = client.delete_item(TableName=TABLE, Key=key, ReturnItemCollectionMetrics="SIZE")
    assert deleted["ItemCollectionMetrics"] == metrics
    moved = client.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {"player": {"S": "eve"}, "game": {"S": "chess"}}}},
        {"Put": {"TableName": TABLE, "Item": {"player": {"S": "gus"}, "game": {"S": "go"}}}},
    ], ReturnItemCollectionMetrics="SIZE")  # fmt: skip
    reported = moved["ItemCollectionMetrics"][TABLE]
    assert sorted(m["ItemCollectionKey"]["player"]["S"] for m in reported) == ["eve", "gus"]
    # A table without LSIs has no item collections to report (DynamoDB's rule).
    plain = "lsi-none"
    client.create_table(TableName=plain, KeySchema=keys(("player", "HASH")), BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "player", "AttributeType": "S"}])  # fmt: skip
    client.get_waiter("table_exists").wait(TableName=plain, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    answer = client.put_item(TableName=plain, Item={"player": {"S": "eve"}}, ReturnItemCollectionMetrics="SIZE")
    assert "ItemCollectionMetrics" not in answer


def test_describe_table_counts_the_items_each_local_index_holds(client: Any) -> None:
    held = {name: client.scan(TableName=TABLE, IndexName=name, ConsistentRead=True, Select="COUNT")["Count"]
            for name in ("by-score", "by-day")}  # fmt: skip
    assert held["by-score"] > 0 and held["by-day"] == 0  # no item here has a day

    def described() -> dict[str, int]:
        table = client.describe_table(TableName=TABLE)["Table"]
        return {index["IndexName"]: index["ItemCount"] for index in table["LocalSecondaryIndexes"]}

    # Counted by the partitions' leaders every few seconds, as the table's ItemCount is.
    wait_until(lambda: described() == held, 20.0, "DescribeTable to count the LSIs' items")


class Run(Model):
    class Meta(ClusterMeta):
        table_name = "pynamodb_runs"
        billing_mode = "PAY_PER_REQUEST"

    class ByTime(LocalSecondaryIndex):  # type: ignore[type-arg]
        class Meta:
            index_name = "by-time"
            projection = KeysOnlyProjection()

        runner = UnicodeAttribute(hash_key=True)
        seconds = NumberAttribute(range_key=True)

    runner = UnicodeAttribute(hash_key=True)
    race = UnicodeAttribute(range_key=True)
    seconds = NumberAttribute(null=True)
    by_time = ByTime()


def test_a_pynamodb_model_with_a_local_index_is_created_written_and_queried(data_plane_cluster: LocalCluster) -> None:
    Run.Meta.host = data_plane_cluster.endpoints()["az-a"]
    Run.create_table(wait=True)
    for race, seconds in (("oslo", 251), ("rome", 240), ("lima", 262)):
        Run("eve", race, seconds=seconds).save()
    Run("eve", "paris").save()  # no time: not in the index
    fastest = [run.race for run in Run.by_time.query("eve", Run.seconds < 260, consistent_read=True)]
    assert fastest == ["rome", "oslo"]
    assert Run.by_time.count("eve", consistent_read=True) == 3
