"""Local secondary indexes read from the partition that holds the items: a Query orders one item collection
by the index's sort key (then the table key), skips items the index leaves out, pages both ways from the
entry key it answered last, and a Scan walks every partition key's collection in that order. Compared with
a model (sorted Python lists) over random items, against the real store."""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from cluster.api.attribute_values import KeySchema, encode_key, item_size_bytes, partition_hash
from cluster.api.expressions import parse_condition
from cluster.api.index_entries import local_index_code
from cluster.api.item_commands import (
    BatchCommand,
    DeleteCommand,
    LocatedWrite,
    PutCommand,
    UpdateCommand,
    encode_command,
)
from cluster.api.key_conditions import key_range
from cluster.api.request_types import UpdateSource
from cluster.api.secondary_indexes import LOCAL, IndexSpec
from cluster.api.transaction_commands import TxnPrepareCommand, encode_txn_command
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.index_reads import read_target
from cluster.scrub.commands import ItemRewrite, encode_repair
from cluster.scrub.digests import item_digest
from tests.split.test_split_state_machine import Replica

TABLE = KeySchema("pk", "S", "sk", "N")
BY_SCORE = IndexSpec("by-score", LOCAL, KeySchema("pk", "S", "score", "N"), "KEYS_ONLY")
OWNERS = ("ann", "bob", "cid")


def _entry() -> TableEntry:
    table = {"name": "games", "key_schema": TABLE.to_json(), "indexes": [BY_SCORE.to_json()]}
    return TableEntry(table, [PartitionInfo("t-p0", 0, 0, 1 << 64, ["n1", "n2", "n3"])])


def _put(replica: Replica, item: dict, local_indexes: tuple[IndexSpec, ...] = ()) -> dict:
    key = {"pk": item["pk"], "sk": item["sk"]}
    command = PutCommand(partition_hash(key, TABLE), encode_key(key, TABLE), item, local_indexes=local_indexes)
    return replica.apply(encode_command(command))


@pytest.fixture(scope="module", params=["indexed", "unindexed"])
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Replica, list[dict]]:
    """A partition with random items: scores that repeat, that are negative or fractional, and missing.
    Written by puts that carry the table's LSI (which makes its SQLite index), or by puts from before the
    partition kept one: a read must answer the same either way."""
    local_indexes = (BY_SCORE,) if request.param == "indexed" else ()
    rng = random.Random(5)
    replica = Replica(tmp_path_factory.mktemp("local-index"))
    items = []
    for owner in OWNERS:
        for number in range(40):
            item = {"pk": {"S": owner}, "sk": {"N": str(number)}}
            if rng.random() < 0.8:
                item["score"] = {"N": rng.choice(["-2.5", "0", "1", "1", "7", "10", "10.25", "300"])}
            item["note"] = {"S": f"{owner}-{number}"}
            assert _put(replica, item, local_indexes)["status"] == "ok"
            items.append(item)
    return replica, items


def _model(items: list[dict], owner: str, keep: object = None) -> list[dict]:
    """The index's entries of one owner in its order: score, then the table's sort key."""
    chosen = [i for i in items if i["pk"]["S"] == owner and "score" in i and (keep is None or keep(i))]  # type: ignore[operator]
    return sorted(chosen, key=lambda i: (Decimal(i["score"]["N"]), Decimal(i["sk"]["N"])))


def _query(replica: Replica, owner: str, condition: str, values: dict, forward: bool, limit: int) -> list[dict]:
    """Every page of a local index Query, each read from where the last stopped (`after`: its entry key)."""
    target = read_target(_entry(), "by-score", True, "ALL_ATTRIBUTES")
    selected = key_range(parse_condition(condition, None, {":p": {"S": owner}, **values},
                                         kind="KeyConditionExpression"), target.key_schema)  # fmt: skip
    bounds = target.bounds(selected)
    found: list[dict] = []
    after = None
    while True:
        rows = replica.machine.query(partition_hash({"pk": {"S": owner}}, TABLE), bounds, after, forward, limit,
                                     target.local_index)  # fmt: skip
        found += [json.loads(text) for _, text, _ in rows]
        if len(rows) < limit:
            return found
        after = rows[-1][0]


