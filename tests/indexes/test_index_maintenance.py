"""A partition's part in keeping GSIs, in its state machine: what each kind of write records in the outbox,
and index partitions that, fed the outbox in chunks (some delivered twice), end holding exactly the entries
the table's items call for."""

from __future__ import annotations

import json
import random
from pathlib import Path

from cluster.api.attribute_values import Item, KeySchema, encode_key, partition_hash
from cluster.api.index_entries import IndexedTable, entry_hash, entry_key
from cluster.api.item_commands import (
    BatchCommand,
    DeleteCommand,
    LocatedWrite,
    PutCommand,
    UpdateCommand,
    encode_command,
)
from cluster.api.request_types import UpdateSource
from cluster.api.secondary_indexes import GLOBAL, IndexSpec
from cluster.api.transaction_commands import TxnFinishCommand, TxnPrepareCommand, encode_txn_command
from cluster.node.index_maintenance import (
    SEQ_STRIDE,
    encode_backfill,
    encode_delivery,
    encode_specs,
    encode_trim,
)
from tests.split.test_split_state_machine import Replica

TABLE = KeySchema("pk", "S")
BY_CITY = IndexSpec("by-city", GLOBAL, KeySchema("city", "S", "age", "N"), "ALL")
BY_TEAM = IndexSpec("by-team", GLOBAL, KeySchema("team", "S"), "KEYS_ONLY")
INCLUDE = IndexSpec("by-age", GLOBAL, KeySchema("age", "N"), "INCLUDE", ("city",))
INDEXED = IndexedTable(TABLE, (BY_CITY, BY_TEAM, INCLUDE))


def _key(name: str) -> tuple[int, bytes, Item]:
    key = {"pk": {"S": name}}
    return partition_hash(key, TABLE), encode_key(key, TABLE), key


def put(name: str, **attributes: dict) -> bytes:
    h, k, key = _key(name)
    return encode_command(PutCommand(h, k, {**key, **attributes}))


def outbox(replica: Replica) -> list[tuple[str, str | None]]:
    return [(name, item) for _, name, _, _, item, _ in replica.machine.store.outbox_read(1000)]


