"""Log replicas on real processes: a powered-off storage node is stood in for, and the stand-in leaves."""

from __future__ import annotations

import signal
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.deploy.local_processes import LocalCluster
from tests.cluster.acknowledged_writes import AcknowledgedWrites, missing_acknowledged
from tests.cluster.conftest import create_table, make_client
from tests.cluster.test_cluster_failures import _wait_until

pytestmark = pytest.mark.cluster


def _groups(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    """Each partition group as its leader reports it (membership included)."""
    groups: dict[str, dict[str, Any]] = {}
    for process in cluster.status()["processes"]:
        for group in process.get("groups", []):
            if group.get("role") == "leader" and group["group"] != "metadata":
                groups[group["group"]] = {**group, "leader_process": process["id"]}
    return groups


def _log_replica_events(cluster: LocalCluster) -> list[dict[str, Any]]:
    """Every node's recorded changes in time order (leadership may have moved: two nodes recorded some)."""
    events = []
    for process in cluster.status()["processes"]:
        events += process.get("log_replicas", {}).get("events", [])
    return sorted(events, key=lambda event: event.get("committed_at") or event.get("detected_at") or 0.0)


def test_a_powered_off_node_gets_a_log_replica_that_leaves_when_it_is_back(fresh_cluster: LocalCluster) -> None:
    endpoints = list(fresh_cluster.endpoints().values())
    create_table(make_client(endpoints[0]), "kvs")
    writes = AcknowledgedWrites(endpoints, "kvs")
    writes.start()
    try:
        _wait_until(lambda: writes.count() >= 50, 30, "50 acknowledged writes")
        groups = _groups(fresh_cluster)
        assert groups, "no partition group has a leader"
        group_id, group = sorted(groups.items())[0]
        # A follower of that group, so the leader stays and does the healing.
        victim = next(member for member in group["membership"]["storage"] if member != group["leader_process"])
        fresh_cluster.signal_process(victim, signal.SIGKILL)
        killed_at = time.time()

        led: dict[str, Any] = {}

        def stood_in() -> bool:
            now_led = _groups(fresh_cluster).get(group_id)
            if now_led and now_led["membership"]["log"] and now_led["membership_index"] <= now_led["commit_index"]:
                led.update(now_led)
                return True
            return False

        _wait_until(stood_in, 20, f"a log replica in {group_id}")
        [log_replica] = led["membership"]["log"]
        topology = fresh_cluster.topology()
        assert topology.get(log_replica).az == topology.get(victim).az
        assert log_replica not in led["membership"]["storage"]
        # Then the silent replica leaves: three healthy members, so a second failure would be survived.
        # .get: for a moment no member may report itself the group's leader (a leadership change).
        _wait_until(lambda: victim not in _groups(fresh_cluster).get(group_id, group)["membership"]["storage"], 10,
                    f"{victim} removed from {group_id}")
        count_during = writes.count()
        _wait_until(lambda: writes.count() >= count_during + 50, 30, "writes while the log replica stands in")
        added = next(e for e in _log_replica_events(fresh_cluster)
                     if e["group"] == group_id and e["action"] == "add-log-replica" and "failed" not in e)
        assert added["unhealthy"] == victim and added["member"] == log_replica
        assert added["committed_at"] - killed_at < 10

        fresh_cluster.start_process(victim)

        def removed() -> bool:
            led = _groups(fresh_cluster).get(group_id)
            return bool(led and not led["membership"]["log"] and led["membership_index"] <= led["commit_index"])

        _wait_until(removed, 30, f"the log replica of {group_id} removed")
        assert sorted(_groups(fresh_cluster)[group_id]["membership"]["storage"]) == sorted(group["membership"]["storage"])
        actions = [e["action"] for e in _log_replica_events(fresh_cluster) if e["group"] == group_id and "failed" not in e]
        # In this order (a step may be retried, e.g. a learner that fell silent under load is replaced).
        expected = iter(actions)
        steps = ["add-learner", "add-log-replica", "remove-storage-replica", "restore-storage-replica", "remove-log-replica"]
        assert all(step in expected for step in steps), actions
        _wait_until(lambda: group_id not in _hosted_log_replicas(fresh_cluster, log_replica), 10,
                    f"{log_replica} dropping its log replica")
        # The nodes' /metrics count what their group leaders did, by kind.
        changes: dict[str, float] = {}
        for spec in fresh_cluster.topology().by_role("node"):
            with urllib.request.urlopen(f"http://{spec.host}:{spec.metrics_port}/metrics", timeout=5) as page:
                exposition = page.read().decode()
            for family in text_string_to_metric_families(exposition):
                for sample in family.samples:
                    if sample.name == "log_replica_changes_total":
                        action = sample.labels["action"]
                        changes[action] = changes.get(action, 0.0) + sample.value
        assert changes["add-log-replica"] >= 1 and changes["remove-log-replica"] >= 1
        # The leader's record of what it did outlives it (a whole-cluster power-off must not erase it).
        recorder = added["leader"]
        fresh_cluster.signal_process(recorder, signal.SIGKILL)
        _wait_until(lambda: not fresh_cluster.is_running(recorder), 10, f"{recorder} gone")
        fresh_cluster.start_process(recorder)
        _wait_until(lambda: added in _events_of(fresh_cluster, recorder), 20, f"{recorder}'s events after a restart")
    finally:
        writes.stop()
    assert missing_acknowledged(endpoints[1], "kvs", writes.acknowledged) == []


def _log_replica_status(cluster: LocalCluster, process_id: str, field: str) -> list[Any]:
    """One field ("events", "hosting") of a process's log-replica status; empty while it does not answer."""
    for process in cluster.status()["processes"]:
        if process["id"] == process_id:
            return list(process.get("log_replicas", {}).get(field, []))
    return []


def _events_of(cluster: LocalCluster, process_id: str) -> list[dict[str, Any]]:
    return _log_replica_status(cluster, process_id, "events")


def _hosted_log_replicas(cluster: LocalCluster, process_id: str) -> list[str]:
    return _log_replica_status(cluster, process_id, "hosting")


def test_switched_off_a_group_keeps_its_dead_replica_and_adds_no_log_replica(tmp_path) -> None:  # noqa: ANN001
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up(wait_s=60, settings={"log_replicas_enabled": False})
        assert cluster.topology().log_replicas_enabled is False
        create_table(make_client(next(iter(cluster.endpoints().values()))), "kvs")
        group_id, group = sorted(_groups(cluster).items())[0]
        victim = next(member for member in group["membership"]["storage"] if member != group["leader_process"])
        cluster.signal_process(victim, signal.SIGKILL)
        # Well past the 1.5 s detection timeout: with the switch on, the group would have healed by now.
        time.sleep(5)
        led = _groups(cluster)[group_id]
        assert led["membership"] == group["membership"]
        assert _log_replica_events(cluster) == []
    finally:
        cluster.down()
