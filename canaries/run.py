"""Process entry point of one AZ's canary.

    python -m canaries.run --az az-a --endpoint az-a=http://127.0.0.1:8000 --endpoint az-b=http://... \\
        --table canary --interval 0.5 --metrics-port 0 --out canaries.jsonl [--duration 60] [--cross-reads]

Creates the table at every endpoint if missing, serves Prometheus metrics, prints
``{"metrics_port": ..., "az": ..., "pid": ...}`` as the first line of stdout once probing
has started, and runs until SIGTERM/SIGINT, ``--duration`` or (with
``--stop-on-stdin-eof``) the parent closing stdin. Exit codes: 0 stopped cleanly,
2 set-up failed (no endpoint had the table ACTIVE).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from canaries.canary import Canary
from canaries.fleet import CanaryFleet, start_canaries
from canaries.metrics import CanaryMetrics
from canaries.probe import make_dynamodb_client
from canaries.records_file import JsonLinesRecorder
from loadgen.dynamodb_client import TableNotReadyError, ensure_table

__all__ = ["CanaryFleet", "main", "start_canaries"]

EXIT_SETUP_FAILED = 2


def parse_endpoint(text: str) -> tuple[str, str]:
    endpoint_az, separator, url = text.partition("=")
    if not separator or not endpoint_az or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected AZ=URL (e.g. az-a=http://127.0.0.1:8000), got {text!r}")
    return endpoint_az, url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m canaries.run", description="Run one AZ's canary.")
    parser.add_argument("--az", required=True, help="the AZ this canary runs in")
    parser.add_argument(
        "--endpoint",
        action="append",
        type=parse_endpoint,
        required=True,
        metavar="AZ=URL",
        help="an endpoint to probe, as reachable from this AZ (repeat for every AZ)",
    )
    parser.add_argument("--table", required=True)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between probes of one endpoint")
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="connect and read timeout of a request, seconds"
    )
    parser.add_argument("--metrics-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--metrics-address", default="127.0.0.1")
    parser.add_argument("--out", type=Path, default=Path("canaries.jsonl"))
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds to run; default until signalled"
    )
    parser.add_argument(
        "--cross-reads",
        action="store_true",
        help="read each write acknowledged by this AZ's endpoint back through every other endpoint "
        "(only for endpoints of one store: emulators that share nothing would all answer absent)",
    )
    parser.add_argument("--setup-timeout", type=float, default=30.0, help="seconds to get the table ACTIVE")
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes, so a canary never outlives the process that started it",
    )
    return parser


def _ensure_tables(endpoints: dict[str, str], table: str, timeout_s: float) -> list[str]:
    """Make the table ACTIVE at every endpoint in parallel; returns the endpoint AZs that succeeded.

    Each endpoint is set up because an emulator per AZ shares nothing; with the real store
    the first creation wins and the others see ResourceInUseException.
    """

    def setup(url: str) -> Exception | None:
        try:
            ensure_table(make_dynamodb_client(url, timeout_s=min(timeout_s, 5.0)), table, timeout_s)
        except TableNotReadyError as error:
            return error
        return None

    with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        results = dict(zip(endpoints, pool.map(setup, endpoints.values()), strict=True))
    for endpoint_az, error in results.items():
        if error is not None:
            print(f"canary: set-up at {endpoint_az} failed: {error}", file=sys.stderr, flush=True)
    return [endpoint_az for endpoint_az, error in results.items() if error is None]


def _stop_on_stdin_eof(stop: threading.Event) -> None:
    # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered reader
    # holds its lock and makes the interpreter abort at exit.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    endpoints = dict(args.endpoint)
    stop = threading.Event()

    def on_signal(_signal_number: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.stop_on_stdin_eof:
        threading.Thread(target=_stop_on_stdin_eof, args=(stop,), daemon=True).start()

    metrics = CanaryMetrics(args.az, endpoints)
    server, port = metrics.serve(args.metrics_port, args.metrics_address)
    recorder = JsonLinesRecorder(args.out)
    canary: Canary | None = None
    try:
        if not _ensure_tables(endpoints, args.table, args.setup_timeout):
            return EXIT_SETUP_FAILED

        def record(probe_record: dict[str, Any]) -> None:
            recorder(probe_record)
            metrics.observe(probe_record)

        canary = Canary(
            args.az, endpoints, args.table, args.interval, record, timeout_s=args.timeout, cross_reads=args.cross_reads
        )
        canary.start()
        metrics.set_up(True)
        print(json.dumps({"metrics_port": port, "az": args.az, "pid": os.getpid()}), flush=True)
        stop.wait(args.duration)
        return 0
    finally:
        if canary is not None:
            canary.stop()
        metrics.set_up(False)
        server.shutdown()
        server.server_close()
        recorder.close()


if __name__ == "__main__":
    sys.exit(main())
