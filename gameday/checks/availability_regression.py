"""Availability and latency per fault kind, compared with a baseline of the unmodified store.

The alarms judge each window against a fixed floor, so a store that loses far more availability in a
single-node fault than it needs to can still pass them. This verifier measures, per fault kind, what
the canaries saw while a fault of that kind was in force (plus a short grace after its heal), takes
off what the same run lost while nothing was injected (a busy machine's general timeouts), and
compares the excess with what control runs of the unmodified store lost in the same scenario.

Pure, apart from the loaders at the end: records and fault windows in, measurements and a verdict out.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from canaries.alarms import percentile_nearest_rank
from cluster.deploy.backends import DEFAULT_BACKEND
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

Side = Literal["write", "read"]
SIDES: tuple[Side, ...] = ("write", "read")
UNDISTURBED = "undisturbed"

# A request that failed just after the heal failed because of the fault (a restarted node rejoins, a
# resumed leader steps down). In control runs of smoke no write failed 0-3 s after a heal, and the next
# fault may start 3 s after one: the fault's share of the damage ends this long after its heal.
GRACE_AFTER_HEAL_S = 2.0
# The undisturbed baseline keeps clear of every fault by this much after its heal, so that a slow
# recovery does not count as the machine's general noise.
SETTLE_AFTER_HEAL_S = 5.0

# The rule (README "Availability per fault kind"): a kind fails when the run's excess loss exceeds
# max(LOSS_FACTOR x the worst excess loss of the control runs, that worst + LOSS_SLACK), judged only on
# at least SAMPLES_MIN canary steps of that side. Chosen from control runs; see the README for numbers.
LOSS_FACTOR = 2.0
LOSS_SLACK = 0.08
SAMPLES_MIN = 60
# Latency of answered requests: p50 within a fault, as a ratio of the run's own undisturbed p50 (so a
# slow machine is slow everywhere), may not exceed max(factor x the controls' worst ratio, that + slack).
LATENCY_FACTOR = 2.0
LATENCY_RATIO_SLACK = 1.0

Verdict = bool | str  # True, False or "unknown", as VerifierResult.valid


class AvailabilityBaselineError(Exception):
    pass


@dataclass(frozen=True)
class Span:
    """When a fault of a kind was in force, from its start to its heal plus the grace."""

    kind: str
    start_s: float
    end_s: float


@dataclass
class _Tally:
    write_total: int = 0
    write_available: int = 0
    read_total: int = 0
    read_available: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, side: Side, available: bool, latency_ms: float | None) -> None:
        if side == "write":
            self.write_total += 1
            self.write_available += available
        else:
            self.read_total += 1
            self.read_available += available
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)


@dataclass(frozen=True)
class Measure:
    """What the canaries saw during one fault kind (all its faults together) or while undisturbed."""

    write_total: int
    write_available: int
    read_total: int
    read_available: int
    answered: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    seconds: float

    def total(self, side: Side) -> int:
        return self.write_total if side == "write" else self.read_total

    def loss(self, side: Side) -> float | None:
        """1 - availability: the share of steps the customer did not get an answer to."""
        total = self.total(side)
        available = self.write_available if side == "write" else self.read_available
        return None if total == 0 else 1.0 - available / total

    @classmethod
    def of(cls, tally: _Tally, seconds: float) -> Measure:
        latencies = tally.latencies_ms
        return cls(
            tally.write_total,
            tally.write_available,
            tally.read_total,
            tally.read_available,
            len(latencies),
            percentile_nearest_rank(latencies, 50.0) if latencies else None,
            percentile_nearest_rank(latencies, 99.0) if latencies else None,
            round(seconds, 3),
        )


@dataclass(frozen=True)
class RunMeasure:
    undisturbed: Measure
    fault_kinds: dict[str, Measure]

    def excess_loss(self, kind: str, side: Side) -> float | None:
        """The kind's loss beyond what the same run lost undisturbed (never below 0)."""
        loss = self.fault_kinds[kind].loss(side)
        if loss is None:
            return None
        quiet = self.undisturbed.loss(side) or 0.0
        return max(0.0, loss - quiet)

    def latency_p50_ratio(self, kind: str) -> float | None:
        during, quiet = self.fault_kinds[kind].latency_p50_ms, self.undisturbed.latency_p50_ms
        if during is None or not quiet:
            return None
        return during / quiet

    def to_json(self) -> dict[str, Any]:
        return {
            UNDISTURBED: asdict(self.undisturbed),
            "fault_kinds": {kind: asdict(measure) for kind, measure in sorted(self.fault_kinds.items())},
        }


