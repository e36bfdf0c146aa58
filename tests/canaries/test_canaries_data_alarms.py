"""Data alarms from canary records (pure): every wrong consistent answer is a violation, with evidence."""

from __future__ import annotations

from typing import Any

from canaries.alarms import AlarmThresholds, evaluate_alarms
from canaries.data_alarms import evaluate_data_alarms


def record(operation: str, outcome: str, time_s: float, **fields: Any) -> dict[str, Any]:
    base = {
        "time_s": time_s, "wall_time_s": 1_700_000_000.0 + time_s, "canary_az": "az-a", "endpoint_az": "az-a",
        "endpoint": "http://127.0.0.1:8000", "operation": operation, "outcome": outcome, "error_class": None,
        "latency_ms": 5.0, "key": "canary#az-a#az-a#run#7", "sequence": 7,
    }  # fmt: skip
    if operation != "write":
        base["read_sequence"] = 7 if outcome == "ok" else None
    return {**base, **fields}


def cross(outcome: str, time_s: float, **fields: Any) -> dict[str, Any]:
    return record(
        "cross_read", outcome, time_s, endpoint_az="az-b", endpoint="http://127.0.0.1:8001",
        written_endpoint_az="az-a", written_endpoint="http://127.0.0.1:8000", write_acknowledged_s=time_s - 0.01,
        **fields,
    )  # fmt: skip


def test_a_stale_cross_read_is_a_violation_with_its_evidence() -> None:
    records = [
        record("write", "ok", 1.0),
        record("consistent_read", "ok", 1.1),
        cross("ok", 1.1),
        cross("mismatch", 2.1, read_sequence=6, sequence=8, key="canary#az-a#az-a#run#8"),
        record("eventual_read", "stale", 2.2),  # an eventual read may lag: never a data alarm
    ]
    report = evaluate_data_alarms(records)
    assert report.validity() is False
    [violation] = report.violations
    assert (violation.canary_az, violation.operation, violation.endpoint_az, violation.written_endpoint_az) == (
        "az-a", "cross_read", "az-b", "az-a",
    )  # fmt: skip
    assert (violation.key, violation.sequence, violation.read_sequence, violation.time_s) == (
        "canary#az-a#az-a#run#8", 8, 6, 2.1,
    )  # fmt: skip
    assert "through az-a" in report.describe() and "through az-b answered sequence 6" in report.describe()
    data = report.to_json()
    assert data["violation_count"] == 1 and data["cross_reads_by_route"] == {"az-a -> az-b": {"ok": 1, "mismatch": 1}}


def test_a_lost_write_seen_through_the_same_endpoint_is_a_violation_too() -> None:
    report = evaluate_data_alarms([cross("ok", 1.0), record("consistent_read", "mismatch", 3.0), cross("ok", 2.0)])
    assert report.validity() is False
    assert [v.operation for v in report.violations] == ["consistent_read"]
    assert report.violations[0].written_endpoint_az == "az-a" and "answered no item" in report.describe()


def test_errors_are_unavailability_not_data_alarms() -> None:
    records = [cross("error", 1.0, error_class="ReadTimeoutError"), record("consistent_read", "error", 1.0)]
    report = evaluate_data_alarms(records + [cross("ok", 2.0)])
    assert report.validity() is True and report.violations == []
    assert "1 of 2 cross-endpoint reads ok" in report.describe()


def test_without_a_successful_cross_read_the_check_cannot_tell() -> None:
    # Same-endpoint reads alone cannot show a deposed leader: unknown, not valid.
    assert evaluate_data_alarms([record("consistent_read", "ok", 1.0), cross("error", 1.0)]).validity() == "unknown"
    assert evaluate_data_alarms([]).validity() == "unknown"


def test_violations_come_in_time_order_and_every_one_is_counted() -> None:
    records = [cross("mismatch", float(30 - number)) for number in range(30)]
    report = evaluate_data_alarms(records)
    assert [v.time_s for v in report.violations] == sorted(float(n) for n in range(1, 31))
    assert report.to_json()["violation_count"] == 30 and len(report.to_json()["violations"]) == 20


def test_the_availability_alarms_count_cross_reads_as_reads_of_the_endpoint_read_through() -> None:
    records = [cross("ok", 1.0 + 0.1 * n) for n in range(5)] + [cross("error", 1.6)]
    summary = evaluate_alarms(records, AlarmThresholds(window_s=10.0, samples_min=1), [], 0.0, 10.0).summary
    [pair] = summary
    assert (pair.canary_az, pair.endpoint_az, pair.read_available, pair.read_total) == ("az-a", "az-b", 5, 6)
