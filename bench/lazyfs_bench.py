"""What lazyfs costs: PutItem throughput of the local cluster with each node's data directory on lazyfs
("fuse") and on the plain disk ("store-mark"), alternating the two over several trials; prints the
median of each and their ratio (the goal: lazyfs keeps at least 70 %).

    .venv/bin/python -m bench.lazyfs_bench [--trials 3] [--seconds 6] [--clients 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from bench.http_load import run_load
from bench.store_bench import _create_table, _put_body
from cluster.deploy.local_processes import LocalCluster

MODELS = ("store-mark", "fuse")


async def _measure(port: int, clients: list[int], seconds: float) -> dict[int, float]:
    await _create_table(port)
    throughput = {}
    for count in clients:
        result = await run_load("127.0.0.1", [port], "PutItem", _put_body, count, seconds)
        throughput[count] = result.throughput
    return throughput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="duration of each load cell")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args(argv)
    samples: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lazyfs-bench-") as directory:
        for trial in range(args.trials):
            # Alternate which model goes first, so a drift of the machine's load favours neither.
            for model in MODELS if trial % 2 == 0 else tuple(reversed(MODELS)):
                cluster = LocalCluster(Path(directory) / f"{model}-{trial}")
                try:
                    endpoints = cluster.up(power_loss=model)["endpoints"]
                    port = int(endpoints["az-a"].rsplit(":", 1)[1])
                    measured = asyncio.run(_measure(port, args.clients, args.seconds))
                finally:
                    cluster.down()
                for count, value in measured.items():
                    samples.setdefault((model, count), []).append(value)
                print(f"trial {trial + 1} {model}: " + ", ".join(f"{c} clients {v:.0f}/s" for c, v in measured.items()),
                      file=sys.stderr)
    print("| clients | plain disk PutItem/s (median) | lazyfs PutItem/s (median) | lazyfs / plain |")
    print("|---|---|---|---|")
    for count in args.clients:
        plain = statistics.median(samples[("store-mark", count)])
        lazy = statistics.median(samples[("fuse", count)])
        print(f"| {count} | {plain:.0f} | {lazy:.0f} | {lazy / plain:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