def fault_spans(
    windows: Iterable[Mapping[str, Any]], run_end_s: float, grace_s: float = GRACE_AFTER_HEAL_S
) -> list[Span]:
    """Spans from `gameday.nemesis_file.fault_windows` (kind, start_s, heal_s; an unhealed fault ends with
    the run)."""
    return [
        Span(str(window["kind"]), float(window["start_s"]), float(window.get("heal_s", run_end_s)) + grace_s)
        for window in windows
    ]


def _side(operation: str) -> Side:
    # Every canary step that is not the write reads the key back (through its own or another endpoint).
    return "write" if operation == "write" else "read"


def _available(side: Side, outcome: str) -> bool:
    # An eventually consistent read may lag (stale); a wrong answer (mismatch) is a data alarm, not service.
    return outcome == "ok" or (side == "read" and outcome == "stale")


def _covered_seconds(spans: Sequence[tuple[float, float]], start_s: float, end_s: float) -> float:
    clipped = sorted((max(start_s, a), min(end_s, b)) for a, b in spans if b > start_s and a < end_s)
    covered, reach = 0.0, start_s
    for a, b in clipped:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    return covered


def measure_run(
    records: Iterable[Mapping[str, Any]],
    spans: Sequence[Span],
    run_start_s: float,
    run_end_s: float,
    settle_s: float = SETTLE_AFTER_HEAL_S - GRACE_AFTER_HEAL_S,
) -> RunMeasure:
    """Tallies canary steps that started in ``[run_start_s, run_end_s)`` by fault kind.

    A step counts for a kind when it was under way while a fault of that kind was in force: records
    carry the time a request started and how long it took, so a request already in flight when the fault
    began belongs to it, and a quick one just before it does not. A step under faults of two kinds
    (overlapping faults) counts for both. A step is undisturbed when it was under way neither in a span
    nor within ``settle_s`` after one (the spans already hold the grace after the heal).
    """
    kinds: dict[str, _Tally] = {span.kind: _Tally() for span in spans}
    quiet = _Tally()
    disturbed = [(span.start_s, span.end_s + settle_s) for span in spans]
    for record in records:
        started_s = float(record["time_s"])
        if not run_start_s <= started_s < run_end_s:
            continue
        finished_s = started_s + float(record["latency_ms"]) / 1000.0
        side = _side(str(record["operation"]))
        outcome = str(record["outcome"])
        latency_ms = None if outcome == "error" else float(record["latency_ms"])
        available = _available(side, outcome)
        inside = {span.kind for span in spans if started_s < span.end_s and finished_s >= span.start_s}
        for kind in inside:
            kinds[kind].add(side, available, latency_ms)
        if not inside and not any(
            start_s <= finished_s and started_s < end_s for start_s, end_s in disturbed
        ):
            quiet.add(side, available, latency_ms)
    seconds = {
        kind: _covered_seconds(
            [(s.start_s, s.end_s) for s in spans if s.kind == kind], run_start_s, run_end_s
        )
        for kind in kinds
    }
    quiet_seconds = (run_end_s - run_start_s) - _covered_seconds(disturbed, run_start_s, run_end_s)
    return RunMeasure(
        Measure.of(quiet, quiet_seconds),
        {kind: Measure.of(tally, seconds[kind]) for kind, tally in kinds.items()},
    )


# ---- the baseline: control runs of the unmodified store, per scenario ---------------------------------


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "values": [round(value, 5) for value in values],
        "max": round(max(values), 5) if values else None,
        "mean": round(statistics.fmean(values), 5) if values else None,
    }