@pytest.mark.parametrize(("condition", "values", "keep"), [
    ("pk = :p", {}, None),
    ("pk = :p AND score = :s", {":s": {"N": "1"}}, lambda i: Decimal(i["score"]["N"]) == 1),
    ("pk = :p AND score < :s", {":s": {"N": "1"}}, lambda i: Decimal(i["score"]["N"]) < 1),
    ("pk = :p AND score <= :s", {":s": {"N": "10"}}, lambda i: Decimal(i["score"]["N"]) <= 10),
    ("pk = :p AND score > :s", {":s": {"N": "10"}}, lambda i: Decimal(i["score"]["N"]) > 10),
    ("pk = :p AND score >= :s", {":s": {"N": "7"}}, lambda i: Decimal(i["score"]["N"]) >= 7),
    ("pk = :p AND score BETWEEN :a AND :b", {":a": {"N": "0"}, ":b": {"N": "10"}},
     lambda i: 0 <= Decimal(i["score"]["N"]) <= 10),
])  # fmt: skip
@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 100])
def test_a_local_index_query_reads_the_collection_in_index_order_page_by_page(
    filled: tuple[Replica, list[dict]], condition: str, values: dict, keep: object, forward: bool, limit: int
) -> None:
    replica, items = filled
    for owner in OWNERS:
        expected = _model(items, owner, keep)
        assert expected, "every condition selects something"
        found = _query(replica, owner, condition, values, forward, limit)
        assert found == (expected if forward else expected[::-1])


def test_a_local_index_scan_walks_each_collection_in_index_order_and_skips_items_without_the_key(
    filled: tuple[Replica, list[dict]],
) -> None:
    replica, items = filled
    target = read_target(_entry(), "by-score", False, "ALL_PROJECTED_ATTRIBUTES")
    found: list[dict] = []
    after = None
    while True:
        rows = replica.machine.scan(after, 7, target.local_index)
        found += [item for _, _, item in rows]
        if len(rows) < 7:
            break
        after = (rows[-1][0], rows[-1][1])
    owners_in_hash_order = sorted(OWNERS, key=lambda o: partition_hash({"pk": {"S": o}}, TABLE))
    assert found == [item for owner in owners_in_hash_order for item in _model(items, owner)]
    # What a read returns of each: the index's projection (KEYS_ONLY: the table key and the index key).
    assert target.shaped(found[0], None) == {name: found[0][name] for name in ("pk", "sk", "score")}


