"""Overlapping faults and the new kinds in the scheduler: pure, replayable by seed, and never breaking
the quorum rule (concurrent faults stay inside one AZ unless a scenario allows majority loss).

The rule is checked here from the planned targets alone, independently of the scheduler's own
bookkeeping: a wrong footprint in chaos/schedule.py cannot hide behind itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults.kinds import FAULT_KINDS, TargetShape
from chaos.schedule import FaultPhase, NodeRef, PlannedFault, TargetOptions, format_plan, plan_faults
from gameday.scenario import load_scenario

NODES = [NodeRef(f"node-{az}{number}", f"az-{az}") for az in "abc" for number in (1, 2)]
NODE_AZ = {node.process_id: node.az for node in NODES}
KILLS = {"power-off", "kill-random-subset", "kill-leader", "az-power-off"}
PARTITIONS = {"partition-node", "flapping-partition", "partition-az", "one-way", "flapping-one-way"}


def _azs_touched(fault: PlannedFault) -> set[str] | None:
    """The AZs a planned fault takes processes or links from; None when only the live cluster knows."""
    shape = FAULT_KINDS[fault.kind].target_shape
    if shape is TargetShape.EVERY_ROUTER:
        return set()
    if shape in (TargetShape.PROCESS, TargetShape.AVAILABILITY_ZONE):
        return {fault.target["az"]}
    if shape is TargetShape.PROCESS_SUBSET:
        assert fault.target["azs"] == sorted({NODE_AZ[p] for p in fault.target["process_ids"]})
        return set(fault.target["azs"])
    return None  # leader selectors, network layouts, every node


def _processes_held(fault: PlannedFault) -> set[str]:
    if "process_id" in fault.target:
        return {fault.target["process_id"]}
    return set(fault.target.get("process_ids", []))


def _active_at(plan: Sequence[PlannedFault], instant_s: float) -> list[PlannedFault]:
    return [fault for fault in plan if fault.start_s <= instant_s < fault.heal_s]


def _assert_quorum_rule(plan: Sequence[PlannedFault], phase: FaultPhase) -> int:
    """Asserts the rule at every instant a fault starts; returns how many starts had company."""
    overlapping = 0
    for fault in plan:
        active = _active_at(plan, fault.start_s)
        assert len(active) <= phase.max_concurrent_faults
        if len(active) < 2:
            continue
        overlapping += 1
        assert not any(FAULT_KINDS[f.kind].target_shape is TargetShape.EVERY_NODE for f in active), active
        if phase.allow_majority_loss:
            continue
        # A router-cache flush takes no process or link down: it may keep any fault company.
        touched = [_azs_touched(f) for f in active if FAULT_KINDS[f.kind].target_shape is not TargetShape.EVERY_ROUTER]
        if len(touched) < 2:
            continue
        assert all(azs is not None for azs in touched), f"a fault of unknown footprint overlaps: {active}"
        assert len(set().union(*touched)) <= 1, f"concurrent faults in two AZs: {active}"
        held = [process for f in active for process in _processes_held(f)]
        assert len(held) == len(set(held)), f"one process held by two faults: {active}"
    return overlapping


ALL_KINDS = sorted(FAULT_KINDS)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kinds=st.lists(st.sampled_from(ALL_KINDS), min_size=1, max_size=8, unique=True),
    max_concurrent=st.integers(1, 4),
    interval_s=st.sampled_from([1.0, 2.0, 4.0, 7.0]),
    shortest_s=st.sampled_from([1.0, 3.0, 5.0]),
    spread_s=st.sampled_from([0.0, 4.0, 10.0]),
    allow_majority_loss=st.booleans(),
)
def test_overlapping_faults_never_break_the_quorum_rule_and_replay_by_seed(
    seed: int, kinds: list[str], max_concurrent: int, interval_s: float, shortest_s: float, spread_s: float,
    allow_majority_loss: bool,
) -> None:
    phase = FaultPhase(
        120, interval_s, (shortest_s, shortest_s + spread_s), dict.fromkeys(kinds, 1.0),
        max_concurrent_faults=max_concurrent, allow_majority_loss=allow_majority_loss,
    )
    plan = plan_faults(phase, seed, NODES, 5.0)
    _assert_quorum_rule(plan, phase)
    assert plan_faults(phase, seed, list(reversed(NODES)), 5.0) == plan
    for fault in plan:
        if fault.kind == "kill-random-subset":
            assert 1 <= len(fault.target["process_ids"]) < len(NODES)
            if not allow_majority_loss:
                assert len(fault.target["azs"]) == 1
    # The first faults cover the mix, one of each kind, whenever the phase holds that many.
    if len(plan) >= len(kinds):
        assert {fault.kind for fault in plan[: len(kinds)]} == set(kinds)


def test_max_concurrent_faults_above_one_does_overlap_and_the_subset_kill_spans_azs_only_when_allowed() -> None:
    kinds = {"power-off": 1.0, "partition-node": 1.0, "kill-random-subset": 1.0, "flapping-partition": 1.0}
    strict = FaultPhase(300, 2, (5, 15), kinds, max_concurrent_faults=3)
    loose = FaultPhase(300, 2, (5, 15), kinds, max_concurrent_faults=3, allow_majority_loss=True)
    overlapping = spanning = 0
    for seed in range(30):
        overlapping += _assert_quorum_rule(plan_faults(strict, seed, NODES, 0.0), strict)
        for fault in plan_faults(loose, seed, NODES, 0.0):
            spanning += fault.kind == "kill-random-subset" and len(fault.target["azs"]) > 1
    assert overlapping > 30 and spanning > 0


def test_new_kinds_carry_what_their_injectors_need() -> None:
    phase = FaultPhase(
        400, 5, (3, 6),
        {"leader-churn": 1, "flapping-partition": 1, "flapping-latency": 1, "kill-random-subset": 1},
        targets={
            "leader-churn": TargetOptions(leader_of=("partition",), by=("kill", "isolate"), parameters={"down_s": 0.3}),
            "flapping-latency": TargetOptions(parameters={"latency_ms": 150, "flap_min_s": 0.2, "flap_max_s": 0.5}),
        },
    )
    plan = plan_faults(phase, 4, NODES, 0.0)
    churn = [fault.target for fault in plan if fault.kind == "leader-churn"]
    assert {target["by"] for target in churn} == {"kill", "isolate"}
    assert all(target["of"] == "partition" and target["down_s"] == 0.3 for target in churn)
    flapping = [fault.target for fault in plan if fault.kind.startswith("flapping-")]
    seeds = [target["seed"] for target in flapping]
    assert len(seeds) == len(set(seeds)) > 2, "each flapping fault flaps in its own (seeded) rhythm"
    assert all(target["flap_max_s"] == 0.5 for target in flapping if "latency_ms" in target)
    text = format_plan(plan)
    assert "(by isolate)" in text and " at once (az-" in text


def test_torture_overlaps_churns_flaps_and_partitions_during_a_kill() -> None:
    scenario = load_scenario("torture")
    phase = scenario.faults
    assert phase.max_concurrent_faults > 1 and not phase.allow_majority_loss
    partition_during_kill = 0
    for seed in range(40):
        plan = plan_faults(phase, seed, NODES, scenario.warmup_s)
        assert _assert_quorum_rule(plan, phase) > 0
        assert {fault.kind for fault in plan[: len(phase.mix)]} == set(phase.mix)
        partition_during_kill += any(
            first.kind in KILLS and second.kind in PARTITIONS
            and first.start_s < second.heal_s and second.start_s < first.heal_s
            for first in plan for second in plan
        )
    assert partition_during_kill >= 36, f"only {partition_during_kill} of 40 seeds partition a node during a kill"
    assert scenario.total_s <= 180
