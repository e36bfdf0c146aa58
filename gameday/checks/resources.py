"""Resources that must level off in a long run (issue 15's soak), and the `resources` verdict.

A sampler reads, every `[resources] interval_s`, each cluster process's resident memory and open file
descriptors (/proc) and each storage node's bytes of WAL and of item store (its data directory) into
`resources.jsonl`. The pure judge fits a least-squares line to each series over the run's second half
(the first half is warm-up: caches fill, the first segments are written) and fails a series that grew
over that half by more than `growth_tolerance` of its level and by more than a floor per measure, so
that a few megabytes of allocator noise never decide a run. A process restarted by a fault starts a new
series (its pid changes) whose first WARMUP_S are skipped (a process fills its caches and logs as it
starts); the judge takes the incarnation that covers most of the half.

Only the local backend is sampled (a container's /proc and disk are not this machine's); on Docker the
verdict says it was not measured.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cluster.storage.json_lines import read_json_objects
from gameday.checks.base import Check, CheckOutcome, Stoppable
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import ResourceSettings, Scenario

SAMPLES_FILE = "resources.jsonl"
# Growth below these never fails a series, whatever its level: allocator and page-cache noise.
GROWTH_FLOORS = {"rss_mb": 6.0, "fds": 16.0, "wal_mb": 1.0, "store_mb": 8.0}
UNITS = {"rss_mb": "MB", "fds": "descriptors", "wal_mb": "MB", "store_mb": "MB"}
# A series is judged on at least this many samples covering at least this share of the second half.
SAMPLES_MIN = 6
COVERAGE_MIN = 0.5
# Each incarnation's first seconds are its start-up, not growth.
WARMUP_S = 20.0


# ---- sampling (I/O) -----------------------------------------------------------------------------------


def resident_mb(pid: int) -> float | None:
    """The process's resident memory in MB (VmRSS), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def open_descriptors(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def directory_mb(directories: Iterable[Path]) -> float:
    """Bytes of every file under the directories, in MB (files that vanish while we walk are skipped)."""
    total = 0
    for directory in directories:
        for root, _, files in os.walk(directory):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_size
                except OSError:
                    continue
    return total / 2**20


def sample_process(pid: int, data_dir: Path | None) -> dict[str, float] | None:
    """One process's measures; a storage node (it has `groups/`) adds its WAL and item store bytes."""
    rss, fds = resident_mb(pid), open_descriptors(pid)
    if rss is None or fds is None:
        return None
    sample: dict[str, float] = {"rss_mb": round(rss, 2), "fds": float(fds)}
    groups = data_dir / "groups" if data_dir is not None else None
    if groups is not None and groups.is_dir():
        group_dirs = [path for path in groups.iterdir() if path.is_dir()]
        sample["wal_mb"] = round(directory_mb(path / "wal" for path in group_dirs), 3)
        sample["store_mb"] = round(directory_mb(path / "state" for path in group_dirs), 3)
    return sample


class ResourceSampler:
    """Samples every process of a local cluster every `interval_s` into a JSON-lines file, until stopped."""

    def __init__(self, cluster: Any, path: Path, interval_s: float) -> None:
        self._cluster = cluster
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self._path.open("a") as output:
            while not self._stop.is_set():
                self._sweep(output)
                self._stop.wait(self._interval_s)

    def _sweep(self, output: Any) -> None:
        try:
            pids = self._cluster.pids()
        except (OSError, ValueError):
            return  # the state file is being rewritten: the next sweep reads it
        at_s = round(time.monotonic(), 3)  # absolute, like every other record of the run
        for process_id, pid in sorted(pids.items()):
            sample = sample_process(pid, self._cluster.data_dir / "processes" / process_id)
            if sample is not None:
                output.write(json.dumps({"t": at_s, "process": process_id, "pid": pid, **sample}) + "\n")
        output.flush()


