"""The fault scheduler is pure and seeded: same inputs, same plan; and every plan keeps its promises."""

from __future__ import annotations

import random

import pytest

from chaos.faults.kinds import FAULT_KINDS, TargetShape
from chaos.schedule import (
    FaultPhase,
    NodeRef,
    PlannedFault,
    ScheduleError,
    TargetOptions,
    format_plan,
    plan_faults,
)

NODES = [NodeRef(f"node-{az}{number}", f"az-{az}") for az in "abc" for number in (1, 2)]
PROCESS_MIX = {"power-off": 3, "pause": 2, "kill-leader": 2, "az-power-off": 1}
PHASE = FaultPhase(duration_s=120, interval_s=10, fault_duration_s=(4, 15), mix=PROCESS_MIX)


def _overlap(first: PlannedFault, second: PlannedFault) -> bool:
    return first.start_s < second.heal_s and second.start_s < first.heal_s


def test_same_seed_gives_the_same_plan_whatever_the_node_order() -> None:
    shuffled = list(NODES)
    random.Random(5).shuffle(shuffled)
    assert plan_faults(PHASE, 42, NODES, 10.0) == plan_faults(PHASE, 42, shuffled, 10.0)
    reordered_mix = FaultPhase(120, 10, (4, 15), dict(reversed(list(PROCESS_MIX.items()))))
    assert plan_faults(reordered_mix, 42, NODES, 10.0) == plan_faults(PHASE, 42, NODES, 10.0)


def test_different_seeds_give_different_plans() -> None:
    plans = {format_plan(plan_faults(PHASE, seed, NODES, 0.0)) for seed in range(10)}
    assert len(plans) == 10


@pytest.mark.parametrize("seed", range(100))
def test_one_fault_at_a_time_within_interval_duration_and_phase(seed: int) -> None:
    start_s = 7.5
    plan = plan_faults(PHASE, seed, NODES, start_s)
    assert plan, "a 120 s phase with a 10 s interval plans faults"
    end_s = start_s + PHASE.duration_s
    for fault in plan:
        assert start_s <= fault.start_s < fault.heal_s <= end_s
        assert PHASE.fault_duration_s[0] - 0.002 <= fault.duration_s <= PHASE.fault_duration_s[1] + 0.002
        assert fault.kind in PROCESS_MIX
    for previous, following in zip(plan, plan[1:], strict=False):
        assert following.start_s - previous.start_s >= PHASE.interval_s - 0.002
        assert following.start_s >= previous.heal_s, "the next fault starts only after the previous heals"


def test_first_fault_starts_at_the_start_of_the_phase_and_faults_keep_coming() -> None:
    plan = plan_faults(FaultPhase(60, 10, (2, 3), {"pause": 1}), 1, NODES, 5.0)
    assert [fault.start_s for fault in plan] == [5.0, 15.0, 25.0, 35.0, 45.0, 55.0]


def test_targets_are_concrete_where_the_topology_decides_and_selectors_elsewhere() -> None:
    node_ids = {node.process_id for node in NODES}
    seen = set()
    for seed in range(30):
        for fault in plan_faults(PHASE, seed, NODES, 0.0):
            seen.add(fault.kind)
            if fault.kind in ("power-off", "pause"):
                assert fault.target["process_id"] in node_ids
                assert fault.target["az"] == next(n.az for n in NODES if n.process_id == fault.target["process_id"])
            elif fault.kind == "az-power-off":
                assert fault.target == {"az": fault.target["az"], "roles": ["node"]}
                assert fault.target["az"] in {"az-a", "az-b", "az-c"}
            else:
                assert fault.target["of"] == "partition" and fault.target["index"] >= 0
    assert seen == set(PROCESS_MIX)


def test_target_options_narrow_the_choice() -> None:
    phase = FaultPhase(
        200, 10, (2, 5), {"power-off": 1, "kill-leader": 1, "az-power-off": 1},
        targets={
            "power-off": TargetOptions(azs=("az-b",)),
            "kill-leader": TargetOptions(leader_of=("metadata", "most-groups")),
            "az-power-off": TargetOptions(azs=("az-c",), roles=("node", "metadata")),
        },
    )
    plan = plan_faults(phase, 3, NODES, 0.0)
    assert {fault.target["az"] for fault in plan if fault.kind == "power-off"} == {"az-b"}
    assert {fault.target["of"] for fault in plan if fault.kind == "kill-leader"} == {"metadata", "most-groups"}
    assert all("index" not in fault.target for fault in plan if fault.kind == "kill-leader")
    assert {(fault.target["az"], tuple(fault.target["roles"])) for fault in plan if fault.kind == "az-power-off"} == {
        ("az-c", ("node", "metadata"))
    }


