"""lagging-election, driven step by step on an explicit clock against the controller tests' stand-in
cluster (real OS processes, real SIGKILL/SIGSTOP/SIGCONT, real power-on); only who leads the group is
played by the test, as an election would move it."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from chaos.faults.injector import FaultContext
from chaos.faults.lagging_election import ORPHAN_S, SETTLE_LIMIT_S, LaggingElection, group_members
from cluster.deploy.local_processes import process_state
from gameday.scenario import ScenarioError, parse_scenario
from tests.chaos.test_chaos_composed_injectors import MEMBERS, Clock, Elections, _down
from tests.chaos.test_chaos_controller import StandInCluster, _all_up, cluster  # noqa: F401

pytestmark = pytest.mark.timeout(60)


class _WithMembership:
    """The stand-in's status plus the group's membership in its leader's entry, as a storage node reports it."""

    def __init__(self, stand_in: StandInCluster) -> None:
        self._stand_in = stand_in

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stand_in, name)

    def status(self) -> dict[str, Any]:
        status = self._stand_in.status()
        for process in status["processes"]:
            if process["id"] in MEMBERS:
                process["groups"] = [{"group": "t-p0", "role": "leader", "membership": {"storage": MEMBERS}}]
        return status


def _paused(stand_in: StandInCluster, process_id: str) -> bool:
    return process_state(stand_in.pids()[process_id]) == "T"


def _started(stand_in: StandInCluster, lag_s: float, hold_s: float, seed: int) -> tuple[Clock, FaultContext, LaggingElection]:
    """A clock at 0, a context whose group t-p0 is led by node-a1, and the fault on it."""
    clock = Clock()
    context = FaultContext(_WithMembership(stand_in), Elections(stand_in), leader_wait_s=1.0, clock=clock)
    return clock, context, LaggingElection({"of": "partition", "index": 0, "lag_s": lag_s, "hold_s": hold_s, "seed": seed})


def test_a_round_lags_a_follower_then_leaves_it_alone_to_campaign_and_the_heal_restores_everything(
    cluster: StandInCluster,  # noqa: F811
) -> None:
    clock, context, fault = _started(cluster, lag_s=1.0, hold_s=1.0, seed=3)
    started = fault.start(context)
    laggard, voter = started["laggard"], started["voter"]
    assert started["leader"] == "node-a1" and {laggard, voter} == {"node-b1", "node-c1"}
    assert list(started["killed_pids"]) == [laggard] and _down(cluster) == [laggard]
    clock.now = 0.5
    assert fault.tick(context) == []  # still lagging
    clock.now = 1.0
    [orphan] = fault.tick(context)
    assert orphan["f"] == "lagging-orphan" and list(orphan["value"]["killed_pids"]) == ["node-a1"]
    assert sorted(_down(cluster)) == sorted(["node-a1", laggard]) and not _paused(cluster, voter)
    clock.now = 1.0 + ORPHAN_S
    [election] = fault.tick(context)
    assert election["f"] == "lagging-election" and election["value"]["paused"] == voter
    assert list(election["value"]["started_pids"]) == [laggard]
    assert _down(cluster) == ["node-a1"] and _paused(cluster, voter) and not _paused(cluster, laggard)
    clock.now = 1.5 + ORPHAN_S
    assert fault.tick(context) == []  # the laggard campaigns alone
    clock.now = 2.0 + ORPHAN_S
    [resume] = fault.tick(context)
    assert resume["f"] == "lagging-resume" and not _paused(cluster, voter)
    # The stand-in finds the group leaderless once after node-a1 died, then led by node-b1: the old
    # leader is powered on once another process leads (well before SETTLE_LIMIT_S).
    events: list[dict[str, Any]] = []
    while not events:
        clock.now += 0.1
        events += fault.tick(context)
    [power_on] = events
    assert power_on["f"] == "lagging-power-on" and list(power_on["value"]["started_pids"]) == ["node-a1"]
    assert clock.now < 2.0 + ORPHAN_S + SETTLE_LIMIT_S and _all_up(cluster)
    clock.now += 0.1
    [second] = fault.tick(context)  # the next round, against the group's new leader
    assert second["f"] == "lagging-kill" and second["value"]["round"] == 2
    healed = fault.heal(context)
    assert healed["rounds"] == 2 and healed["process_ids"] == MEMBERS
    assert list(healed["started_pids"]) == [second["value"]["laggard"]]
    assert _all_up(cluster) and not any(_paused(cluster, member) for member in MEMBERS)
    assert fault.heal(context)["healed"] is False and fault.tick(context) == []


def test_a_heal_while_the_laggard_campaigns_resumes_the_voter_and_powers_the_leader_on(
    cluster: StandInCluster,  # noqa: F811
) -> None:
    clock, context, fault = _started(cluster, lag_s=0.5, hold_s=5.0, seed=1)
    voter = fault.start(context)["voter"]
    for now in (0.5, 0.5 + ORPHAN_S):
        clock.now = now
        fault.tick(context)
    assert _paused(cluster, voter) and _down(cluster) == ["node-a1"]
    healed = fault.heal(context)
    assert list(healed["started_pids"]) == ["node-a1"]
    assert _all_up(cluster) and not _paused(cluster, voter)


def test_members_come_from_the_leaders_status_or_a_three_node_cluster() -> None:
    status = {"processes": [{"id": "node-a2", "groups": [
        {"group": "g", "role": "leader", "membership": {"storage": ["node-c1", "node-a2", "node-b2"]}}]}]}  # fmt: skip
    assert group_members(status, "node-a2", "g", []) == ["node-a2", "node-b2", "node-c1"]
    assert group_members({}, "node-a1", None, ["node-b1", "node-a1", "node-c1"]) == ["node-a1", "node-b1", "node-c1"]
    with pytest.raises(LookupError):
        group_members({}, "node-a1", "g", ["node-a1", "node-a2", "node-b1", "node-c1"])


def test_a_scenario_must_allow_majority_loss_to_run_it() -> None:
    path = Path(__file__).parents[2] / "gameday" / "selftest_scenarios" / "planted-lagging-election.toml"
    data = tomllib.loads(path.read_text())
    assert parse_scenario(data, "lagging.toml").faults.options_for("lagging-election").parameters == {"lag_s": 1.5, "hold_s": 1.5}
    refused = copy.deepcopy(data)
    refused["faults"]["allow_majority_loss"] = False
    with pytest.raises(ScenarioError) as error:
        parse_scenario(refused, "lagging.toml")
    assert error.value.field_path == "faults.mix.lagging-election"
