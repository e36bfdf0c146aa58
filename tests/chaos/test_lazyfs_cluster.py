"""One whole-cluster check of the lazyfs wiring: every node's data directory is a lazyfs mount, a
cluster-power-off drops what the disks had not synced, and the store still returns every write it
acknowledged; `down` leaves no mount behind. (Detection of a lying WAL: test_lazyfs_catches_wal_bugs.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.http_load import call
from bench.store_bench import TABLE, create_store_table
from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView
from chaos.faults.power_loss import ClusterPowerOff
from chaos.lazyfs.mounts import is_mounted
from cluster.deploy.local_processes import LocalCluster
from tests.chaos.lazyfs_support import skip_unless_lazyfs_runs

WRITES = 60


async def _put_all(port: int) -> list[str]:
    acknowledged = []
    for number in range(WRITES):
        key = f"k{number}"
        status, _ = await call("127.0.0.1", port, "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": key}}})
        if status == 200:
            acknowledged.append(key)
    return acknowledged


async def _missing(port: int, keys: list[str]) -> list[str]:
    missing = []
    for key in keys:
        for _ in range(120):  # a group elects a leader after the power-on: retry unavailability
            try:
                status, body = await call(
                    "127.0.0.1", port, "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": key}}, "ConsistentRead": True}
                )
            except (OSError, TimeoutError):
                status, body = 0, {}
            if status == 200:
                if "Item" not in body:
                    missing.append(key)
                break
            await asyncio.sleep(0.25)
        else:
            missing.append(f"{key} (never answered)")
    return missing


@pytest.mark.cluster
def test_acknowledged_writes_survive_a_lazyfs_cluster_power_off(tmp_path: Path) -> None:
    skip_unless_lazyfs_runs()
    cluster = LocalCluster(tmp_path / "cluster")
    nodes: list[str] = []
    try:
        port = int(cluster.up(nodes_per_az=1, power_loss="fuse")["endpoints"]["az-a"].rsplit(":", 1)[1])
        nodes = [spec.process_id for spec in cluster.topology().by_role("node")]
        assert all(cluster.lazyfs_mount(node) for node in nodes)
        asyncio.run(create_store_table(port))
        acknowledged = asyncio.run(_put_all(port))
        assert len(acknowledged) > WRITES // 2
        context = FaultContext(cluster, leaders=lambda: LeaderView({}))
        outage = ClusterPowerOff({})
        started = outage.start(context)
        assert started["power_loss"] == "fuse" and sorted(started["disks"]) == nodes
        # SQLite's unsynced tail (synchronous=NORMAL) is really dropped: the model is not a no-op.
        assert sum(started["lost_unsynced_bytes"].values()) > 0
        outage.heal(context)
        cluster.wait_until_serving(60)
        assert asyncio.run(_missing(port, acknowledged)) == []
    finally:
        cluster.down()
    assert not any(is_mounted(tmp_path / "cluster" / "processes" / node) for node in nodes)
