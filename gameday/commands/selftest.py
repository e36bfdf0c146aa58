"""`gameday selftest`: run the planted bugs and control runs, print bug x seed -> which verifier caught it.

Exit 0 when every bug was caught in (at least --min-detection of) its runs and no control run failed;
1 when a bug escaped too often or a control raised a false alarm; 2 when something could not be decided
(a bug skipped because this build lacks what it needs, a game day that ended unknown, an interrupt) or
the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from cluster.runtime.planted_bugs import PLANTED_BUGS
from gameday.selftest import build_lacks, plan_runs, records_from_report, run_planned
from gameday.selftest_cases import SelfTestCase, SelfTestCasesError, load_cases, select_cases
from gameday.selftest_report import JSON_FILE_NAME, render_table, write_reports
from gameday.selftest_verdict import EXIT_UNDECIDED, judge

DEFAULT_SEEDS = 3
DEFAULT_CONTROLS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "selftest",
        help="the harness's benchmark: planted bugs over several seeds plus control runs (exit 0/1/2)",
        description=(
            "Run each planted bug (cluster/runtime/planted_bugs.py) over several seeds with its self-test "
            "scenario (gameday/selftest_cases.toml), plus control runs of the unmodified store on the same "
            "scenarios and seeds, one game day at a time. Prints bug x seed -> the verifier(s) that caught it, "
            "or ESCAPED; control -> ok or FALSE ALARM; writes selftest.json and selftest-junit.xml into --out. "
            "Exit 0: every bug caught in at least --min-detection of its runs and no false alarm; 1: a bug "
            "escaped too often or a control failed; 2: undecided (a bug skipped for lack of a fault kind, "
            "scenario or module in this build, a game day that ended unknown, an interrupt) or bad arguments."
        ),
    )
    parser.add_argument(
        "--bugs", action="append", default=[], metavar="NAME[,NAME]",
        help=f"only these planted bugs (repeatable or comma-separated; default all: {', '.join(PLANTED_BUGS)})",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, metavar="N", help=f"seeds 1..N for every bug (default {DEFAULT_SEEDS})")
    seeds.add_argument("--seed", type=int, action="append", metavar="S", help="this seed (repeatable) instead of 1..N")
    parser.add_argument(
        "--controls", type=int, default=DEFAULT_CONTROLS, metavar="N",
        help=f"control runs of the unmodified store per scenario used (default {DEFAULT_CONTROLS}; 0: none)",
    )
    parser.add_argument(
        "--scenario", metavar="NAME|PATH",
        help="run every chosen bug (and the controls) with this scenario instead of each bug's own",
    )
    parser.add_argument(
        "--min-detection", type=float, default=1.0, metavar="RATIO",
        help="the share of judged runs each bug must be caught in (default 1.0: every run)",
    )
    parser.add_argument("--out", type=Path, help="output directory (default: runs/selftest-TIME)")
    parser.add_argument("--list", action="store_true", help="print the plan (and what is skipped) without running")
    parser.add_argument(
        "--rejudge", type=Path, metavar="DIR",
        help="judge an earlier self-test's runs again (DIR/selftest.json) with today's cases, without running",
    )
    parser.set_defaults(handler=selftest_command)


def _fail(message: str) -> int:
    print(f"gameday selftest: {message}", file=sys.stderr)
    return EXIT_UNDECIDED


def selftest_command(args: argparse.Namespace) -> int:
    try:
        cases = load_cases(PLANTED_BUGS)
        names = [name.strip() for value in args.bugs for name in value.split(",") if name.strip()]
        chosen = select_cases(cases, names)
    except SelfTestCasesError as error:
        return _fail(str(error))
    if args.seeds is not None and args.seeds < 1:
        return _fail("--seeds must be at least 1")
    if args.controls < 0:
        return _fail("--controls must be 0 or more")
    if not 0.0 <= args.min_detection <= 1.0:
        return _fail("--min-detection must be within 0..1")
    if args.rejudge is not None:
        return _rejudge(args.rejudge, cases, args.min_detection)
    seeds = args.seed or list(range(1, (args.seeds or DEFAULT_SEEDS) + 1))
    planned = plan_runs(chosen, seeds, args.controls, build_lacks(args.scenario), args.scenario)
    if args.list:
        for run in planned:
            what = run.bug or "control"
            print(f"{what:<26} {run.scenario:<22} seed {run.seed:<5} {('SKIP: ' + run.skip_reason) if run.skip_reason else ''}")
        return 0
    out_dir = (args.out or Path("runs") / f"selftest-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    stop = {"requested": False}

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        # The game day in progress heals and reports on KeyboardInterrupt; the self-test then stops.
        stop["requested"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def say(line: str) -> None:
        print(line, flush=True)

    game_days = sum(1 for run in planned if not run.skip_reason)
    say(f"gameday selftest: {game_days} game day(s), seeds {seeds}, output {out_dir}")
    records, interrupted = run_planned(planned, out_dir, say, lambda: stop["requested"])
    verdict = judge(
        records,
        {case.bug: case.caught_by for case in chosen},
        args.min_detection,
        notes={case.bug: case.note for case in chosen},
        interrupted=interrupted,
    )
    say("")
    say(render_table(verdict))
    extra = {"seeds": seeds, "controls_per_scenario": args.controls, "interrupted": interrupted}
    json_path, junit_path = write_reports(out_dir, verdict, extra)
    say(f"\nwrote {json_path} and {junit_path}")
    return verdict.exit_code


def _rejudge(out_dir: Path, cases: dict[str, SelfTestCase], min_detection: float) -> int:
    try:
        report = json.loads((out_dir / JSON_FILE_NAME).read_text())
    except (OSError, ValueError) as error:
        return _fail(f"--rejudge: cannot read {out_dir / JSON_FILE_NAME}: {error}")
    records = records_from_report(report)
    bugs = {record.bug for record in records if record.bug is not None}
    verdict = judge(
        records,
        {bug: cases[bug].caught_by for bug in bugs if bug in cases},
        min_detection,
        notes={bug: cases[bug].note for bug in bugs if bug in cases},
        interrupted=bool(report.get("interrupted")),
    )
    print(render_table(verdict))
    kept = {key: report[key] for key in ("seeds", "controls_per_scenario", "interrupted") if key in report}
    json_path, junit_path = write_reports(out_dir, verdict, kept)
    print(f"\nwrote {json_path} and {junit_path}")
    return verdict.exit_code
