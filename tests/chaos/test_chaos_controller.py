"""The controller and process injectors against real OS processes, real signals and the real LocalCluster.

The store's processes are replaced by stand-ins (a Python sleep loop carrying the same command-line
marker) so these tests run without the consensus core: LocalCluster's own pid bookkeeping, /proc
checks, SIGKILL/SIGSTOP/SIGCONT and power-on are the code under test. Live-cluster versions are in
test_chaos_live_cluster.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.controller import ChaosController
from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView, choose_leader, leader_view_from_status
from chaos.faults.process_faults import KillLeader, Pause, PowerOff
from chaos.faults.registry import UnsupportedFaultError
from chaos.schedule import PlannedFault
from cluster.deploy.local_processes import LocalCluster, process_state
from cluster.runtime.topology import ProcessSpec, Topology

SLEEP_FOREVER = "import time\nwhile True:\n    time.sleep(3600)"


class StandInCluster(LocalCluster):
    """LocalCluster whose processes are sleep loops: everything but what runs inside a process is real."""

    def _spawn(self, process_id: str) -> int:
        process_dir = self.data_dir / "processes" / process_id
        process_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-c", SLEEP_FOREVER, "--id", process_id, "--data-dir", str(process_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        return process.pid

    def status(self) -> dict[str, Any]:  # the stand-ins answer no RPC: report only what /proc says
        pids = self.pids()
        return {
            "processes": [
                {"id": spec.process_id, "state": ("paused" if process_state(pids[spec.process_id]) == "T" else "up")
                 if self.is_running(spec.process_id) else "down"}
                for spec in self.topology().processes
            ]
        }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[StandInCluster]:
    stand_in = StandInCluster(tmp_path / "cluster")
    stand_in.data_dir.mkdir(parents=True)
    specs = [("node-a1", "node", "az-a"), ("node-a2", "node", "az-a"), ("node-b1", "node", "az-b"),
             ("node-c1", "node", "az-c"), ("meta-a", "metadata", "az-a"), ("router-a", "router", "az-a")]
    Topology([ProcessSpec(pid, role, az, "127.0.0.1", 1) for pid, role, az in specs]).save(stand_in.topology_path)
    try:
        stand_in._save_pids({process_id: stand_in._spawn(process_id) for process_id, _, _ in specs})
        _wait_for(lambda: _all_up(stand_in), "every stand-in to exec")
        yield stand_in
    finally:
        stand_in.down()


class Recorder:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.events: list[dict[str, Any]] = []
        self.states_at_event: list[dict[str, str]] = []  # process states when each event was recorded

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.states_at_event.append({p["id"]: p["state"] for p in self.cluster.status()["processes"]})

    def functions(self) -> list[str]:
        return [event["f"] for event in self.events]


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _states(cluster: LocalCluster) -> dict[str, str]:
    return {p["id"]: p["state"] for p in cluster.status()["processes"]}


def _all_up(cluster: LocalCluster) -> bool:
    return set(_states(cluster).values()) == {"up"}


def test_power_off_is_applied_on_time_recorded_and_healed(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    old_pid = cluster.pids()["node-b1"]
    plan = [PlannedFault(0.2, 0.6, "power-off", {"process_id": "node-b1", "az": "az-b"})]
    began = time.monotonic()
    outcome = ChaosController(cluster, recorder).run(plan, threading.Event(), began)
    assert outcome.reason == "completed" and outcome.faults_started == 1
    assert recorder.functions() == ["start-power-off", "stop-power-off"]
    start, stop = recorder.events
    assert start == {"process": "nemesis", "type": "info", "f": "start-power-off",
                     "value": {"fault": 1, "process_ids": ["node-b1"], "pids": {"node-b1": old_pid}, "az": "az-b"}}
    assert recorder.states_at_event[0]["node-b1"] == "down"
    assert recorder.states_at_event[0]["node-a1"] == "up"
    new_pid = cluster.pids()["node-b1"]
    assert new_pid != old_pid and stop["value"] == {"fault": 1, "process_ids": ["node-b1"], "pids": {"node-b1": new_pid}}
    assert _all_up(cluster)
    assert 0.55 <= time.monotonic() - began < 3.0


def test_pause_stops_then_resumes_the_same_process(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    pid = cluster.pids()["node-c1"]
    plan = [PlannedFault(0.0, 0.3, "pause", {"process_id": "node-c1", "az": "az-c"})]
    ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    assert recorder.functions() == ["start-pause", "stop-pause"]
    assert recorder.states_at_event[0]["node-c1"] == "paused"
    assert recorder.events[1]["value"] == {"fault": 1, "process_ids": ["node-c1"], "resumed": {"node-c1": pid}}
    assert cluster.pids()["node-c1"] == pid and process_state(pid) in ("S", "R")


def test_az_power_off_takes_every_chosen_role_of_the_az_and_brings_it_back(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    plan = [PlannedFault(0.0, 0.3, "az-power-off", {"az": "az-a", "roles": ["node", "metadata"]})]
    ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    start = recorder.events[0]
    assert start["value"]["process_ids"] == ["meta-a", "node-a1", "node-a2"]
    during = recorder.states_at_event[0]
    assert [during[p] for p in ("node-a1", "node-a2", "meta-a")] == ["down"] * 3
    assert during["router-a"] == during["node-b1"] == "up"
    assert recorder.events[1]["f"] == "stop-az-power-off"
    assert _all_up(cluster)


def test_kill_leader_resolves_the_selector_at_apply_time(cluster: StandInCluster) -> None:
    view = LeaderView(
        {"t-p0": "node-a1", "t-p1": "node-b1", "t-p2": "node-b1", "t-p3": "node-c1", "metadata": "meta-a"},
        ["metadata", "t-p0", "t-p1", "t-p2", "t-p3"],
    )
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder, leaders=lambda: view)
    plan = [PlannedFault(0.0, 0.2, "kill-leader", {"of": "partition", "index": 7}),  # 7 % 4 = t-p3
            PlannedFault(0.3, 0.5, "kill-leader", {"of": "most-groups"})]
    controller.run(plan, threading.Event(), time.monotonic())
    starts = [event["value"] for event in recorder.events if event["f"] == "start-kill-leader"]
    assert [(value["group"], value["process_ids"], value["az"]) for value in starts] == [
        ("t-p3", ["node-c1"], "az-c"), (None, ["node-b1"], "az-b")]
    assert recorder.states_at_event[0]["node-c1"] == "down"
    assert _all_up(cluster)


def test_kill_leader_with_no_leader_is_skipped_and_recorded(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder, leaders=lambda: LeaderView({}, []), leader_wait_s=0.3)
    outcome = controller.run([PlannedFault(0.0, 0.2, "kill-leader", {"of": "metadata"})], threading.Event(), time.monotonic())
    assert outcome.faults_skipped == 1 and outcome.faults_started == 0
    assert recorder.functions() == ["skip-kill-leader"]
    assert "no process leads the metadata group" in recorder.events[0]["value"]["reason"]
    assert _all_up(cluster)


def test_heal_is_idempotent_and_a_heal_without_start_does_nothing(cluster: StandInCluster) -> None:
    context = FaultContext(cluster, lambda: LeaderView({}))
    never_started = PowerOff({"process_id": "node-a1", "az": "az-a"})
    assert never_started.heal(context)["healed"] is False
    pause = Pause({"process_id": "node-a2", "az": "az-a"})
    assert pause.heal(context)["healed"] is False
    pause.start(context)
    assert pause.heal(context)["resumed"] == {"node-a2": cluster.pids()["node-a2"]}
    assert pause.heal(context)["healed"] is False
    power_off = PowerOff({"process_id": "node-b1", "az": "az-b"})
    power_off.start(context)
    first_pid = power_off.heal(context)["pids"]["node-b1"]
    assert power_off.heal(context)["healed"] is False
    assert cluster.pids()["node-b1"] == first_pid and _all_up(cluster)


def test_context_manager_heals_everything_after_an_exception(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    stop = threading.Event()
    plan = [PlannedFault(0.0, 60.0, "power-off", {"process_id": "node-a1", "az": "az-a"})]
    with pytest.raises(RuntimeError, match="operator error"), ChaosController(cluster, recorder) as controller:
        runner = threading.Thread(target=controller.run, args=(plan, stop, time.monotonic()))
        runner.start()
        try:
            deadline = time.monotonic() + 5
            while "start-power-off" not in recorder.functions() and time.monotonic() < deadline:
                time.sleep(0.02)
            # Faults the controller did not apply are restored too: the sweep looks at the processes themselves.
            cluster.signal_process("node-c1", signal.SIGSTOP)
            cluster.signal_process("router-a", signal.SIGKILL)
            _wait_for(lambda: _states(cluster)["node-c1"] == "paused" and _states(cluster)["router-a"] == "down",
                      "the manual faults to take effect")
            raise RuntimeError("operator error")
        finally:
            stop.set()
            runner.join(timeout=10)
    assert not runner.is_alive()
    assert _all_up(cluster)
    functions = recorder.functions()
    assert functions[:2] == ["start-power-off", "stop-power-off"]
    sweep = next(event["value"] for event in recorder.events if event["f"] == "heal-all")
    assert sweep["resumed"] == ["node-c1"] and list(sweep["powered_on"]) == ["router-a"]
    assert functions.count("stop-power-off") == 1, "the run's own final heal found nothing left to heal"


def test_stop_event_ends_the_run_promptly_without_starting_later_faults(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    began = time.monotonic()
    plan = [PlannedFault(30.0, 35.0, "pause", {"process_id": "node-a1", "az": "az-a"})]
    outcome = ChaosController(cluster, recorder).run(plan, stop, began)
    assert outcome.reason == "stopped" and outcome.faults_started == 0
    assert time.monotonic() - began < 1.5
    assert recorder.events == []


def test_a_steady_state_probe_red_past_its_limit_aborts_and_heals(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder)
    checks: list[float] = []

    def canary_red() -> bool:
        checks.append(time.monotonic())
        if len(checks) % 2:
            raise ConnectionError("router refused")  # a probe that cannot ask counts as red
        return True

    controller.abort_when(canary_red, limit_s=0.4, name="az-a canary", check_every_s=0.05)
    began = time.monotonic()
    plan = [PlannedFault(0.0, 30.0, "pause", {"process_id": "node-b1", "az": "az-b"})]
    outcome = controller.run(plan, threading.Event(), began)
    assert outcome.reason == "aborted" and "az-a canary red" in outcome.detail
    assert time.monotonic() - began < 2.0
    assert recorder.functions() == ["start-pause", "abort", "stop-pause"]
    assert _all_up(cluster)


def test_a_probe_that_recovers_within_its_limit_does_not_abort(cluster: StandInCluster) -> None:
    controller = ChaosController(cluster, Recorder(cluster))
    answers = iter([True, True] + [False] * 1000)
    controller.abort_when(lambda: next(answers), limit_s=0.5, check_every_s=0.05)
    plan = [PlannedFault(0.0, 0.6, "pause", {"process_id": "node-b1", "az": "az-b"})]
    assert controller.run(plan, threading.Event(), time.monotonic()).reason == "completed"


def test_unsupported_kinds_are_refused_before_anything_is_applied(cluster: StandInCluster) -> None:
    recorder = Recorder(cluster)
    plan = [PlannedFault(0.0, 0.2, "power-off", {"process_id": "node-a1", "az": "az-a"}),
            PlannedFault(0.5, 0.7, "latency", {"process_id": "node-b1", "az": "az-b"})]
    with pytest.raises(UnsupportedFaultError, match="latency: needs Toxiproxy links"):
        ChaosController(cluster, recorder).run(plan, threading.Event(), time.monotonic())
    assert recorder.events == [] and _all_up(cluster)


def test_heal_all_never_resurrects_a_cluster_that_was_brought_down(cluster: StandInCluster) -> None:
    controller = ChaosController(cluster, Recorder(cluster))
    cluster.down()
    assert controller.heal_all() == []
    assert not any(cluster.is_running(spec.process_id) for spec in cluster.topology().processes)


def test_leader_view_from_status_prefers_the_higher_term_of_two_claimants() -> None:
    status = {"processes": [
        {"id": "node-a1", "leading": ["t-p0"], "groups": [{"group": "t-p0", "term": 3}, {"group": "t-p1", "term": 2}]},
        {"id": "node-b1", "leading": ["t-p0", "t-p1"], "groups": [{"group": "t-p0", "term": 4}, {"group": "t-p1", "term": 2}]},
        {"id": "node-c1", "state": "paused"},
        {"id": "meta-a", "leading": ["metadata"], "groups": [{"group": "metadata", "term": 1}]},
        {"id": "node-c2", "leading": [], "groups": [{"group": "t-p2", "term": 1}]},
    ]}
    view = leader_view_from_status(status)
    assert view.leaders == {"t-p0": "node-b1", "t-p1": "node-b1", "metadata": "meta-a"}
    assert view.groups == ["metadata", "t-p0", "t-p1", "t-p2"]
    nodes = {"node-a1", "node-b1", "node-c1", "node-c2"}
    assert choose_leader({"of": "most-groups"}, view, nodes) == ("node-b1", None)
    assert choose_leader({"of": "metadata"}, view, nodes) == ("meta-a", "metadata")
    assert choose_leader({"of": "partition", "index": 4}, view, nodes) == ("node-b1", "t-p1")
    with pytest.raises(LookupError, match="no process leads t-p2"):
        choose_leader({"of": "partition", "index": 2}, view, nodes)
    with pytest.raises(LookupError, match="no index-partition group exists"):
        choose_leader({"of": "index-partition", "index": 0}, view, nodes)
    indexed = LeaderView({**view.leaders, "t-i0p0": "node-c1", "t-i0p1": "node-c2"}, [*view.groups, "t-i0p0", "t-i0p1"])
    assert choose_leader({"of": "index-partition", "index": 3}, indexed, nodes) == ("node-c2", "t-i0p1")


def test_kill_leader_waits_for_an_election_in_progress(cluster: StandInCluster) -> None:
    lookups: list[int] = []

    def leaders() -> LeaderView:
        lookups.append(1)  # the third look finds the newly elected leader
        return LeaderView({"metadata": "meta-a"} if len(lookups) >= 3 else {}, ["metadata"])

    context = FaultContext(cluster, leaders, leader_wait_s=2.0)
    injector = KillLeader({"of": "metadata"})
    assert injector.start(context)["process_ids"] == ["meta-a"]
    assert len(lookups) == 3
    injector.heal(context)
    assert _all_up(cluster)
