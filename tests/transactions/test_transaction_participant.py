"""A partition's side of a transaction, in its state machine: locks, votes, commit and release, conflicts
with plain writes and splits, and the same state on every replica and after a restart."""

from __future__ import annotations

from pathlib import Path

from cluster.api.item_commands import BatchCommand, LocatedWrite, PutCommand, UpdateCommand, encode_command
from cluster.api.request_types import ConditionSource, UpdateSource
from cluster.api.transaction_commands import TxnFinishCommand, TxnPrepareCommand, encode_txn_command
from cluster.node.partition_splits import HASH_SPACE, encode_split_command
from tests.split.test_split_state_machine import Replica

HASH = 12345
KEY = b"k1"
KEY_ITEM = {"pk": {"S": "k1"}}


def put(value: int, key: bytes = KEY, partition_hash: int = HASH) -> bytes:
    item = {"pk": {"S": key.decode()}, "v": {"N": str(value)}}
    return encode_command(PutCommand(partition_hash, key, item))


def prepare(txn: str, kind: str, value: int | None = None, condition: str | None = None, **extra: object) -> bytes:
    item = {**KEY_ITEM, "v": {"N": str(value)}} if kind == "put" else None
    source = ConditionSource(condition, None, {":v": {"N": "1"}} if ":v" in condition else None) if condition else None
    return encode_txn_command(TxnPrepareCommand(txn, kind, HASH, KEY, KEY_ITEM, item, condition=source, **extra))  # type: ignore[arg-type]


def finish(txn: str, commit: bool) -> bytes:
    return encode_txn_command(TxnFinishCommand(txn, HASH, KEY, commit))


def test_a_prepared_put_is_invisible_until_commit_and_blocks_plain_writes(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    assert replica.apply(put(1))["status"] == "ok"
    assert replica.apply(prepare("t1", "put", 2))["status"] == "ok"
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "1"}  # reads see the committed value
    assert replica.apply(put(3)) == {"status": "txn_conflict"}
    batch = encode_command(BatchCommand((LocatedWrite(HASH, KEY, {**KEY_ITEM, "v": {"N": "4"}}),)))
    assert replica.apply(batch) == {"status": "txn_conflict"}
    assert replica.apply(prepare("t2", "put", 5)) == {"status": "txn_conflict"}
    assert replica.apply(prepare("t3", "read")) == {"status": "txn_conflict"}
    assert replica.apply(finish("t1", commit=True)) == {"status": "ok", "applied": True}
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "2"}
    assert replica.apply(finish("t1", commit=True)) == {"status": "ok", "applied": False}  # idempotent
    assert replica.apply(put(6))["status"] == "ok"  # the lock is gone
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "6"}


def test_a_release_leaves_the_item_as_it_was(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(put(1))
    replica.apply(prepare("t1", "delete"))
    assert replica.apply(finish("t1", commit=False)) == {"status": "ok", "applied": True}
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "1"}
    replica.apply(prepare("t2", "delete"))
    replica.apply(finish("t2", commit=True))
    assert replica.machine.get(HASH, KEY) is None


