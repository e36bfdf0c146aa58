"""The harness tests itself: each planted bug makes a short game day fail on the right verifier.

A harness that cannot catch planted bugs proves nothing when it says "valid". Each bug is switched on
through the real CLI (`--planted-bug NAME`); the same scenario without it is the control and must pass,
so a failure is the bug's doing and not the scenario's. The bugs are probabilistic: the scenarios are
tuned (read-heavy, many leader kills) so that detection is reliable on the seeds below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.schedule import FaultPhase, NodeRef, plan_faults
from cluster.runtime.planted_bugs import PLANTED_BUGS

# Many short leader kills under a read-heavy register load over few keys: a lost write is soon read.
# One node per AZ: the killed leader of most groups then leads about a third of them, so it usually
# leads a register key's group (with two per AZ, forget-on-leader-change escaped seed 1 in 3 of 9 runs;
# with one, 0 of 6 seeds).
KILL_LEADER_SCENARIO = """
name = "planted-kill-leader"
description = "Harness self-test: leader kills under a read-heavy register load."
warmup_s = 3
recovery_s = 4
final_reads = true

[cluster]
azs = 3
nodes_per_az = 1
partitions_per_table = 4

[workload]
model = "register"
keys = 4
clients = 4
rate_per_client_s = 25
read_weight = 6
write_weight = 2
cas_weight = 1

[faults]
duration_s = 20
interval_s = 2.5
fault_duration_s = [0.5, 1]

[faults.mix]
kill-leader = 1

[faults.targets.kill-leader]
of = ["most-groups"]

[thresholds]
availability_outside_faults = 0.5
availability_inside_faults = 0.0
latency_p99_ms = 10000
window_s = 5
regression_tolerance = 0.5
"""

# One whole-cluster power outage under both workloads: unsynced writes are lost, synced ones are not.
POWER_OFF_SCENARIO = """
name = "planted-power-off"
description = "Harness self-test: one whole-cluster power outage under register and set load."
warmup_s = 4
recovery_s = 6
final_reads = true

[cluster]
azs = 3
nodes_per_az = 2
partitions_per_table = 2

[workload]
model = "both"
keys = 4
clients = 4
rate_per_client_s = 20
read_weight = 3
write_weight = 2
cas_weight = 1

[faults]
duration_s = 6
interval_s = 6
fault_duration_s = [2, 2]

[faults.mix]
cluster-power-off = 1

[thresholds]
availability_outside_faults = 0.3
availability_inside_faults = 0.0
latency_p99_ms = 10000
window_s = 5
regression_tolerance = 0.5
"""

SCENARIOS = {"kill-leader": KILL_LEADER_SCENARIO, "power-off": POWER_OFF_SCENARIO}
# bug -> (scenario, verifier that must fail, seed)
PLANTED = {
    "ack-before-quorum": ("kill-leader", "linearizability", 1),
    "stale-consistent-read": ("kill-leader", "linearizability", 1),
    "forget-on-leader-change": ("kill-leader", "linearizability", 1),
    "skip-fsync": ("power-off", "sets", 1),
    "crash-group-loop": ("kill-leader", "store-errors", 1),
}
RUN_TIMEOUT_S = 180
ATTEMPTS_PER_BUG = 3


def _run(tmp_path: Path, scenario: str, seed: int, *planted: str) -> tuple[int, dict[str, Any], str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario_path = tmp_path / f"{scenario}.toml"
    scenario_path.write_text(SCENARIOS[scenario])
    run_dir = tmp_path / f"run-{scenario}-{'-'.join(planted) or 'control'}"
    arguments = ["run", str(scenario_path), "--seed", str(seed), "--out", str(run_dir)]
    for name in planted:
        arguments += ["--planted-bug", name]
    process = subprocess.run(
        [sys.executable, "-m", "gameday.cli", *arguments],
        cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    output = process.stdout + process.stderr
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return process.returncode, summary, output


def _verifiers(summary: dict[str, Any]) -> dict[str, Any]:
    return {verifier["name"]: verifier["valid"] for verifier in summary.get("verifiers", [])}


def test_every_planted_bug_has_a_game_day_here() -> None:
    assert set(PLANTED) == set(PLANTED_BUGS)


@pytest.mark.cluster
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_correct_store_passes_the_self_test_scenario(tmp_path: Path, scenario: str) -> None:
    seed = next(seed for shape, _, seed in PLANTED.values() if shape == scenario)
    code, summary, output = _run(tmp_path, scenario, seed)
    assert code == 0, output
    assert all(valid is True for valid in _verifiers(summary).values()), _verifiers(summary)
    assert summary["planted_bugs"] == []
    if scenario == "power-off":
        # The outage really happened, and lost only what no fsync had made durable.
        started = [fault for fault in summary["faults"] if fault["kind"] == "cluster-power-off"]
        assert started and len(started[0]["target"]["process_ids"]) == 6


@pytest.mark.cluster
@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_a_planted_bug_fails_the_game_day_on_the_right_verifier(tmp_path: Path, bug: str) -> None:
    scenario, verifier, seed = PLANTED[bug]
    # The bugs are probabilistic and a game day's timing is not replayed exactly, so a bug may escape one
    # run: forget-on-leader-change loses a write only when a killed leader acknowledged it within the last
    # heartbeat. The next seeds get their chance; a harness that cannot catch the bug fails every one.
    # Only an escape costs time.
    for attempt in range(ATTEMPTS_PER_BUG):
        code, summary, output = _run(tmp_path / f"attempt-{attempt}", scenario, seed + attempt, bug)
        if code != 0:
            break
    assert code == 1, output
    assert _verifiers(summary).get(verifier) is False, (_verifiers(summary), output[-3000:])
    assert summary["planted_bugs"] == [bug]
    assert f"--planted-bug {bug}" in summary["replay"]


@pytest.mark.cluster
def test_an_unknown_planted_bug_is_refused_naming_the_valid_ones(tmp_path: Path) -> None:
    scenario_path = tmp_path / "kill-leader.toml"
    scenario_path.write_text(KILL_LEADER_SCENARIO)
    process = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "run", str(scenario_path), "--out", str(tmp_path / "never"),
         "--planted-bug", "no-such-bug"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 2
    output = process.stdout + process.stderr
    assert "no-such-bug" in output
    assert all(name in output for name in PLANTED_BUGS)
    assert not (tmp_path / "never").exists()


def test_a_cluster_power_off_targets_every_node_and_overlaps_no_other_fault() -> None:
    nodes = [NodeRef(f"node-{az}{number}", f"az-{az}") for az in "abc" for number in (1, 2)]
    phase = FaultPhase(
        duration_s=120, interval_s=2, fault_duration_s=(3, 6), mix={"cluster-power-off": 1, "power-off": 3},
        max_concurrent_faults=3, allow_majority_loss=True,
    )  # fmt: skip
    plan = plan_faults(phase, 11, nodes, start_s=0)
    outages = [fault for fault in plan if fault.kind == "cluster-power-off"]
    assert outages and any(fault.kind == "power-off" for fault in plan)
    for outage in outages:
        assert outage.target == {"process_ids": sorted(node.process_id for node in nodes)}
        overlapping = [f for f in plan if f is not outage and f.start_s < outage.heal_s and outage.start_s < f.heal_s]
        assert overlapping == [], overlapping
