"""What a cluster's age costs: storage nodes' memory, WAL bytes and a node's restart time as writes pile up
on a fixed set of keys, with snapshots (the store's default: a copy every 10,000 applied entries, the log
compacted behind the one before) and without (`0`: the log and the WAL keep every entry, and all three
grow with the number of writes, not with the data). Both run in one invocation, one after the other.

One real local cluster (3 AZs x 2 nodes, fsync on), one table in one partition so a single group's log
takes every write (until admission control splits it: the table's groups are summed). After each stage
of writes: the resident memory of every storage node, the bytes of their WALs and item stores (snapshot
copies included), the entries the groups' leaders hold in their logs, and the time a killed storage node
takes from its start until it holds its groups' logs again (it replays its WAL from its snapshot on).

    python -m bench.growth_bench [--stages 10000,30000,60000] [--keys 1000] [--value-bytes 120]
                                 [--snapshot-every-entries 10000,0]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.http_load import run_load
from bench.targets import create_table, wait_for
from cluster.deploy.local_processes import LocalCluster
from gameday.checks.resources import directory_mb, resident_mb

TABLE = "growth"
CLIENTS = 16
CHUNK_S = 5.0
STAGES = (10_000, 30_000, 60_000)


@dataclass(frozen=True)
class Stage:
    writes: int
    write_rate: float
    rss_mb_total: float
    rss_mb_max: float
    wal_mb: float
    store_mb: float
    log_entries: int  # over every group of the table
    groups: int
    restart_s: float
    log_held: int = 0  # entries the leaders hold in their logs (after their snapshots), summed


def group_parts_mb(root: Path, part: str) -> float:
    """Bytes under every `groups/<group>/<part>` of every process of the cluster."""
    return directory_mb(root.glob(f"processes/*/groups/*/{part}"))


def _table_groups(cluster: LocalCluster) -> dict[str, tuple[str, list[str], int, int]]:
    """Each group of the table (a hot partition may split): (leader, storage members, commit index, entries
    the leader's log holds)."""
    groups = {}
    for process in cluster.status()["processes"]:
        for group in process.get("groups", []):
            if group.get("role") == "leader" and group["group"] != "metadata":
                held = int(group["last_index"]) - int(group.get("snapshot_index") or 0)
                groups[group["group"]] = (
                    process["id"], list(group["membership"]["storage"]), int(group["commit_index"]), held
                )
    if not groups:
        raise RuntimeError("the table has no led group")
    return groups


def _holds(cluster: LocalCluster, process_id: str, wanted: dict[str, int]) -> bool:
    """Does `process_id` hold every group of `wanted` up to its index?"""
    for process in cluster.status()["processes"]:
        if process["id"] == process_id:
            held = {g["group"]: int(g.get("last_index", 0)) for g in process.get("groups", [])}
            return all(held.get(group, -1) >= index for group, index in wanted.items())
    return False


def _write(port: int, keys: int, value: str, count: int) -> float:
    """At least `count` PutItems over `keys` keys; returns the rate achieved."""
    done = 0
    started = time.monotonic()

    def body(client: int, sequence: int) -> dict:
        return {"TableName": TABLE, "Item": {"pk": {"S": f"k{(client * 7919 + sequence) % keys}"}, "v": {"S": value}}}

    while done < count:
        result = asyncio.run(run_load("127.0.0.1", [port], "PutItem", body, CLIENTS, CHUNK_S))
        done += result.operations
    return done / (time.monotonic() - started)


def measure(cluster: LocalCluster, written: int, rate: float) -> Stage:
    storage = [pid for process_id, pid in cluster.pids().items() if process_id.startswith("node-")]
    rss = [resident_mb(pid) or 0.0 for pid in storage]
    groups = _table_groups(cluster)
    # The restarted node: one that follows in most of the table's groups (it replays each group's WAL).
    followers = [member for leader, members, _, _ in groups.values() for member in members if member != leader]
    victim = max(sorted(set(followers)), key=followers.count)
    wanted = {group: commit for group, (_, members, commit, _) in groups.items() if victim in members}
    cluster.signal_process(victim, signal.SIGKILL)
    started = time.monotonic()
    cluster.start_process(victim)
    wait_for(lambda: _holds(cluster, victim, wanted), 600, f"{victim} to hold its groups again")
    restart_s = time.monotonic() - started
    return Stage(
        written, rate, sum(rss), max(rss), group_parts_mb(cluster.data_dir, "wal"),
        group_parts_mb(cluster.data_dir, "state") + group_parts_mb(cluster.data_dir, "snapshot"),
        sum(commit for _, _, commit, _ in groups.values()), len(groups), restart_s,
        sum(held for _, _, _, held in groups.values()),
    )


def run(stages: list[int], keys: int, value_bytes: int, snapshot_every_entries: int) -> list[Stage]:
    results = []
    with tempfile.TemporaryDirectory(prefix="growth-bench-") as scratch:
        cluster = LocalCluster(Path(scratch) / "cluster")
        try:
            settings = {"snapshot_every_entries": snapshot_every_entries}
            endpoints = cluster.up(partitions_per_table=1, settings=settings)["endpoints"]
            port = int(next(iter(endpoints.values())).rsplit(":", 1)[1])
            asyncio.run(create_table(port, TABLE))
            written = 0
            for target in stages:
                rate = _write(port, keys, "v" * value_bytes, target - written)
                written = target
                results.append(measure(cluster, target, rate))
                print(_row(results[-1], snapshot_every_entries), flush=True)
        finally:
            cluster.down()
    return results


HEADER = (
    "| snapshots every | writes | write rate /s | groups | log entries (held) | storage nodes' RSS (sum / max) "
    "| WAL | item stores | follower restart |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _row(stage: Stage, snapshot_every_entries: int) -> str:
    every = f"{snapshot_every_entries:,} entries" if snapshot_every_entries else "never"
    return (
        f"| {every} | {stage.writes:,} | {stage.write_rate:,.0f} | {stage.groups} | {stage.log_entries:,} "
        f"({stage.log_held:,}) | {stage.rss_mb_total:,.0f} / {stage.rss_mb_max:,.0f} MB | {stage.wal_mb:,.1f} MB "
        f"| {stage.store_mb:,.1f} MB | {stage.restart_s:.2f} s |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default=",".join(str(s) for s in STAGES), help="cumulative write counts")
    parser.add_argument("--keys", type=int, default=1000, help="the writes overwrite this many keys")
    parser.add_argument("--value-bytes", type=int, default=120)
    parser.add_argument(
        "--snapshot-every-entries", default="10000,0",
        help="one run per value: a replica copies its state every this many entries (0: never compacts)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        stages = sorted(int(part) for part in args.stages.split(","))
        settings = [int(part) for part in args.snapshot_every_entries.split(",")]
    except ValueError:
        parser.error("--stages and --snapshot-every-entries take comma-separated whole numbers")
    print(HEADER, flush=True)
    summaries = []
    for every in settings:
        results = run(stages, args.keys, args.value_bytes, every)
        summaries.append(growth_line(results, every))
    print()
    print("\n".join(summaries))
    return 0


def growth_line(results: list[Stage], snapshot_every_entries: int) -> str:
    first, last = results[0], results[-1]
    every = f"snapshots every {snapshot_every_entries:,} entries" if snapshot_every_entries else "no snapshots"
    return (
        f"{every}: {last.writes / first.writes:.1f}x the writes: RSS {last.rss_mb_total / first.rss_mb_total:.2f}x, "
        f"WAL {last.wal_mb / max(first.wal_mb, 1e-9):.2f}x, log held {last.log_held / max(first.log_held, 1):.2f}x, "
        f"restart {last.restart_s / first.restart_s:.2f}x (the data is the same few keys throughout)"
    )


if __name__ == "__main__":
    sys.exit(main())
