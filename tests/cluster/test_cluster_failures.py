"""Power-offs of real processes: no acknowledged write may ever be lost."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cluster.deploy.listen_ports import CLAIMS_DIR, claim_port
from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.rpc import RpcClient
from tests.cluster.acknowledged_writes import AcknowledgedWrites, missing_acknowledged
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster


def _leaders(cluster: LocalCluster) -> dict[str, str]:
    leaders = {}
    for process in cluster.status()["processes"]:
        for group in process.get("leading", []):
            leaders[group] = process["id"]
    return leaders


def _wait_until(predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_killing_a_leader_mid_writes_loses_no_acknowledged_write(fresh_cluster: LocalCluster) -> None:
    endpoints = list(fresh_cluster.endpoints().values())
    create_table(make_client(endpoints[0]), "kvs")
    writes = AcknowledgedWrites(endpoints, "kvs")
    writes.start()
    try:
        _wait_until(lambda: writes.count() >= 100, 30, "100 acknowledged writes")
        leaders = _leaders(fresh_cluster)
        victim_group = next(group for group in sorted(leaders) if group != "metadata")
        victim = leaders[victim_group]
        fresh_cluster.signal_process(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait_until(lambda: writes.count() >= 100 and max(writes.acknowledged_at.values()) > killed_at + 2, 30,
                    "writes acknowledged after the kill")
        # One look per check: two may straddle an election.
        _wait_until(lambda: _leaders(fresh_cluster).get(victim_group) not in (None, victim), 10,
                    f"a new leader of {victim_group}")
    finally:
        writes.stop()
    assert writes.count() > 100
    assert missing_acknowledged(endpoints[1], "kvs", writes.acknowledged) == []
    # The killed node comes back and catches up as a follower.
    fresh_cluster.start_process(victim)
    fresh_cluster.wait_until_serving(30)


def test_sigkill_of_every_process_then_up_keeps_every_acknowledged_write(fresh_cluster: LocalCluster) -> None:
    endpoints = list(fresh_cluster.endpoints().values())
    create_table(make_client(endpoints[0]), "kvs")
    writes = AcknowledgedWrites(endpoints, "kvs", writers=4)
    writes.start()
    try:
        _wait_until(lambda: writes.count() >= 150, 30, "150 acknowledged writes")
        for process_id in fresh_cluster.pids():
            fresh_cluster.signal_process(process_id, signal.SIGKILL)
    finally:
        writes.stop()
    acknowledged = dict(writes.acknowledged)
    fresh_cluster.up(wait_s=60)
    endpoints = list(fresh_cluster.endpoints().values())
    client = make_client(endpoints[0])
    client.get_waiter("table_exists").wait(TableName="kvs", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    _wait_until(lambda: _all_groups_led(fresh_cluster), 30, "every group to have a leader")
    assert missing_acknowledged(endpoints[2], "kvs", acknowledged) == []


def _all_groups_led(cluster: LocalCluster) -> bool:
    groups: set[str] = set()
    for process in cluster.status()["processes"]:
        groups.update(group["group"] for group in process.get("groups", []))
    return groups <= set(_leaders(cluster))


def test_corrupt_wal_tail_is_truncated_on_restart(fresh_cluster: LocalCluster) -> None:
    endpoints = list(fresh_cluster.endpoints().values())
    client = make_client(endpoints[0])
    create_table(client, "kvs")
    for number in range(30):
        client.put_item(TableName="kvs", Item={"pk": {"S": f"k{number}"}, "v": {"S": "x"}})
    owner = str(fresh_cluster.data_dir.resolve())
    assert _claims_of(owner) >= {fresh_cluster.topology().get("node-b1").port}
    fresh_cluster.down()
    assert _claims_of(owner) == set(), "a cluster that went down gives its ports back"
    node_dir = fresh_cluster.data_dir / "processes" / "node-b1" / "groups"
    wal_dirs = sorted(path for path in node_dir.glob("*/wal") if any(path.glob("*.wal")))
    assert wal_dirs, "node-b1 hosts no replica"
    # A torn write can only cut the segment being written: the last one (the scrub seals earlier ones, and
    # garbage in a sealed segment is corruption in the middle of the log, which must stop the replica).
    torn = sorted(wal_dirs[0].glob("*.wal"))[-1]
    with open(torn, "ab") as wal:
        wal.write(b"\xa1\x01\x00\x00\x10\x00garbage-of-a-torn-write")
    fresh_cluster.up(wait_s=60)
    log_text = (fresh_cluster.data_dir / "logs" / "node-b1.log").read_text()
    assert "truncated" in log_text and "torn WAL tail" in log_text
    client = make_client(fresh_cluster.endpoints()["az-a"])
    for number in range(30):
        got = client.get_item(TableName="kvs", Key={"pk": {"S": f"k{number}"}}, ConsistentRead=True)
        assert got["Item"]["v"] == {"S": "x"}


def _claims_of(owner: str) -> set[int]:
    return {int(path.name) for path in CLAIMS_DIR.glob("[0-9]*") if path.read_text() == owner}


# Groups copy their state every 5 entries: by the time node-c1 returns, its groups' leaders have compacted
# their logs past what it holds, so it catches up by installing their snapshots (fetched over RPC).
@pytest.mark.parametrize("fresh_cluster", [{"snapshot_every_entries": 5}], indirect=True)
def test_a_node_that_was_down_catches_up_from_snapshots(fresh_cluster: LocalCluster) -> None:
    endpoints = fresh_cluster.endpoints()
    client = make_client(endpoints["az-a"])
    create_table(client, "kvs")
    fresh_cluster.signal_process("node-c1", signal.SIGKILL)
    killed = fresh_cluster.topology().get("node-c1")
    # Nothing binds its port while it is down, yet no other cluster on the machine may take it.
    assert not claim_port(killed.port, owner="another cluster's data directory")
    for number in range(60):
        # A write sent just as the router learns node-c1 died has an unknown outcome (a 5xx);
        # these puts are unconditional, so repeating one is safe.
        _put_retrying(client, {"pk": {"S": f"k{number}"}, "v": {"N": str(number)}})
    topology = fresh_cluster.topology()
    fresh_cluster.start_process("node-c1")
    spec = topology.get("node-c1")

    def hosted_groups() -> list[str]:
        status = _rpc_status(spec.host, spec.port)
        return [g["group"] for g in status["groups"] if g["group"] != "metadata"] if status else []

    def caught_up() -> bool:
        # Its own replicas hold exactly what the leaders of those groups hold.
        groups = hosted_groups()
        # One view of the leaders: a lead handed back to node-c1 between two looks left a group leaderless.
        leaders = _leaders(fresh_cluster)
        if not groups or not all(leaders.get(group) for group in groups):
            return False
        here = sum(_count_items(spec.host, spec.port, group) for group in groups)
        return here == _items_in_groups(fresh_cluster, leaders, set(groups)) > 0

    _wait_until(caught_up, 30, "node-c1 to hold everything its groups' leaders hold")
    status = _rpc_status(spec.host, spec.port)
    assert status is not None
    installed = {g["group"]: g["snapshots_installed"] for g in status["groups"] if g["group"] != "metadata"}
    assert any(installed.values()), f"node-c1 caught up without a snapshot: {installed}"


def _put_retrying(client, item: dict, attempts: int = 10) -> None:  # noqa: ANN001
    for attempt in range(attempts):
        try:
            client.put_item(TableName="kvs", Item=item)
            return
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] < 500 or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def _rpc_status(host: str, port: int) -> dict | None:
    import asyncio

    async def ask() -> dict:
        rpc = RpcClient((host, port))
        try:
            return await rpc.call("status", {}, timeout_s=2)
        finally:
            await rpc.close()

    try:
        return asyncio.run(ask())
    except Exception:
        return None


def _count_items(host: str, port: int, group: str) -> int:
    import asyncio

    async def ask() -> int:
        rpc = RpcClient((host, port))
        try:
            result = await rpc.call("node.scan", {"group": group, "limit": 1000}, timeout_s=5)
            return len(result["items"])
        finally:
            await rpc.close()

    return asyncio.run(ask())


def _items_in_groups(cluster: LocalCluster, leaders: dict[str, str], groups: set[str]) -> int:
    """How many of the 60 items belong to `groups`, from the leaders' consistent view."""
    topology = cluster.topology()
    total = 0
    for group in groups:
        leader = topology.get(leaders[group])
        total += _count_items(leader.host, leader.port, group)
    return total


