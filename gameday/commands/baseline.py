"""`gameday baseline RUN_DIR`: record a run's availability and p99 per AZ for later CI gates.

`gameday baseline --per-fault-kind RUN_DIR...`: aggregate control runs of the unmodified store into the
availability-per-fault-kind baseline of their scenario (gameday/baselines/SCENARIO.json, which the
`availability-regression` verifier of every later run of that scenario compares with).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from canaries.records_file import read_all_records
from cluster.deploy.backends import DEFAULT_BACKEND
from gameday.baseline import BaselineError, save_baseline
from gameday.checks.availability_regression import (
    AvailabilityBaselineError,
    RunMeasure,
    baseline_from_runs,
    fault_spans,
    measure_run,
    shipped_baseline_path,
)
from gameday.nemesis_file import fault_windows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "baseline",
        help="record a run's availability and p99 per AZ; `gameday run --baseline FILE` fails on a regression "
        "(with --per-fault-kind: a scenario's availability baseline from several control runs)",
    )
    parser.add_argument(
        "run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="a directory written by `gameday run`"
    )
    parser.add_argument(
        "--per-fault-kind", action="store_true",
        help="aggregate control runs (no planted bug) of one scenario into its availability-per-fault-kind "
        "baseline (default --out: the shipped gameday/baselines/SCENARIO.json)",
    )  # fmt: skip
    parser.add_argument(
        "--out",
        type=Path,
        help="default: gameday-baseline.json (per fault kind: gameday/baselines/SCENARIO.json)",
    )
    parser.set_defaults(handler=baseline_command)


def baseline_command(args: argparse.Namespace) -> int:
    if args.per_fault_kind:
        return _per_fault_kind(args.run_dirs, args.out)
    if len(args.run_dirs) != 1:
        print("gameday baseline: one RUN_DIR (several only with --per-fault-kind)", file=sys.stderr)
        return 2
    out = args.out or Path("gameday-baseline.json")
    try:
        baseline = save_baseline(args.run_dirs[0] / "summary.json", out)
    except BaselineError as error:
        print(f"gameday baseline: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"baseline": str(out), "pairs": len(baseline["pairs"])}))
    return 0


def measure_run_dir(run_dir: Path) -> tuple[str, str, RunMeasure]:
    """A finished control run's scenario, backend and measure per fault kind, read from its files."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise AvailabilityBaselineError(f"cannot read {run_dir / 'summary.json'}: {error}") from error
    if summary.get("planted_bugs"):
        raise AvailabilityBaselineError(
            f"{run_dir} ran planted bugs {summary['planted_bugs']}: not a control run"
        )
    if summary.get("partial") or summary.get("duration_s") is None:
        raise AvailabilityBaselineError(f"{run_dir} is a partial run")
    run_start_s = float(summary["run_start_monotonic_s"])
    run_end_s = run_start_s + float(summary["duration_s"])
    spans = fault_spans(fault_windows(run_dir / "nemesis.jsonl"), run_end_s)
    records = read_all_records(run_dir / "canaries.jsonl")
    if not records:
        raise AvailabilityBaselineError(f"{run_dir} has no canary records")
    backend = str(summary.get("backend") or DEFAULT_BACKEND)
    return str(summary["scenario"]), backend, measure_run(records, spans, run_start_s, run_end_s)


def _per_fault_kind(run_dirs: list[Path], out: Path | None) -> int:
    try:
        measured = [(run_dir, *measure_run_dir(run_dir)) for run_dir in run_dirs]
        kinds_of_run = sorted({(scenario, backend) for _, scenario, backend, _ in measured})
        if len(kinds_of_run) != 1:
            listed = ", ".join(f"{scenario} ({backend})" for scenario, backend in kinds_of_run)
            raise AvailabilityBaselineError(f"the runs are of several scenarios or backends: {listed}")
        scenario, backend = kinds_of_run[0]
        baseline = baseline_from_runs(
            scenario, [(run_dir.name, run) for run_dir, _, _, run in measured], backend
        )
    except AvailabilityBaselineError as error:
        print(f"gameday baseline: {error}", file=sys.stderr)
        return 2
    out = out or shipped_baseline_path(scenario)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(baseline, indent=2) + "\n")
    print(
        json.dumps(
            {"baseline": str(out), "runs": len(measured), "fault_kinds": sorted(baseline["fault_kinds"])}
        )
    )
    return 0