def test_writes_record_what_they_change_in_each_index_once_the_partition_knows_its_gsis(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(put("a", city={"S": "Oslo"}, age={"N": "30"}))
    assert outbox(replica) == []  # before the table's GSIs were applied here
    # It holds item "a" from before: each GSI it learns now is backfilled.
    assert replica.apply(encode_specs(INDEXED)) == {"status": "ok", "backfills": ["by-age", "by-city", "by-team"]}
    assert replica.machine.indexes.table == INDEXED
    replica.apply(put("b", city={"S": "Oslo"}, age={"N": "41"}, team={"S": "red"}, note={"S": "x"}))
    rows = replica.machine.store.outbox_read(100)
    assert [name for _, name, *_ in rows] == ["by-city", "by-team", "by-age"]
    assert rows[0][0] // SEQ_STRIDE == replica.index and [row[0] % SEQ_STRIDE for row in rows] == [0, 1, 2]
    _, base_key, _ = _key("b")
    assert rows[0][3] == entry_key({"city": {"S": "Oslo"}, "age": {"N": "41"}}, BY_CITY.key_schema, base_key)
    assert rows[0][2] == entry_hash({"city": {"S": "Oslo"}}, KeySchema("city", "S"))
    assert json.loads(rows[1][4]) == {"pk": {"S": "b"}, "team": {"S": "red"}}  # KEYS_ONLY
    assert json.loads(rows[2][4]) == {"pk": {"S": "b"}, "age": {"N": "41"}, "city": {"S": "Oslo"}}  # INCLUDE city
    replica.apply(encode_trim(rows[-1][0]))
    assert outbox(replica) == []
    # A change to an attribute no index projects changes only the ALL index's entry.
    replica.apply(put("b", city={"S": "Oslo"}, age={"N": "41"}, team={"S": "red"}, note={"S": "y"}))
    assert [name for name, _ in outbox(replica)] == ["by-city"]
    replica.apply(encode_trim(10**12))
    # Moving the item to another index key removes the old entry and writes the new one.
    h, k, key = _key("b")
    update = UpdateSource("SET city = :c REMOVE team", None, {":c": {"S": "Rome"}})
    assert replica.apply(encode_command(UpdateCommand(h, k, key, update, None, "NONE")))["status"] == "ok"
    changes = [(name, None if item is None else json.loads(item).get("city")) for name, item in outbox(replica)]
    assert changes == [("by-city", None), ("by-city", {"S": "Rome"}), ("by-team", None), ("by-age", {"S": "Rome"})]
    replica.apply(encode_trim(10**12))
    assert replica.apply(encode_command(DeleteCommand(h, k)))["status"] == "ok"
    assert [(name, item) for name, item in outbox(replica)] == [("by-city", None), ("by-age", None)]


def test_an_index_key_of_the_wrong_type_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(encode_specs(INDEXED))
    result = replica.apply(put("a", age={"S": "old"}))
    assert result["status"] == "invalid" and "age" in result["message"]
    h, k, key = _key("a")
    assert replica.machine.get(h, k) is None and outbox(replica) == []
    # A transaction's Update is checked alike when it prepares: no lock is taken, nothing is written.
    update = UpdateSource("SET age = :a", None, {":a": {"S": "old"}})
    prepared = replica.apply(encode_txn_command(TxnPrepareCommand("t1", "update", h, k, key, update=update)))
    assert prepared["status"] == "invalid" and "Type mismatch for Index Key age" in prepared["message"]
    assert replica.machine.store.locks_on(h, k) == []


def _expected_entries(base: Replica) -> dict[str, dict[tuple[int, bytes], str]]:
    """Every GSI's entries computed afresh from the table's items."""
    expected: dict[str, dict[tuple[int, bytes], str]] = {spec.name: {} for spec in INDEXED.specs}
    for _, key_bytes, item in base.machine.scan(None, 10_000):
        for spec in INDEXED.specs:
            index_key = spec.index_key(item)
            if index_key is not None:
                entry = (entry_hash(index_key, spec.key_schema), entry_key(index_key, spec.key_schema, key_bytes))
                expected[spec.name][entry] = json.dumps(spec.project(item, TABLE), separators=(",", ":"))
    return expected


def _random_write(rng: random.Random, base: Replica, step: int) -> None:
    name = f"k{rng.randrange(12)}"
    h, k, key = _key(name)
    attributes: dict[str, dict] = {}
    if rng.random() < 0.8:
        attributes["city"] = {"S": rng.choice(["Oslo", "Rome", "Lima"])}
    if rng.random() < 0.7:
        attributes["age"] = {"N": str(rng.randrange(5))}
    if rng.random() < 0.5:
        attributes["team"] = {"S": rng.choice(["red", "blue"])}
    attributes["n"] = {"N": str(step)}
    kind = rng.choice(["put", "put", "update", "delete", "batch", "txn"])
    if kind == "put":
        base.apply(encode_command(PutCommand(h, k, {**key, **attributes})))
    elif kind == "update":
        update = UpdateSource("SET age = :a REMOVE team", None, {":a": {"N": str(rng.randrange(5))}})
        base.apply(encode_command(UpdateCommand(h, k, key, update, None, "NONE")))
    elif kind == "delete":
        base.apply(encode_command(DeleteCommand(h, k)))
    elif kind == "batch":
        other_h, other_k, other_key = _key(f"k{rng.randrange(12, 16)}")
        writes = (LocatedWrite(h, k, {**key, **attributes}), LocatedWrite(other_h, other_k, None))
        base.apply(encode_command(BatchCommand(writes)))
    else:
        txn = f"t{step}"
        base.apply(encode_txn_command(TxnPrepareCommand(txn, "put", h, k, key, {**key, **attributes})))
        base.apply(encode_txn_command(TxnFinishCommand(txn, h, k, rng.random() < 0.7)))


def _deliver_chunk(rng: random.Random, base: Replica, index_replicas: dict[str, Replica], repeat: bool) -> None:
    rows = base.machine.store.outbox_read(rng.randrange(1, 8))
    if not rows:
        return
    through = rows[-1][0]
    for name, index_replica in index_replicas.items():
        share = [(seq, h, k, item, size) for seq, index_name, h, k, item, size in rows if index_name == name]
        for _ in range(2 if repeat else 1):
            assert index_replica.apply(encode_delivery("base-p0", through, share))["status"] == "ok"
    if not repeat or rng.random() < 0.5:  # a lost trim: the same chunk goes again next time
        base.apply(encode_trim(through))


def _drained_and_equal(
    rng: random.Random, base: Replica, index_replicas: dict[str, Replica], seed: int
) -> dict[str, dict[tuple[int, bytes], str]]:
    """Delivers what the outbox still holds, then checks every index partition holds exactly the entries
    the table's items call for; returns those."""
    while base.machine.store.outbox_count:
        _deliver_chunk(rng, base, index_replicas, repeat=False)
    expected = _expected_entries(base)
    for name, index_replica in index_replicas.items():
        held = {(h, k): item for h, k, item in index_replica.machine.store.scan(None, 10_000)}
        assert held == expected[name], (seed, name)
    return expected


def test_index_partitions_fed_the_outbox_in_any_chunks_hold_exactly_the_entries_the_items_call_for(
    tmp_path: Path,
) -> None:
    for seed in range(4):
        rng = random.Random(seed)
        base = Replica(tmp_path / f"base{seed}")
        base.apply(encode_specs(INDEXED))
        index_replicas = {spec.name: Replica(tmp_path / f"{spec.name}{seed}") for spec in INDEXED.specs}
        for step in range(150):
            _random_write(rng, base, step)
            if rng.random() < 0.3:
                _deliver_chunk(rng, base, index_replicas, repeat=rng.random() < 0.3)
        expected = _drained_and_equal(rng, base, index_replicas, seed)
        assert any(expected.values())


def test_a_repeated_or_older_delivery_changes_nothing_and_the_marks_survive_a_restart(tmp_path: Path) -> None:
    index_replica = Replica(tmp_path)
    row = (5 * SEQ_STRIDE, 77, b"entry", '{"pk":{"S":"a"}}', 10)
    assert index_replica.apply(encode_delivery("p0", 5 * SEQ_STRIDE, [row])) == {"status": "ok", "applied": 1}
    index_replica.reopen()
    assert index_replica.apply(encode_delivery("p0", 5 * SEQ_STRIDE, [row])) == {"status": "ok", "applied": 0}
    older_removal = (4 * SEQ_STRIDE, 77, b"entry", None, None)
    assert index_replica.apply(encode_delivery("p0", 5 * SEQ_STRIDE, [older_removal]))["applied"] == 0
    assert index_replica.machine.store.get(77, b"entry") == '{"pk":{"S":"a"}}'
    # Another source's numbers are its own.
    assert index_replica.apply(encode_delivery("p1", 1, [(1, 77, b"entry", None, None)]))["applied"] == 1
    assert index_replica.machine.store.get(77, b"entry") is None


def _backfill_step(base: Replica, limit: int, repeat: bool) -> None:
    """What the propagator proposes each round for a pending backfill (twice: a retried proposal)."""
    for name, cursor in sorted(base.machine.indexes.pending_backfills().items())[:1]:
        command = encode_backfill(name, cursor, limit)
        assert base.apply(command)["status"] == "ok"
        if repeat:
            assert base.apply(command) == {"status": "stale"}


def test_a_gsi_added_to_a_partition_with_items_is_backfilled_under_writes_and_a_deleted_one_is_forgotten(
    tmp_path: Path,
) -> None:
    first = IndexedTable(TABLE, (BY_CITY, BY_TEAM))
    for seed in range(4):
        rng = random.Random(seed)
        base = Replica(tmp_path / f"base{seed}")
        # They came with the table, before any item: nothing to backfill.
        assert base.apply(encode_specs(first))["backfills"] == []
        assert base.machine.indexes.pending_backfills() == {}
        index_replicas = {spec.name: Replica(tmp_path / f"{spec.name}{seed}") for spec in INDEXED.specs}
        for step in range(80):
            _random_write(rng, base, step)
        while base.machine.store.outbox_count:
            _deliver_chunk(rng, base, index_replicas, repeat=False)
        # UpdateTable adds by-age: every later write records it, and the backfill walks the items in chunks.
        assert base.apply(encode_specs(INDEXED))["backfills"] == ["by-age"]
        assert base.machine.indexes.pending_backfills() == {"by-age": []}
        step = 80
        while base.machine.indexes.pending_backfills():
            assert base.machine.indexes.backfilled_at("by-age") is None
            _backfill_step(base, rng.randrange(1, 4), repeat=rng.random() < 0.3)
            for _ in range(rng.randrange(3)):
                _random_write(rng, base, step)
                step += 1
            if rng.random() < 0.5:
                _deliver_chunk(rng, base, index_replicas, repeat=rng.random() < 0.3)
        finished_at = base.machine.indexes.backfilled_at("by-age")
        assert finished_at is not None and finished_at <= base.index
        expected = _drained_and_equal(rng, base, index_replicas, seed)
        assert expected["by-age"], "the backfill had items to index"
        # Deleted again: no longer maintained, its notes gone, so creating it later backfills afresh.
        assert base.apply(encode_specs(first))["backfills"] == []
        _random_write(rng, base, step)
        assert "by-age" not in {name for _, name, *_ in base.machine.store.outbox_read(100)}
        assert base.machine.indexes.backfilled_at("by-age") is None
        assert base.apply(encode_specs(INDEXED))["backfills"] == ["by-age"]
        base.reopen()
        assert base.machine.indexes.pending_backfills() == {"by-age": []}


def test_an_item_that_violates_a_new_index_key_is_left_out_of_its_backfill_and_can_still_be_deleted(
    tmp_path: Path,
) -> None:
    base = Replica(tmp_path)
    base.apply(encode_specs(IndexedTable(TABLE, (BY_TEAM,))))
    base.apply(put("a", age={"S": "old"}))  # no index keys age yet: a string is fine
    base.apply(put("b", age={"N": "7"}))
    base.apply(encode_trim(10**12))
    base.apply(encode_specs(IndexedTable(TABLE, (BY_TEAM, INCLUDE))))
    _backfill_step(base, 100, repeat=False)
    assert base.machine.indexes.pending_backfills() == {}
    assert [json.loads(item)["pk"] for name, item in outbox(base)] == [{"S": "b"}]
    h, k, _ = _key("a")
    assert base.apply(encode_command(DeleteCommand(h, k)))["status"] == "ok"
