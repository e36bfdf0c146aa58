"""bit-rot: one character of stored items changes at rest, silently, and a replica then serves it.

The pure tests check the byte choice and the fault's bookkeeping on SQLite files made here; the
cluster test (marked) rots a follower of a live cluster and reads the rotten value back through it.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from chaos.faults.bit_rot import BitRot, corrupt_item_json, corrupt_node_items, item_files
from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.leaders import LeaderView, leader_view_from_status
from cluster.api.attribute_values import KeySchema, encode_key, normalize_item, partition_hash
from cluster.deploy.local_processes import LocalCluster
from cluster.storage.item_store import ItemStore
from tests.cluster.cluster_rpc import rpc, wait_until

SCHEMA = KeySchema("pk", "S")


def _stored(item: dict[str, Any]) -> tuple[int, bytes, str]:
    key = {"pk": item["pk"]}
    return partition_hash(key, SCHEMA), encode_key(key, SCHEMA), json.dumps(item, separators=(",", ":"))


ITEMS = [
    {"pk": {"S": "k1"}, "value": {"N": "1234"}},
    {"pk": {"S": "k2"}, "name": {"S": "hello world"}, "count": {"N": "-0.5"}},
    {"pk": {"S": "k3"}, "tags": {"SS": ["a", "b"]}, "price": {"N": "10"}, "note": {"S": "x"}},
    {"pk": {"S": "k4"}, "nested": {"M": {"a": {"N": "1"}}}, "flag": {"BOOL": True}, "zero": {"N": "0"}},
    {"pk": {"S": "k5"}, "unicode": {"S": "é€z"}, "big": {"N": "12345678901234567890"}},
]


@pytest.mark.parametrize("item", ITEMS, ids=[item["pk"]["S"] for item in ITEMS])
def test_rotten_item_stays_valid_json_and_a_valid_item_and_differs_in_one_character(item: dict) -> None:
    _, key, item_json = _stored(item)
    for seed in range(50):
        corruption = corrupt_item_json(item_json, key, random.Random(seed))
        assert corruption is not None
        new_json = corruption.new_item_json
        assert len(new_json) == len(item_json)
        assert sum(a != b for a, b in zip(item_json, new_json, strict=True)) == 1
        rotten = json.loads(new_json)
        normalize_item(rotten)  # raises when the rot made it an invalid DynamoDB item
        assert rotten["pk"] == item["pk"], "a key attribute must never rot: that would be another item"
        assert corruption.attribute != "pk"
        assert item[corruption.attribute] == {corruption.type_name: corruption.old_value}
        assert rotten[corruption.attribute] == {corruption.type_name: corruption.new_value}
        assert corruption.old_value != corruption.new_value
        assert {name: value for name, value in rotten.items() if name != corruption.attribute} == {
            name: value for name, value in item.items() if name != corruption.attribute
        }


def test_an_item_with_only_its_key_or_no_string_or_number_has_nothing_to_rot() -> None:
    for item in ({"pk": {"S": "only-key"}}, {"pk": {"S": "k"}, "flag": {"BOOL": False}, "l": {"L": []}}):
        _, key, item_json = _stored(item)
        assert corrupt_item_json(item_json, key, random.Random(1)) is None


def test_the_same_seed_rots_the_same_character() -> None:
    _, key, item_json = _stored(ITEMS[1])
    choices = {corrupt_item_json(item_json, key, random.Random(7)) for _ in range(3)}
    assert len(choices) == 1
    assert len({corrupt_item_json(item_json, key, random.Random(seed)) for seed in range(30)}) > 1


def _make_node(process_dir: Path, groups: dict[str, list[dict]]) -> None:
    for group, items in groups.items():
        state = process_dir / "groups" / group / "state"
        state.mkdir(parents=True)
        store = ItemStore(state / "items.sqlite")
        with store.transaction(len(items)):
            for item in items:
                store.put(*_stored(item))
        store.close()


def test_corrupting_a_node_rewrites_exactly_the_recorded_items_and_a_replay_repeats_it(tmp_path: Path) -> None:
    groups = {"t-0": ITEMS[:3], "t-1": ITEMS[3:]}
    _make_node(tmp_path / "first", groups)
    _make_node(tmp_path / "second", groups)
    records = corrupt_node_items(tmp_path / "first", 3, random.Random(42))
    assert len(records) == 3
    assert corrupt_node_items(tmp_path / "second", 3, random.Random(42)) == [
        {**record, "file": record["file"].replace("/first/", "/second/")} for record in records
    ]
    by_key = {base64.b64encode(_stored(item)[1]).decode(): item for item in ITEMS}
    changed = set()
    for group, path in item_files(tmp_path / "first"):
        store = ItemStore(path)
        assert store.applied_index == len(groups[group]), "rot does not move the applied index"
        for stored_hash, key, item_json in store.scan(None, 100):
            encoded_key = base64.b64encode(key).decode()
            record = next((r for r in records if r["key"] == encoded_key), None)
            original = by_key[encoded_key]
            if record is None:
                assert json.loads(item_json) == original
                continue
            assert (record["group"], record["file"], record["hash"]) == (group, str(path), stored_hash)
            assert json.loads(item_json)[record["attribute"]] == {record["type"]: record["new"]}
            assert original[record["attribute"]] == {record["type"]: record["old"]}
            changed.add(encoded_key)
        store.close()
    assert changed == {record["key"] for record in records}


class _FakeNodeCluster:
    """Only what BitRot touches: a data directory and a node that stops when SIGKILLed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.running = True
        self.signals: list[int] = []
        self.starts = 0

    def pids(self) -> dict[str, int]:
        return {"node-a1": 100 + self.starts}

    def is_running(self, process_id: str) -> bool:
        return self.running

    def signal_process(self, process_id: str, signal_number: int) -> None:
        self.signals.append(signal_number)
        self.running = False

    def start_process(self, process_id: str) -> int:
        self.starts += 1
        self.running = True
        return 100 + self.starts


