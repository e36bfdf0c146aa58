"""`gameday selftest`: the harness's own benchmark. Each planted bug runs over several seeds with its
self-test scenario, the unmodified store runs the same scenarios as controls, and the verdict says which
verifier caught what (gameday/selftest_verdict.py).

Which runs to make is pure (`plan_runs`); making them goes through the ordinary `run_game_day`, one game
day at a time (a game day wants the whole machine), each in its own run directory under the output
directory with its log beside its report.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.faults.kinds import FAULT_KINDS
from gameday.game_day import run_game_day
from gameday.scenario import Scenario, ScenarioError, load_scenario
from gameday.selftest_cases import SelfTestCase, missing_requirements, scenario_reference
from gameday.selftest_verdict import RunRecord

Say = Callable[[str], None]
OUTPUT_LOG_NAME = "output.log"


@dataclass(frozen=True)
class PlannedRun:
    bug: str | None  # None: a control run of the unmodified store
    scenario: str
    seed: int
    skip_reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.bug or 'control'}-{Path(self.scenario).stem}-seed{self.seed}"


def control_seeds(seeds: Sequence[int], count: int) -> list[int]:
    """The first `count` of the bug runs' seeds (same fault plans: a failure is then the bug's doing),
    continued past the last one when more controls than seeds are asked for."""
    chosen = list(dict.fromkeys(seeds))[:count]
    next_seed = max(seeds, default=0) + 1
    while len(chosen) < count:
        chosen.append(next_seed)
        next_seed += 1
    return chosen


def plan_runs(
    cases: Sequence[SelfTestCase],
    seeds: Sequence[int],
    controls: int,
    lacks: Callable[[SelfTestCase, str], list[str]],
    scenario_override: str | None = None,
) -> list[PlannedRun]:
    """Every bug x seed, then `controls` runs of the unmodified store per scenario a bug ran with.

    `lacks(case, scenario)` says what this build lacks for the case ("needs ..."); such a case is
    planned as one skipped run carrying the reason, and its scenario gets no control of its own.
    """
    if not seeds:
        raise ValueError("the self-test needs at least one seed")
    planned: list[PlannedRun] = []
    scenarios: list[str] = []
    for case in cases:
        scenario = scenario_override or case.scenario
        needs = lacks(case, scenario)
        if needs:
            planned.append(PlannedRun(case.bug, scenario, seeds[0], "; ".join(needs)))
            continue
        planned += [PlannedRun(case.bug, scenario, seed) for seed in seeds]
        if scenario not in scenarios:
            scenarios.append(scenario)
    for scenario in scenarios:
        planned += [PlannedRun(None, scenario, seed) for seed in control_seeds(seeds, controls)]
    return planned


def build_lacks(scenario_override: str | None) -> Callable[[SelfTestCase, str], list[str]]:
    """What this build lacks for a case: its fault kinds (unless the user chose the scenario), its
    modules, and a scenario that loads (a scenario naming an unknown fault kind does not)."""

    def lacks(case: SelfTestCase, scenario: str) -> list[str]:
        kinds_case = case if scenario_override is None else SelfTestCase(case.bug, scenario, case.caught_by, (), case.modules)
        needs = missing_requirements(kinds_case, FAULT_KINDS, _module_available)
        if needs:
            return needs
        try:
            load_scenario(scenario_reference(scenario))
        except ScenarioError as error:
            return [f"needs scenario {scenario} ({error.reason})"]
        return []

    return lacks


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package that is missing
        return False


def record_from_summary(run: PlannedRun, exit_code: int, run_dir: Path, duration_s: float) -> RunRecord:
    """The run as its summary.json tells it (the file every game day writes, complete or partial)."""
    summary_path = run_dir / "summary.json"
    summary: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    verifiers = summary.get("verifiers", [])
    return RunRecord(
        bug=run.bug,
        scenario=run.scenario,
        seed=run.seed,
        exit_code=exit_code,
        failed_verifiers=tuple(verifier["name"] for verifier in verifiers if verifier.get("valid") is False),
        verifiers_run=tuple(verifier["name"] for verifier in verifiers),
        run_dir=str(run_dir),
        errors=tuple(summary.get("errors", [])),
        duration_s=round(duration_s, 1),
    )


def run_planned(
    planned: Sequence[PlannedRun],
    out_dir: Path,
    say: Say,
    stop_requested: Callable[[], bool],
) -> tuple[list[RunRecord], bool]:
    """Makes the planned game days one at a time; returns their records and whether it was interrupted."""
    records: list[RunRecord] = []
    total = sum(1 for run in planned if not run.skip_reason)
    number = 0
    try:
        for run in planned:
            if run.skip_reason:
                records.append(RunRecord(run.bug, run.scenario, run.seed, None, skip_reason=run.skip_reason))
                say(f"skip {run.bug}: {run.skip_reason}")
                continue
            if stop_requested():
                return records, True
            number += 1
            what = f"planted bug {run.bug}" if run.bug else "control (unmodified store)"
            say(f"[{number}/{total}] {what}, scenario {run.scenario}, seed {run.seed} ...")
            run_dir = (out_dir / run.name).resolve()
            started_s = time.monotonic()
            exit_code = _one_game_day(run, run_dir)  # heals and reports even when interrupted
            record = record_from_summary(run, exit_code, run_dir, time.monotonic() - started_s)
            records.append(record)
            failed = ", ".join(record.failed_verifiers) or "none"
            say(f"    exit {exit_code} in {record.duration_s:.0f} s; failed verifiers: {failed}; see {run_dir}")
    except KeyboardInterrupt:  # between two game days: what ran so far is still reported
        return records, True
    return records, stop_requested()


def _one_game_day(run: PlannedRun, run_dir: Path) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / OUTPUT_LOG_NAME).open("a", encoding="utf-8") as log:

        def say(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        try:
            scenario: Scenario = load_scenario(scenario_reference(run.scenario))
            result = run_game_day(scenario, run.seed, run_dir, say, cluster_faults=[run.bug] if run.bug else [])
        except Exception as error:  # the game day could not run: this run is undecided, the next may be fine
            say(f"selftest: the game day failed to run: {type(error).__name__}: {error}")
            return 2
    return result.exit_code


def records_from_report(report: dict[str, Any]) -> list[RunRecord]:
    """The runs of an earlier self-test (its selftest.json), re-read from their summaries, so that they
    can be judged again (say, after a change to which verifiers catch a bug) without running again."""
    records: list[RunRecord] = []
    for bug in report.get("bugs", []):
        if bug.get("skipped"):
            records.append(RunRecord(bug["bug"], bug["scenario"], 0, None, skip_reason=bug["skipped"]))
        for run in bug.get("runs", []):
            planned = PlannedRun(bug["bug"], bug["scenario"], run["seed"])
            records.append(_reread(planned, run))
    for run in report.get("controls", []):
        records.append(_reread(PlannedRun(None, run["scenario"], run["seed"]), run))
    return records


def _reread(planned: PlannedRun, run: dict[str, Any]) -> RunRecord:
    exit_code = run.get("exit_code")
    if exit_code is None:
        return RunRecord(planned.bug, planned.scenario, planned.seed, None, skip_reason="not run")
    return record_from_summary(planned, int(exit_code), Path(run["run_dir"]), float(run.get("duration_s", 0.0)))
