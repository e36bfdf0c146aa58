"""PutItem/GetItem throughput and latency of the replicated store beside moto_server and dynalite,
in one run on one machine, plus leader failover time. `make bench` runs it.

Our cluster is measured with every client on one router (like the single-endpoint references), again
with the clients spread over its three routers, and with every link through Toxiproxy.

    .venv/bin/python -m bench.store_bench [--seconds 8] [--trials 20] [--skip-references]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.http_load import LoadResult, call, run_load
from cluster.api.attribute_values import KeySchema, partition_hash
from cluster.deploy.local_processes import LocalCluster
from cluster.deploy.status_probe import probe_status

CONCURRENCY = (1, 8, 32)
OURS = "gameday cluster (3 replicas, fsync), one router"
OURS_SPREAD = "gameday cluster, clients spread over 3 routers"
OURS_PROXIED = "gameday cluster, every link proxied, one router"
TABLE = "bench"
DYNALITE_DIR = Path(__file__).resolve().parent / ".dynalite"
VALUE = "v" * 100


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s}s")


@contextlib.contextmanager
def _process(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_dynalite() -> Path | None:
    cli = DYNALITE_DIR / "node_modules" / "dynalite" / "cli.js"
    if cli.exists():
        return cli
    if shutil.which("npm") is None:
        return None
    DYNALITE_DIR.mkdir(exist_ok=True)
    result = subprocess.run(["npm", "install", "--silent", "--prefix", str(DYNALITE_DIR), "dynalite@4"], capture_output=True)
    return cli if result.returncode == 0 and cli.exists() else None


async def _create_table(port: int) -> None:
    await call("127.0.0.1", port, "CreateTable", {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    })
    for _ in range(300):
        status, body = await call("127.0.0.1", port, "DescribeTable", {"TableName": TABLE})
        if status == 200 and body["Table"]["TableStatus"] == "ACTIVE":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("table never became ACTIVE")


def _put_body(client: int, sequence: int) -> dict:
    return {"TableName": TABLE, "Item": {"pk": {"S": f"k{client}-{sequence % 2000}"}, "v": {"S": VALUE}}}


def _get_body(client: int, sequence: int) -> dict:
    return {"TableName": TABLE, "Key": {"pk": {"S": f"k{client}-{sequence % 200}"}}, "ConsistentRead": True}


async def measure_target(
    ports: list[int], seconds: float, table_exists: bool = False
) -> dict[tuple[str, int], LoadResult]:
    if not table_exists:
        await _create_table(ports[0])
    results = {}
    for clients in CONCURRENCY:
        results[("PutItem", clients)] = await run_load("127.0.0.1", ports, "PutItem", _put_body, clients, seconds)
        results[("GetItem", clients)] = await run_load("127.0.0.1", ports, "GetItem", _get_body, clients, seconds)
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
        cluster = LocalCluster(Path(directory) / "cluster")
        try:
            endpoints = cluster.up()["endpoints"]
            ports = [int(url.rsplit(":", 1)[1]) for url in endpoints.values()]
            port = ports[0]
            print("measuring the replicated cluster (3 AZs x 2 nodes, fsync on), one router...", file=sys.stderr)
            table[OURS] = asyncio.run(measure_target([port], args.seconds))
            print("... and with clients spread over its three routers...", file=sys.stderr)
            table[OURS_SPREAD] = asyncio.run(measure_target(ports, args.seconds, table_exists=True))
            if args.trials:
                print(f"measuring failover over {args.trials} trials...", file=sys.stderr)
                failovers = measure_failover(cluster, port, args.trials)
        finally:
            cluster.down()
        if args.proxied:
            # The same cluster with every link chaos may cut going through our Toxiproxy server.
            proxied = LocalCluster(Path(directory) / "proxied-cluster")
            try:
                endpoints = proxied.up(proxy_links=True)["endpoints"]
                port = int(endpoints["az-a"].rsplit(":", 1)[1])
                print("measuring the cluster with every link proxied, one router...", file=sys.stderr)
                table[OURS_PROXIED] = asyncio.run(measure_target([port], args.seconds))
            finally:
                proxied.down()
    if not args.skip_references:
        port = _free_port()
        moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        if moto:
            print("measuring moto_server...", file=sys.stderr)
            with _process([moto, "-p", str(port)], port):
                table["moto_server (1 node, memory)"] = asyncio.run(measure_target([port], args.seconds))
        dynalite = ensure_dynalite()
        if dynalite:
            port = _free_port()
            print("measuring dynalite...", file=sys.stderr)
            with _process(["node", str(dynalite), "--port", str(port), "--createTableMs", "0"], port):
                table["dynalite (1 node, memory)"] = asyncio.run(measure_target([port], args.seconds))
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
    moto_results = table.get("moto_server (1 node, memory)")
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
