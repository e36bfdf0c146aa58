"""Customer-facing alarms (CFAs) from canary records, evaluated as CloudWatch evaluates an alarm:
a pure function, no clock, no I/O.

1. Windows. The run ``[run_start_s, run_end_s)`` is cut into consecutive ``window_s`` windows (the
   last one may be shorter). For every (canary AZ, endpoint AZ) pair seen in the records and every
   window, three kinds are judged separately:

   - write availability: share of ``write`` steps with outcome ``ok``;
   - read availability: share of ``consistent_read`` / ``eventual_read`` steps with outcome ``ok`` or
     ``stale`` (an eventual read may lag; ``mismatch`` is a wrong answer, not available);
   - p99 latency (nearest rank) of the steps that got an answer (errors are judged by availability;
     a refused connection answers in a millisecond and would flatter the latency).

   A window overlapping a fault window (open intervals: touching is not overlapping) is judged
   against the looser inside-fault thresholds. A window with fewer than its kind's ``samples_min``
   steps is judged only when the missing steps could not change its verdict, else it is unjudged:
   one failed probe must not decide a window.

2. Alarms. An alarm of one pair and kind fires when ``breaches_to_fire`` (M) of
   ``evaluation_windows`` (N) consecutive judged windows breach ("M out of N datapoints to alarm").
   Unjudged windows are skipped, as CloudWatch's default missing-data treatment looks further back
   for datapoints. Each alarm carries its evidence: the windows from its first to its last breach.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Literal

AlarmKind = Literal["write-availability", "read-availability", "latency-p99"]
ALARM_KINDS: tuple[AlarmKind, ...] = ("write-availability", "read-availability", "latency-p99")

READ_OPERATIONS = frozenset({"consistent_read", "eventual_read", "cross_read"})
_AVAILABLE_OUTCOMES = {"write": frozenset({"ok"}), "read": frozenset({"ok", "stale"})}


@dataclass(frozen=True)
class AlarmRule:
    """When one kind of alarm fires: ``breaches_to_fire`` (M) of ``evaluation_windows`` (N) consecutive
    judged windows breach, each window judged only on at least ``samples_min`` samples of its kind."""

    breaches_to_fire: int = 1
    evaluation_windows: int = 1
    samples_min: int = 10

    def __post_init__(self) -> None:
        if self.samples_min < 1:
            raise ValueError(f"samples_min must be at least 1, got {self.samples_min}")
        if self.evaluation_windows < 1:
            raise ValueError(f"evaluation_windows must be at least 1, got {self.evaluation_windows}")
        if not 1 <= self.breaches_to_fire <= self.evaluation_windows:
            raise ValueError(
                f"breaches_to_fire must be within [1, evaluation_windows = {self.evaluation_windows}],"
                f" got {self.breaches_to_fire}"
            )


@dataclass(frozen=True)
class AlarmThresholds:
    """Customer-facing alarm thresholds; the game-day scenario fills them, these are defaults.

    ``breaches_to_fire``, ``evaluation_windows`` and ``samples_min`` hold for every kind of alarm
    that ``rules_by_kind`` does not name; the defaults (1 of 1) fire on any breached window."""

    window_s: float = 60.0
    availability_min_outside_fault: float = 0.999
    availability_min_inside_fault: float = 0.95
    latency_p99_max_ms_outside_fault: float = 500.0
    latency_p99_max_ms_inside_fault: float = 2000.0
    samples_min: int = 10
    breaches_to_fire: int = 1
    evaluation_windows: int = 1
    rules_by_kind: Mapping[AlarmKind, AlarmRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        for name in ("availability_min_outside_fault", "availability_min_inside_fault"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        AlarmRule(self.breaches_to_fire, self.evaluation_windows, self.samples_min)  # the same checks
        unknown = set(self.rules_by_kind) - set(ALARM_KINDS)
        if unknown:
            raise ValueError(
                f"rules_by_kind names unknown alarm kinds {sorted(unknown)}; known: {ALARM_KINDS}"
            )

    def rule(self, kind: AlarmKind) -> AlarmRule:
        return self.rules_by_kind.get(kind) or AlarmRule(
            self.breaches_to_fire, self.evaluation_windows, self.samples_min
        )


Verdict = Literal["breach", "pass", "unjudged"]


@dataclass(frozen=True)
class WindowJudgement:
    """One kind judged for one pair in one window: the evidence an alarm is made of.

    ``measured`` is availability as a ratio in [0, 1] or p99 latency in milliseconds (None without
    samples). A window with fewer than ``samples_min`` samples is judged only when the samples it lacks
    could not change its verdict (5 errors of 5 writes against a 90 % floor and a minimum of 20: at
    best 15 of 20); otherwise its verdict is ``unjudged``."""

    window_start_s: float
    window_end_s: float
    canary_az: str
    endpoint_az: str
    kind: AlarmKind
    measured: float | None
    threshold: float
    samples: int
    inside_fault: bool
    verdict: Verdict


# What ``report.unjudged`` held before judgements carried their verdict; same fields, kept as a name.
UnjudgedWindow = WindowJudgement


@dataclass(frozen=True)
class Alarm:
    """An alarm that fired: one (canary AZ, endpoint AZ, kind) from the first window where M of N
    held until it stopped holding. ``evidence`` is every window from its first to its last breach,
    passed and unjudged ones included; the flat fields describe its worst breached window."""

    canary_az: str
    endpoint_az: str
    kind: AlarmKind
    rule: AlarmRule
    evidence: tuple[WindowJudgement, ...]

    def __post_init__(self) -> None:
        assert self.breaches, "an alarm without a breached window"

    @property
    def breaches(self) -> tuple[WindowJudgement, ...]:
        return tuple(window for window in self.evidence if window.verdict == "breach")

    @property
    def worst(self) -> WindowJudgement:
        # Furthest past its own threshold: lowest availability, highest latency.
        sign = 1.0 if self.kind == "latency-p99" else -1.0
        return max(self.breaches, key=lambda window: sign * ((window.measured or 0.0) - window.threshold))

    @property
    def window_start_s(self) -> float:
        return self.evidence[0].window_start_s

    @property
    def window_end_s(self) -> float:
        return self.evidence[-1].window_end_s

    @property
    def measured(self) -> float:
        measured = self.worst.measured
        assert measured is not None
        return measured

    @property
    def threshold(self) -> float:
        return self.worst.threshold

    @property
    def samples(self) -> int:
        return self.worst.samples

    @property
    def inside_fault(self) -> bool:
        return self.worst.inside_fault

    def to_json(self) -> dict[str, Any]:
        return {
            # The worst window's fields, as one fired window was reported before M-of-N evaluation.
            "window_start_s": self.window_start_s,
            "window_end_s": self.window_end_s,
            "canary_az": self.canary_az,
            "endpoint_az": self.endpoint_az,
            "kind": self.kind,
            "measured": self.measured,
            "threshold": self.threshold,
            "samples": self.samples,
            "inside_fault": self.inside_fault,
            "breaches": len(self.breaches),
            "rule": asdict(self.rule),
            "evidence": [_window_json(window) for window in self.evidence],
        }


def _window_json(window: WindowJudgement) -> dict[str, Any]:
    return {
        key: value for key, value in asdict(window).items() if key not in ("canary_az", "endpoint_az", "kind")
    }


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
    breaches: list[WindowJudgement]  # every breached window, also those too isolated to fire an alarm
    unjudged: list[WindowJudgement]
    summary: list[AvailabilitySummary]
    judgements: (
        int  # (window, pair, kind) combinations judged (enough samples, or a verdict they could not change)
    )
    records_outside_run: int
    rules: Mapping[AlarmKind, AlarmRule] = field(default_factory=dict)
    windows: int = 0  # windows of the run (per pair and kind)

    @property
    def fired(self) -> bool:
        return bool(self.alarms)

    def to_json(self) -> dict[str, Any]:
        return {
            "fired": self.fired,
            "alarms": [alarm.to_json() for alarm in self.alarms],
            "breaches": [asdict(window) for window in self.breaches],
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
            "windows": self.windows,
            "rules": {kind: asdict(rule) for kind, rule in self.rules.items()},
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
        if window.start_s < end_s
        and window.end_s + (window.grace_s if window.availability_min is not None else 0.0) > start_s
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


def judge_availability(available: int, total: int, threshold: float, samples_min: int) -> Verdict:
    """Breach, pass, or unjudged: with fewer than ``samples_min`` samples, only a verdict that the
    missing samples could not change (all of them available, or none of them)."""
    missing = max(0, samples_min - total)
    if not _at_least(available + missing, total + missing, threshold):
        return "breach"  # even at best
    if _at_least(available, total + missing, threshold):
        return "pass"  # even at worst
    return "unjudged"


def judge_latency_p99(latencies_ms: list[float], threshold_ms: float, samples_min: int) -> Verdict:
    """As ``judge_availability``: the missing samples could be instant (best) or endless (worst)."""
    ordered = sorted(latencies_ms)
    missing = max(0, samples_min - len(ordered))
    rank = max(1, math.ceil(0.99 * (len(ordered) + missing)))  # nearest rank of the p99, as below
    best = 0.0 if rank <= missing else ordered[rank - missing - 1]  # the missing ones first, at 0 ms
    if best > threshold_ms:
        return "breach"
    worst = ordered[rank - 1] if rank <= len(ordered) else math.inf  # the missing ones last, endless
    return "pass" if worst <= threshold_ms else "unjudged"


def _judge_cell(
    cell: _Cell, thresholds: AlarmThresholds, fault_floor: float | None
) -> list[tuple[AlarmKind, float | None, float, int, Verdict]]:
    """(kind, measured, threshold, samples, verdict) of one pair in one window."""
    if fault_floor is not None:
        availability_min = fault_floor
        latency_max_ms = thresholds.latency_p99_max_ms_inside_fault
    else:
        availability_min = thresholds.availability_min_outside_fault
        latency_max_ms = thresholds.latency_p99_max_ms_outside_fault
    results: list[tuple[AlarmKind, float | None, float, int, Verdict]] = []
    availability_kinds: tuple[tuple[AlarmKind, _Tally], ...] = (
        ("write-availability", cell.write),
        ("read-availability", cell.read),
    )
    for kind, tally in availability_kinds:
        samples_min = thresholds.rule(kind).samples_min
        verdict = judge_availability(tally.available, tally.total, availability_min, samples_min)
        measured = tally.available / tally.total if tally.total else None
        results.append((kind, measured, availability_min, tally.total, verdict))
    latencies = cell.latencies_ms
    verdict = judge_latency_p99(latencies, latency_max_ms, thresholds.rule("latency-p99").samples_min)
    p99_ms = percentile_nearest_rank(latencies, 99.0) if latencies else None
    results.append(("latency-p99", p99_ms, latency_max_ms, len(latencies), verdict))
    return results


def fire_alarms(judgements: list[WindowJudgement], rule: AlarmRule) -> list[Alarm]:
    """M-of-N over one pair's and kind's windows in time order; one alarm per stretch during which the
    last N judged windows held at least M breaches. Its evidence runs from the first breach of the
    N windows that made it fire to the last breach of the stretch, so it holds at least M breaches
    (an alarm that fires again soon after clearing may share some with the one before)."""
    judged = [index for index, window in enumerate(judgements) if window.verdict != "unjudged"]
    alarms: list[Alarm] = []
    first_breach: int | None = None  # of the stretch in alarm, as indexes into ``judgements``
    last_breach = 0
    for position in range(len(judged)):
        recent = judged[max(0, position - rule.evaluation_windows + 1) : position + 1]
        breached = [index for index in recent if judgements[index].verdict == "breach"]
        if len(breached) >= rule.breaches_to_fire:
            if first_breach is None:
                first_breach = breached[0]
            last_breach = breached[-1]
        elif first_breach is not None:
            alarms.append(_alarm(judgements[first_breach : last_breach + 1], rule))
            first_breach = None
    if first_breach is not None:
        alarms.append(_alarm(judgements[first_breach : last_breach + 1], rule))
    return alarms


def _alarm(evidence: list[WindowJudgement], rule: AlarmRule) -> Alarm:
    first = evidence[0]
    return Alarm(first.canary_az, first.endpoint_az, first.kind, rule, tuple(evidence))


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
    floors = [
        _fault_floor(start_s, end_s, windows, thresholds.availability_min_inside_fault)
        for start_s, end_s in bounds
    ]
    rules = {kind: thresholds.rule(kind) for kind in ALARM_KINDS}
    alarms: list[Alarm] = []
    breaches: list[WindowJudgement] = []
    unjudged: list[WindowJudgement] = []
    summary: list[AvailabilitySummary] = []
    for (canary_az, endpoint_az), by_window in sorted(cells.items()):
        whole_run = _Cell.empty()
        by_kind: dict[AlarmKind, list[WindowJudgement]] = {kind: [] for kind in ALARM_KINDS}
        for index, (start_s, end_s) in enumerate(bounds):
            cell = by_window.get(index, _Cell.empty())
            for kind, measured, threshold, samples, verdict in _judge_cell(cell, thresholds, floors[index]):
                judgement = WindowJudgement(
                    start_s, end_s, canary_az, endpoint_az, kind, measured, threshold, samples,
                    floors[index] is not None, verdict,
                )  # fmt: skip
                by_kind[kind].append(judgement)
                if verdict == "breach":
                    breaches.append(judgement)
                elif verdict == "unjudged":
                    unjudged.append(judgement)
            whole_run.write.available += cell.write.available
            whole_run.write.total += cell.write.total
            whole_run.read.available += cell.read.available
            whole_run.read.total += cell.read.total
            whole_run.latencies_ms.extend(cell.latencies_ms)
        for kind in ALARM_KINDS:
            alarms.extend(fire_alarms(by_kind[kind], rules[kind]))
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
    alarms.sort(key=lambda alarm: (alarm.window_start_s, alarm.canary_az, alarm.endpoint_az, alarm.kind))
    judgements = len(cells) * len(bounds) * len(ALARM_KINDS) - len(unjudged)
    return AlarmReport(
        alarms, breaches, unjudged, summary, judgements, records_outside_run, rules, len(bounds)
    )
