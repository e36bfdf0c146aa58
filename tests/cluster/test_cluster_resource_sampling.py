"""The `resources` sampler against a real cluster: every process's memory and descriptors, and every
storage node's WAL and item-store bytes, read from /proc and the data directories it really uses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cluster.deploy.local_processes import LocalCluster
from cluster.storage.json_lines import read_json_objects
from gameday.checks.resources import ResourceSampler
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster


def test_every_process_is_sampled_and_storage_nodes_show_their_logs(data_plane_cluster: LocalCluster, tmp_path: Path) -> None:
    client = make_client(data_plane_cluster.endpoints()["az-a"])
    create_table(client, "resource_sampling")  # a table: every storage node now hosts groups with logs
    client.put_item(TableName="resource_sampling", Item={"pk": {"S": "k"}, "v": {"S": "x" * 100}})
    path = tmp_path / "resources.jsonl"
    sampler = ResourceSampler(data_plane_cluster, path, 0.2)
    sampler.start()
    try:
        time.sleep(1.0)
    finally:
        sampler.stop()
    samples = read_json_objects(path)
    processes = set(data_plane_cluster.pids())
    assert {sample["process"] for sample in samples} == processes
    storage = [sample for sample in samples if sample["process"].startswith("node-")]
    assert storage and all("wal_mb" in sample and "store_mb" in sample for sample in storage)
    # The table's partitions live on one replica per AZ at least: those nodes show a log and an item store.
    hosting = {sample["process"] for sample in storage if sample["wal_mb"] > 0 and sample["store_mb"] > 0}
    assert {process[len("node-")] for process in hosting} == {"a", "b", "c"}, storage[:6]
    assert all(sample["rss_mb"] > 5 and sample["fds"] > 3 for sample in samples)
    # Routers and the metadata service keep no item store.
    assert all("store_mb" not in sample for sample in samples if sample["process"].startswith("router-"))
