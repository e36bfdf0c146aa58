"""`gameday baseline RUN_DIR`: record a run's availability and p99 per AZ for later CI gates."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gameday.baseline import BaselineError, save_baseline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "baseline",
        help="record a run's availability and p99 per AZ; `gameday run --baseline FILE` fails on a regression",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a directory written by `gameday run`")
    parser.add_argument("--out", type=Path, default=Path("gameday-baseline.json"), help="default: gameday-baseline.json")
    parser.set_defaults(handler=baseline_command)


def baseline_command(args: argparse.Namespace) -> int:
    try:
        baseline = save_baseline(args.run_dir / "summary.json", args.out)
    except BaselineError as error:
        print(f"gameday baseline: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"baseline": str(args.out), "pairs": len(baseline["pairs"])}))
    return 0
