"""`gameday toxiproxy serve`: the Toxiproxy-compatible server in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from chaos.toxiproxy.server import ToxiproxyServer
from chaos.toxiproxy.subprocess_server import READY_PREFIX


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("toxiproxy", help="Toxiproxy-compatible fault-injection proxy server")
    add_toxiproxy_arguments(parser)


def add_toxiproxy_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="toxiproxy_command", metavar="SUBCOMMAND", required=True)
    serve = commands.add_parser("serve", help="run the server in the foreground (Ctrl-C or SIGTERM stops it)")
    serve.add_argument("--host", default="127.0.0.1", help="API listen host (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8474, help="API port (default 8474; 0 picks a free one)")
    serve.set_defaults(handler=serve_command)


STOP_TIMEOUT_S = 5.0


async def serve_until_signalled(host: str, port: int) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    for signal_number in stop_signals:
        loop.add_signal_handler(signal_number, stop_requested.set)
    server = ToxiproxyServer(host, port)
    await server.start()
    print(f"{READY_PREFIX}{server.url}", flush=True)
    try:
        await stop_requested.wait()
    finally:
        # A second Ctrl-C or SIGTERM during the stop takes the default action: never unkillable.
        for signal_number in stop_signals:
            loop.remove_signal_handler(signal_number)
        await asyncio.wait_for(server.stop(), STOP_TIMEOUT_S)


def serve_command(args: argparse.Namespace) -> int:
    try:
        asyncio.run(serve_until_signalled(args.host, args.port))
    except OSError as error:
        print(f"toxiproxy: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command without the rest of the CLI (used by running_toxiproxy_server)."""
    parser = argparse.ArgumentParser(prog="gameday toxiproxy")
    add_toxiproxy_arguments(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
