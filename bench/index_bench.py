"""Global secondary indexes on our cluster: how long an index lags its table, and what keeping one costs a write.

Lag: LAG_WRITERS clients each put an item under a fresh index key, then Query the index for that key every
POLL_S until the entry is there; the lag is from the PutItem's answer to the first Query that returned it
(so it includes up to one poll interval and the Query's own time). Measured alone and beside a background
load of PutItems on the indexed table (BACKGROUND_CLIENTS clients). Cost: PutItem throughput at 16 clients
on a table with one GSI (projection ALL) against one without, trials alternating which goes first; the
ratio is the median of the per-trial ratios. The references (moto_server, dynalite) keep their indexes
inside the write, with no lag to measure, so they are not run here.

    .venv/bin/python -m bench.index_bench [--seconds 4] [--trials 3] [--writes 150]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.http_load import LoadResult, call, run_load
from bench.targets import running_cluster

CLIENTS = 16
LAG_WRITERS = 4
BACKGROUND_CLIENTS = 8
POLL_S = 0.005
LAG_TIMEOUT_S = 10.0
PLAIN, INDEXED = "bench-plain", "bench-indexed"
INDEX = "by-group"
LAG_GOAL_MS = 100.0
OURS = "gameday cluster (3 replicas, fsync), one router"


async def create_tables(port: int) -> None:
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    key_schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    await call("127.0.0.1", port, "CreateTable", {
        "TableName": PLAIN, "KeySchema": key_schema, "AttributeDefinitions": definitions, "BillingMode": "PAY_PER_REQUEST",
    })  # fmt: skip
    await call("127.0.0.1", port, "CreateTable", {
        "TableName": INDEXED, "KeySchema": key_schema, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [*definitions, {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": INDEX, "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}],
    })  # fmt: skip
    for table in (PLAIN, INDEXED):
        for _ in range(300):
            status, body = await call("127.0.0.1", port, "DescribeTable", {"TableName": table})
            if status == 200 and body["Table"]["TableStatus"] == "ACTIVE":
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"table {table} never became ACTIVE")


def put_body(table: str) -> Any:
    def body(client: int, sequence: int) -> dict[str, Any]:
        item = {"pk": {"S": f"c{client}-{sequence % 100}"}, "g": {"S": f"group-{sequence % 50}"},
                "v": {"S": f"{sequence:010d}" + "x" * 90}}  # fmt: skip
        return {"TableName": table, "Item": item}

    return body


async def measure_cost(port: int, seconds: float, trials: int) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {PLAIN: [], INDEXED: []}
    for trial in range(trials):
        for table in (PLAIN, INDEXED) if trial % 2 == 0 else (INDEXED, PLAIN):
            results[table].append(await run_load("127.0.0.1", [port], "PutItem", put_body(table), CLIENTS, seconds))
    return results


async def _timed_write(port: int, writer: int, number: int) -> float:
    group = f"lag-{writer}-{number}-{time.monotonic_ns()}"
    item = {"pk": {"S": f"lag-{writer}-{number % 20}"}, "g": {"S": group}, "v": {"N": str(number)}}
    status, body = await call("127.0.0.1", port, "PutItem", {"TableName": INDEXED, "Item": item})
    if status != 200:
        raise RuntimeError(f"PutItem answered {status}: {body}")
    acknowledged = time.monotonic()
    query = {"TableName": INDEXED, "IndexName": INDEX, "KeyConditionExpression": "g = :g",
             "ExpressionAttributeValues": {":g": {"S": group}}}  # fmt: skip
    while time.monotonic() - acknowledged < LAG_TIMEOUT_S:
        status, body = await call("127.0.0.1", port, "Query", query)
        if status == 200 and body.get("Count"):
            return time.monotonic() - acknowledged
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"the index never showed {group} within {LAG_TIMEOUT_S} s")


async def measure_lag(port: int, writes: int, background: bool) -> list[float]:
    stop = asyncio.Event()
    load = None
    if background:
        async def keep_writing() -> None:
            while not stop.is_set():
                await run_load("127.0.0.1", [port], "PutItem", put_body(INDEXED), BACKGROUND_CLIENTS, 1.0)

        load = asyncio.ensure_future(keep_writing())
        await asyncio.sleep(0.5)
    counter = itertools.count()
    lags: list[float] = []

    async def writer(number: int) -> None:
        while (done := next(counter)) < writes:
            lags.append(await _timed_write(port, number, done))

    try:
        await asyncio.gather(*(writer(number) for number in range(LAG_WRITERS)))
    finally:
        stop.set()
        if load is not None:
            await load
    return lags


def _lag_row(name: str, lags: list[float]) -> str:
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"| {name} | {len(lags)} | {statistics.median(lags) * 1000:.1f} | {p99 * 1000:.1f} | {max(lags) * 1000:.1f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each PutItem trial")
    parser.add_argument("--trials", type=int, default=3, help="PutItem trials of each table")
    parser.add_argument("--writes", type=int, default=150, help="timed writes of each lag measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="index-bench-") as directory, \
            running_cluster(Path(directory) / "cluster") as (_, ports):  # fmt: skip
        print("measuring the replicated cluster...", file=sys.stderr)
        asyncio.run(create_tables(ports[0]))
        quiet = asyncio.run(measure_lag(ports[0], args.writes, background=False))
        loaded = asyncio.run(measure_lag(ports[0], args.writes, background=True))
        cost = asyncio.run(measure_cost(ports[0], args.seconds, args.trials))
    print(f"| {OURS}: index lag | timed writes | median ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(_lag_row(f"{LAG_WRITERS} writers alone", quiet))
    print(_lag_row(f"{LAG_WRITERS} writers beside {BACKGROUND_CLIENTS} clients of PutItem", loaded))
    ratio = statistics.median(i.throughput / p.throughput for i, p in zip(cost[INDEXED], cost[PLAIN], strict=True))
    plain = statistics.median(r.throughput for r in cost[PLAIN])
    indexed = statistics.median(r.throughput for r in cost[INDEXED])
    print(f"\nPutItem at {CLIENTS} clients: {plain:,.0f} ops/s without an index, {indexed:,.0f} with one GSI "
          f"(ratio {ratio:.2f})")  # fmt: skip
    median_ms = statistics.median(quiet) * 1000
    print(f"Index lag median without faults: {median_ms:.1f} ms (goal < {LAG_GOAL_MS:.0f}: "
          f"{'met' if median_ms < LAG_GOAL_MS else 'missed'})")  # fmt: skip
    print(f"Machine: {os.cpu_count()} CPUs, 1-minute load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
