"""`gameday run [SCENARIO]`: a whole game day on a fresh cluster (local processes or Docker), ending in a verdict.

Exit 0 valid, 1 invalid (a data or alarm verifier failed), 2 unknown or infrastructure error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from cluster.deploy.backends import BACKENDS, DEFAULT_BACKEND
from cluster.runtime.planted_bugs import PLANTED_BUGS, UnknownPlantedBugError, check_planted_bugs
from gameday.baseline import BaselineError, load_baseline
from gameday.game_day import new_seed, run_game_day
from gameday.prometheus_server import PrometheusError, find_prometheus
from gameday.scenario import (
    ScenarioError,
    load_scenario,
    parse_duration,
    shipped_scenarios,
    with_fault_duration,
)
from loadgen.user_load import LocustfileError, UserLoad, check_locustfile

EXIT_UNKNOWN = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a game day: cluster, load, canaries, faults, verifiers, report (exit 0/1/2)",
        description=(
            "Run a game day on a fresh cluster (local processes, or Docker with --backend docker) and print the verdict. Exit 0 valid, 1 invalid, "
            "2 unknown or infrastructure error. Writes summary.json, history.jsonl, canaries.jsonl, "
            "junit.xml and report.html into the run directory."
        ),
    )
    parser.add_argument(
        "scenario", nargs="?", default="default",
        help=f"a shipped scenario ({', '.join(shipped_scenarios())}) or a path to a TOML file (default: default)",
    )
    parser.add_argument("--seed", type=int, help="replay a run: the fault schedule follows from scenario + seed")
    parser.add_argument(
        "--duration", metavar="TIME",
        help="the fault phase's length instead of the scenario's (90s, 10m, 1h): the same mix and pace of "
        "faults for longer, as a soak (`gameday run soak --duration 1h`)",
    )
    parser.add_argument("--out", type=Path, help="run directory (default: runs/SCENARIO-TIME-seedN)")
    parser.add_argument(
        "--backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
        help="where the cluster runs: local OS processes or Docker containers (default: local)",
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="FILE",
        help="fail (exit 1) when availability or p99 per AZ regress beyond the scenario's tolerance",
    )
    parser.add_argument(
        "--toxiproxy", metavar="URL",
        help="use the Toxiproxy 2.x server at URL for the cluster's links (default: the project's own, "
        "started when the scenario has network faults)",
    )
    parser.add_argument(
        "--prometheus", action="store_true",
        help="run a real Prometheus (Debian package) scraping every process for the whole run, its data "
        "kept in RUN_DIR/prometheus; the alarm verdict is cross-checked against it",
    )
    parser.add_argument("--workers", type=int, default=0, help="Locust workers (master/worker mode; 0 = one process)")
    parser.add_argument(
        "--locustfile", type=Path, metavar="PATH",
        help="bring your own workload: run this Locust file beside ours, its users spread over the routers; its "
        "requests are counted in the report, and what it records through loadgen.recorder is judged "
        "(user-linearizability); refused before the cluster starts when missing or not valid Python",
    )
    parser.add_argument("--locust-users", type=int, default=2, metavar="N", help="users of --locustfile (default: 2)")
    parser.add_argument(
        "--planted-bug", action="append", default=[], metavar="NAME", dest="planted_bugs",
        help=(
            "for testing the harness only: make the store deliberately wrong so the run must fail "
            f"(repeatable; one of {', '.join(sorted(PLANTED_BUGS))})"
        ),
    )
    parser.set_defaults(handler=run_command)


def _raise_interrupt(signal_number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_command(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
        if args.duration is not None:
            scenario = with_fault_duration(scenario, parse_duration(args.duration))
    except ScenarioError as error:
        print(f"gameday run: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
    except ValueError as error:
        print(f"gameday run: --duration: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        planted_bugs = check_planted_bugs(args.planted_bugs)
    except UnknownPlantedBugError as error:
        print(f"gameday run: --planted-bug: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.workers < 0:
        print("gameday run: --workers must be 0 or more", file=sys.stderr)
        return EXIT_UNKNOWN
    user_load = None
    if args.locustfile is not None:
        if args.locust_users < 1:
            print("gameday run: --locust-users must be 1 or more", file=sys.stderr)
            return EXIT_UNKNOWN
        try:
            user_load = UserLoad(check_locustfile(args.locustfile), args.locust_users)
        except LocustfileError as error:
            print(f"gameday run: {error}", file=sys.stderr)
            return EXIT_UNKNOWN
    baseline = None
    if args.baseline is not None:
        try:
            baseline = load_baseline(args.baseline)
        except BaselineError as error:
            print(f"gameday run: {error}", file=sys.stderr)
            return EXIT_UNKNOWN
    if args.prometheus:
        try:
            find_prometheus()
        except PrometheusError as error:
            print(f"gameday run: {error}", file=sys.stderr)
            return EXIT_UNKNOWN
    seed = args.seed if args.seed is not None else new_seed()
    run_dir = args.out or Path("runs") / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    # A CI job cancelled with SIGTERM gets the same clean-up as Ctrl-C. SIGINT too, even when the run was
    # started with it ignored (a shell's background job): Python then installs no Ctrl-C handler, and a
    # runner that cancels with SIGINT first would find the game day going on as if nothing was asked.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)

    def say(line: str) -> None:
        print(line, flush=True)

    if planted_bugs:
        say(f"PLANTED BUGS (testing the harness; this run must fail): {', '.join(planted_bugs)}")
    result = run_game_day(
        scenario,
        seed,
        run_dir.resolve(),
        say,
        workers=args.workers,
        baseline=baseline,
        cluster_faults=planted_bugs,
        toxiproxy=args.toxiproxy,
        backend=args.backend,
        prometheus=args.prometheus,
        user_load=user_load,
    )
    return result.exit_code
