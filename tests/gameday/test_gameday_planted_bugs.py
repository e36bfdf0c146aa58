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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.schedule import FaultPhase, NodeRef, plan_faults
from cluster.runtime.planted_bugs import PLANTED_BUGS
from gameday.selftest_cases import load_cases, scenario_reference
from gameday.selftest_verdict import CAUGHT, RunRecord, classify
from tests.gameday.game_day_process import run_gameday
from tests.gameday.run_failures import failed_verifiers

# The self-test's own data (gameday/selftest_cases.toml, gameday/selftest_scenarios/): the same scenario
# and the same verifiers `gameday selftest` judges each bug by. Here only the bugs this build can show in a
# short game day run (the others need the FUSE power-loss model, leader churn, clients on every router or
# the availability baseline; `gameday selftest` skips or reports them).
CASES = load_cases(PLANTED_BUGS)
# stale-consistent-read is left to `gameday selftest` (last caught there on 2026-12-06): the same scenario and
# verifier as the two below; the suite's 15-minute budget keeps two of those three.
IN_CI = ("ack-before-quorum", "forget-on-leader-change", "skip-fsync")
SEED = 1
SCENARIOS = sorted({CASES[bug].scenario for bug in IN_CI})
RUN_TIMEOUT_S = 180
ATTEMPTS_PER_BUG = 3
# The first run of every control and bug, two at a time: each game day keeps about 1.25 cores busy and
# mostly waits out its fixed phases, so two share the machine's two cores like a run on a busy CI machine
# (which the controls must pass anyway): the module takes 130 s instead of 159 s.
CONCURRENT_RUNS = 2
# But these run alone, after the others: beside another game day they write less and escaped their first
# run now and then (forget-on-leader-change in 2 of 5 module runs, in CI its next seed too; skip-fsync
# once), each escape costing a whole game day more. ack-before-quorum was caught beside one every time.
ALONE = ("forget-on-leader-change", "skip-fsync")


@dataclass(frozen=True)
class Run:
    code: int
    summary: dict[str, Any]
    output: str  # the run's output and the failed verifiers' whole detail


def _run(directory: Path, scenario: str, seed: int, *planted: str) -> Run:
    directory.mkdir(parents=True, exist_ok=True)
    run_dir = directory / f"run-{scenario}-{'-'.join(planted) or 'control'}"
    arguments = ["run", scenario_reference(scenario), "--seed", str(seed), "--out", str(run_dir)]
    for name in planted:
        arguments += ["--planted-bug", name]
    code, output = run_gameday(arguments, directory, RUN_TIMEOUT_S)
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(code, summary, output + "\n" + failed_verifiers(run_dir))


@pytest.fixture(scope="module")
def first_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The first run of each control (keyed by scenario) and of each bug (keyed by bug), seed SEED."""
    directory = tmp_path_factory.mktemp("planted-bugs")
    jobs = {scenario: (scenario, ()) for scenario in SCENARIOS}
    jobs.update({bug: (CASES[bug].scenario, (bug,)) for bug in IN_CI})
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        futures = {key: pool.submit(_run, directory / "attempt-0", scenario, SEED, *planted)
                   for key, (scenario, planted) in jobs.items() if key not in ALONE}  # fmt: skip
        runs = {key: future.result() for key, future in futures.items()}
    for key in ALONE:
        scenario, planted = jobs[key]
        runs[key] = _run(directory / "attempt-0", scenario, SEED, *planted)
    return runs


def _verifiers(summary: dict[str, Any]) -> dict[str, Any]:
    return {verifier["name"]: verifier["valid"] for verifier in summary.get("verifiers", [])}


def test_every_planted_bug_has_a_self_test_case() -> None:
    assert set(CASES) == set(PLANTED_BUGS)
    assert set(IN_CI) <= set(CASES)


@pytest.mark.cluster
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_correct_store_passes_the_self_test_scenario(first_runs: dict[str, Run], scenario: str) -> None:
    run = first_runs[scenario]
    assert run.code == 0, run.output
    assert all(valid is True for valid in _verifiers(run.summary).values()), _verifiers(run.summary)
    assert run.summary["planted_bugs"] == []
    if scenario == "planted-power-off":
        # The outage really happened, and lost only what no fsync had made durable.
        started = [fault for fault in run.summary["faults"] if fault["kind"] == "cluster-power-off"]
        assert started and len(started[0]["target"]["process_ids"]) == 6


@pytest.mark.cluster
@pytest.mark.parametrize("bug", IN_CI)
def test_a_planted_bug_fails_the_game_day_on_the_right_verifier(
    first_runs: dict[str, Run], tmp_path: Path, bug: str
) -> None:
    case = CASES[bug]
    # The bugs are probabilistic and a game day's timing is not replayed exactly, so a bug may escape one
    # run: forget-on-leader-change loses a write only when a killed leader acknowledged it within the last
    # heartbeat. The next seeds get their chance; a harness that cannot catch the bug fails every one.
    # Only an escape costs time. (`gameday selftest` gives no second chance: it measures the rate.)
    # A run that failed only on another verifier (a status probe timing out on a busy machine) is no catch
    # either, so it gets the next seed too.
    run = first_runs[bug]
    for attempt in range(ATTEMPTS_PER_BUG):
        if attempt:
            run = _run(tmp_path / f"attempt-{attempt}", case.scenario, SEED + attempt, bug)
        failed = tuple(name for name, valid in _verifiers(run.summary).items() if valid is False)
        if classify(RunRecord(bug, case.scenario, SEED + attempt, run.code, failed), case.caught_by) == CAUGHT:
            break
    assert run.code == 1, run.output
    assert set(failed) & set(case.caught_by), (_verifiers(run.summary), run.output[-3000:])
    assert run.summary["planted_bugs"] == [bug]
    assert f"--planted-bug {bug}" in run.summary["replay"]


@pytest.mark.cluster
def test_an_unknown_planted_bug_is_refused_naming_the_valid_ones(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "run", scenario_reference("planted-kill-leader"), "--out", str(tmp_path / "never"),
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
