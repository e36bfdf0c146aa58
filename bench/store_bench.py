"""PutItem/GetItem throughput and latency of the replicated store beside moto_server and dynalite,
in one run on one machine, plus leader failover time. `make bench` runs it.

Our cluster is measured with every client on one router (like the single-endpoint references), again
with the clients spread over its three routers, and with every link through Toxiproxy.

    .venv/bin/python -m bench.store_bench [--seconds 8] [--trials 20] [--skip-references]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.http_load import LoadResult, call, run_load
from bench.targets import MOTO, create_table, each_reference, running_cluster
from cluster.api.attribute_values import KeySchema, partition_hash
from cluster.deploy.local_processes import LocalCluster
from cluster.deploy.status_probe import probe_status

CONCURRENCY = (1, 8, 32)
OURS = "gameday cluster (3 replicas, fsync), one router"
OURS_SPREAD = "gameday cluster, clients spread over 3 routers"
OURS_PROXIED = "gameday cluster, every link proxied, one router"
TABLE = "bench"
VALUE = "v" * 100


async def create_store_table(port: int) -> None:
    await create_table(port, TABLE)


def put_body(client: int, sequence: int) -> dict:
    return {"TableName": TABLE, "Item": {"pk": {"S": f"k{client}-{sequence % 2000}"}, "v": {"S": VALUE}}}


def get_body(client: int, sequence: int) -> dict:
    return {"TableName": TABLE, "Key": {"pk": {"S": f"k{client}-{sequence % 200}"}}, "ConsistentRead": True}


async def measure_target(
    ports: list[int], seconds: float, table_exists: bool = False
) -> dict[tuple[str, int], LoadResult]:
    if not table_exists:
        await create_store_table(ports[0])
    results = {}
    for clients in CONCURRENCY:
        results[("PutItem", clients)] = await run_load("127.0.0.1", ports, "PutItem", put_body, clients, seconds)
        results[("GetItem", clients)] = await run_load("127.0.0.1", ports, "GetItem", get_body, clients, seconds)
    return results


def _key_in_group(cluster: LocalCluster, group_index: int) -> tuple[str, str]:
    """A key that hashes into partition `group_index` of the bench table, and that group's id."""
    schema = KeySchema("pk", "S")
    partitions = 4
    for number in range(10000):
        key = f"failover-{number}"
        item_hash = partition_hash({"pk": {"S": key}}, schema)
        if item_hash * partitions // (1 << 64) == group_index:
            break
    leaders = _leaders(cluster)
    group = next(g for g in leaders if g.endswith(f"-p{group_index}"))
    return key, group


def _leaders(cluster: LocalCluster) -> dict[str, str]:
    leaders: dict[str, str] = {}
    topology = cluster.topology()
    for spec in topology.by_role("node"):
        if cluster.is_running(spec.process_id):
            for group in probe_status(spec.host, spec.port).get("leading", []):
                leaders[group] = spec.process_id
    return leaders


async def _first_acknowledged_write(port: int, key: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            status, _ = await call("127.0.0.1", port, "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": key}}}, 5.0)
        except (TimeoutError, OSError):
            status = 0
        if status == 200:
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise RuntimeError(f"no write acknowledged within {timeout_s}s")


def measure_failover(cluster: LocalCluster, port: int, trials: int) -> list[float]:
    durations = []
    for trial in range(trials):
        key, group = _key_in_group(cluster, trial % 4)
        leader = _leaders(cluster).get(group)
        if leader is None:
            time.sleep(1)
            continue
        asyncio.run(_first_acknowledged_write(port, key, 10))
        killed_at = time.monotonic()
        cluster.signal_process(leader, signal.SIGKILL)
        acknowledged_at = asyncio.run(_first_acknowledged_write(port, key, 15))
        durations.append(acknowledged_at - killed_at)
        cluster.start_process(leader)
        cluster.wait_until_serving(30)
        time.sleep(1.5)  # let the restarted node catch up before the next trial
    return durations


def _row(name: str, results: dict[tuple[str, int], LoadResult], operation: str) -> str:
    cells = []
    for clients in CONCURRENCY:
        result = results[(operation, clients)]
        cells.append(f"{result.throughput:,.0f} ops/s, p50 {result.p50_ms:.1f} / p99 {result.percentile_ms(0.99):.1f} ms"
                      + (f", {result.errors} errors" if result.errors else ""))
    return f"| {name} | {operation} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load cell")
    parser.add_argument("--trials", type=int, default=20, help="failover trials")
    parser.add_argument("--skip-references", action="store_true", help="measure only our cluster")
    parser.add_argument(
        "--no-proxied", dest="proxied", action="store_false",
        help="skip the run with every link through Toxiproxy (the proxy overhead)",
    )
    args = parser.parse_args(argv)
    table: dict[str, dict[tuple[str, int], LoadResult]] = {}
    failovers: list[float] = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as directory:
        with running_cluster(Path(directory) / "cluster") as (cluster, ports):
            port = ports[0]
            print("measuring the replicated cluster (3 AZs x 2 nodes, fsync on), one router...", file=sys.stderr)
            table[OURS] = asyncio.run(measure_target([port], args.seconds))
            print("... and with clients spread over its three routers...", file=sys.stderr)
            table[OURS_SPREAD] = asyncio.run(measure_target(ports, args.seconds, table_exists=True))
            if args.trials:
                print(f"measuring failover over {args.trials} trials...", file=sys.stderr)
                failovers = measure_failover(cluster, port, args.trials)
        if args.proxied:
            # The same cluster with every link chaos may cut going through our Toxiproxy server.
            with running_cluster(Path(directory) / "proxied-cluster", proxy_links=True) as (_, ports):
                print("measuring the cluster with every link proxied, one router...", file=sys.stderr)
                table[OURS_PROXIED] = asyncio.run(measure_target(ports[:1], args.seconds))
    if not args.skip_references:
        for name, port in each_reference():
            table[name] = asyncio.run(measure_target([port], args.seconds))
    header = "| target | operation | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in CONCURRENCY) + " |"
    print(header)
    print("|" + "---|" * (2 + len(CONCURRENCY)))
    for name, results in table.items():
        for operation in ("PutItem", "GetItem"):
            print(_row(name, results, operation))
    if failovers:
        print(f"\nFailover (SIGKILL a group leader -> first acknowledged write to that group), {len(failovers)} trials: "
              f"p50 {statistics.median(failovers):.2f} s, max {max(failovers):.2f} s")
    ours = table.get(OURS)
    moto_results = table.get(MOTO)
    if ours and moto_results:
        ratio = ours[("PutItem", 32)].throughput / moto_results[("PutItem", 32)].throughput
        print(f"PutItem at 32 clients: {ratio:.1f}x moto_server")
    proxied_results = table.get(OURS_PROXIED)
    if ours and proxied_results:
        for operation in ("PutItem", "GetItem"):
            kept = proxied_results[(operation, 32)].throughput / ours[(operation, 32)].throughput
            print(f"{operation} at 32 clients with every link proxied: {kept:.0%} of the unproxied throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
