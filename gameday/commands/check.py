"""`gameday check HISTORY`: judge a recorded history offline and exit 0 valid, 1 invalid, 2 unknown.

This is the I/O edge of `verify/`: it reads the file and the clock, the checkers stay pure.
Bad input never ends in a traceback: one line on stderr naming file, line and reason, exit 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from gameday.checks.history import DEFAULT_MAX_STATES, DEFAULT_TIME_LIMIT_S, check_history_file
from verify.bank_checker import BankModelMismatchError
from verify.history import HistoryError
from verify.index_checker import IndexModelMismatchError
from verify.linearizability import ModelMismatchError
from verify.list_append_checker import ListAppendModelMismatchError
from verify.set_checker import SetModelMismatchError
from verify.verdict import exit_code

EXIT_UNKNOWN = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="judge a recorded history offline (exit 0 valid, 1 invalid, 2 unknown or bad input)",
        description="Check a JSON Lines history (DESIGN §4) and print a JSON verdict on stdout.",
    )
    parser.add_argument("history", metavar="HISTORY", help="history file, one JSON event per line")
    parser.add_argument(
        "--model", choices=("register", "set", "list-append", "bank", "index"), default="register",
        help="register (reads, writes, cas, incr per key), set (add, read-set), list-append (txn of appends "
        "and reads, judged for Adya's anomalies as Elle does), bank (transfers and reads of every account: "
        "one total, no negative balance) or index (writes, Queries of a global secondary index and a final "
        "read: no invented entry, equal to the table after the heal, lag measured); default: register",
    )  # fmt: skip
    parser.add_argument(
        "--time-limit",
        dest="time_limit_s",
        metavar="SECONDS",
        type=_positive_float,
        default=DEFAULT_TIME_LIMIT_S,
        help=f"search time for all keys; undecided keys become unknown (default {DEFAULT_TIME_LIMIT_S:g})",
    )
    parser.add_argument(
        "--max-states",
        type=int,
        default=DEFAULT_MAX_STATES,
        help=f"memoised search states per key before it is unknown (default {DEFAULT_MAX_STATES})",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="also write verdict.json and an HTML timeline per invalid key"
    )
    parser.set_defaults(handler=run_check)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def run_check(args: argparse.Namespace) -> int:
    started_s = time.monotonic()
    try:
        check = check_history_file(args.history, args.model, args.time_limit_s, args.max_states)
        verdict, explanations, pages = check.verdict, check.explanations, check.pages
    except HistoryError as error:
        return _bad_input(str(error))
    except (ModelMismatchError, SetModelMismatchError, ListAppendModelMismatchError, BankModelMismatchError,
            IndexModelMismatchError) as error:
        return _bad_input(f"{args.history}: {error}")
    except OSError as error:
        return _bad_input(f"cannot read {args.history}: {error.strerror or error}")
    verdict["history"] = str(args.history)
    verdict["check_duration_s"] = round(time.monotonic() - started_s, 3)
    for explanation in explanations:
        print(explanation, file=sys.stderr)
    if args.out:
        try:
            _write_out(Path(args.out), verdict, pages)
        except OSError as error:
            print(json.dumps(verdict, indent=2))
            return _bad_input(f"cannot write to {args.out}: {error.strerror or error}")
    print(json.dumps(verdict, indent=2))
    return exit_code(verdict["valid"])


def _write_out(directory: Path, verdict: dict[str, Any], pages: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "verdict.json").write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    for name, page in pages.items():
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100]
        page_path = directory / f"timeline-{safe_name}.html"
        page_path.write_text(page, encoding="utf-8")
        print(f"wrote {page_path}", file=sys.stderr)


def _bad_input(message: str) -> int:
    print(f"gameday check: {message}", file=sys.stderr)
    return EXIT_UNKNOWN
