"""`gameday dashboards push|write`: the Grafana dashboards into a live Grafana, or as files.

`push` needs grafana-client, an optional extra kept in its own environment (it replaces urllib3,
DESIGN §6): without it the command exits 2 and says how to install it. Every user error (bad URL,
refused token, missing run directory) is one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dashboards.alert_rules import AlertThresholds
from dashboards.grafana import dashboard_models, write_dashboards
from dashboards.grafana_push import (
    DEFAULT_FOLDER_TITLE,
    PushError,
    RunFaults,
    connect,
    push,
    read_run,
    run_faults,
    thresholds_from_summary,
)
from gameday.scenario import ScenarioError, load_scenario

EXIT_ERROR = 2
TOKEN_VARIABLE = "GRAFANA_TOKEN"
DEFAULT_TIMEOUT_S = 10.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dashboards", help="Grafana dashboards: push to a Grafana, or write as files")
    commands = parser.add_subparsers(dest="dashboards_command", metavar="SUBCOMMAND", required=True)

    push_parser = commands.add_parser(
        "push",
        help="upload the dashboards (and a run's faults as annotations) through grafana-client",
        description="Upload the canary and cluster dashboards to Grafana, replacing older versions, and with "
        "--run mark that run's fault windows on both as annotations (a second push replaces them). "
        "Needs grafana-client: pip install 'gameday-harness[grafana]' in a separate environment.",
    )
    push_parser.add_argument("--grafana", required=True, metavar="URL", help="Grafana's base URL, e.g. http://localhost:3000")
    push_parser.add_argument(
        "--token", metavar="TOKEN", help=f"service-account token (default: ${TOKEN_VARIABLE}; keeps it out of ps)"
    )
    push_parser.add_argument("--run", metavar="RUN_DIR", help="a game day's run directory: annotate its faults")
    push_parser.add_argument(
        "--folder",
        default=DEFAULT_FOLDER_TITLE,
        help=f"folder title, created when missing (default {DEFAULT_FOLDER_TITLE!r}; '' for the root)",
    )
    push_parser.add_argument(
        "--scenario",
        metavar="NAME_OR_PATH",
        help="draw this scenario's thresholds (default: the run's own with --run, else 'default')",
    )
    push_parser.add_argument(
        "--annotations-only",
        action="store_true",
        help="do not upload: the dashboards are there already, e.g. provisioned from dashboards/provisioning",
    )
    push_parser.add_argument(
        "--timeout", dest="timeout_s", type=_positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"per request (default {DEFAULT_TIMEOUT_S:g})",
    )
    push_parser.set_defaults(handler=push_command)

    write_parser = commands.add_parser(
        "write", help="write the dashboards and Grafana file provisioning under DIR"
    )
    write_parser.add_argument("directory", metavar="DIR")
    write_parser.add_argument("--scenario", default="default", metavar="NAME_OR_PATH", help="thresholds to draw")
    write_parser.add_argument(
        "--prometheus-url", default="http://prometheus:9090", help="the provisioned datasource's URL"
    )
    write_parser.set_defaults(handler=write_command)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def push_command(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        return _error(f"no token: pass --token or set {TOKEN_VARIABLE}")
    if args.annotations_only and not args.run:
        return _error("--annotations-only needs --run RUN_DIR: there is nothing else to push")
    try:
        run: RunFaults | None = None
        run_thresholds: AlertThresholds | None = None
        if args.run:
            summary, clock_offsets_s = read_run(Path(args.run))
            run = run_faults(summary, clock_offsets_s)
            run_thresholds = thresholds_from_summary(summary)
        thresholds = _scenario_thresholds(args.scenario) if args.scenario or run_thresholds is None else run_thresholds
        if thresholds is None:
            return EXIT_ERROR
        models = dashboard_models(thresholds)
        api = connect(args.grafana, token, args.timeout_s)
        result = push(api, args.grafana, models, args.folder or None, run, upload=not args.annotations_only)
    except PushError as error:
        return _error(str(error))
    for uid, version in result.dashboards.items():
        print(f"dashboard {uid}: version {version}" + (" (already there)" if args.annotations_only else ""))
    if run is not None:
        if run.clock_warning:
            print(f"warning: {run.clock_warning}", file=sys.stderr)
        print(
            f"annotations: {result.annotations_added} added ({len(run.annotations)} faults × "
            f"{len(result.dashboards)} dashboards), {result.annotations_replaced} from an earlier push replaced; "
            f"times from {run.clock_source}; tag {run.run_tag}"
        )
    return 0


def write_command(args: argparse.Namespace) -> int:
    thresholds = _scenario_thresholds(args.scenario)
    if thresholds is None:
        return EXIT_ERROR
    try:
        written = write_dashboards(Path(args.directory), thresholds, args.prometheus_url)
    except OSError as error:
        return _error(f"cannot write under {args.directory}: {error.strerror or error}")
    for path in written:
        print(path)
    return 0


def _scenario_thresholds(name_or_path: str | None) -> AlertThresholds | None:
    try:
        return load_scenario(name_or_path or "default").thresholds
    except ScenarioError as error:
        _error(str(error))
        return None


def _error(message: str) -> int:
    print(f"gameday dashboards: {message}", file=sys.stderr)
    return EXIT_ERROR