def test_cluster_cli_up_status_down_leaves_no_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    data_dir = tmp_path / "cli-cluster"
    command = [sys.executable, "-m", "gameday.cli", "cluster"]
    refused = subprocess.run(
        [*command, "up", "--data-dir", str(data_dir), "--snapshot-every-entries", "-1"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "snapshot_every_entries must be a whole number >= 0" in refused.stderr
    up = subprocess.run(
        [*command, "up", "--data-dir", str(data_dir), "--snapshot-every-entries", "500", "--no-scrub"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        # The switches given reach the store's topology; the others keep their defaults.
        topology = LocalCluster(data_dir).topology()
        assert (topology.snapshot_every_entries, topology.scrub_enabled, topology.log_replicas_enabled) == (500, False, True)
        endpoints = json.loads(up.stdout)["endpoints"]
        assert sorted(endpoints) == ["az-a", "az-b", "az-c"]
        status = subprocess.run([*command, "status", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
        processes = json.loads(status.stdout)["processes"]
        assert len(processes) == 12
        assert all(p["state"] == "up" and p["pid"] for p in processes)
        assert {p["role"] for p in processes} == {"node", "metadata", "router"}
        pids = [p["pid"] for p in processes]
    finally:
        down = subprocess.run([*command, "down", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    status = subprocess.run([*command, "status", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
    assert all(p["state"] == "down" for p in json.loads(status.stdout)["processes"])
