"""A two-item TransactWriteItems against PutItem at 16 clients, on our cluster beside moto_server, in one run.

Each transaction moves one unit between two accounts (Update `ADD balance :n` on both, no condition),
the accounts drawn per client so that two clients rarely touch one item: what is measured is the
protocol's cost (a prepare per item, the ledger's decision, a commit per item), not contention. The
PutItem cell writes one item per request of the same size. Trials alternate which cell runs first; the
table shows medians, TransactWriteItems / PutItem is the median of the per-trial ratios, and p99 is
the transactions' over every trial. dynalite has no transactions, so it is not measured here.

    .venv/bin/python -m bench.transaction_bench [--seconds 4] [--trials 5] [--skip-references]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.http_load import LoadResult, run_load
from bench.targets import MOTO, create_table, each_reference, running_cluster

CLIENTS = 16
TABLE = "bench-accounts"
ACCOUNTS_PER_CLIENT = 20
RATIO_GOAL = 0.30  # a two-item transaction at least 30 % of PutItem's throughput
P99_GOAL_MS = 100.0
OURS = "gameday cluster (3 replicas, fsync), one router"
PUT, TRANSACT = "PutItem", "TransactWriteItems (2 items)"


def _account(client: int, number: int) -> dict[str, Any]:
    return {"pk": {"S": f"c{client}-a{number % ACCOUNTS_PER_CLIENT}"}}


def put_body(client: int, sequence: int) -> dict[str, Any]:
    return {"TableName": TABLE, "Item": {**_account(client, sequence), "balance": {"N": str(sequence)}}}


def transact_body(client: int, sequence: int) -> dict[str, Any]:
    def add(number: int, amount: int) -> dict[str, Any]:
        return {"Update": {"TableName": TABLE, "Key": _account(client, number), "UpdateExpression": "ADD balance :n",
                           "ExpressionAttributeValues": {":n": {"N": str(amount)}}}}  # fmt: skip

    return {"TransactItems": [add(sequence, -1), add(sequence + 7, 1)]}


async def measure(port: int, seconds: float, trials: int) -> dict[str, list[LoadResult]]:
    await create_table(port, TABLE)
    results: dict[str, list[LoadResult]] = {PUT: [], TRANSACT: []}
    for trial in range(trials):
        cells = [(PUT, "PutItem", put_body), (TRANSACT, "TransactWriteItems", transact_body)]
        for cell, operation, body in cells if trial % 2 == 0 else reversed(cells):
            results[cell].append(await run_load("127.0.0.1", [port], operation, body, CLIENTS, seconds))
    return results


def summary(name: str, results: dict[str, list[LoadResult]]) -> str:
    ratio = statistics.median(t.throughput / p.throughput for t, p in zip(results[TRANSACT], results[PUT], strict=True))
    latencies = [latency for result in results[TRANSACT] for latency in result.latencies_s]
    p99 = LoadResult(len(latencies), 0, 1.0, latencies).percentile_ms(0.99)
    errors = {kind: count for result in results[TRANSACT] for kind, count in result.error_types.items()}
    cells = " | ".join(f"{statistics.median(r.throughput for r in results[cell]):,.0f}" for cell in (PUT, TRANSACT))
    return f"| {name} | {cells} | {ratio:.2f} | {p99:.1f} | {sum(errors.values())} {errors or ''} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each trial of each cell")
    parser.add_argument("--trials", type=int, default=5, help="trials of each cell; the table shows medians")
    parser.add_argument("--skip-references", action="store_true", help="measure only our cluster")
    args = parser.parse_args(argv)
    rows = []
    ours: dict[str, list[LoadResult]] = {}
    with tempfile.TemporaryDirectory(prefix="transaction-bench-") as directory, \
            running_cluster(Path(directory) / "cluster") as (_, ports):  # fmt: skip
        print("measuring the replicated cluster...", file=sys.stderr)
        ours = asyncio.run(measure(ports[0], args.seconds, args.trials))
        rows.append(summary(OURS, ours))
    if not args.skip_references:
        for name, port in each_reference(only=(MOTO,)):
            rows.append(summary(name, asyncio.run(measure(port, args.seconds, args.trials))))
    print(f"| target ({CLIENTS} clients) | {PUT} ops/s | {TRANSACT} ops/s | ratio | transaction p99 ms | transaction errors |")
    print("|---|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    ratio = statistics.median(t.throughput / p.throughput for t, p in zip(ours[TRANSACT], ours[PUT], strict=True))
    latencies = [latency for result in ours[TRANSACT] for latency in result.latencies_s]
    p99 = LoadResult(len(latencies), 0, 1.0, latencies).percentile_ms(0.99)
    print(f"\nOur TransactWriteItems (2 items) / PutItem at {CLIENTS} clients: {ratio:.2f} "
          f"(goal >= {RATIO_GOAL:.2f}: {'met' if ratio >= RATIO_GOAL else 'missed'}); "
          f"p99 {p99:.0f} ms (goal < {P99_GOAL_MS:.0f}: {'met' if p99 < P99_GOAL_MS else 'missed'})")
    print(f"Machine: {os.cpu_count()} CPUs, 1-minute load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