# ---- judging (pure) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    process: str
    measure: str
    pid: int
    samples: int
    level: float  # the fitted value at the start of the second half
    growth: float  # the fitted growth over the second half
    failed: bool

    def describe(self) -> str:
        unit = UNITS[self.measure]
        return f"{self.process} {self.measure}: {self.level:,.1f} -> {self.level + self.growth:,.1f} {unit} over the second half"


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points; 0 when time does not vary."""
    count = len(points)
    mean_t = sum(t for t, _ in points) / count
    mean_v = sum(v for _, v in points) / count
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def judge_growth(samples: Sequence[Mapping[str, Any]], settings: ResourceSettings) -> tuple[list[Growth], list[str]]:
    """Each judged series' growth over the run's second half, and the series too short to judge."""
    if not samples:
        return [], []
    start_s = min(float(sample["t"]) for sample in samples)
    end_s = max(float(sample["t"]) for sample in samples)
    half_s = (start_s + end_s) / 2
    first_seen_s: dict[int, float] = {}
    for sample in samples:
        first_seen_s.setdefault(int(sample["pid"]), float(sample["t"]))
    series: dict[tuple[str, str], dict[int, list[tuple[float, float]]]] = {}
    for sample in samples:
        at_s = float(sample["t"])
        in_half = at_s >= half_s and at_s >= first_seen_s[int(sample["pid"])] + WARMUP_S
        for measure in GROWTH_FLOORS:
            if measure in sample:
                by_pid = series.setdefault((str(sample["process"]), measure), {})
                if in_half:
                    by_pid.setdefault(int(sample["pid"]), []).append((at_s, float(sample[measure])))
    judged, unjudged = [], []
    for (process, measure), by_pid in sorted(series.items()):
        if not by_pid:
            unjudged.append(f"{process} {measure} (no sample in the second half after its start-up)")
            continue
        pid, points = max(by_pid.items(), key=lambda item: item[1][-1][0] - item[1][0][0])
        covered_s = points[-1][0] - points[0][0]
        if len(points) < SAMPLES_MIN or covered_s < COVERAGE_MIN * (end_s - half_s):
            unjudged.append(f"{process} {measure} ({len(points)} samples over {covered_s:.0f} s)")
            continue
        rate = slope(points)
        mean_t = sum(t for t, _ in points) / len(points)
        mean_v = sum(v for _, v in points) / len(points)
        level = mean_v + rate * (points[0][0] - mean_t)
        growth = rate * covered_s
        failed = growth > GROWTH_FLOORS[measure] and growth > settings.growth_tolerance * max(level, GROWTH_FLOORS[measure])
        judged.append(Growth(process, measure, pid, len(points), level, growth, failed))
    return judged, unjudged


def verdict(judged: Sequence[Growth], unjudged: Sequence[str], settings: ResourceSettings) -> VerifierResult:
    failed = [growth for growth in judged if growth.failed]
    rule = f"growth over the second half above {settings.growth_tolerance:.0%} of the level (and the floor per measure)"
    if not judged:
        return VerifierResult("resources", "unknown", f"no series long enough to judge ({len(unjudged)} too short)")
    if failed:
        worst = sorted(failed, key=lambda growth: growth.growth / max(growth.level, 1.0), reverse=True)
        detail = f"{len(failed)} of {len(judged)} series still growing ({rule}): " + "; ".join(
            growth.describe() for growth in worst[:6]
        )
        return VerifierResult("resources", False, detail, {"findings": [asdict(growth) for growth in worst]})
    return VerifierResult("resources", True, f"{len(judged)} series level off ({rule} in none)")


class ResourcesCheck(Check):
    """Issue 15's soak: memory, descriptors and disk of every process must level off."""

    name = "resources"
    summary_key = "resources"
    needs_complete_run = True

    def wanted(self, scenario: Scenario) -> bool:
        return scenario.resources is not None

    def at_cluster_up(self, cluster: Any, record: RunRecord) -> Stoppable | None:
        if not hasattr(cluster, "pids") or not hasattr(cluster, "data_dir"):
            return None  # Docker: not this machine's processes and disks
        assert record.scenario.resources is not None
        sampler = ResourceSampler(cluster, record.run_dir / SAMPLES_FILE, record.scenario.resources.interval_s)
        sampler.start()
        return sampler

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        settings = record.scenario.resources
        assert settings is not None
        path = record.run_dir / SAMPLES_FILE
        if not path.exists():
            return CheckOutcome(VerifierResult("resources", "unknown", f"not measured on the {record.backend} backend"))
        judged, unjudged = judge_growth(list(read_json_objects(path)), settings)
        result = verdict(judged, unjudged, settings)
        section = {"series": [asdict(growth) for growth in judged], "unjudged": list(unjudged), "samples_file": SAMPLES_FILE}
        return CheckOutcome(result, section)
