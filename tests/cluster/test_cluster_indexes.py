"""Global secondary indexes through boto3 and PynamoDB against a real cluster: created with the table,
kept up to date asynchronously from the table's writes, and read by Query and Scan as DynamoDB reads them;
and PynamoDB's transactions, the other half of the issue that brought indexes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from chaos.faults.injector import FaultContext
from chaos.faults.leaders import leader_view_from_status
from chaos.faults.process_faults import KillLeader
from cluster.deploy.local_processes import LocalCluster
from cluster.metadata.catalogue import INDEX_GROUP
from gameday.checks.history import check_history_file
from loadgen.index_admin import ScheduledIndexAdd
from loadgen.run import start_load
from tests.cluster.cluster_rpc import wait_until
from tests.cluster.conftest import make_client
from tests.cluster.test_cluster_data_plane_pynamodb import ClusterMeta

pytestmark = pytest.mark.cluster

TABLE = "gsi-people"
CONVERGE_S = 20.0


@pytest.fixture(scope="module")
def client(data_plane_cluster: LocalCluster):  # noqa: ANN201
    client = make_client(data_plane_cluster.endpoints()["az-a"])
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
            {"AttributeName": "age", "AttributeType": "N"},
            {"AttributeName": "team", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {"IndexName": "by-city", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}, {"AttributeName": "age", "KeyType": "RANGE"}]},
            {"IndexName": "by-team", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "team", "KeyType": "HASH"}]},
        ],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return client


def _city(client: Any, city: str, **options: Any) -> list[dict[str, Any]]:
    request = {"TableName": TABLE, "IndexName": "by-city", "KeyConditionExpression": "city = :c",
               "ExpressionAttributeValues": {":c": {"S": city}}, **options}  # fmt: skip
    return client.query(**request)["Items"]


def _converges(client: Any, city: str, expected: list[str], what: str) -> None:
    wait_until(lambda: [item["pk"]["S"] for item in _city(client, city)] == expected, CONVERGE_S, what)


def test_describe_shows_the_indexes_active_with_their_keys_and_projections(client: Any) -> None:
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-city", "by-team"}
    assert indexes["by-city"]["IndexStatus"] == "ACTIVE"
    assert indexes["by-team"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert indexes["by-city"]["KeySchema"][1] == {"AttributeName": "age", "KeyType": "RANGE"}
    assert {d["AttributeName"] for d in table["AttributeDefinitions"]} == {"pk", "city", "age", "team"}


def test_an_index_follows_puts_updates_and_deletes_and_orders_by_its_sort_key(client: Any) -> None:
    for name, city, age in (("ann", "Oslo", 41), ("bob", "Oslo", 29), ("cid", "Rome", 35), ("dan", "Oslo", 29)):
        client.put_item(TableName=TABLE, Item={"pk": {"S": name}, "city": {"S": city}, "age": {"N": str(age)},
                                               "team": {"S": "red"}, "note": {"S": f"hello {name}"}})  # fmt: skip
    client.put_item(TableName=TABLE, Item={"pk": {"S": "eve"}, "age": {"N": "50"}})  # no city: in no by-city entry
    _converges(client, "Oslo", ["bob", "dan", "ann"], "the puts to reach the index")  # age, then the table key
    oslo = _city(client, "Oslo")
    assert oslo[2] == {"pk": {"S": "ann"}, "city": {"S": "Oslo"}, "age": {"N": "41"}, "team": {"S": "red"},
                       "note": {"S": "hello ann"}}  # ALL: the whole item  # fmt: skip
    older = _city(client, "Oslo", ScanIndexForward=False, KeyConditionExpression="city = :c AND age > :a",
                  ExpressionAttributeValues={":c": {"S": "Oslo"}, ":a": {"N": "29"}})  # fmt: skip
    assert [item["pk"]["S"] for item in older] == ["ann"]
    client.update_item(TableName=TABLE, Key={"pk": {"S": "ann"}}, UpdateExpression="SET city = :c",
                       ExpressionAttributeValues={":c": {"S": "Rome"}})  # fmt: skip
    _converges(client, "Rome", ["cid", "ann"], "an update to move the item's entry")
    # Its old entry goes from another index partition (Oslo's hash), which may hear of it later.
    _converges(client, "Oslo", ["bob", "dan"], "an update to remove the item's old entry")
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "cid"}})
    _converges(client, "Rome", ["ann"], "a delete to remove the item's entry")
    # KEYS_ONLY: the table key and the index key, nothing else.
    team = client.query(TableName=TABLE, IndexName="by-team", KeyConditionExpression="team = :t",
                        ExpressionAttributeValues={":t": {"S": "red"}})["Items"]  # fmt: skip
    assert sorted(item["pk"]["S"] for item in team) == ["ann", "bob", "dan"]
    assert all(set(item) == {"pk", "team"} for item in team)


def test_index_pages_walk_every_entry_of_a_shared_key_and_a_scan_reads_the_whole_index(client: Any) -> None:
    for number in range(7):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"p{number}"}, "city": {"S": "Lima"}, "age": {"N": "7"}})
    wait_until(lambda: len(_city(client, "Lima")) == 7, CONVERGE_S, "seven entries under one index key")
    seen: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        options: dict[str, Any] = {"Limit": 3, **({"ExclusiveStartKey": start} if start else {})}
        page = client.query(TableName=TABLE, IndexName="by-city", KeyConditionExpression="city = :c",
                            ExpressionAttributeValues={":c": {"S": "Lima"}}, **options)  # fmt: skip
        seen += [item["pk"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"city", "age", "pk"}
    assert seen == sorted(f"p{number}" for number in range(7))
    scanned = client.scan(TableName=TABLE, IndexName="by-city")["Items"]
    assert {item["pk"]["S"] for item in scanned} >= set(seen) and all("city" in item for item in scanned)


def test_index_reads_and_writes_are_refused_as_dynamodb_refuses_them(client: Any) -> None:
    def code_and_message(call: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            call()
        return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]

    assert code_and_message(lambda: _city(client, "Oslo", ConsistentRead=True)) == (
        "ValidationException", "Consistent reads are not supported on global secondary indexes")
    assert code_and_message(lambda: client.scan(TableName=TABLE, IndexName="nope")) == (
        "ValidationException", "The table does not have the specified index: nope")
    code, message = code_and_message(lambda: client.put_item(
        TableName=TABLE, Item={"pk": {"S": "bad"}, "age": {"S": "old"}}))
    assert code == "ValidationException" and "age" in message
    assert "Item" not in client.get_item(TableName=TABLE, Key={"pk": {"S": "bad"}}, ConsistentRead=True)


class Player(Model):
    class Meta(ClusterMeta):
        table_name = "pynamodb_players"
        billing_mode = "PAY_PER_REQUEST"

    class ByGuild(GlobalSecondaryIndex):  # type: ignore[type-arg]
        class Meta:
            index_name = "by-guild"
            projection = AllProjection()

        guild = UnicodeAttribute(hash_key=True)
        score = NumberAttribute(range_key=True)

    name = UnicodeAttribute(hash_key=True)
    guild = UnicodeAttribute(null=True)
    score = NumberAttribute(default=0)
    by_guild = ByGuild()


def test_a_pynamodb_model_with_a_global_index_is_created_written_and_queried(data_plane_cluster: LocalCluster) -> None:
    Player.Meta.host = data_plane_cluster.endpoints()["az-b"]
    Player.create_table(wait=True)
    for name, score in (("ada", 30), ("bea", 10), ("cyd", 20)):
        Player(name, guild="owls", score=score).save()
    Player("dex", score=5).save()  # no guild: not in the index

    def ranked() -> list[str]:
        return [player.name for player in Player.by_guild.query("owls", Player.score > 15)]

    wait_until(lambda: ranked() == ["cyd", "ada"], CONVERGE_S, "PynamoDB's index query to see the players")
    # The index is eventually consistent: bea's entry may come a round after the others'.
    wait_until(lambda: Player.by_guild.count("owls") == 3, CONVERGE_S, "PynamoDB's count of the guild")


def test_the_index_workload_under_locust_adds_an_index_mid_run_and_records_a_history_the_checker_finds_valid(
    data_plane_cluster: LocalCluster, tmp_path: Path
) -> None:
    endpoints = data_plane_cluster.endpoints()
    with start_load(endpoints, "index", 4, 6, tmp_path / "index", table="gsi-load", keys=6, seed=7,
                    wait_ms=5.0) as load:  # fmt: skip
        # As a game day does (loadgen/index_admin.py): UpdateTable adds a second index while the writes go on
        # (once the load's first user made the table, which a busy machine may make take seconds).
        adding = ScheduledIndexAdd(endpoints["az-b"], "gsi-load", load.extra_shard_path("add-index"),
                                   time.monotonic(), 1.0).start()  # fmt: skip
        wait_until(lambda: adding.outcome is not None, 30.0, "the add-index to be answered")
        adding.stop()
        result = load.wait()
    assert result.counts["write"].get("ok", 0) >= 6 and result.counts["read"].get("ok", 0) >= 6, result.counts
    assert result.counts["read-index"] == {"ok": 1, "fail": 0, "info": 0, "open": 0}
    assert result.counts["add-index"] == {"ok": 1, "fail": 0, "info": 0, "open": 0}
    check = check_history_file(result.history_path, "index")
    assert check.verdict["valid"] is True, (check.verdict, check.explanations)
    assert check.verdict["converged_after_s"] is not None and check.verdict["lag_samples"] > 0
    events = [json.loads(line) for line in result.history_path.read_text().splitlines()]
    final = next(e["value"] for e in events if e["f"] == "read-index" and e["type"] == "ok")
    assert final["added_status"] == "ACTIVE" and final["added"] == final["table"]  # backfilled, then kept up


class Wallet(Model):
    class Meta(ClusterMeta):
        table_name = "pynamodb_wallets"
        billing_mode = "PAY_PER_REQUEST"

    owner = UnicodeAttribute(hash_key=True)
    coins = NumberAttribute(default=0)


def test_pynamodb_transactions_move_coins_all_or_none_and_read_them_together(data_plane_cluster: LocalCluster) -> None:
    endpoint = data_plane_cluster.endpoints()["az-c"]
    Wallet.Meta.host = endpoint
    Wallet.create_table(wait=True)
    Wallet("amy", coins=10).save()
    Wallet("ben", coins=0).save()
    connection = Connection(host=endpoint, region=ClusterMeta.region, max_retry_attempts=0,
                            aws_access_key_id="pynamodb", aws_secret_access_key="pynamodb")  # fmt: skip
    amy, ben = Wallet.get("amy", consistent_read=True), Wallet.get("ben", consistent_read=True)
    with TransactWrite(connection=connection, client_request_token="move-7") as move:
        move.update(amy, actions=[Wallet.coins.add(-7)], condition=Wallet.coins >= 7)
        move.update(ben, actions=[Wallet.coins.add(7)])
    with pytest.raises(TransactWriteError) as refused, TransactWrite(connection=connection) as too_much:
        too_much.update(amy, actions=[Wallet.coins.add(-7)], condition=Wallet.coins >= 7)  # only 3 left
        too_much.update(ben, actions=[Wallet.coins.add(7)])
    assert refused.value.cause_response_code == "TransactionCanceledException"
    assert [reason.code if reason else None for reason in refused.value.cancellation_reasons] == [
        "ConditionalCheckFailed", None]
    with TransactGet(connection=connection) as read:
        amy_now, ben_now = read.get(Wallet, "amy"), read.get(Wallet, "ben")
    assert (amy_now.get().coins, ben_now.get().coins) == (3, 7)


@contextlib.contextmanager
def client_batches(client: Any, table: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """put(item) in BatchWriteItem requests of 25, what is left unprocessed sent again."""
    waiting: list[dict[str, Any]] = []

    def flush() -> None:
        requests = {table: [{"PutRequest": {"Item": item}} for item in waiting]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests)["UnprocessedItems"]
        waiting.clear()

    def put(item: dict[str, Any]) -> None:
        waiting.append(item)
        if len(waiting) == 25:
            flush()

    yield put
    if waiting:
        flush()


def _answered(call: Callable[..., Any], **request: Any) -> bool:
    try:
        call(**request)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("InternalServerError", "ServiceUnavailable"), error
        return False
    return True


def _index_status(client: Any, table: str, index: str) -> str | None:
    described = client.describe_table(TableName=table)["Table"]
    return next((i["IndexStatus"] for i in described.get("GlobalSecondaryIndexes", []) if i["IndexName"] == index), None)


def test_update_table_backfills_a_new_gsi_through_a_killed_index_leader_and_deletes_it(
    data_plane_cluster: LocalCluster, client: Any
) -> None:
    table = "gsi-backfill"
    client.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    items = 1200  # more than two backfill entries' worth in every partition
    with client_batches(client, table) as put:
        for n in range(items):
            put({"pk": {"S": f"p{n}"}, "slot": {"N": str(n % 7)}, **({"tag": {"S": "x"}} if n % 3 else {})})
    answer = client.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "slot", "AttributeType": "N"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-slot", "KeySchema": [{"AttributeName": "slot", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["tag"]},
        }}],
    )["TableDescription"]  # fmt: skip
    assert answer["TableStatus"] == "UPDATING"
    [created] = answer["GlobalSecondaryIndexes"]
    assert created["IndexStatus"] == "CREATING" and created["Backfilling"] is True
    with pytest.raises(ClientError, match="Cannot read from backfilling global secondary index: by-slot"):
        client.query(TableName=table, IndexName="by-slot", KeyConditionExpression="slot = :s",
                     ExpressionAttributeValues={":s": {"N": "1"}})  # fmt: skip
    # Writes go on while it backfills, and the leader of one of the new index's partitions dies meanwhile.
    group = f"{answer['TableId'][:8]}-i0p1"
    context = FaultContext(data_plane_cluster, lambda: leader_view_from_status(data_plane_cluster.status()),
                           leader_wait_s=15.0)  # fmt: skip
    wait_until(lambda: group in context.leaders().leaders, 15, f"a leader of the new index partition {group}")
    index_groups = [g for g in context.leaders().groups if INDEX_GROUP.search(g)]
    fault = KillLeader({"of": "index-partition", "index": index_groups.index(group)})
    killed = fault.start(context)
    # The killed node may lead a table partition too: these writes are idempotent, so asked until answered.
    wait_until(lambda: _answered(client.put_item, TableName=table, Item={"pk": {"S": "p0"}, "slot": {"N": "6"}}),
               30, "a put while the index leader is down")  # fmt: skip
    wait_until(lambda: _answered(client.delete_item, TableName=table, Key={"pk": {"S": "p1"}}), 30, "a delete")
    fault.heal(context)
    assert killed["group"] == group
    wait_until(lambda: _index_status(client, table, "by-slot") == "ACTIVE", 60, "the backfilled index to be ACTIVE")
    assert client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"

    def slot(number: int) -> set[str]:
        pages = client.get_paginator("query").paginate(
            TableName=table, IndexName="by-slot", KeyConditionExpression="slot = :s",
            ExpressionAttributeValues={":s": {"N": str(number)}},
        )  # fmt: skip
        return {item["pk"]["S"] for page in pages for item in page["Items"]}

    expected = {number: {f"p{n}" for n in range(2, items) if n % 7 == number} for number in range(7)}
    expected[6] |= {"p0"}
    wait_until(lambda: all(slot(number) == expected[number] for number in range(7)), CONVERGE_S,
               "every item in the index under its slot, once")  # fmt: skip
    entries = sum(len(keys) for keys in expected.values())

    def counted() -> bool:
        [index] = client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
        return index["ItemCount"] == entries and index["IndexSizeBytes"] > 0

    wait_until(counted, 30, "DescribeTable to count the index's entries")
    deleted = client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-slot"}}])
    assert "GlobalSecondaryIndexes" not in deleted["TableDescription"]
    with pytest.raises(ClientError, match="does not have the specified index: by-slot"):
        client.query(TableName=table, IndexName="by-slot", KeyConditionExpression="slot = :s",
                     ExpressionAttributeValues={":s": {"N": "1"}})  # fmt: skip
    with pytest.raises(ClientError) as missing:
        client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-slot"}}])
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
