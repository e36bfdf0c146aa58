"""The `gameday` command line: one subcommand per module under gameday/commands/."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes register(subparsers) and sets `handler` (args -> exit code) on its parser.
COMMAND_MODULES = (
    "gameday.commands.run",
    "gameday.commands.baseline",
    "gameday.commands.cluster",
    "gameday.commands.check",
    "gameday.commands.toxiproxy",
    "gameday.commands.scrub",
    "gameday.commands.dashboards",
    "gameday.commands.selftest",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameday",
        description="Chaos-engineering and game-day harness for a replicated DynamoDB clone.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
