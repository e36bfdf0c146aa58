"""End to end: real hot load on a few keys of one partition → node reports → the metadata leader splits it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from cluster.admission.settings import AdmissionSettings
from cluster.api.attribute_values import KeySchema, partition_hash
from cluster.deploy.local_processes import LocalCluster, build_topology
from tests.cluster.cluster_rpc import wait_until
from tests.cluster.conftest import create_table, make_client
from tests.split.split_cluster_helpers import splits_status, table_partitions

pytestmark = pytest.mark.cluster

KEY_SCHEMA = KeySchema.from_json({"hash_name": "pk", "hash_type": "S", "range_name": None, "range_type": None})
# Small enough that a few writer threads on this 2-core machine exceed one partition's share.
ADMISSION = AdmissionSettings(partition_max_wcu=60.0, partition_max_rcu=200.0, split_sustain_s=1.5, split_cooldown_s=60.0)


@pytest.fixture
def small_capacity_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.data_dir.mkdir(parents=True)
    topology = dataclasses.replace(build_topology(3, 2, 4), admission=ADMISSION)
    topology.save(cluster.topology_path)  # up() keeps a topology it finds
    try:
        cluster.up(wait_s=60)
        yield cluster
    finally:
        cluster.down()


def keys_in(partition: dict, count: int) -> list[str]:
    found = []
    number = 0
    while len(found) < count:
        key = f"hot{number}"
        number += 1
        if partition["hash_start"] <= partition_hash({"pk": {"S": key}}, KEY_SCHEMA) < partition["hash_end"]:
            found.append(key)
    return found


def test_sustained_hot_load_on_several_keys_splits_the_partition_between_them(
    small_capacity_cluster: LocalCluster,
) -> None:
    cluster = small_capacity_cluster
    endpoints = list(cluster.endpoints().values())
    create_table(make_client(endpoints[0]), "kvs")
    parent = table_partitions(cluster, "kvs")[0]
    hot_keys = keys_in(parent, 8)
    stop = threading.Event()
    outcomes = {"ok": 0, "throttled": 0}

    def hammer(number: int) -> None:
        client = make_client(endpoints[number % len(endpoints)])
        sequence = 0
        while not stop.is_set():
            key = hot_keys[sequence % len(hot_keys)]
            sequence += 1
            try:
                client.put_item(TableName="kvs", Item={"pk": {"S": key}, "v": {"N": str(sequence)}})
                outcomes["ok"] += 1
            except ClientError as error:
                if error.response["Error"]["Code"] == "ProvisionedThroughputExceededException":
                    outcomes["throttled"] += 1
            except BotoCoreError:
                pass

    threads = [threading.Thread(target=hammer, args=(number,), daemon=True) for number in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: any(s["finished_wall_s"] for s in splits_status(cluster)), 90, "a split for consumption")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    [split] = splits_status(cluster)
    assert split["parent"] == parent["group_id"] and split["reason"] != "manual"
    hashes = sorted(partition_hash({"pk": {"S": key}}, KEY_SCHEMA) for key in hot_keys)
    below = sum(1 for key_hash in hashes if key_hash < split["split_hash"])
    assert 2 <= below <= 6, (below, split)  # the hot keys end up on both sides, about half each
    print(f"split {split} after {outcomes}")
