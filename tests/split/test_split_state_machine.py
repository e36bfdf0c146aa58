"""Fence, load and drop in a partition's state machine: deterministic, persisted, idempotent."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cluster.api.item_commands import DeleteCommand, PutCommand, encode_command
from cluster.core.types import Entry
from cluster.node.partition_splits import HASH_SPACE, encode_split_command
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.scrub.commands import ReplicaScrubState, encode_marker, iterate_items
from cluster.scrub.digests import digest_state

SPLIT = HASH_SPACE // 2
CHILD = "t-p2"


class Replica:
    def __init__(self, directory: Path, replica_id: str = "r1") -> None:
        self.directory = directory
        self.scrub = ReplicaScrubState(replica_id)
        self.machine = PartitionStateMachine(directory, self.scrub)
        self.index = 0

    def apply(self, command: bytes) -> dict:
        self.index += 1
        return self.machine.apply([Entry(1, self.index, command)])[self.index]

    def reopen(self) -> None:
        self.machine.close()
        self.machine = PartitionStateMachine(self.directory, self.scrub)


def put(partition_hash: int, key: str, value: int) -> bytes:
    return encode_command(PutCommand(partition_hash, key.encode(), {"pk": {"S": key}, "v": {"N": str(value)}}))


def items(replica: Replica) -> dict[tuple[int, bytes], dict]:
    return {(h, k): item for h, k, item in replica.machine.scan(None, 10_000)}


def fill(replica: Replica) -> list[tuple[int, str]]:
    keys = [(i * (HASH_SPACE // 20) + 7, f"k{i}") for i in range(20)]
    for position, (partition_hash, key) in enumerate(keys):
        assert replica.apply(put(partition_hash, key, position))["status"] == "ok"
    return keys


def fence() -> bytes:
    return encode_split_command("split_fence", hash_from=SPLIT, hash_to=HASH_SPACE, child=CHILD)


def test_fence_refuses_writes_in_the_moved_range_and_scans_skip_it(tmp_path: Path) -> None:
    parent = Replica(tmp_path / "parent")
    keys = fill(parent)
    result = parent.apply(fence())
    assert result == {"status": "ok", "fenced_at": parent.index, "child": CHILD}
    assert parent.apply(fence())["fenced_at"] == result["fenced_at"]  # a repeat changes nothing
    moved_hash, moved_key = keys[-1]
    assert parent.apply(put(moved_hash, moved_key, 99)) == {"status": "moved", "child": CHILD}
    assert parent.apply(encode_command(DeleteCommand(moved_hash, moved_key.encode())))["status"] == "moved"
    assert parent.machine.get(moved_hash, moved_key.encode())["v"] == {"N": "19"}  # frozen, not deleted
    assert parent.apply(put(keys[0][0], "k0", 42))["status"] == "ok"  # the kept range still takes writes
    scanned = items(parent)
    assert sorted(h for h, _ in scanned) == sorted(h for h, _ in keys if h < SPLIT)
    # Paging: a small limit still walks past the moved range without stopping early.
    assert len(parent.machine.scan((keys[0][0], b"k0"), 3)) == 3
    assert parent.machine.splits.moved_child(SPLIT) == CHILD and parent.machine.splits.moved_child(SPLIT - 1) is None
    parent.reopen()  # persisted in the same SQLite as the items
    assert parent.apply(put(moved_hash, moved_key, 100))["status"] == "moved"
    overlapping = encode_split_command("split_fence", hash_from=SPLIT - 10, hash_to=SPLIT + 10, child="x")
    assert parent.apply(overlapping)["status"] == "invalid"


def test_load_then_seal_then_late_loads_are_refused(tmp_path: Path) -> None:
    parent, child = Replica(tmp_path / "parent"), Replica(tmp_path / "child")
    keys = fill(parent)
    parent.apply(fence())
    rows = parent.machine.store.scan_range(SPLIT, HASH_SPACE, None, 1000)
    assert len(rows) == sum(1 for h, _ in keys if h >= SPLIT)
    batch = [[h, base64.b64encode(k).decode(), json.loads(item)] for h, k, item in rows]
    assert child.apply(encode_split_command("split_load", items=batch[:3], last=False))["status"] == "ok"
    assert child.apply(encode_split_command("split_load", items=batch[:3], last=False))["status"] == "ok"
    assert child.apply(encode_split_command("split_load", items=batch[3:], last=True))["sealed"] is True
    assert child.apply(put(keys[-1][0], keys[-1][1], 1000))["status"] == "ok"  # routable now: a new write
    late = child.apply(encode_split_command("split_load", items=batch, last=True))
    assert late == {"status": "sealed"}
    assert child.machine.get(keys[-1][0], keys[-1][1].encode())["v"] == {"N": "1000"}  # not overwritten
    assert sorted(h for h, _ in items(child)) == sorted(h for h, _ in keys if h >= SPLIT)
    # The child's items are byte for byte the parent's.
    assert {(h, k): i for h, k, i in rows if h != keys[-1][0]} == {
        (h, k): i for h, k, i in child.machine.store.scan(None, 1000) if h != keys[-1][0]
    }


def test_drop_deletes_only_the_moved_items_once(tmp_path: Path) -> None:
    parent = Replica(tmp_path / "parent")
    keys = fill(parent)
    drop = encode_split_command("split_drop", hash_from=SPLIT, hash_to=HASH_SPACE)
    assert parent.apply(drop)["status"] == "invalid"  # no fence yet
    parent.apply(fence())
    dropped = parent.apply(drop)
    assert dropped == {"status": "ok", "dropped": sum(1 for h, _ in keys if h >= SPLIT)}
    assert parent.apply(drop) == {"status": "ok", "dropped": 0}
    assert parent.machine.store.count() == sum(1 for h, _ in keys if h < SPLIT)
    assert parent.apply(put(keys[-1][0], keys[-1][1], 5))["status"] == "moved"  # the fence stays


def test_replicas_digest_the_moved_items_alike_at_every_step(tmp_path: Path) -> None:
    replicas = [Replica(tmp_path / f"r{n}", f"r{n}") for n in range(2)]
    commands = [put(i * (HASH_SPACE // 10) + 3, f"k{i}", i) for i in range(10)]
    commands += [encode_marker(False), fence(), put(HASH_SPACE - 5, "late", 1), encode_marker(False)]
    commands += [encode_split_command("split_drop", hash_from=SPLIT, hash_to=HASH_SPACE), encode_marker(False)]
    for command in commands:
        results = [replica.apply(command) for replica in replicas]
        assert results[0] == results[1]
    first, second = (replica.scrub.digests for replica in replicas)
    assert list(first) == list(second) and len(first) == 3
    for index in first:
        assert first[index].range_checksums == second[index].range_checksums
    # The marker after the fence still digests the moved items (they stay until the drop).
    before_drop = list(first.values())[1]
    assert any(h >= SPLIT for h, _ in before_drop.item_digests)
    assert digest_state(0, iterate_items(replicas[0].machine.store)).item_digests.keys() == {
        key for key in before_drop.item_digests if key[0] < SPLIT
    }
