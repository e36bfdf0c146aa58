"""Write-ahead log throughput: one fsync per batch of 1, 10 and 100 entries of 200 bytes.

Run: `.venv/bin/python -m bench.wal_bench [--duration-s 2] [--directory DIR]`. Prints a markdown
table. The directory defaults to a temporary one; point it at the disk the replicas use.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cluster.core.types import Entry, HardState
from cluster.storage.wal import WriteAheadLog

COMMAND_BYTES = 200
BATCH_SIZES = (1, 10, 100)
# Bound each measurement in work as well as in time, so a fast disk cannot fill a small one.
MAX_BATCHES_PER_MEASUREMENT = 200_000
MAX_BYTES_PER_MEASUREMENT = 256 << 20


@dataclass(frozen=True)
class Measurement:
    batch_entries: int
    synced: bool
    batches: int
    elapsed_s: float
    latencies_s: list[float]
    size_bytes: int

    @property
    def entries_per_s(self) -> float:
        return self.batches * self.batch_entries / self.elapsed_s

    @property
    def appends_per_s(self) -> float:
        return self.batches / self.elapsed_s

    def latency_ms_quantile(self, quantile: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def measure(directory: Path, batch_entries: int, *, synced: bool, duration_s: float) -> Measurement:
    wal, _ = WriteAheadLog.open(directory, sync=synced)
    command = bytes(position % 251 for position in range(COMMAND_BYTES))
    latencies_s: list[float] = []
    next_index = 1
    started = time.perf_counter()
    deadline = started + duration_s
    with wal:
        while len(latencies_s) < MAX_BATCHES_PER_MEASUREMENT:
            batch_started = time.perf_counter()
            if batch_started >= deadline or wal.size_bytes() >= MAX_BYTES_PER_MEASUREMENT:
                break
            batch = [Entry(1, next_index + offset, command) for offset in range(batch_entries)]
            # Like a Raft follower: entries plus the hard state that acknowledges them, then fsync.
            wal.append(batch, HardState(term=1, voted_for="node-a", commit=next_index))
            wal.sync()
            latencies_s.append(time.perf_counter() - batch_started)
            next_index += batch_entries
        elapsed_s = time.perf_counter() - started
        size_bytes = wal.size_bytes()
    return Measurement(batch_entries, synced, len(latencies_s), elapsed_s, latencies_s, size_bytes)


def measure_recovery(directory: Path) -> tuple[int, float]:
    started = time.perf_counter()
    wal, recovered = WriteAheadLog.open(directory)
    elapsed_s = time.perf_counter() - started
    wal.close()
    return len(recovered.entries), elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--directory", type=Path, default=None, help="parent directory for the logs")
    arguments = parser.parse_args()
    assert 0 < arguments.duration_s <= 60, "keep a measurement between 0 and 60 seconds"

    rows: list[Measurement] = []
    recovery_lines: list[str] = []
    with tempfile.TemporaryDirectory(dir=arguments.directory) as temporary:
        for synced in (True, False):
            for batch_entries in BATCH_SIZES:
                directory = Path(temporary) / f"wal-{batch_entries}-{'fsync' if synced else 'nofsync'}"
                rows.append(measure(directory, batch_entries, synced=synced, duration_s=arguments.duration_s))
                if not synced and batch_entries == BATCH_SIZES[-1]:
                    entries, elapsed_s = measure_recovery(directory)
                    recovery_lines.append(
                        f"recovery: {entries} entries ({rows[-1].size_bytes / 2**20:.1f} MiB) "
                        f"replayed in {elapsed_s:.2f} s = {entries / elapsed_s:,.0f} entries/s"
                    )

    print(f"WAL append + sync, {COMMAND_BYTES}-byte commands, {arguments.duration_s:g} s each\n")
    print("| fsync | entries/batch | batches (appends)/s | fsyncs/s | entries/s | MiB/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        fsyncs_per_s = row.appends_per_s if row.synced else 0.0
        mebibytes_per_s = row.size_bytes / row.elapsed_s / 2**20
        print(
            f"| {'yes' if row.synced else 'no'} | {row.batch_entries} | {row.appends_per_s:,.0f} | "
            f"{fsyncs_per_s:,.0f} | {row.entries_per_s:,.0f} | {mebibytes_per_s:.1f} | "
            f"{row.latency_ms_quantile(0.5):.3f} | {row.latency_ms_quantile(0.99):.3f} |"
        )
    print()
    for line in recovery_lines:
        print(line)
    mean_ms = statistics.fmean(rows[0].latencies_s) * 1000
    print(f"mean append+fsync latency, batch of 1: {mean_ms:.3f} ms")


if __name__ == "__main__":
    main()