def test_votes_no_on_a_failed_condition_and_keeps_no_lock(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(put(1))
    vote = replica.apply(prepare("t1", "check", condition="v = :v AND attribute_not_exists(pk)"))
    assert vote == {"status": "condition_failed", "old": {"pk": {"S": "k1"}, "v": {"N": "1"}}}
    assert replica.machine.store.lock_count == 0
    assert replica.apply(prepare("t2", "check", condition="v = :v"))["status"] == "ok"
    assert replica.apply(put(2)) == {"status": "txn_conflict"}  # a checked item is locked too


def test_an_update_is_computed_at_prepare_and_written_at_commit(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(put(1))
    update = UpdateSource("SET v = v + :one", None, {":one": {"N": "10"}})
    assert replica.apply(prepare("t1", "update", update=update))["status"] == "ok"
    wrong_type = UpdateSource("SET pk = pk + :one", None, {":one": {"N": "1"}})
    other_key = encode_txn_command(TxnPrepareCommand("t2", "update", 99, b"k2", {"pk": {"S": "k2"}}, None, wrong_type))
    assert replica.apply(encode_command(PutCommand(99, b"k2", {"pk": {"S": "k2"}})))["status"] == "ok"
    assert replica.apply(other_key)["status"] == "invalid"  # reported as the item's ValidationError
    replica.apply(finish("t1", commit=True))
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "11"}


def test_read_locks_share_an_item_and_block_writers(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(put(1))
    first = replica.apply(prepare("r1", "read"))
    assert first["status"] == "ok" and first["item"]["v"] == {"N": "1"}
    assert replica.apply(prepare("r2", "read"))["status"] == "ok"
    assert replica.apply(prepare("w1", "put", 2)) == {"status": "txn_conflict"}
    update = encode_command(UpdateCommand(HASH, KEY, KEY_ITEM, UpdateSource("SET v = :v", None, {":v": {"N": "3"}})))
    assert replica.apply(update) == {"status": "txn_conflict"}
    replica.apply(finish("r1", commit=False))
    replica.apply(finish("r2", commit=True))  # a read's commit writes nothing
    assert replica.machine.get(HASH, KEY)["v"] == {"N": "1"}
    assert replica.apply(update)["status"] == "ok"


def test_a_repeated_prepare_keeps_its_one_lock(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    assert replica.apply(prepare("t1", "put", 1))["status"] == "ok"
    assert replica.apply(prepare("t1", "put", 1))["status"] == "ok"
    assert replica.machine.store.lock_count == 1
    replica.apply(put(5, key=b"k2", partition_hash=7))
    read = encode_txn_command(TxnPrepareCommand("r1", "read", 7, b"k2", {"pk": {"S": "k2"}}))
    first = replica.apply(read)
    assert first["status"] == "ok" and first["item"] == {"pk": {"S": "k2"}, "v": {"N": "5"}}
    again = replica.apply(read)
    assert again["again"] and again["item"] == first["item"]  # a repeat still reads the item
    replica.apply(encode_txn_command(TxnFinishCommand("r1", 7, b"k2", False)))
    replica.apply(finish("t1", commit=True))
    assert replica.machine.store.lock_count == 0


def test_locks_survive_a_restart_and_replicas_agree(tmp_path: Path) -> None:
    replicas = [Replica(tmp_path / name) for name in ("a", "b")]
    commands = [put(1), prepare("t1", "put", 2), put(3), prepare("t2", "read")]
    answers = [[replica.apply(command) for command in commands] for replica in replicas]
    assert answers[0] == answers[1]
    replicas[0].reopen()
    assert replicas[0].machine.store.all_locks() == replicas[1].machine.store.all_locks()
    assert replicas[0].apply(put(4)) == {"status": "txn_conflict"}
    assert replicas[0].apply(finish("t1", commit=True))["applied"]
    assert replicas[0].machine.get(HASH, KEY)["v"] == {"N": "2"}


def test_a_split_fence_waits_for_the_locks_of_its_range(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    high = HASH_SPACE - 5
    moved = encode_txn_command(TxnPrepareCommand("t1", "put", high, KEY, KEY_ITEM, {**KEY_ITEM, "v": {"N": "1"}}))
    assert replica.apply(moved)["status"] == "ok"
    fence = encode_split_command("split_fence", hash_from=HASH_SPACE // 2, hash_to=HASH_SPACE, child="t-p2")
    assert replica.apply(fence)["status"] == "busy"
    assert replica.apply(encode_txn_command(TxnFinishCommand("t1", high, KEY, True)))["applied"]
    assert replica.apply(fence)["status"] == "ok"
    # After the fence a prepare there is sent on to the child, like a write.
    assert replica.apply(moved) == {"status": "moved", "child": "t-p2"}


def test_a_rolled_back_apply_leaves_the_lock_count_true(tmp_path: Path) -> None:
    replica = Replica(tmp_path)
    replica.apply(prepare("t1", "put", 1))
    store = replica.machine.store
    try:
        with store.transaction(replica.index + 1):
            store.add_lock(7, b"x", "t9", "put", None, 0)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert store.lock_count == 1 and len(store.all_locks()) == 1