def test_an_update_that_gives_a_local_index_key_the_wrong_type_is_refused_on_every_replica(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    key = {"pk": {"S": "ann"}, "sk": {"N": "1"}}
    assert _put(replica, {**key, "score": {"N": "3"}})["status"] == "ok"
    update = UpdateSource("SET score = :s", None, {":s": {"S": "high"}})
    command = UpdateCommand(partition_hash(key, TABLE), encode_key(key, TABLE), key, update, local_indexes=(BY_SCORE,))
    # The command carries the index through the log: decoded again, it still refuses.
    result = replica.apply(encode_command(command))
    assert result["status"] == "invalid"
    assert result["message"] == ("One or more parameter values were invalid: Type mismatch for Index Key score "
                                 "Expected: N Actual: S IndexName: by-score")  # fmt: skip
    assert replica.machine.get(partition_hash(key, TABLE), encode_key(key, TABLE))["score"] == {"N": "3"}


def test_a_write_that_carries_the_tables_local_index_makes_the_index_a_query_searches(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    assert _put(replica, {"pk": {"S": "ann"}, "sk": {"N": "1"}, "score": {"N": "3"}}, (BY_SCORE,))["status"] == "ok"
    code = local_index_code(BY_SCORE.key_schema)
    expression = f"local_entry_v1(item, key, '{code}')"
    plan = replica.machine.store._db.execute(  # what SQLite will do for a local index Query
        f"EXPLAIN QUERY PLAN SELECT item FROM items WHERE hash = 1 AND {expression} IS NOT NULL ORDER BY {expression}"
    ).fetchall()
    assert any("USING INDEX local_index_" in str(row) for row in plan), plan
    replica.reopen()  # the index is in the file: a restarted replica reads through it too
    rows = replica.machine.query(partition_hash({"pk": {"S": "ann"}}, TABLE),
                                 read_target(_entry(), "by-score", True, "COUNT").bounds(
                                     key_range(parse_condition("pk = :p", None, {":p": {"S": "ann"}},
                                                               kind="KeyConditionExpression"), BY_SCORE.key_schema)),
                                 None, True, 10, BY_SCORE)  # fmt: skip
    assert [json.loads(text)["score"] for _, text, _ in rows] == [{"N": "3"}]


def test_an_item_collection_is_kept_within_its_limit_by_every_kind_of_write(tmp_path: Path) -> None:
    """DynamoDB's 10 GB, lowered to 600 bytes: writes that would grow a collection past it are refused on
    every replica, whichever way they come (a put, an update, a batch, a transaction's prepare); writes
    that shrink it or go to another collection are not."""
    replica = Replica(tmp_path)
    replica.machine.item_collection_limit_bytes = 600
    indexes = (BY_SCORE,)

    def item(owner: str, number: int, pad: int) -> dict:
        return {"pk": {"S": owner}, "sk": {"N": str(number)}, "score": {"N": "1"}, "body": {"S": "x" * pad}}

    def size(owner: str) -> int | None:
        return replica.machine.store.collection_bytes(partition_hash({"pk": {"S": owner}}, TABLE))

    assert _put(replica, item("ann", 1, 200), indexes)["collection_bytes"] == size("ann")
    assert _put(replica, item("ann", 2, 200), indexes)["status"] == "ok"
    full = size("ann")
    assert full is not None and 400 < full <= 600
    assert _put(replica, item("ann", 3, 200), indexes) == {"status": "collection_too_large"}
    assert _put(replica, item("bob", 1, 200), indexes)["status"] == "ok"  # another collection
    assert size("ann") == full  # nothing written
    key = {"pk": {"S": "ann"}, "sk": {"N": "1"}}
    grow = UpdateSource("SET body = :p", None, {":p": {"S": "x" * 400}})
    update = UpdateCommand(partition_hash(key, TABLE), encode_key(key, TABLE), key, grow, local_indexes=indexes)
    assert replica.apply(encode_command(update)) == {"status": "collection_too_large"}
    shrink = UpdateSource("SET body = :p", None, {":p": {"S": "x"}})
    shrunk = replica.apply(encode_command(UpdateCommand(partition_hash(key, TABLE), encode_key(key, TABLE), key,
                                                        shrink, local_indexes=indexes)))  # fmt: skip
    assert shrunk["status"] == "ok" and shrunk["collection_bytes"] == size("ann") < full
    # A batch counts its own earlier writes: two puts that fit apart but not together are both refused.
    two = tuple(LocatedWrite(partition_hash(i, TABLE), encode_key(i, TABLE), i)
                for i in (item("bob", 2, 200), item("bob", 3, 200)))  # fmt: skip
    assert replica.apply(encode_command(BatchCommand(two, indexes))) == {"status": "collection_too_large"}
    assert replica.apply(encode_command(BatchCommand(two[:1], indexes)))["collections"] == [
        [two[0].partition_hash, size("bob")]
    ]
    big = item("cid", 1, 700)
    prepare = TxnPrepareCommand("t1", "put", partition_hash(big, TABLE), encode_key(big, TABLE),
                                {"pk": big["pk"], "sk": big["sk"]}, big, local_indexes=indexes)  # fmt: skip
    assert replica.apply(encode_txn_command(prepare)) == {"status": "collection_too_large"}
    # A delete always goes through, and the collection's size follows it.
    delete = DeleteCommand(partition_hash(key, TABLE), encode_key(key, TABLE))
    assert replica.apply(encode_command(delete))["collection_bytes"] == size("ann")
    replica.reopen()  # the sizes are in the file, kept by its triggers
    assert _put(replica, item("ann", 3, 200), indexes)["status"] == "ok"
    # DescribeTable's figures for the index: the items it holds (every one here has a score), whole.
    counted = replica.machine.local_index_stats()
    stored = replica.machine.scan(None, 100)
    assert counted == {local_index_code(BY_SCORE.key_schema): (len(stored), replica.machine.stats()[1])}


def test_describe_counts_only_the_items_a_local_index_holds(filled: tuple[Replica, list[dict]]) -> None:
    replica, items = filled
    counted = replica.machine.local_index_stats()
    if not replica.machine.store.keeps_collection_sizes:  # written without the LSI: no index to count
        assert counted == {}
        return
    (count, size), = counted.values()
    assert count == sum("score" in item for item in items) < len(items)
    assert 0 < size < replica.machine.stats()[1]


def test_a_scrub_repair_of_one_replica_and_a_split_load_keep_the_collection_sizes_exact(tmp_path: Path) -> None:
    """A collection's size is replicated state (the 10 GB check reads it on every replica): a repair applied
    to one replica only, or items a split copies into its child, must record their sizes as writes do."""
    healthy, rotten = Replica(tmp_path / "a", "a"), Replica(tmp_path / "b", "b")
    item = {"pk": {"S": "ann"}, "sk": {"N": "1"}, "score": {"N": "3"}, "body": {"S": "x" * 100}}
    key_hash, key = partition_hash(item, TABLE), encode_key(item, TABLE)
    for replica in (healthy, rotten):
        assert _put(replica, item, (BY_SCORE,))["status"] == "ok"
    rotten.machine.store.put(key_hash, key, json.dumps({**item, "body": {"S": "y"}}))  # as bit rot could
    rot_digest = item_digest(rotten.machine.store.get(key_hash, key))
    repair = encode_repair("b", 1, [ItemRewrite(key_hash, key, rot_digest, json.dumps(item))])
    for replica in (healthy, rotten):
        assert replica.apply(repair)["status"] == "ok"
    sizes = {replica.machine.store.collection_bytes(key_hash) for replica in (healthy, rotten)}
    assert sizes == {item_size_bytes(item)}
    child = Replica(tmp_path / "child")
    loaded = child.machine.splits._load([[key_hash, base64.b64encode(key).decode(), item]], last=False)
    assert loaded["status"] == "ok"
    assert child.machine.store.get_sized(key_hash, key) == (json.dumps(item, separators=(",", ":")), item_size_bytes(item))
