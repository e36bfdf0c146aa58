"""The metadata service's load during a run, and the `metadata-load` verdict of the cache-flush lesson.

A sampler reads, every half second, every metadata replica's counters (`lookups_served`,
`catalogues_served` in its status RPC) and every router's count of requests that used its partition
cache (GET /admin/cache: hits + misses) into `metadata-load.jsonl`. Pure functions turn both into
rates over a sliding one-second window and judge each `cache-flush` fault: in the seconds after a
flush, the metadata load may not exceed `PEAK_RATIO_LIMIT` times what the same client traffic cost it
just before the flush. Constant-work routers pass (one lookup per request, whatever the cache holds);
classic routers fail (about zero lookups while warm, a burst when every cache is cold at once).

Why relative to client traffic: the lesson is that the metadata load is *proportional to client
traffic whatever the cache does*. On a shared machine the client load itself swings by tens of percent
within seconds; judging the raw rate would call those swings spikes. The raw rates are reported too.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.storage.json_lines import read_json_objects
from gameday.checks.base import Check, CheckOutcome, Stoppable
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import Scenario

SAMPLES_FILE = "metadata-load.jsonl"
SAMPLE_INTERVAL_S = 0.5
RATE_WINDOW_S = 1.0
# The goal: after a flush, the metadata load may rise by a fifth at most.
PEAK_RATIO_LIMIT = 1.2
# How long after a flush its burst is looked for: a classic cache refills within a fraction of this.
AFTER_FLUSH_S = 3.0
# Each flush is compared with the steady state just before it (client load drifts over a game day).
BASELINE_S = 6.0
# Expected metadata load below this is rounded up to it: a warm classic cache asks almost nothing, and
# "a burst out of zero" must be a finite, comparable number.
EXPECTED_RATE_FLOOR_PER_S = 1.0
STEADY_WINDOWS_MIN = 3
STATUS_TIMEOUT_S = 0.4
METADATA_COUNTERS = ("lookups_served", "catalogues_served")
ROUTER_COUNTERS = ("hits", "misses")
ROUTER_CACHE_PATH = "/admin/cache"  # cluster.router.admin_routes.CACHE_PATH
FLUSH_KIND = "cache-flush"


# ---- sampling (I/O) -----------------------------------------------------------------------------------


def metadata_addresses(cluster: Any) -> dict[str, tuple[str, int]]:
    """Where each metadata replica answers RPCs, from the cluster's topology (the local backend)."""
    return {spec.process_id: (spec.host, spec.port) for spec in cluster.topology().by_role("metadata")}


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        document = json.loads(response.read())
    if not isinstance(document, dict):
        raise ValueError(f"{url} answered {document!r}")
    return document


class MetadataLoadSampler:
    """A thread writing one JSON line per process per sweep: {sweep, time_s, role, process, counters...}."""

    def __init__(
        self,
        metadata: Mapping[str, tuple[str, int]],
        path: Path,
        routers: Mapping[str, str] | None = None,  # label (AZ) -> router URL, e.g. cluster.endpoints()
        interval_s: float = SAMPLE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata = dict(metadata)
        self.routers = dict(routers or {})
        self.path = path
        self.interval_s = interval_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample_forever()), name="metadata-load", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    async def _sample_forever(self) -> None:
        from cluster.runtime.rpc import RpcClient  # the cluster's transport, only when sampling

        clients = {process: RpcClient(address, connect_timeout_s=STATUS_TIMEOUT_S) for process, address in self.metadata.items()}
        try:
            with open(self.path, "a") as output:
                next_s = self.clock()
                sweep = 0
                while not self._stop.is_set():
                    samples = await asyncio.gather(
                        *(self._sample_metadata(process, client) for process, client in clients.items()),
                        *(self._sample_router(label, url) for label, url in self.routers.items()),
                    )
                    for sample in samples:
                        output.write(json.dumps({"sweep": sweep, **sample}) + "\n")
                    output.flush()
                    sweep += 1
                    next_s += self.interval_s
                    await asyncio.sleep(max(0.0, next_s - self.clock()))
        finally:
            for client in clients.values():
                await client.close()

    async def _sample_metadata(self, process: str, client: Any) -> dict[str, Any]:
        sample: dict[str, Any] = {"role": "metadata", "process": process}
        try:
            status = await client.call("status", {}, timeout_s=STATUS_TIMEOUT_S)
        except Exception as error:  # a replica powered off or paused: recorded, the others still count
            return {**sample, "time_s": self.clock(), "error": f"{type(error).__name__}: {error}"}
        return {**sample, "time_s": self.clock(), **{name: int(status.get(name, 0)) for name in METADATA_COUNTERS}}

    async def _sample_router(self, label: str, url: str) -> dict[str, Any]:
        sample: dict[str, Any] = {"role": "router", "process": label}
        try:
            cache = await asyncio.to_thread(_get_json, url.rstrip("/") + ROUTER_CACHE_PATH, STATUS_TIMEOUT_S)
        except Exception as error:
            return {**sample, "time_s": self.clock(), "error": f"{type(error).__name__}: {error}"}
        counters = {name: int(cache.get(name, 0)) for name in ROUTER_COUNTERS}
        return {**sample, "process": str(cache.get("router", label)), "time_s": self.clock(), **counters}


