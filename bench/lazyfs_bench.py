"""What lazyfs costs: PutItem throughput of the local cluster with each node's data directory on lazyfs
("fuse") and on the plain disk ("store-mark").

Both clusters run at once and take turns under load, in short rounds (plain, lazyfs, lazyfs, plain, ...):
on a shared machine the load drifts by several times within minutes, so only measurements seconds apart
compare. Prints each round's pair, the medians, and the median of the per-round ratios (the goal:
lazyfs keeps at least 70 %).

    .venv/bin/python -m bench.lazyfs_bench [--rounds 10] [--seconds 3] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.http_load import run_load
from bench.store_bench import create_store_table, put_body
from cluster.deploy.local_processes import LocalCluster

MODELS = ("store-mark", "fuse")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each load burst")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    samples: dict[str, list[float]] = {model: [] for model in MODELS}
    with tempfile.TemporaryDirectory(prefix="lazyfs-bench-") as directory, ExitStack() as stack:
        ports: dict[str, int] = {}
        for model in MODELS:
            cluster = LocalCluster(Path(directory) / model)
            stack.callback(cluster.down)
            endpoints = cluster.up(power_loss=model)["endpoints"]
            ports[model] = int(endpoints["az-a"].rsplit(":", 1)[1])
            asyncio.run(create_store_table(ports[model]))
        for round_number in range(args.rounds):
            # ABBA order: neither model always runs first after the other's burst.
            order = MODELS if round_number % 2 == 0 else tuple(reversed(MODELS))
            for model in order:
                result = asyncio.run(
                    run_load("127.0.0.1", [ports[model]], "PutItem", put_body, args.clients, args.seconds)
                )
                samples[model].append(result.throughput)
            print(f"round {round_number + 1}: plain {samples['store-mark'][-1]:.0f}/s, "
                  f"lazyfs {samples['fuse'][-1]:.0f}/s", file=sys.stderr)
    ratios = [lazy / plain for lazy, plain in zip(samples["fuse"], samples["store-mark"], strict=True)]
    print("| clients | plain disk PutItem/s (median) | lazyfs PutItem/s (median) | lazyfs / plain per round (median) |")
    print("|---|---|---|---|")
    print(f"| {args.clients} | {statistics.median(samples['store-mark']):.0f} | {statistics.median(samples['fuse']):.0f} "
          f"| {statistics.median(ratios):.0%} (range {min(ratios):.0%}-{max(ratios):.0%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
