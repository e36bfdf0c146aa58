"""Customer-facing alarms (CFAs) from canary records: a pure function, no clock, no I/O.

The run ``[run_start_s, run_end_s)`` is cut into consecutive ``window_s`` windows (the
last one may be shorter). For every (canary AZ, endpoint AZ) pair seen in the records and
every window, three things are judged separately:

- write availability: share of ``write`` steps with outcome ``ok``;
- read availability: share of ``consistent_read`` / ``eventual_read`` steps with outcome
  ``ok`` or ``stale`` (an eventual read may lag; ``mismatch`` is a wrong answer, not available);
- p99 latency (nearest rank) of the steps that got an answer (errors are judged by availability;
  a refused connection answers in a millisecond and would flatter the latency).

A window overlapping a fault window (open intervals: touching is not overlapping) is judged
against the looser inside-fault thresholds. A window with fewer than ``samples_min`` steps of
a kind is not judged, and is reported as such.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

AlarmKind = Literal["write-availability", "read-availability", "latency-p99"]
ALARM_KINDS: tuple[AlarmKind, ...] = ("write-availability", "read-availability", "latency-p99")

READ_OPERATIONS = frozenset({"consistent_read", "eventual_read", "cross_read"})
_AVAILABLE_OUTCOMES = {"write": frozenset({"ok"}), "read": frozenset({"ok", "stale"})}


@dataclass(frozen=True)
class AlarmThresholds:
    """Customer-facing alarm thresholds; the game-day scenario fills them, these are defaults."""

    window_s: float = 60.0
    availability_min_outside_fault: float = 0.999
    availability_min_inside_fault: float = 0.95
    latency_p99_max_ms_outside_fault: float = 500.0
    latency_p99_max_ms_inside_fault: float = 2000.0
    samples_min: int = 10

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        for name in ("availability_min_outside_fault", "availability_min_inside_fault"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.samples_min < 1:
            raise ValueError(f"samples_min must be at least 1, got {self.samples_min}")


@dataclass(frozen=True)
class Alarm:
    """One alarm that fired: what was measured in which window, against which threshold."""

    window_start_s: float
    window_end_s: float
    canary_az: str
    endpoint_az: str
    kind: AlarmKind
    measured: float  # availability as a ratio in [0, 1], or p99 latency in milliseconds
    threshold: float
    samples: int
    inside_fault: bool


@dataclass(frozen=True)
class UnjudgedWindow:
    """A window with too few samples of one kind to judge."""

    window_start_s: float
    window_end_s: float
    canary_az: str
    endpoint_az: str
    kind: AlarmKind
    samples: int


@dataclass(frozen=True)
class AvailabilitySummary:
    """Whole-run availability of one (canary AZ, endpoint AZ) pair, for the report."""

    canary_az: str
    endpoint_az: str
    write_available: int
    write_total: int
    read_available: int
    read_total: int
    latency_p99_ms: float | None

    @property
    def write_availability(self) -> float | None:
        return self.write_available / self.write_total if self.write_total else None

    @property
    def read_availability(self) -> float | None:
        return self.read_available / self.read_total if self.read_total else None


@dataclass(frozen=True)
class AlarmReport:
    alarms: list[Alarm]
    unjudged: list[UnjudgedWindow]
    summary: list[AvailabilitySummary]
    judgements: int  # (window, pair, kind) combinations that had enough samples to judge
    records_outside_run: int

    @property
    def fired(self) -> bool:
        return bool(self.alarms)

    def to_json(self) -> dict[str, Any]:
        return {
            "fired": self.fired,
            "alarms": [asdict(alarm) for alarm in self.alarms],
            "unjudged": [asdict(window) for window in self.unjudged],
            "summary": [
                {
                    **asdict(pair),
                    "write_availability": pair.write_availability,
                    "read_availability": pair.read_availability,
                }
                for pair in self.summary
            ],
            "judgements": self.judgements,
            "records_outside_run": self.records_outside_run,
        }


def percentile_nearest_rank(values: list[float], percentile: float) -> float:
    """The smallest value with at least ``percentile``% of the values at or below it."""
    assert values, "percentile of no values"
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _at_least(available: int, total: int, threshold: float) -> bool:
    # Exact rational comparison against the threshold as written: 999/1000 meets 0.999.
    return Fraction(available, total) >= Fraction(repr(threshold))


@dataclass(frozen=True)
class FaultWindow:
    """When a fault was in force. A scenario may expect a kind of fault to cost more than the general
    inside-fault floor (a whole-cluster power-off costs everything): then ``availability_min`` is the
    floor while it lasts and for ``grace_s`` after its heal (the recovery it is expected to need)."""

    start_s: float
    end_s: float
    availability_min: float | None = None
    grace_s: float = 0.0


def _as_fault_window(window: FaultWindow | tuple[float, float]) -> FaultWindow:
    return window if isinstance(window, FaultWindow) else FaultWindow(window[0], window[1])


def _fault_floor(
    start_s: float, end_s: float, fault_windows: list[FaultWindow], default_floor: float
) -> float | None:
    """The availability floor of a measurement window: None outside every fault, else the lowest
    floor among the faults it overlaps (open intervals: touching is not overlapping)."""
    floors = [
        default_floor if window.availability_min is None else window.availability_min
        for window in fault_windows
        if window.start_s < end_s and window.end_s + (window.grace_s if window.availability_min is not None else 0.0)
        > start_s
    ]
    return min(floors) if floors else None


@dataclass
class _Tally:
    available: int = 0
    total: int = 0


@dataclass
class _Cell:
    """What one pair saw in one window."""

    write: _Tally
    read: _Tally
    latencies_ms: list[float]

    @classmethod
    def empty(cls) -> _Cell:
        return cls(_Tally(), _Tally(), [])


def _window_bounds(run_start_s: float, run_end_s: float, window_s: float) -> list[tuple[float, float]]:
    count = max(1, math.ceil((run_end_s - run_start_s) / window_s))
    return [
        (run_start_s + index * window_s, min(run_end_s, run_start_s + (index + 1) * window_s))
        for index in range(count)
    ]


@dataclass(frozen=True)
class _Judgement:
    kind: AlarmKind
    samples: int
    measured: float
    threshold: float
    passed: bool


def _judge_cell(
    cell: _Cell, thresholds: AlarmThresholds, fault_floor: float | None
) -> list[_Judgement | tuple[AlarmKind, int]]:
    """Judgements of one pair in one window; ``(kind, samples)`` for a kind with too few samples."""
    if fault_floor is not None:
        availability_min = fault_floor
        latency_max_ms = thresholds.latency_p99_max_ms_inside_fault
    else:
        availability_min = thresholds.availability_min_outside_fault
        latency_max_ms = thresholds.latency_p99_max_ms_outside_fault
    results: list[_Judgement | tuple[AlarmKind, int]] = []
    availability_kinds: tuple[tuple[AlarmKind, _Tally], ...] = (
        ("write-availability", cell.write),
        ("read-availability", cell.read),
    )
    for kind, tally in availability_kinds:
        if tally.total < thresholds.samples_min:
            results.append((kind, tally.total))
            continue
        passed = _at_least(tally.available, tally.total, availability_min)
        results.append(_Judgement(kind, tally.total, tally.available / tally.total, availability_min, passed))
    samples = len(cell.latencies_ms)
    if samples < thresholds.samples_min:
        results.append(("latency-p99", samples))
    else:
        p99_ms = percentile_nearest_rank(cell.latencies_ms, 99.0)
        results.append(_Judgement("latency-p99", samples, p99_ms, latency_max_ms, p99_ms <= latency_max_ms))
    return results


def _tally(
    records: Iterable[Mapping[str, Any]],
    run_start_s: float,
    run_end_s: float,
    window_s: float,
    window_count: int,
) -> tuple[dict[tuple[str, str], dict[int, _Cell]], int]:
    """Records into cells by (canary AZ, endpoint AZ) and window index; also counts records outside the run."""
    cells: dict[tuple[str, str], dict[int, _Cell]] = defaultdict(dict)
    records_outside_run = 0
    for record in records:
        time_s = float(record["time_s"])
        if not run_start_s <= time_s < run_end_s:
            records_outside_run += 1
            continue
        operation, outcome = record["operation"], record["outcome"]
        if operation != "write" and operation not in READ_OPERATIONS:
            raise ValueError(f"unknown operation {operation!r} in canary record {dict(record)!r}")
        index = min(int((time_s - run_start_s) // window_s), window_count - 1)
        cell = cells[(str(record["canary_az"]), str(record["endpoint_az"]))].setdefault(index, _Cell.empty())
        side = "write" if operation == "write" else "read"
        tally = cell.write if side == "write" else cell.read
        tally.total += 1
        tally.available += outcome in _AVAILABLE_OUTCOMES[side]
        if outcome != "error":
            cell.latencies_ms.append(float(record["latency_ms"]))
    return cells, records_outside_run


def evaluate_alarms(
    records: Iterable[Mapping[str, Any]],
    thresholds: AlarmThresholds,
    fault_windows: list[FaultWindow] | list[tuple[float, float]],
    run_start_s: float,
    run_end_s: float,
) -> AlarmReport:
    """Judge canary records (``time_s`` on the same clock as the windows) against ``thresholds``."""
    windows = [_as_fault_window(window) for window in fault_windows]
    if not run_end_s > run_start_s:
        raise ValueError(f"run_end_s ({run_end_s}) must be after run_start_s ({run_start_s})")
    bounds = _window_bounds(run_start_s, run_end_s, thresholds.window_s)
    cells, records_outside_run = _tally(records, run_start_s, run_end_s, thresholds.window_s, len(bounds))
    alarms: list[Alarm] = []
    unjudged: list[UnjudgedWindow] = []
    judgements = 0
    summary: list[AvailabilitySummary] = []
    for (canary_az, endpoint_az), by_window in sorted(cells.items()):
        whole_run = _Cell.empty()
        for index, (start_s, end_s) in enumerate(bounds):
            cell = by_window.get(index, _Cell.empty())
            fault_floor = _fault_floor(start_s, end_s, windows, thresholds.availability_min_inside_fault)
            inside_fault = fault_floor is not None
            for result in _judge_cell(cell, thresholds, fault_floor):
                if isinstance(result, tuple):
                    kind, samples = result
                    unjudged.append(UnjudgedWindow(start_s, end_s, canary_az, endpoint_az, kind, samples))
                    continue
                judgements += 1
                if not result.passed:
                    alarms.append(
                        Alarm(
                            start_s,
                            end_s,
                            canary_az,
                            endpoint_az,
                            result.kind,
                            result.measured,
                            result.threshold,
                            result.samples,
                            inside_fault,
                        )  # fmt: skip
                    )
            whole_run.write.available += cell.write.available
            whole_run.write.total += cell.write.total
            whole_run.read.available += cell.read.available
            whole_run.read.total += cell.read.total
            whole_run.latencies_ms.extend(cell.latencies_ms)
        summary.append(
            AvailabilitySummary(
                canary_az,
                endpoint_az,
                whole_run.write.available,
                whole_run.write.total,
                whole_run.read.available,
                whole_run.read.total,
                percentile_nearest_rank(whole_run.latencies_ms, 99.0) if whole_run.latencies_ms else None,
            )
        )
    return AlarmReport(alarms, unjudged, summary, judgements, records_outside_run)
