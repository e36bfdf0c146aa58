"""leader-churn, flapping network faults and kill-random-subset, driven step by step on an explicit clock.

Process faults act on the controller tests' stand-in cluster (real OS processes, real signals, real
power-on); network faults on real Toxiproxy links (our server as a subprocess) in front of loopback
echo servers. Only who leads a group is played by the test, as an election would move it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.controller import ChaosController
from chaos.faults.flapping import FlappingLatency, FlappingPartition, flap_phases
from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.leader_churn import ISOLATE_LIMIT_S, LeaderChurn
from chaos.faults.leaders import LeaderView
from chaos.faults.network_faults import PartitionLeader, isolate_process_streams
from chaos.faults.random_subset_kill import KillRandomSubset
from chaos.faults.registry import InjectorRegistry
from chaos.network_links import ProxiedLinks
from chaos.schedule import PlannedFault
from chaos.toxiproxy.subprocess_server import RunningToxiproxy, running_toxiproxy_server
from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.topology import ProcessSpec, Topology
from tests.chaos.test_chaos_controller import Recorder, StandInCluster, _all_up, _wait_for, cluster  # noqa: F401

pytest_plugins = ["tests.chaos.toxiproxy_test_support"]
pytestmark = pytest.mark.timeout(60)

MEMBERS = ["node-a1", "node-b1", "node-c1"]  # one replica per AZ, as the store places a group


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Elections:
    """Group t-p0 of MEMBERS: when its leader dies (or restarts with a new pid) the next member in turn
    wins the following election; the look in between finds the group leaderless, as mid-election."""

    def __init__(self, processes: LocalCluster) -> None:
        self.cluster = processes
        self.turn = 0
        self.leader_pid: int | None = None

    def __call__(self) -> LeaderView:
        leader = MEMBERS[self.turn % len(MEMBERS)]
        pid = self.cluster.pids()[leader] if self.cluster.is_running(leader) else None
        if self.leader_pid is None:
            self.leader_pid = pid
        if pid is None or pid != self.leader_pid:
            self.turn += 1
            self.leader_pid = None
            return LeaderView({}, ["t-p0"])
        return LeaderView({"t-p0": leader}, ["t-p0"])


def _down(processes: LocalCluster) -> list[str]:
    return [member for member in MEMBERS if not processes.is_running(member)]


def test_leader_churn_kills_each_new_leader_and_never_two_replicas_of_the_group(cluster: StandInCluster) -> None:  # noqa: F811
    clock = Clock()
    context = FaultContext(cluster, Elections(cluster), leader_wait_s=1.0, clock=clock)
    churn = LeaderChurn({"of": "partition", "index": 0, "by": "kill", "down_s": 0.5})
    started = churn.start(context)
    assert (started["group"], started["process_ids"], started["by"]) == ("t-p0", ["node-a1"], "kill")
    assert _down(cluster) == ["node-a1"]
    events: list[dict[str, Any]] = []
    for step in range(1, 40):
        clock.now = step * 0.1
        events += churn.tick(context)
        assert len(_down(cluster)) <= 1, "the next leader is taken only once the last victim is back"
    kills = [event["value"]["process_ids"][0] for event in events if event["f"] == "churn-kill"]
    # Killed at once when it leads; back after down_s; the next leader after it: a1, b1, c1, a1, ...
    assert ["node-a1", *kills][:4] == ["node-a1", "node-b1", "node-c1", "node-a1"]
    assert [event["f"] for event in events[:2]] == ["churn-power-on", "churn-kill"]
    down_at_heal = _down(cluster)
    assert len(down_at_heal) == 1, "this clock ends with a victim away"
    healed = churn.heal(context)
    assert healed["process_ids"] == MEMBERS and healed["leaders_taken"][:3] == MEMBERS
    assert list(healed["started_pids"]) == down_at_heal, "the heal names the victim it started"
    assert healed["leader_changes_per_s"] > 1.0  # on this clock: a change every 0.6 s
    assert _all_up(cluster)
    assert churn.heal(context)["healed"] is False and churn.tick(context) == []


def test_leader_churn_under_the_controller_records_each_takeaway_with_its_fault(cluster: StandInCluster) -> None:  # noqa: F811
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder, leaders=Elections(cluster))
    plan = [PlannedFault(0.0, 3.0, "leader-churn", {"of": "partition", "index": 0, "by": "kill", "down_s": 0.1})]
    outcome = controller.run(plan, threading.Event(), time.monotonic())
    assert outcome.reason == "completed"
    functions = recorder.functions()
    assert functions[0] == "start-leader-churn" and functions[-1] == "stop-leader-churn"
    assert "churn-power-on" in functions and "heal-all" not in functions, "the fault healed its own victims"
    for event, states in zip(recorder.events, recorder.states_at_event, strict=True):
        assert event["value"]["fault"] == 1
        assert sum(states[member] == "down" for member in MEMBERS) <= 1
    middle = recorder.events[1:-1]
    assert all(event["value"]["kind"] == "leader-churn" for event in middle)
    assert _all_up(cluster)


def test_kill_random_subset_powers_on_only_what_it_powered_off(cluster: StandInCluster) -> None:  # noqa: F811
    context = FaultContext(cluster, lambda: LeaderView({}))
    cluster.signal_process("node-a2", signal.SIGKILL)  # down before the fault: not this fault's to power on
    _wait_for(lambda: not cluster.is_running("node-a2"), "node-a2 to die")
    subset = KillRandomSubset({"process_ids": ["node-a1", "node-a2"], "azs": ["az-a"]})
    assert subset.start(context)["process_ids"] == ["node-a1"]
    assert not cluster.is_running("node-a1")
    assert subset.heal(context)["process_ids"] == ["node-a1"]
    assert cluster.is_running("node-a1") and not cluster.is_running("node-a2")
    assert subset.heal(context)["healed"] is False


class _Ticker:
    kind = "leader-churn"

    def __init__(self, target: dict[str, Any]) -> None:
        self.healed = 0

    def start(self, context: FaultContext) -> dict[str, Any]:
        return {"process_ids": []}

    def tick(self, context: FaultContext) -> list[dict[str, Any]]:
        raise RuntimeError("proxy server gone")

    def heal(self, context: FaultContext) -> dict[str, Any]:
        self.healed += 1
        return {"healed": True}


def test_a_fault_whose_step_fails_is_healed_at_once_and_says_why(cluster: StandInCluster) -> None:  # noqa: F811
    recorder = Recorder(cluster)
    controller = ChaosController(cluster, recorder, registry=InjectorRegistry({"leader-churn": _Ticker}))
    began = time.monotonic()
    plan = [PlannedFault(0.0, 30.0, "leader-churn", {"of": "metadata"})]
    controller.run(plan, threading.Event(), began)
    assert recorder.functions() == ["start-leader-churn", "error-leader-churn", "stop-leader-churn"]
    assert "proxy server gone" in recorder.events[1]["value"]["error"]
    assert time.monotonic() - began < 25, "healed at the failing step, not at its planned heal"


# ---- network faults on real proxied links -------------------------------------------------------------


class LinkedCluster:
    """What network injectors ask of a cluster: its topology and its proxied links."""

    def __init__(self, links: ProxiedLinks) -> None:
        self._links = links

    def links(self) -> ProxiedLinks:
        return self._links

    def topology(self) -> Topology:
        return self._links.topology


@pytest.fixture(scope="module")
def toxiproxy_server() -> Iterator[RunningToxiproxy]:
    with running_toxiproxy_server() as running:
        yield running


@pytest.fixture
def links(toxiproxy_server: RunningToxiproxy, echo_upstream: str) -> Iterator[ProxiedLinks]:
    port = int(echo_upstream.rpartition(":")[2])
    topology = Topology([ProcessSpec(member, "node", f"az-{member[5]}", "127.0.0.1", port) for member in MEMBERS])
    proxied = ProxiedLinks(topology, toxiproxy_server.url)
    topology.links = proxied.create()
    yield proxied
    proxied.heal_all()


def _cut_processes(links: ProxiedLinks) -> set[str]:
    """Every process with a toxic on a link it sends or receives on."""
    return {process for toxic in links.toxics_active() for process in toxic["proxy"].split("--")}


def test_a_flapping_partition_toggles_in_its_seeded_rhythm_and_heals_clean(links: ProxiedLinks) -> None:
    clock = Clock()
    context = FaultContext(LinkedCluster(links), lambda: LeaderView({}), clock=clock)  # type: ignore[arg-type]
    target = {"process_id": "node-a1", "az": "az-a", "seed": 7, "flap_min_s": 0.2, "flap_max_s": 1.0}
    phases = flap_phases(7, 0.2, 1.0, 4)
    assert all(0.2 <= phase <= 1.0 for phase in phases) and flap_phases(7, 0.2, 1.0, 4) == phases
    flapping = FlappingPartition(target)
    started = flapping.start(context)
    assert started["links"] and _cut_processes(links) == set(MEMBERS)
    assert all(toxic["toxic"].startswith("flapping-partition-") for toxic in links.toxics_active())
    clock.now = phases[0] - 0.01
    assert flapping.tick(context) == []
    clock.now = phases[0]
    assert [event["f"] for event in flapping.tick(context)] == ["flap-off"]
    assert links.toxics_active() == []
    clock.now += phases[1]
    assert [event["f"] for event in flapping.tick(context)] == ["flap-on"]
    assert _cut_processes(links) == set(MEMBERS)
    clock.now += phases[2]
    flapping.tick(context)  # off again: heal in the off phase must still leave nothing behind
    assert flapping.heal(context)["toggles"] == 3
    assert links.toxics_active() == []
    assert flapping.heal(context)["healed"] is False and flapping.tick(context) == []


def test_leader_churn_by_isolation_moves_on_only_once_another_leads(links: ProxiedLinks) -> None:
    clock = Clock()
    leader = {"now": "node-a1"}
    context = FaultContext(
        LinkedCluster(links),  # type: ignore[arg-type]
        lambda: LeaderView({"t-p0": leader["now"]}, ["t-p0"]),
        clock=clock,
    )
    churn = LeaderChurn({"of": "partition", "index": 0, "by": "isolate", "down_s": 0.5})
    assert churn.start(context)["process_ids"] == ["node-a1"]
    isolated_a1 = {toxic["proxy"] for toxic in links.toxics_active()}
    assert isolated_a1 and all("node-a1" in proxy for proxy in isolated_a1)
    clock.now = 1.0
    assert churn.tick(context) == [], "the isolated node still calls itself leader: nobody else leads yet"
    leader["now"] = "node-b1"
    assert [event["f"] for event in churn.tick(context)] == ["churn-reconnect", "churn-isolate"]
    assert all("node-b1" in toxic["proxy"] for toxic in links.toxics_active())
    clock.now = 1.0 + ISOLATE_LIMIT_S  # nobody else was elected: b1 is reconnected anyway, then taken again
    assert [event["f"] for event in churn.tick(context)] == ["churn-reconnect", "churn-isolate"]
    healed = churn.heal(context)
    assert healed["leaders_taken"] == ["node-a1", "node-b1", "node-b1"] and healed["by"] == "isolate"
    assert links.toxics_active() == []


def test_flapping_latency_slows_every_link_of_one_process_only(links: ProxiedLinks) -> None:
    context = FaultContext(LinkedCluster(links), lambda: LeaderView({}))  # type: ignore[arg-type]
    flapping = FlappingLatency({"process_id": "node-b1", "az": "az-b", "seed": 1, "latency_ms": 150, "jitter_ms": 0})
    started = flapping.start(context)
    every_link = isolate_process_streams(links.topology, "node-b1")  # what partition-node would cut
    assert sorted(started["links"]) == sorted(link.describe() for link in every_link)
    toxics = links.toxics_active()
    assert {toxic["type"] for toxic in toxics} == {"latency"} and all("node-b1" in toxic["proxy"] for toxic in toxics)
    assert started["attributes"] == {"latency": 150, "jitter": 0}
    flapping.heal(context)
    assert links.toxics_active() == []


def test_partition_leader_cuts_whoever_leads_the_selected_group_and_heals_clean(links: ProxiedLinks) -> None:
    context = FaultContext(
        LinkedCluster(links),  # type: ignore[arg-type]
        lambda: LeaderView({"t-p0": "node-a1", "t-p1": "node-b1"}, ["t-p0", "t-p1"]),
    )
    fault = PartitionLeader({"of": "partition", "index": 1})
    started = fault.start(context)
    assert started["group"] == "t-p1" and started["process_ids"] == ["node-b1"] and started["of"] == "partition"
    every_link = isolate_process_streams(links.topology, "node-b1")
    assert sorted(started["links"]) == sorted(link.describe() for link in every_link)
    assert all("node-b1" in toxic["proxy"] for toxic in links.toxics_active())
    fault.heal(context)
    assert links.toxics_active() == []
    leaderless = FaultContext(LinkedCluster(links), lambda: LeaderView({}, ["t-p0"]), leader_wait_s=0.0)  # type: ignore[arg-type]
    with pytest.raises(FaultNotApplicable, match="nobody leads partition"):
        PartitionLeader({"of": "partition", "index": 0}).start(leaderless)