def baseline_from_runs(
    scenario: str, runs: Sequence[tuple[str, RunMeasure]], backend: str = DEFAULT_BACKEND
) -> dict[str, Any]:
    """Aggregates control runs (name, measure) into the baseline file's content: per fault kind and
    side the excess loss of every run (a kind absent from a run simply has fewer values)."""
    if not runs:
        raise AvailabilityBaselineError("no control runs to take a baseline from")
    kinds = sorted({kind for _, run in runs for kind in run.fault_kinds})
    fault_kinds: dict[str, Any] = {}
    for kind in kinds:
        present = [run for _, run in runs if kind in run.fault_kinds]
        entry: dict[str, Any] = {"runs": len(present)}
        for side in SIDES:
            losses = [loss for run in present if (loss := run.excess_loss(kind, side)) is not None]
            entry[f"{side}_excess_loss"] = _spread(losses)
            entry[f"{side}_samples_min"] = min(run.fault_kinds[kind].total(side) for run in present)
        ratios = [ratio for run in present if (ratio := run.latency_p50_ratio(kind)) is not None]
        entry["latency_p50_ratio"] = _spread(ratios)
        entry["latency_p99_ms"] = _spread(
            [p99 for run in present if (p99 := run.fault_kinds[kind].latency_p99_ms) is not None]
        )
        fault_kinds[kind] = entry
    undisturbed: dict[str, Any] = {}
    for side in SIDES:
        undisturbed[f"{side}_loss"] = _spread(
            [loss for _, run in runs if (loss := run.undisturbed.loss(side)) is not None]
        )
    undisturbed["latency_p50_ms"] = _spread(
        [p50 for _, run in runs if (p50 := run.undisturbed.latency_p50_ms) is not None]
    )
    return {
        "scenario": scenario,
        "backend": backend,
        "runs": [name for name, _ in runs],
        "rule": {
            "grace_after_heal_s": GRACE_AFTER_HEAL_S,
            "settle_after_heal_s": SETTLE_AFTER_HEAL_S,
        },
        "undisturbed": undisturbed,
        "fault_kinds": fault_kinds,
    }


def check_baseline(baseline: Any, source: str) -> dict[str, Any]:
    if not isinstance(baseline, dict) or not isinstance(baseline.get("fault_kinds"), dict):
        raise AvailabilityBaselineError(f"{source} is not an availability baseline (no 'fault_kinds')")
    for kind, entry in baseline["fault_kinds"].items():
        for side in SIDES:
            if not isinstance((entry.get(f"{side}_excess_loss") or {}).get("max"), int | float):
                raise AvailabilityBaselineError(
                    f"{source}: fault kind {kind!r} has no {side}_excess_loss.max"
                )
    return baseline


# ---- the verdict -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One fault kind and one measure (write / read availability, latency p50 ratio) against the baseline."""

    kind: str
    measure: str  # "write-availability", "read-availability" or "latency-p50"
    verdict: Verdict
    measured: float | None  # excess loss, or p50 ratio to the run's undisturbed p50
    baseline: float | None  # the control runs' worst
    limit: float | None
    samples: int
    reason: str

    def describe(self) -> str:
        if self.measured is None or self.limit is None:
            return f"{self.kind} {self.measure}: {self.reason}"
        unit = "x undisturbed p50" if self.measure == "latency-p50" else "excess loss"
        return (
            f"{self.kind} {self.measure}: {self.measured:.3g} {unit} vs baseline worst {self.baseline:.3g}"
            f" (limit {self.limit:.3g}, {self.samples} samples)"
        )


def loss_limit(baseline_worst: float, factor: float = LOSS_FACTOR, slack: float = LOSS_SLACK) -> float:
    return max(factor * baseline_worst, baseline_worst + slack)


def latency_limit(
    baseline_worst: float, factor: float = LATENCY_FACTOR, slack: float = LATENCY_RATIO_SLACK
) -> float:
    return max(factor * baseline_worst, baseline_worst + slack)


def judge_run(
    run: RunMeasure, baseline: Mapping[str, Any], samples_min: int = SAMPLES_MIN
) -> list[Judgement]:
    """Every fault kind of the run, each side and its latency, against the baseline's worst control run.
    Unknown (never a failure) for a kind with too few samples or one the baseline did not see."""
    judgements: list[Judgement] = []
    for kind, measure in sorted(run.fault_kinds.items()):
        entry = baseline["fault_kinds"].get(kind)
        for side in SIDES:
            name = f"{side}-availability"
            samples = measure.total(side)
            if entry is None:
                judgements.append(
                    Judgement(kind, name, "unknown", None, None, None, samples, "no baseline for this kind")
                )
                continue
            if samples < samples_min:
                reason = f"{samples} samples, fewer than {samples_min}"
                judgements.append(Judgement(kind, name, "unknown", None, None, None, samples, reason))
                continue
            excess = run.excess_loss(kind, side)
            assert excess is not None  # samples > 0
            worst = float(entry[f"{side}_excess_loss"]["max"])
            limit = loss_limit(worst)
            judgements.append(Judgement(kind, name, excess <= limit, excess, worst, limit, samples, ""))
        ratio = run.latency_p50_ratio(kind)
        worst_ratio = None if entry is None else (entry.get("latency_p50_ratio") or {}).get("max")
        if ratio is None or worst_ratio is None or measure.answered < samples_min:
            reason = "no baseline for this kind" if entry is None else f"{measure.answered} answered requests"
            judgements.append(
                Judgement(kind, "latency-p50", "unknown", ratio, None, None, measure.answered, reason)
            )
            continue
        limit = latency_limit(float(worst_ratio))
        judgements.append(
            Judgement(
                kind, "latency-p50", ratio <= limit, ratio, float(worst_ratio), limit, measure.answered, ""
            )
        )
    return judgements