def test_concurrent_faults_never_touch_two_azs_unless_allowed() -> None:
    phase = FaultPhase(300, 2, (5, 20), {"power-off": 4, "pause": 4, "kill-leader": 1}, max_concurrent_faults=3)
    concurrent_seen = 0
    for seed in range(50):
        plan = plan_faults(phase, seed, NODES, 0.0)
        for index, first in enumerate(plan):
            overlapping = [second for second in plan[index + 1:] if _overlap(first, second)]
            for second in overlapping:
                concurrent_seen += 1
                # Unknown footprints (a leader only the live cluster knows) never overlap anything.
                assert "process_id" in first.target and "process_id" in second.target
                assert first.target["az"] == second.target["az"]
                assert first.target["process_id"] != second.target["process_id"]
            active_at_start = [other for other in plan if other.start_s <= first.start_s < other.heal_s]
            assert len(active_at_start) <= 3
    assert concurrent_seen > 0, "with max_concurrent_faults = 3 some faults do overlap"


def test_allow_majority_loss_lets_faults_span_azs() -> None:
    phase = FaultPhase(300, 2, (5, 20), {"power-off": 1, "az-power-off": 1}, max_concurrent_faults=2, allow_majority_loss=True)
    spans_two_azs = False
    for seed in range(20):
        plan = plan_faults(phase, seed, NODES, 0.0)
        for index, first in enumerate(plan):
            for second in plan[index + 1:]:
                if _overlap(first, second):
                    spans_two_azs |= first.target["az"] != second.target["az"]
                    assert first.target.get("process_id") is None or first.target.get("process_id") != second.target.get("process_id")
    assert spans_two_azs


def test_no_fault_fits_when_the_phase_is_shorter_than_the_shortest_fault() -> None:
    assert plan_faults(FaultPhase(3, 1, (4, 4), {"pause": 1}), 0, NODES, 0.0) == []


def test_last_fault_is_clipped_to_heal_by_the_end_of_the_phase() -> None:
    plan = plan_faults(FaultPhase(25, 10, (4, 8), {"pause": 1}), 9, NODES, 0.0)
    assert plan[-1].start_s == 20.0 and plan[-1].heal_s <= 25.0


def test_unplannable_phases_are_refused() -> None:
    with pytest.raises(ScheduleError, match="az-z"):
        plan_faults(FaultPhase(30, 5, (1, 2), {"pause": 1}, {"pause": TargetOptions(azs=("az-z",))}), 0, NODES, 0.0)
    with pytest.raises(ScheduleError, match="unknown fault kinds"):
        plan_faults(FaultPhase(30, 5, (1, 2), {"meteor": 1}), 0, NODES, 0.0)
    with pytest.raises(ScheduleError, match="no node"):
        plan_faults(FaultPhase(30, 5, (1, 2), {"power-off": 1}), 0, [], 0.0)


def test_every_catalogued_kind_can_be_planned() -> None:
    # Later injectors need no scheduler change: each kind's target shape is handled generically.
    plan = plan_faults(FaultPhase(2000, 5, (1, 2), dict.fromkeys(FAULT_KINDS, 1.0)), 11, NODES, 0.0)
    assert {fault.kind for fault in plan} == set(FAULT_KINDS)
    for fault in plan:
        if FAULT_KINDS[fault.kind].target_shape is TargetShape.CLUSTER:
            assert set(fault.target) == {"index"}


def test_format_plan_is_a_readable_timeline() -> None:
    plan = [
        PlannedFault(10.0, 14.25, "power-off", {"process_id": "node-b1", "az": "az-b"}),
        PlannedFault(20.0, 26.0, "kill-leader", {"of": "partition", "index": 7}),
        PlannedFault(30.0, 35.0, "az-power-off", {"az": "az-c", "roles": ["node", "metadata"]}),
        PlannedFault(40.0, 45.0, "kill-leader", {"of": "metadata"}),
    ]
    text = format_plan(plan, seed=1234)
    lines = text.splitlines()
    assert lines[0] == "fault schedule: 4 fault(s), seed 1234"
    assert len(lines) == 5
    assert "10.0s" in lines[1] and "14.2s" in lines[1] and "power-off" in lines[1] and "node-b1 (az-b)" in lines[1]
    assert "leader of partition group #7" in lines[2]
    assert "every process of az-c [node, metadata]" in lines[3]
    assert "leader of the metadata group" in lines[4]
    assert "no faults" in format_plan([], seed=1)


@pytest.mark.parametrize("seed", range(50))
def test_a_plan_with_enough_slots_covers_every_kind_of_the_mix(seed: int) -> None:
    # The smoke scenario's shape: a short phase with exactly room for one of each kind (and one more).
    smoke = FaultPhase(duration_s=30, interval_s=8, fault_duration_s=(3, 5), mix={"power-off": 1, "pause": 1, "kill-leader": 1})
    kinds = [fault.kind for fault in plan_faults(smoke, seed, NODES, 5.0)]
    assert set(kinds) == {"power-off", "pause", "kill-leader"}
    assert len(set(kinds[:3])) == 3, "the first faults cover the mix before any kind repeats"


def test_each_bit_rot_fault_carries_its_own_seed_and_a_replay_repeats_it() -> None:
    phase = FaultPhase(duration_s=60, interval_s=5, fault_duration_s=(1, 2), mix={"bit-rot": 1})
    plan = plan_faults(phase, 9, NODES, 0.0)
    seeds = [fault.target["seed"] for fault in plan]
    assert len(plan) > 3 and len(set(seeds)) == len(seeds)
    assert [fault.target["seed"] for fault in plan_faults(phase, 9, NODES, 0.0)] == seeds
