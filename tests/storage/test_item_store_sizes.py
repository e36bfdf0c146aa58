"""Item sizes recorded at write time: a Query passes stored items on without decoding them, so the size
it charges and pages by must be the one DynamoDB's rules give, recorded or not."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cluster.api.attribute_values import (
    KeySchema,
    encode_hash_key,
    encode_key,
    item_size_bytes,
    partition_hash,
)
from cluster.api.item_commands import BatchCommand, LocatedWrite, PutCommand, UpdateCommand, encode_command
from cluster.api.key_conditions import StoreBounds
from cluster.api.requests import UpdateSource
from cluster.core.types import Entry
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.storage.item_store import ItemStore

SCHEMA = KeySchema("pk", "S", "sk", "N")
PK = {"S": "p"}
HASH = partition_hash({"pk": PK}, SCHEMA)
WHOLE_PARTITION = StoreBounds(encode_hash_key(PK), None, None)


def _key(number: int) -> tuple[dict, bytes]:
    key = {"pk": PK, "sk": {"N": str(number)}}
    return key, encode_key(key, SCHEMA)


def _apply(machine: PartitionStateMachine, *commands: bytes) -> None:
    first = machine.applied_index + 1
    machine.apply([Entry(index=first + offset, term=1, command=command) for offset, command in enumerate(commands)])


def test_puts_updates_and_batches_record_the_size_a_query_reports(tmp_path: Path) -> None:
    machine = PartitionStateMachine(tmp_path / "replica")
    key_1, encoded_1 = _key(1)
    key_2, encoded_2 = _key(2)
    key_3, encoded_3 = _key(3)
    put = PutCommand(HASH, encoded_1, {**key_1, "text": {"S": "x" * 40}, "n": {"N": "12345.678"}})
    update = UpdateCommand(
        HASH, encoded_2, key_2, UpdateSource("SET tags = :t ADD c :one", None, {":t": {"SS": ["a", "bc"]}, ":one": {"N": "7"}})
    )
    batch = BatchCommand((LocatedWrite(HASH, encoded_3, {**key_3, "doc": {"M": {"l": {"L": [{"BOOL": True}]}}}}),))
    _apply(machine, *(encode_command(command) for command in (put, update, batch)))
    rows = machine.query(HASH, WHOLE_PARTITION, None, True, 10)
    assert [json.loads(text)["sk"] for _, text, _ in rows] == [{"N": "1"}, {"N": "2"}, {"N": "3"}]
    for _, text, size in rows:
        assert size == item_size_bytes(json.loads(text)) > 0
    # Every write recorded its size: none of them has to be decoded to be sized.
    stored = sqlite3.connect(tmp_path / "replica" / "items.sqlite").execute("SELECT size FROM items").fetchall()
    assert all(size is not None for (size,) in stored) and len(stored) == 3


def test_a_store_made_before_sizes_gains_the_column_and_sizes_its_old_items_when_read(tmp_path: Path) -> None:
    path = tmp_path / "replica"
    path.mkdir()
    old = sqlite3.connect(path / "items.sqlite")
    old.execute(
        "CREATE TABLE items (hash INTEGER NOT NULL, key BLOB NOT NULL, item TEXT NOT NULL, PRIMARY KEY (hash, key)) WITHOUT ROWID"
    )
    key, encoded = _key(1)
    item = {**key, "text": {"S": "old item"}}
    old.execute("INSERT INTO items VALUES (?, ?, ?)", (HASH - (1 << 63), encoded, json.dumps(item)))
    old.commit()
    old.close()
    machine = PartitionStateMachine(path)
    [(_, text, size)] = machine.query(HASH, WHOLE_PARTITION, None, True, 10)
    assert json.loads(text) == item and size == item_size_bytes(item)
    store = ItemStore(tmp_path / "other.sqlite")
    store.put(HASH, encoded, json.dumps(item))  # a writer that does not know the size (a scrub repair)
    assert store.query(HASH, WHOLE_PARTITION.prefix, None, None, None, True, 10)[0][2] is None


def test_a_write_costs_the_larger_of_the_recorded_old_size_and_the_new_one(tmp_path: Path) -> None:
    machine = PartitionStateMachine(tmp_path / "replica")
    key, encoded = _key(1)
    big = {**key, "text": {"S": "x" * 3000}}
    small = {**key, "text": {"S": "y"}}
    first = machine.applied_index + 1
    results = machine.apply(
        [
            Entry(index=first, term=1, command=encode_command(PutCommand(HASH, encoded, big))),
            Entry(index=first + 1, term=1, command=encode_command(PutCommand(HASH, encoded, small))),
            Entry(index=first + 2, term=1, command=encode_command(PutCommand(HASH, encoded, small))),
        ]
    )
    assert [results[index]["write_bytes"] for index in range(first, first + 3)] == [
        item_size_bytes(big), item_size_bytes(big), item_size_bytes(small)
    ]


def test_a_partition_counts_its_items_and_recorded_bytes_without_a_range_it_moved(tmp_path: Path) -> None:
    store = ItemStore(tmp_path / "items.sqlite")
    try:
        store.put(10, b"a", '{"pk":{"S":"a"}}', 7)
        store.put(20, b"b", '{"pk":{"S":"b"}}', 11)
        store.put(2**63 + 5, b"c", '{"pk":{"S":"c"}}', 13)  # above the signed range SQLite stores
        store.put(30, b"old", '{"pk":{"S":"old"}}')  # from before sizes: counted, 0 bytes
        assert store.stats_excluding([]) == (4, 31)
        assert store.stats_excluding([(15, 25)]) == (3, 20)
        assert store.stats_excluding([(2**63, 2**64), (0, 11)]) == (2, 11)
    finally:
        store.close()
