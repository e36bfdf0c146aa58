"""What a cluster's age costs: storage nodes' memory, WAL bytes and a node's restart time as writes pile up
on a fixed set of keys, with snapshots (the store's default: a copy every 10,000 applied entries, the log
compacted behind the one before) and without (`0`: the log and the WAL keep every entry, and all three
grow with the number of writes, not with the data). Both run in one invocation, one after the other.

One real local cluster (3 AZs x 2 nodes, fsync on), one table in one partition so a single group's log
takes every write (until admission control splits it: the table's groups are summed). After each stage
of writes: the resident memory of every storage node, the bytes of their WALs and item stores (snapshot
copies included), the entries the groups' leaders hold in their logs, the time a killed storage node
takes from its start until it holds its groups' logs again (it replays its WAL from its snapshot on; the
median of 3 restarts, with the part spent opening its groups), and the time a log replica takes to stand
in for it once a power-off is detected (it catches up from the leader's log tail).

    python -m bench.growth_bench [--stages 10000,30000,60000] [--keys 1000] [--value-bytes 120]
                                 [--snapshot-every-entries 10000,0]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.http_load import run_load
from bench.targets import create_table, wait_for
from cluster.deploy.local_processes import LocalCluster
from cluster.deploy.status_probe import probe_status
from gameday.checks.resources import directory_mb, resident_mb

TABLE = "growth"
CLIENTS = 16
CHUNK_S = 5.0
STAGES = (10_000, 30_000, 60_000)
RESTARTS = 3  # per stage; the table shows the median
HEAL_TIMEOUT_S = 30.0


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
    restart_s: float  # the median of RESTARTS
    log_held: int = 0  # entries the leaders hold in their logs (after their snapshots), summed
    restart_open_s: float = 0.0  # of which opening its groups (snapshot and WAL tail read back), median
    recovered_entries: int = 0  # the WAL tail entries it read back, over its groups
    heal_s: float | None = None  # a log replica committed, after the power-off was detected


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


def _victim_status(cluster: LocalCluster, process_id: str) -> dict:
    spec = next(spec for spec in cluster.topology().processes if spec.process_id == process_id)
    return probe_status(spec.host, spec.port)


def _holds(status: dict, wanted: dict[str, int]) -> bool:
    """Does the process of `status` hold every group of `wanted` up to its index?"""
    held = {g["group"]: int(g.get("last_index", 0)) for g in status.get("groups", [])}
    return all(held.get(group, -1) >= index for group, index in wanted.items())


def _kill(cluster: LocalCluster, process_id: str) -> None:
    """SIGKILL, and wait until it is gone: start_process leaves a process it still sees running alone."""
    cluster.signal_process(process_id, signal.SIGKILL)
    wait_for(lambda: not cluster.is_running(process_id), 10, f"{process_id} to die")


def _restart(cluster: LocalCluster, victim: str, wanted: dict[str, int]) -> tuple[float, float, int]:
    """Kills `victim` and starts it again: seconds until it holds its groups' logs again, the seconds it
    spent opening those groups, and the WAL entries it read back."""
    _kill(cluster, victim)
    started = time.monotonic()
    cluster.start_process(victim)
    status = wait_for(
        lambda: (found := _victim_status(cluster, victim)) and _holds(found, wanted) and found, 600,
        f"{victim} to hold its groups again",
    )
    restart_s = time.monotonic() - started
    groups = [g for g in status["groups"] if g["group"] in wanted]
    return restart_s, sum(g["opened_in_s"] for g in groups), sum(g["recovered_entries"] for g in groups)


def _heal(cluster: LocalCluster, victim: str, wanted: dict[str, int]) -> float | None:
    """Powers `victim` off until a log replica stands in for it in one of its groups: the seconds from the
    detection to the log replica's commit (it catches up from the leader's snapshot point and log tail),
    then powers it on and waits for it to hold its groups. None: this cluster adds no log replica."""
    def added() -> list[dict]:
        return [
            event for process in cluster.status()["processes"]
            for event in process.get("log_replicas", {}).get("events", [])
            if event["action"] == "add-log-replica" and event.get("unhealthy") == victim
            and event["group"] in wanted and "failed" not in event and event["detected_at"] >= killed_at
        ]  # fmt: skip

    _kill(cluster, victim)
    killed_at = time.time()
    try:
        events = wait_for(added, HEAL_TIMEOUT_S, "a log replica")
    except TimeoutError:
        events = []
    cluster.start_process(victim)
    wait_for(lambda: _holds(_victim_status(cluster, victim), wanted), 600, f"{victim} to hold its groups again")
    # The next stage starts from healthy groups: the victim a storage replica again, the log replica gone
    # (a group that still has one adds no other, and the next heal would not be measured).
    wait_for(lambda: _healed(cluster, victim, set(wanted)), 120, f"{victim}'s groups to drop their log replicas")
    return min(float(event["seconds_after_detection"]) for event in events) if events else None


def _healed(cluster: LocalCluster, victim: str, groups: set[str]) -> bool:
    memberships = {
        group["group"]: group["membership"]
        for process in cluster.status()["processes"]
        for group in process.get("groups", [])
        if group.get("role") == "leader" and group["group"] in groups
    }
    return set(memberships) == groups and all(
        victim in m["storage"] and not m.get("log") and not m.get("learners") for m in memberships.values()
    )


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
    restarts = [_restart(cluster, victim, wanted) for _ in range(RESTARTS)]
    heal_s = _heal(cluster, victim, wanted)
    return Stage(
        written, rate, sum(rss), max(rss), group_parts_mb(cluster.data_dir, "wal"),
        group_parts_mb(cluster.data_dir, "state") + group_parts_mb(cluster.data_dir, "snapshot"),
        sum(commit for _, _, commit, _ in groups.values()), len(groups),
        statistics.median(restart for restart, _, _ in restarts), sum(held for _, _, _, held in groups.values()),
        statistics.median(opened for _, opened, _ in restarts), restarts[-1][2], heal_s,
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
    "| WAL | item stores | follower restart (opening its groups; WAL entries read) | log-replica heal |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _row(stage: Stage, snapshot_every_entries: int) -> str:
    every = f"{snapshot_every_entries:,} entries" if snapshot_every_entries else "never"
    heal = f"{stage.heal_s:.2f} s" if stage.heal_s is not None else "none added"
    return (
        f"| {every} | {stage.writes:,} | {stage.write_rate:,.0f} | {stage.groups} | {stage.log_entries:,} "
        f"({stage.log_held:,}) | {stage.rss_mb_total:,.0f} / {stage.rss_mb_max:,.0f} MB | {stage.wal_mb:,.1f} MB "
        f"| {stage.store_mb:,.1f} MB | {stage.restart_s:.2f} s ({stage.restart_open_s:.2f} s; "
        f"{stage.recovered_entries:,}) | {heal} |"
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
        f"restart {last.restart_s / first.restart_s:.2f}x"
        + (f", log-replica heal {last.heal_s / first.heal_s:.2f}x" if first.heal_s and last.heal_s else "")
        + " (the data is the same few keys throughout)"
    )


if __name__ == "__main__":
    sys.exit(main())