def _context(cluster: Any) -> FaultContext:
    return FaultContext(cluster, leaders=lambda: LeaderView({}, {}), sleep=lambda seconds: None)


def test_bit_rot_is_refused_without_touching_a_node_that_holds_no_items(tmp_path: Path) -> None:
    _make_node(tmp_path / "processes" / "node-a1", {"t-0": []})
    cluster = _FakeNodeCluster(tmp_path)
    fault = BitRot({"process_id": "node-a1", "az": "az-a"})
    with pytest.raises(FaultNotApplicable, match="holds no items"):
        fault.start(_context(cluster))
    assert cluster.signals == [] and cluster.running
    assert fault.heal(_context(cluster))["healed"] is False


def test_bit_rot_keeps_the_node_off_until_heal_and_heal_is_idempotent(tmp_path: Path) -> None:
    _make_node(tmp_path / "processes" / "node-a1", {"t-0": ITEMS})
    cluster = _FakeNodeCluster(tmp_path)
    fault = BitRot({"process_id": "node-a1", "az": "az-a", "items": 2})
    started = fault.start(_context(cluster))
    assert not cluster.running and started["pids"] == {"node-a1": 100}
    assert len(started["corrupted"]) == 2 and started["process_ids"] == ["node-a1"]
    healed = fault.heal(_context(cluster))
    assert cluster.running and healed["pids"] == {"node-a1": 101} and "scrub" in healed["data"]
    assert fault.heal(_context(cluster))["healed"] is False and cluster.starts == 1


# ---- against a live cluster ---------------------------------------------------------------------


def _applied_everything(cluster: LocalCluster, process_id: str, group: str, commit_index: int) -> bool:
    try:
        status = rpc(cluster, process_id, "status", {})
    except Exception:
        return False
    entry = next((entry for entry in status["groups"] if entry["group"] == group), None)
    return entry is not None and entry["state_applied_index"] >= commit_index


def _get(cluster: LocalCluster, process_id: str, group: str, record: dict, consistent: bool) -> dict | None:
    params = {"group": group, "hash": record["hash"], "key": record["key"], "consistent": consistent}
    return rpc(cluster, process_id, "node.get", params)["item"]


@pytest.mark.cluster
def test_a_rotten_follower_serves_the_recorded_value_while_the_leader_serves_the_original(tmp_path: Path) -> None:
    from tests.cluster.conftest import create_table, make_client

    cluster = LocalCluster(tmp_path / "cluster")
    try:
        # The scrub would repair the rot within a second or so: this test watches the rot itself.
        cluster.up(wait_s=60, settings={"scrub_enabled": False})
        client = make_client(next(iter(cluster.endpoints().values())))
        create_table(client, "rot")
        written = {f"k{number}": {"pk": {"S": f"k{number}"}, "v": {"N": str(1000 + number)}} for number in range(40)}
        for item in written.values():
            client.put_item(TableName="rot", Item=item)
        view = leader_view_from_status(cluster.status())
        group = next(group for group in sorted(view.leaders) if group != "metadata")
        leader = view.leaders[group]
        members = json.loads((cluster.data_dir / "processes" / leader / "groups" / group / "group.json").read_text())
        # Neither the leader nor the preferred member (leadership returns to it after a while): the
        # rotten replica must stay a follower, or the consistent read below would come from it.
        follower = next(member for member in members["members"][1:] if member != leader)
        leader_commit = next(entry for entry in rpc(cluster, leader, "status", {})["groups"]
                             if entry["group"] == group)["commit_index"]
        # Only the follower's replicas of this one group matter below; rot every item it holds there.
        fault = BitRot({"process_id": follower, "az": cluster.topology().get(follower).az, "items": 1000})
        context = FaultContext(cluster, leaders=lambda: leader_view_from_status(cluster.status()))
        # Every write must have reached the follower's SQLite before it is powered off, or the rot has
        # nothing in this group to find.
        wait_until(lambda: _applied_everything(cluster, follower, group, leader_commit), 10,
                    "the follower to apply every write")
        started = fault.start(context)
        try:
            rotten = [record for record in started["corrupted"] if record["group"] == group]
            assert rotten, started
            assert all(Path(record["file"]).is_relative_to(cluster.data_dir / "processes" / follower)
                       for record in started["corrupted"])
        finally:
            healed = fault.heal(context)
        assert healed["process_ids"] == [follower] and "scrub" in healed["data"]
        assert fault.heal(context)["healed"] is False
        cluster.wait_until_serving(30)
        record = rotten[0]
        original = next(item for item in written.values()
                        if base64.b64encode(encode_key({"pk": item["pk"]}, KeySchema("pk", "S"))).decode()
                        == record["key"])
        assert original[record["attribute"]] == {record["type"]: record["old"]}

        def follower_serves_rot() -> bool:
            try:
                item = _get(cluster, follower, group, record, consistent=False)
            except Exception:
                return False  # still opening its replicas
            return item is not None and item[record["attribute"]] == {record["type"]: record["new"]}

        wait_until(follower_serves_rot, 30, f"{follower} to serve the rotten value")
        leader_now = leader_view_from_status(cluster.status()).leaders.get(group, leader)
        assert leader_now != follower
        assert _get(cluster, leader_now, group, record, consistent=True) == original
        read = client.get_item(TableName="rot", Key={"pk": original["pk"]}, ConsistentRead=True)["Item"]
        assert read == original
    finally:
        cluster.down()
        shutil.rmtree(tmp_path / "cluster", ignore_errors=True)