def read_samples(path: Path) -> list[dict[str, Any]]:
    return [sample for sample in read_json_objects(path) if isinstance(sample.get("time_s"), int | float)]


def flush_times(nemesis_events: Iterable[Mapping[str, Any]]) -> list[float]:
    """Monotonic seconds of every applied cache-flush (nemesis `start-cache-flush` events)."""
    return sorted(event["time"] / 1e9 for event in nemesis_events if event.get("f") == f"start-{FLUSH_KIND}")


# ---- pure: rates and the verdict ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateWindow:
    """A rate over [start_s, end_s] (monotonic seconds)."""

    start_s: float
    end_s: float
    rate_per_s: float


def rates(
    samples: Sequence[Mapping[str, Any]],
    role: str = "metadata",
    window_s: float = RATE_WINDOW_S,
) -> list[RateWindow]:
    """Requests per second over a sliding window, summed over every process of `role`.

    For the metadata role: lookups + catalogues served; for routers: requests that used the cache.
    The rate at each sweep is the counters' increase since the sweep about `window_s` earlier divided
    by the time between them, so a late sweep does not fake a spike. A counter that went down restarted
    with its process (its new value is the increase); a process that did not answer adds nothing until
    it answers again.
    """
    counters = METADATA_COUNTERS if role == "metadata" else ROUTER_COUNTERS
    sweeps: dict[int, list[Mapping[str, Any]]] = {}
    for sample in samples:
        if sample.get("role", "metadata") == role and isinstance(sample.get("sweep"), int):
            sweeps.setdefault(sample["sweep"], []).append(sample)
    last: dict[str, int] = {}
    total = 0
    cumulative: list[tuple[float, int]] = []  # (sweep time, requests counted so far)
    for sweep in sorted(sweeps):
        for sample in sweeps[sweep]:
            if "error" in sample:
                continue
            process = str(sample.get("process"))
            count = sum(int(sample.get(counter, 0)) for counter in counters)
            previous = last.get(process)
            last[process] = count
            if previous is not None:
                total += count - previous if count >= previous else count
        cumulative.append((max(float(sample["time_s"]) for sample in sweeps[sweep]), total))
    windows = []
    first = 0
    for end_s, end_total in cumulative[1:]:
        # Sweeps jitter around their interval: "about window_s" keeps a window from stretching by a sweep.
        while first + 1 < len(cumulative) and end_s - cumulative[first + 1][0] >= window_s * 0.8:
            first += 1
        start_s, start_total = cumulative[first]
        if end_s > start_s:
            windows.append(RateWindow(start_s, end_s, (end_total - start_total) / (end_s - start_s)))
    return windows


def _at(windows: Sequence[RateWindow], end_s: float) -> float | None:
    """The rate of the window ending closest to `end_s` (both series come from the same sweeps)."""
    closest = min(windows, key=lambda window: abs(window.end_s - end_s), default=None)
    return closest.rate_per_s if closest is not None and abs(closest.end_s - end_s) < SAMPLE_INTERVAL_S else None