def overall(judgements: Sequence[Judgement]) -> Verdict:
    """False when any kind regressed; True when at least one kind was judged and none regressed;
    unknown when nothing could be judged."""
    if any(judgement.verdict is False for judgement in judgements):
        return False
    return True if any(judgement.verdict is True for judgement in judgements) else "unknown"


def evidence(run: RunMeasure, judgements: Sequence[Judgement], baseline_source: str) -> dict[str, Any]:
    """The summary.json section: per kind, what was measured and what the baseline allows."""
    by_kind: dict[str, Any] = {}
    for kind, measure in sorted(run.fault_kinds.items()):
        by_kind[kind] = {
            "measured": asdict(measure),
            "write_excess_loss": run.excess_loss(kind, "write"),
            "read_excess_loss": run.excess_loss(kind, "read"),
            "latency_p50_ratio": run.latency_p50_ratio(kind),
            "judgements": [
                {key: value for key, value in asdict(judgement).items() if key != "kind"}
                for judgement in judgements
                if judgement.kind == kind
            ],
        }
    return {"baseline": baseline_source, UNDISTURBED: asdict(run.undisturbed), "fault_kinds": by_kind}


# ---- files --------------------------------------------------------------------------------------------


def shipped_baseline_path(scenario: str) -> Path:
    return Path(__file__).parent.parent / "baselines" / f"{scenario}.json"  # gameday/baselines


def load_availability_baseline(path: Path) -> dict[str, Any]:
    try:
        baseline = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise AvailabilityBaselineError(f"cannot read availability baseline {path}: {error}") from error
    return check_baseline(baseline, str(path))


NAME = "availability-regression"


def availability_regression_result(
    scenario: str,
    records: Iterable[Mapping[str, Any]],
    windows: Iterable[Mapping[str, Any]],
    run_start_s: float,
    run_end_s: float,
    backend: str = DEFAULT_BACKEND,
    baseline_path: Path | None = None,
) -> VerifierResult | None:
    """The verifier; None when the scenario has no baseline for this backend (nothing to compare with:
    the verifier does not apply, as `--baseline` does not without a file; containers answer at another
    pace than local processes). A baseline that cannot be read is unknown."""
    path = baseline_path or shipped_baseline_path(scenario)
    if not path.exists():
        return None
    try:
        baseline = load_availability_baseline(path)
    except AvailabilityBaselineError as error:
        return VerifierResult(NAME, "unknown", str(error))
    if baseline.get("backend", DEFAULT_BACKEND) != backend:
        return None
    run = measure_run(records, fault_spans(windows, run_end_s), run_start_s, run_end_s)
    judgements = judge_run(run, baseline)
    verdict = overall(judgements)
    data = evidence(run, judgements, str(path.name))
    runs = len(baseline.get("runs") or [])
    failed = [judgement for judgement in judgements if judgement.verdict is False]
    if failed:
        detail = f"{len(failed)} regression(s) against {runs} control run(s): " + "; ".join(
            judgement.describe() for judgement in failed
        )
    elif verdict is True:
        judged = sorted({judgement.kind for judgement in judgements if judgement.verdict is True})
        detail = f"{', '.join(judged)} within the limits of {runs} control run(s)"
    else:
        detail = "nothing could be judged: " + "; ".join(judgement.describe() for judgement in judgements)
    unjudged = [judgement.describe() for judgement in judgements if judgement.verdict == "unknown"]
    if unjudged and verdict != "unknown":
        detail += "\nnot judged: " + "; ".join(unjudged)
    return VerifierResult(NAME, verdict, detail, data)


class AvailabilityRegressionCheck(Check):
    name = NAME
    summary_key = "availability_regression"
    needs_complete_run = True

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        result = availability_regression_result(
            record.scenario.name, record.canary_records(), record.fault_windows(), record.run_start_monotonic_s,
            record.run_end_s, record.backend,
        )  # fmt: skip
        return None if result is None else CheckOutcome(result, result.data)
