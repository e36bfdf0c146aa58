"""The customer-facing alarm verdict of a game day: the scenario's thresholds as the alarm evaluation
takes them, and its report as one verifier result (summary.json's ``alarms``). Pure: records and
times are passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from canaries.alarms import ALARM_KINDS, AlarmThresholds, FaultWindow, evaluate_alarms
from gameday.canary_settings import CANARY_IN_FLIGHT_S
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import FaultKindThreshold, Thresholds

VERIFIER_NAME = "alarms"
# Inside a fault a request may wait for an election or a retry: latency is judged four times looser.
INSIDE_FAULT_LATENCY_FACTOR = 4.0


def alarm_thresholds(thresholds: Thresholds) -> AlarmThresholds:
    return AlarmThresholds(
        window_s=thresholds.window_s,
        availability_min_outside_fault=thresholds.availability_outside_faults,
        availability_min_inside_fault=thresholds.availability_inside_faults,
        latency_p99_max_ms_outside_fault=thresholds.latency_p99_ms,
        latency_p99_max_ms_inside_fault=INSIDE_FAULT_LATENCY_FACTOR * thresholds.latency_p99_ms,
        samples_min=thresholds.samples_min,
        breaches_to_fire=thresholds.alarm_breaches,
        evaluation_windows=thresholds.alarm_windows,
        rules_by_kind={kind: thresholds.alarm_rule(kind) for kind in ALARM_KINDS},
    )


def alarm_fault_window(start_s: float, heal_s: float, expected: FaultKindThreshold | None) -> FaultWindow:
    """A fault window as the alarms judge it: with its kind's own floor when the scenario sets one.

    Canary records carry the time a request started, so a request already in flight when the fault
    began (up to its connect + read timeouts earlier) belongs to the fault, not to the calm before it.
    """
    start_s -= CANARY_IN_FLIGHT_S
    if expected is None:
        return FaultWindow(start_s, heal_s)
    return FaultWindow(start_s, heal_s, expected.availability, expected.grace_s)


def judge_alarms(
    records: Sequence[Mapping[str, Any]],
    thresholds: Thresholds,
    fault_windows: list[FaultWindow],
    run_start_s: float,
    run_end_s: float,
) -> tuple[VerifierResult, dict[str, Any]]:
    """The verifier result and the report (``summary.json``'s ``alarms``)."""
    report = evaluate_alarms(records, alarm_thresholds(thresholds), fault_windows, run_start_s, run_end_s).to_json()
    return alarm_result(report, len(records), run_start_s), report


def _rule_text(rule: Mapping[str, Any]) -> str:
    return f"{rule['breaches_to_fire']} of {rule['evaluation_windows']} windows"


def alarm_result(report: Mapping[str, Any], record_count: int, run_start_s: float) -> VerifierResult:
    """Fired alarms fail the run; breached windows that fired none are said, not failed; a run whose
    canaries recorded nothing, or whose windows all had too few samples, is unknown."""
    fired = report["alarms"]
    breaches = report.get("breaches", [])
    unjudged = len(report.get("unjudged", []))
    judged_text = f"{report['judgements']} window judgements, {unjudged} unjudged (too few samples)"
    data = {"fired": len(fired), "breached_windows": len(breaches), "judgements": report["judgements"]}
    if not record_count:
        return VerifierResult(VERIFIER_NAME, "unknown", "the canaries recorded nothing", data)
    if fired:
        lines = [f"{len(fired)} customer-facing alarm(s) fired ({judged_text})"]
        for alarm in fired:
            lines.append(
                f"{alarm['kind']} canary {alarm['canary_az']} -> {alarm['endpoint_az']}:"
                f" {alarm['breaches']} breached window(s) ({_rule_text(alarm['rule'])} to fire)"
                f" from {alarm['window_start_s'] - run_start_s:.1f} s to {alarm['window_end_s'] - run_start_s:.1f} s;"
                f" worst {_value(alarm['kind'], alarm['measured'])} vs threshold"
                f" {_value(alarm['kind'], alarm['threshold'])} on {alarm['samples']} samples"
                f"{' inside a fault' if alarm['inside_fault'] else ''}"
            )
        return VerifierResult(VERIFIER_NAME, False, "\n".join(lines), data)
    if not report["judgements"]:
        return VerifierResult(
            VERIFIER_NAME, "unknown", f"{record_count} canary measurements, but no window had enough samples to judge", data
        )
    detail = f"{record_count} canary measurements, no alarm fired ({judged_text})"
    if breaches:
        detail += (
            f"; {len(breaches)} isolated breached window(s) fired none"
            f" (rules: {', '.join(f'{kind} {_rule_text(rule)}' for kind, rule in report['rules'].items())})"
        )
    return VerifierResult(VERIFIER_NAME, True, detail, data)


def _value(kind: str, value: float) -> str:
    return f"{value:.1f} ms" if kind == "latency-p99" else f"{value:.1%}"


class AlarmsCheck(Check):
    name = VERIFIER_NAME
    summary_key = "alarms"

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        thresholds = record.scenario.thresholds
        windows = [
            alarm_fault_window(window["start_s"], window.get("heal_s", record.run_end_s), thresholds.by_fault_kind.get(window["kind"]))
            for window in record.fault_windows()
        ]
        result, report = judge_alarms(
            record.canary_records(), thresholds, windows, record.run_start_monotonic_s, record.run_end_s
        )
        return CheckOutcome(result, report)