def judge_metadata_load(
    metadata: Sequence[RateWindow],
    flushes_s: Sequence[float],
    mode: str,
    clients: Sequence[RateWindow] = (),
    *,
    after_flush_s: float = AFTER_FLUSH_S,
    limit: float = PEAK_RATIO_LIMIT,
) -> VerifierResult:
    """Valid when no flush raised the metadata load above `limit` x what the client traffic cost before it.

    Per flush: the steady state is the median over the `BASELINE_S` before it of the metadata rate and,
    when router samples exist, of metadata requests per client request. Each window in the
    `after_flush_s` after it is expected to cost (steady requests per client request) x (its client
    rate) -- or the steady metadata rate without router samples -- and the ratio is its metadata rate
    over that expectation (at least `EXPECTED_RATE_FLOOR_PER_S`).
    """
    name = "metadata-load"
    if not flushes_s:
        return VerifierResult(name, "unknown", "no cache-flush was applied: nothing to judge", {"mode": mode})
    if not metadata:
        return VerifierResult(name, "unknown", "no metadata-load sample was recorded", {"mode": mode})
    judged = []
    ordered = sorted(flushes_s)
    for number, flush_s in enumerate(ordered):
        # The baseline ends at the flush and never reaches back into the previous flush's burst.
        earliest_s = max(flush_s - BASELINE_S, ordered[number - 1] + after_flush_s if number else -math.inf)
        before = [window for window in metadata if window.start_s >= earliest_s and window.end_s <= flush_s]
        after = [window for window in metadata if window.end_s > flush_s and window.start_s < flush_s + after_flush_s]
        if len(before) < STEADY_WINDOWS_MIN or not after:
            continue  # too close to the run's start or end to judge; the other flushes still count
        steady = statistics.median(window.rate_per_s for window in before)
        per_request = [
            window.rate_per_s / client
            for window in before
            if (client := _at(clients, window.end_s)) is not None and client > 0
        ]
        steady_per_request = statistics.median(per_request) if len(per_request) >= STEADY_WINDOWS_MIN else None
        worst: dict[str, Any] | None = None
        for window in after:
            client = _at(clients, window.end_s)
            expected = steady if steady_per_request is None or client is None else steady_per_request * client
            ratio = window.rate_per_s / max(expected, EXPECTED_RATE_FLOOR_PER_S)
            if worst is None or ratio > worst["ratio"]:
                worst = {"peak_per_s": window.rate_per_s, "expected_per_s": expected, "ratio": ratio}
        assert worst is not None
        judged.append({
            "flush_s": flush_s,
            "steady_per_s": steady,
            "steady_per_client_request": steady_per_request,
            "raw_peak_per_s": max(window.rate_per_s for window in after),
            **worst,
        })
    if not judged:
        return VerifierResult(
            name, "unknown", f"no flush had {BASELINE_S:g} s of load before it and samples after it", {"mode": mode}
        )
    worst_flush = max(judged, key=lambda flush: flush["ratio"])
    data = {
        "mode": mode,
        "steady_per_s": worst_flush["steady_per_s"],
        "peak_per_s": worst_flush["peak_per_s"],
        "expected_per_s": worst_flush["expected_per_s"],
        "ratio": worst_flush["ratio"],
        "raw_ratio": max(f["raw_peak_per_s"] / max(f["steady_per_s"], EXPECTED_RATE_FLOOR_PER_S) for f in judged),
        "normalised_by_client_traffic": worst_flush["steady_per_client_request"] is not None,
        "limit": limit,
        "flushes": judged,
    }
    per_request = worst_flush["steady_per_client_request"]
    cost = f", {per_request:.2f} per client request" if per_request is not None else ""
    words = (
        f"{mode} router cache: steady {worst_flush['steady_per_s']:.1f} metadata requests/s{cost}; after a flush"
        f" {worst_flush['peak_per_s']:.1f}/s where {worst_flush['expected_per_s']:.1f}/s was expected ="
        f" {worst_flush['ratio']:.2f}x (limit {limit:g}x; {len(judged)} flush(es))"
    )
    if worst_flush["ratio"] > limit:
        return VerifierResult(name, False, words + ": the metadata load depends on the cache's state", data)
    return VerifierResult(name, True, words, data)


def judge_run(run_dir: Path, mode: str) -> VerifierResult:
    """The verdict from a run directory's files: metadata-load.jsonl and nemesis.jsonl."""
    samples = read_samples(run_dir / SAMPLES_FILE)
    flushes = flush_times(read_json_objects(run_dir / "nemesis.jsonl"))
    return judge_metadata_load(rates(samples, "metadata"), flushes, mode, rates(samples, "router"))


class MetadataLoadCheck(Check):
    """The cache-flush lesson: the metadata service's load around each flush, sampled for the whole run."""

    name = "metadata-load"
    needs_complete_run = True

    def wanted(self, scenario: Scenario) -> bool:
        return FLUSH_KIND in scenario.faults.mix

    def at_cluster_up(self, cluster: Any, record: RunRecord) -> Stoppable | None:
        assert record.endpoints is not None
        sampler = MetadataLoadSampler(metadata_addresses(cluster), record.run_dir / SAMPLES_FILE, record.endpoints)
        sampler.start()
        return sampler

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        return CheckOutcome(judge_run(record.run_dir, record.scenario.cluster.router_cache))
