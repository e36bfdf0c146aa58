"""`gameday scrub`: compare every group's replicas now (and repair what rotted); exit 0 clean,
1 mismatches found (repaired or not), 2 could not decide. Prints a JSON report on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cluster.deploy.backends import UnknownBackendError, open_cluster
from cluster.deploy.local_processes import ClusterError
from cluster.runtime.topology import TopologyError
from cluster.scrub.on_demand import EXIT_UNDECIDED, scrub_cluster, summarize
from gameday.commands.cluster import add_cluster_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scrub",
        help="check that every group's replicas hold the same data, repair rot (exit 0 clean, 1 mismatch, 2 unknown)",
        description="Ask every storage node to scrub the groups it leads now; print the findings as JSON.",
    )
    add_cluster_arguments(parser)
    parser.add_argument("--brief", action="store_true", help="leave the per-round details out of the JSON")
    parser.set_defaults(handler=run_scrub)


def run_scrub(args: argparse.Namespace) -> int:
    try:
        topology = open_cluster(args.backend, Path(args.data_dir)).topology()
    except (ClusterError, TopologyError, UnknownBackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNDECIDED
    try:
        answers, errors = scrub_cluster(topology)
    except KeyboardInterrupt:
        print("interrupted: the scrub rounds already started finish on their own", file=sys.stderr)
        return EXIT_UNDECIDED
    code, report = summarize(answers, errors)
    if args.brief:
        report.pop("rounds", None)
    print(json.dumps(report, indent=2, sort_keys=True))
    return code
