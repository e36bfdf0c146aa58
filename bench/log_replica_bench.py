"""Healing a group with a log replica vs rebuilding a storage replica, on one real local cluster.

1. Fill a table; power off a follower of one group; time until its leader has a log replica committed
   (from the power-off, and from the detection of the silence).
2. Wipe that follower's replica of the group and power it on: time until it is rebuilt (it replays the
   group's whole log into a fresh B-tree and the leader removes the log replica), which is what healing
   would cost without log replicas.

    python -m bench.log_replica_bench [--items 20000] [--value-bytes 512]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.targets import wait_for
from cluster.deploy.local_processes import LocalCluster
from loadgen.dynamodb_client import ClientSettings, make_client

TABLE = "bench-log-replica"


def _leader_groups(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    groups = {}
    for process in cluster.status()["processes"]:
        for group in process.get("groups", []):
            if group.get("role") == "leader" and group["group"] != "metadata":
                groups[group["group"]] = {**group, "leader_process": process["id"]}
    return groups


def _events(cluster: LocalCluster, group_id: str, action: str) -> list[dict[str, Any]]:
    return [
        event
        for process in cluster.status()["processes"]
        for event in process.get("log_replicas", {}).get("events", [])
        if event["group"] == group_id and event["action"] == action and "failed" not in event
    ]


def _fill(endpoint: str, items: int, value_bytes: int) -> float:
    client = make_client(ClientSettings(endpoint, connect_timeout_s=2.0, read_timeout_s=10.0))
    client.create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    value = "v" * value_bytes
    started = time.monotonic()

    def put_range(worker: int) -> None:
        own = make_client(ClientSettings(endpoint, connect_timeout_s=2.0, read_timeout_s=10.0))
        for number in range(worker, items, 16):
            own.put_item(TableName=TABLE, Item={"pk": {"S": f"k{number}"}, "v": {"S": value}})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put_range, range(16)))
    return time.monotonic() - started


def run(items: int, value_bytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="log-replica-bench-") as scratch:
        cluster = LocalCluster(Path(scratch) / "cluster")
        try:
            cluster.up(partitions_per_table=1)
            fill_s = _fill(next(iter(cluster.endpoints().values())), items, value_bytes)
            [(group_id, group)] = _leader_groups(cluster).items()
            victim = next(m for m in group["membership"]["storage"] if m != group["leader_process"])
            cluster.signal_process(victim, signal.SIGKILL)
            killed_at = time.time()
            [added] = wait_for(lambda: _events(cluster, group_id, "add-log-replica"), 60, "a log replica")
            log_replica_s = added["committed_at"] - killed_at
            # The rebuild: the victim's replica of the group is gone; it comes back empty and replays the log.
            shutil.rmtree(cluster.data_dir / "processes" / victim / "groups" / group_id)
            started_at = time.time()
            cluster.start_process(victim)
            [removed] = wait_for(lambda: _events(cluster, group_id, "remove-log-replica"), 600, "the rebuilt replica")
            rebuild_s = removed["committed_at"] - started_at
            return {
                "items": items,
                "fill_s": fill_s,
                "log_index": float(group["last_index"]),
                "log_replica_after_power_off_s": log_replica_s,
                "log_replica_after_detection_s": float(added["seconds_after_detection"]),
                "rebuild_s": rebuild_s,
            }
        finally:
            cluster.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--value-bytes", type=int, default=512)
    args = parser.parse_args(argv)
    result = run(args.items, args.value_bytes)
    print("| items | log entries | log replica after power-off | after detection | full rebuild | rebuild / log replica |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {result['items']:,} x {args.value_bytes} B | {result['log_index']:,.0f} "
        f"| {result['log_replica_after_power_off_s']:.2f} s | {result['log_replica_after_detection_s']:.2f} s "
        f"| {result['rebuild_s']:.2f} s | {result['rebuild_s'] / result['log_replica_after_detection_s']:.1f}x |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
