"""What a hop through our Toxiproxy-compatible server (no toxics) costs a small request/response.

    .venv/bin/python -m bench.toxiproxy_bench [--round-trips 4000] [--payload-bytes 64]

Runs an echo server and `gameday toxiproxy serve` as child processes, then alternates
blocks of round trips direct and through the proxy on persistent connections (so both see
the same machine load) and prints a markdown table: p50/p99 round trip, what the hop adds,
and sequential round trips per second.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from toxiproxy import Toxiproxy

from chaos.toxiproxy.subprocess_server import running_toxiproxy_server, stop_process

BLOCK_ROUND_TRIPS = 200


async def serve_echo() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(f"echo listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


@contextmanager
def echo_server_process() -> Iterator[str]:
    command = [sys.executable, "-m", "bench.toxiproxy_bench", "--echo-server"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("echo listening on "), line
        yield line.removeprefix("echo listening on ").strip()
    finally:
        stop_process(process)


def open_connection(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def timed_round_trips(sock: socket.socket, payload: bytes, count: int) -> list[float]:
    durations_s = []
    for _ in range(count):
        started_s = time.perf_counter()
        sock.sendall(payload)
        received = 0
        while received < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("echo connection closed")
            received += len(chunk)
        durations_s.append(time.perf_counter() - started_s)
    return durations_s


def percentile_ms(durations_s: list[float], fraction: float) -> float:
    ordered = sorted(durations_s)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def run(round_trips: int, payload_bytes: int) -> str:
    payload = b"x" * payload_bytes
    with echo_server_process() as echo_address, running_toxiproxy_server() as toxiproxy_server:
        client = Toxiproxy()
        client.update_api_consumer(toxiproxy_server.host, toxiproxy_server.port)
        proxy = client.create(upstream=echo_address, name="bench_echo")
        with open_connection(echo_address) as direct, open_connection(proxy.listen) as proxied:
            timed_round_trips(direct, payload, 200)  # warm up both paths
            timed_round_trips(proxied, payload, 200)
            direct_s: list[float] = []
            proxied_s: list[float] = []
            for _ in range(max(1, round_trips // BLOCK_ROUND_TRIPS)):
                direct_s += timed_round_trips(direct, payload, BLOCK_ROUND_TRIPS)
                proxied_s += timed_round_trips(proxied, payload, BLOCK_ROUND_TRIPS)
    rows = [
        "| path | round trips | p50 ms | p99 ms | round trips/s (sequential, 1 connection) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, durations_s in (("direct", direct_s), ("through proxy", proxied_s)):
        rows.append(
            f"| {name} | {len(durations_s)} | {percentile_ms(durations_s, 0.5):.3f} | "
            f"{percentile_ms(durations_s, 0.99):.3f} | {1 / statistics.fmean(durations_s):,.0f} |"
        )
    added_p50_ms = percentile_ms(proxied_s, 0.5) - percentile_ms(direct_s, 0.5)
    added_p99_ms = percentile_ms(proxied_s, 0.99) - percentile_ms(direct_s, 0.99)
    rows.append(f"| hop adds | | {added_p50_ms:+.3f} | {added_p99_ms:+.3f} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.toxiproxy_bench")
    parser.add_argument("--round-trips", type=int, default=4000)
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        asyncio.run(serve_echo())
        return 0
    print(f"toxiproxy hop, {args.payload_bytes}-byte request and response, no toxics\n")
    print(run(args.round_trips, args.payload_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
