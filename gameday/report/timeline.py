"""One time axis for the report: seconds since the run's t=0, shared by history, canaries and faults.

History times are nanoseconds and canary times seconds of the same monotonic clock, so
``time_ns / 1e9`` and ``time_s`` are directly comparable; t=0 is ``run_start_monotonic_s``
from the summary when present, else the earliest timestamp seen. Pure functions only.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from canaries.alarms import percentile_nearest_rank
from gameday.report.inputs import BUCKETS_PER_SECOND, CanaryRecord, NemesisEvent

# A time this far before t=0 is taken as already relative to t=0 (orchestrators write fault and
# alarm windows both ways); monotonic clocks on real machines are far larger than a run.
_ABSOLUTE_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Axis:
    """Where t=0 is in absolute monotonic seconds, and how long the run lasted in relative seconds."""

    origin_s: float
    origin_source: str  # "summary" or "earliest timestamp" or "none"
    duration_s: float

    def relative(self, absolute_s: float) -> float:
        return absolute_s - self.origin_s

    def relative_maybe_absolute(self, value_s: float) -> float:
        """A window bound that may be absolute monotonic seconds or already relative to t=0."""
        if (
            self.origin_s > self.duration_s + _ABSOLUTE_TOLERANCE_S
            and value_s >= self.origin_s - _ABSOLUTE_TOLERANCE_S
        ):
            return value_s - self.origin_s
        return value_s


@dataclass(frozen=True)
class FaultWindow:
    kind: str
    start_s: float  # relative to t=0
    end_s: float  # relative; the end of the run when never healed
    healed: bool
    target: Any
    source: str  # "history", "nemesis.jsonl" or "summary"


@dataclass
class SecondSeries:
    """Per-second values over [first_second, last_second]; None where there is nothing to show."""

    first_second: int
    values: list[float | None] = field(default_factory=list)

    def points(self) -> list[list[tuple[float, float]]]:
        """Segments of (mid-second, value), broken where a value is missing."""
        segments: list[list[tuple[float, float]]] = []
        current: list[tuple[float, float]] = []
        for offset, value in enumerate(self.values):
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((self.first_second + offset + 0.5, value))
        if current:
            segments.append(current)
        return segments


def choose_axis(
    run_start_s: float | None,
    duration_s: float | None,
    earliest_candidates: list[float | None],
    latest_candidates: list[float | None],
) -> Axis:
    earliest = [value for value in earliest_candidates if value is not None]
    latest = [value for value in latest_candidates if value is not None]
    if run_start_s is not None:
        origin, source = run_start_s, "summary"
    elif earliest:
        origin, source = min(earliest), "earliest timestamp"
    else:
        origin, source = 0.0, "none"
    end = max([duration_s or 0.0] + [value - origin for value in latest])
    return Axis(origin, source, max(end, 0.0))


def windows_from_nemesis(events: list[NemesisEvent], axis: Axis, source: str) -> list[FaultWindow]:
    """Pairs ``start-X``/``stop-X`` events by the fault number in their value, else first-in first-out per kind."""
    open_windows: dict[Any, tuple[str, float, Any]] = {}
    open_by_kind: dict[str, list[Any]] = defaultdict(list)
    windows: list[FaultWindow] = []
    for number, event in enumerate(sorted(events, key=lambda item: item.time_s)):
        value = event.value
        fault_number = value.get("fault") if isinstance(value, dict) else None
        if event.function.startswith("start-"):
            kind = event.function[len("start-") :]
            key = ("fault", fault_number) if fault_number is not None else ("event", number)
            open_windows[key] = (kind, axis.relative(event.time_s), value)
            open_by_kind[kind].append(key)
        elif event.function.startswith("stop-"):
            kind = event.function[len("stop-") :]
            key = ("fault", fault_number)
            if key not in open_windows:
                key = next((candidate for candidate in open_by_kind[kind] if candidate in open_windows), None)
            if key is None:
                continue
            start_kind, start_s, target = open_windows.pop(key)
            windows.append(
                FaultWindow(start_kind, start_s, axis.relative(event.time_s), True, target, source)
            )
    for start_kind, start_s, target in open_windows.values():
        windows.append(FaultWindow(start_kind, start_s, max(axis.duration_s, start_s), False, target, source))
    return sorted(windows, key=lambda window: (window.start_s, window.kind))


def windows_from_summary(faults: list[Any], axis: Axis) -> list[FaultWindow]:
    windows = []
    for fault in faults:
        if not isinstance(fault, dict):
            continue
        start = _number(fault.get("start_s"))
        if start is None:
            continue
        heal = _number(fault.get("heal_s"))
        start_s = axis.relative_maybe_absolute(start)
        end_s = axis.relative_maybe_absolute(heal) if heal is not None else max(axis.duration_s, start_s)
        windows.append(
            FaultWindow(
                str(fault.get("kind", "fault")),
                start_s,
                end_s,
                heal is not None,
                fault.get("target"),
                "summary",
            )
        )
    return sorted(windows, key=lambda window: (window.start_s, window.kind))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def second_range(axis: Axis, earliest_relative_s: float | None) -> tuple[int, int]:
    """The seconds the plots cover: from t=0 (or earlier events) to the end of the run."""
    first = 0 if earliest_relative_s is None else min(0, math.floor(earliest_relative_s))
    last = max(first, math.ceil(axis.duration_s) - 1)
    return first, last


def rate_series(
    by_bucket: Counter[int], bucket_origin_s: float, axis: Axis, first: int, last: int
) -> SecondSeries:
    """Events per second from 100 ms bucket counts since ``bucket_origin_s`` (each placed at its middle)."""
    per_second: Counter[int] = Counter()
    for bucket, count in by_bucket.items():
        middle_s = bucket_origin_s + (bucket + 0.5) / BUCKETS_PER_SECOND
        per_second[math.floor(axis.relative(middle_s))] += count
    return SecondSeries(first, [float(per_second.get(second, 0)) for second in range(first, last + 1)])


def latency_series(
    records: list[CanaryRecord], axis: Axis, first: int, last: int
) -> tuple[SecondSeries, SecondSeries]:
    """p50 and p99 (nearest rank) of canary latency per second; errors are left out, as the alarms do."""
    by_second: dict[int, list[float]] = defaultdict(list)
    for record in records:
        if record.outcome == "error" or record.latency_ms is None:
            continue
        by_second[math.floor(axis.relative(record.time_s))].append(record.latency_ms)
    p50: list[float | None] = []
    p99: list[float | None] = []
    for second in range(first, last + 1):
        values = by_second.get(second, [])
        p50.append(percentile_nearest_rank(values, 50.0) if values else None)
        p99.append(percentile_nearest_rank(values, 99.0) if values else None)
    return SecondSeries(first, p50), SecondSeries(first, p99)


@dataclass
class PairAvailability:
    canary_az: str
    endpoint_az: str
    write_available: int = 0
    write_total: int = 0
    read_available: int = 0
    read_total: int = 0


# The same rule as canaries.alarms: a stale eventual read is still an answer.
_AVAILABLE = {"write": frozenset({"ok"}), "read": frozenset({"ok", "stale"})}


def availability_from_records(records: list[CanaryRecord]) -> list[PairAvailability]:
    pairs: dict[tuple[str, str], PairAvailability] = {}
    for record in records:
        pair = pairs.setdefault(
            (record.canary_az, record.endpoint_az), PairAvailability(record.canary_az, record.endpoint_az)
        )
        if record.operation == "write":
            pair.write_total += 1
            pair.write_available += int(record.outcome in _AVAILABLE["write"])
        elif record.operation.endswith("read"):  # consistent_read and eventual_read
            pair.read_total += 1
            pair.read_available += int(record.outcome in _AVAILABLE["read"])
    return [pairs[key] for key in sorted(pairs)]


def availability_from_summary(summary_rows: list[Any]) -> list[PairAvailability]:
    pairs = []
    for row in summary_rows:
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("canary_az"), str)
            or not isinstance(row.get("endpoint_az"), str)
        ):
            continue
        counts = [
            row.get(name) for name in ("write_available", "write_total", "read_available", "read_total")
        ]
        if not all(isinstance(count, int) and not isinstance(count, bool) for count in counts):
            continue
        pairs.append(PairAvailability(row["canary_az"], row["endpoint_az"], *counts))
    return sorted(pairs, key=lambda pair: (pair.canary_az, pair.endpoint_az))
