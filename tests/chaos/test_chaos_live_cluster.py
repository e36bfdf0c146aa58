"""Process faults against a real LocalCluster: each fault takes effect, heals, and is recorded with its targets.

Starts real store processes on loopback (marked `cluster`); the fixture always brings the cluster down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaos.controller import ChaosController
from chaos.faults.leaders import leader_view_from_status
from chaos.schedule import PlannedFault
from cluster.deploy.local_processes import LocalCluster
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def live_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("chaos") / "cluster")
    try:
        cluster.up(wait_s=60)
        # A table gives the nodes partition groups to lead, so kill-leader has something to aim at.
        create_table(make_client(next(iter(cluster.endpoints().values()))), "chaos")
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def cluster(live_cluster: LocalCluster) -> Iterator[LocalCluster]:
    _wait_until(lambda: _every_group_led(live_cluster), 30, "every group to have a leader before the test")
    yield live_cluster
    # Whatever a failing test left behind, the next one starts from a whole cluster.
    ChaosController(live_cluster, lambda event: None).heal_all()
    live_cluster.wait_until_serving(30)


def _wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


def _processes(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    return {process["id"]: process for process in cluster.status()["processes"]}


def _every_group_led(cluster: LocalCluster) -> bool:
    view = leader_view_from_status(cluster.status())
    return bool(view.groups) and set(view.groups) == set(view.leaders)


def _serving(cluster: LocalCluster, process_id: str) -> bool:
    process = _processes(cluster)[process_id]
    return process["state"] == "up" and "status_error" not in process and bool(process.get("groups"))


class Recorder:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.events: list[dict[str, Any]] = []
        self.states_at_event: list[dict[str, str]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        # The states first: a test that saw the event (polling from its own thread) reads its states at once.
        self.states_at_event.append({process_id: p["state"] for process_id, p in _processes(self.cluster).items()})
        self.events.append(event)


def test_power_off_then_heal_brings_the_node_back_serving(cluster: LocalCluster) -> None:
    recorder = Recorder(cluster)
    old_pid = cluster.pids()["node-a1"]
    plan = [PlannedFault(0.0, 2.0, "power-off", {"process_id": "node-a1", "az": "az-a"})]
    outcome = ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    assert outcome.reason == "completed"
    start, stop = recorder.events
    assert start["f"] == "start-power-off" and start["value"]["process_ids"] == ["node-a1"]
    assert start["value"]["pids"] == {"node-a1": old_pid}
    assert recorder.states_at_event[0]["node-a1"] == "down"
    assert stop["f"] == "stop-power-off" and stop["value"]["pids"]["node-a1"] == cluster.pids()["node-a1"] != old_pid
    _wait_until(lambda: _serving(cluster, "node-a1"), 30, "node-a1 to serve again")


def test_pause_then_heal_resumes_the_same_process(cluster: LocalCluster) -> None:
    recorder = Recorder(cluster)
    pid = cluster.pids()["node-b2"]
    plan = [PlannedFault(0.0, 2.0, "pause", {"process_id": "node-b2", "az": "az-b"})]
    ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    assert [event["f"] for event in recorder.events] == ["start-pause", "stop-pause"]
    assert recorder.states_at_event[0]["node-b2"] == "paused"
    assert recorder.events[0]["value"]["pids"] == {"node-b2": pid}
    assert cluster.pids()["node-b2"] == pid
    _wait_until(lambda: _serving(cluster, "node-b2"), 30, "node-b2 to answer again")


def test_kill_leader_of_a_partition_moves_leadership(cluster: LocalCluster) -> None:
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder)
    stop = threading.Event()
    plan = [PlannedFault(0.0, 20.0, "kill-leader", {"of": "partition", "index": 1})]
    runner = threading.Thread(target=controller.run, args=(plan, stop, time.monotonic()))
    runner.start()
    try:
        _wait_until(lambda: len(recorder.events) >= 1, 15, "the kill")
        start = recorder.events[0]
        assert start["f"] == "start-kill-leader", start
        victim, group = start["value"]["process_ids"][0], start["value"]["group"]
        assert group != "metadata" and recorder.states_at_event[0][victim] == "down"

        def someone_else_leads() -> bool:
            leader = leader_view_from_status(cluster.status()).leaders.get(group)
            return leader is not None and leader != victim

        _wait_until(someone_else_leads, 15, f"a new leader of {group}")
    finally:
        stop.set()
        runner.join(timeout=30)
    assert [event["f"] for event in recorder.events] == ["start-kill-leader", "stop-kill-leader"]
    _wait_until(lambda: _serving(cluster, victim), 30, f"{victim} to rejoin")


def test_heal_all_after_an_exception_leaves_nothing_paused_or_down(cluster: LocalCluster) -> None:
    recorder = Recorder(cluster)
    stop = threading.Event()
    plan = [
        PlannedFault(0.0, 60.0, "pause", {"process_id": "node-c1", "az": "az-c"}),
        PlannedFault(0.5, 60.0, "power-off", {"process_id": "node-c2", "az": "az-c"}),
    ]
    with pytest.raises(RuntimeError, match="game day interrupted"), ChaosController(cluster, recorder) as controller:
        controller_thread = threading.Thread(target=controller.run, args=(plan, stop, time.monotonic()))
        controller_thread.start()
        try:
            _wait_until(lambda: len(recorder.events) >= 2, 15, "both faults to start")
            raise RuntimeError("game day interrupted")
        finally:
            stop.set()
            controller_thread.join(timeout=30)
    states = {process_id: process["state"] for process_id, process in _processes(cluster).items()}
    assert set(states.values()) == {"up"}, states
    functions = [event["f"] for event in recorder.events]
    assert functions[:2] == ["start-pause", "start-power-off"]
    assert sorted(functions[2:4]) == ["stop-pause", "stop-power-off"]
    targets = {event["f"]: event["value"]["process_ids"] for event in recorder.events}
    assert targets["start-pause"] == ["node-c1"] and targets["start-power-off"] == ["node-c2"]
    cluster.wait_until_serving(30)


def test_az_power_off_keeps_the_store_serving_and_heals_the_whole_az(cluster: LocalCluster) -> None:
    recorder = Recorder(cluster)
    plan = [PlannedFault(0.0, 3.0, "az-power-off", {"az": "az-b", "roles": ["node", "metadata"]})]
    ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    start = recorder.events[0]
    assert start["f"] == "start-az-power-off"
    assert start["value"]["az"] == "az-b" and start["value"]["process_ids"] == ["meta-b", "node-b1", "node-b2"]
    assert [recorder.states_at_event[0][p] for p in ("meta-b", "node-b1", "node-b2")] == ["down"] * 3
    assert recorder.events[1]["f"] == "stop-az-power-off"
    for process_id in ("node-b1", "node-b2"):
        _wait_until(lambda process_id=process_id: _serving(cluster, process_id), 30, f"{process_id} to serve again")


def test_leader_churn_takes_leader_after_leader_of_one_group_and_the_group_recovers(cluster: LocalCluster) -> None:
    members: dict[str, set[str]] = {}
    for process_id, process in _processes(cluster).items():
        for view in process.get("groups", []):
            members.setdefault(view["group"], set()).add(process_id)
    recorder = Recorder(cluster)
    plan = [PlannedFault(0.0, 8.0, "leader-churn", {"of": "partition", "index": 2, "by": "kill", "down_s": 0.5})]
    outcome = ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    assert outcome.reason == "completed"
    start, stop = recorder.events[0], recorder.events[-1]
    assert start["f"] == "start-leader-churn" and stop["f"] == "stop-leader-churn"
    group = start["value"]["group"]
    kills = [start] + [event for event in recorder.events if event["f"] == "churn-kill"]
    assert {event["value"]["group"] for event in kills} == {group}
    victims = [event["value"]["process_ids"][0] for event in kills]
    assert len(victims) >= 2 and len(set(victims)) >= 2, f"one kill-leader is not churn: {victims}"
    for states in recorder.states_at_event:
        assert sum(states[member] == "down" for member in members[group]) <= 1, "a majority of the group was down"
    assert stop["value"]["leaders_taken"] == victims and "heal-all" not in [event["f"] for event in recorder.events]
    print(f"leader-churn of {group}: {len(victims)} leaders taken, {stop['value']['leader_changes_per_s']}/s")
    _wait_until(lambda: _every_group_led(cluster), 30, "every group to be led again")
