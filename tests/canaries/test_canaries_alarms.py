"""Customer-facing alarm evaluation on hand-made canary records (pure, no processes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import canaries.alarms
from canaries.alarms import AlarmThresholds, FaultWindow, evaluate_alarms, percentile_nearest_rank

THRESHOLDS = AlarmThresholds(
    window_s=60.0,
    availability_min_outside_fault=0.9,
    availability_min_inside_fault=0.5,
    latency_p99_max_ms_outside_fault=100.0,
    latency_p99_max_ms_inside_fault=1000.0,
    samples_min=10,
)


def step(
    time_s: float,
    operation: str,
    outcome: str = "ok",
    latency_ms: float = 5.0,
    canary_az: str = "az-a",
    endpoint_az: str = "az-b",
) -> dict[str, object]:
    return {
        "time_s": time_s,
        "wall_time_s": 1_700_000_000.0 + time_s,
        "canary_az": canary_az,
        "endpoint_az": endpoint_az,
        "endpoint": "http://127.0.0.1:1",
        "operation": operation,
        "outcome": outcome,
        "error_class": "InternalServerError" if outcome == "error" else None,
        "latency_ms": latency_ms,
    }


def window_of(
    start_s: float,
    count: int,
    failed: int,
    operation: str = "write",
    outcome: str = "error",
    **fields: object,
) -> list[dict[str, object]]:
    """``count`` steps spread over the minute from ``start_s``, the first ``failed`` of them with ``outcome``."""
    return [
        step(start_s + index * (60.0 / count), operation, outcome if index < failed else "ok", **fields)
        for index in range(count)
    ]


def kinds(report) -> list[tuple[float, str, str, str]]:  # noqa: ANN001
    return sorted(
        (alarm.window_start_s, alarm.canary_az, alarm.endpoint_az, alarm.kind) for alarm in report.alarms
    )


def test_healthy_records_fire_nothing_and_summarise() -> None:
    records = (
        window_of(0, 20, 0) + window_of(0, 20, 0, "consistent_read") + window_of(0, 20, 0, "eventual_read")
    )
    report = evaluate_alarms(records, THRESHOLDS, [], 0.0, 60.0)
    assert not report.fired
    assert report.unjudged == []
    assert report.judgements == 3
    [pair] = report.summary
    assert (pair.canary_az, pair.endpoint_az, pair.write_availability, pair.read_availability) == (
        "az-a",
        "az-b",
        1.0,
        1.0,
    )
    assert report.to_json()["summary"][0]["read_total"] == 40


def test_write_availability_below_threshold_fires_with_details() -> None:
    records = window_of(0, 20, 0) + window_of(60, 20, 3)  # second minute: 17/20 = 0.85 < 0.9
    report = evaluate_alarms(records, THRESHOLDS, [], 0.0, 120.0)
    [alarm] = report.alarms
    assert (alarm.window_start_s, alarm.window_end_s, alarm.canary_az, alarm.endpoint_az) == (
        60.0,
        120.0,
        "az-a",
        "az-b",
    )
    assert (alarm.kind, alarm.measured, alarm.threshold, alarm.samples, alarm.inside_fault) == (
        "write-availability",
        0.85,
        0.9,
        20,
        False,
    )


def test_availability_exactly_at_threshold_does_not_fire_and_one_less_does() -> None:
    at_threshold = window_of(0, 10, 1)  # 9/10 = 0.9, exactly the threshold
    assert not evaluate_alarms(at_threshold, THRESHOLDS, [], 0.0, 60.0).fired
    below = window_of(0, 10, 2)
    assert kinds(evaluate_alarms(below, THRESHOLDS, [], 0.0, 60.0)) == [
        (0.0, "az-a", "az-b", "write-availability")
    ]


def test_three_nines_boundary_is_exact() -> None:
    thresholds = AlarmThresholds(samples_min=1000, latency_p99_max_ms_outside_fault=1e9)
    assert not evaluate_alarms(window_of(0, 1000, 1), thresholds, [], 0.0, 60.0).fired  # 999/1000 = 99.9 %
    assert evaluate_alarms(window_of(0, 1000, 2), thresholds, [], 0.0, 60.0).fired


def test_read_and_write_availability_are_judged_separately() -> None:
    records = (
        window_of(0, 20, 0) + window_of(0, 20, 10, "consistent_read") + window_of(0, 20, 0, "eventual_read")
    )
    report = evaluate_alarms(records, THRESHOLDS, [], 0.0, 60.0)
    [alarm] = report.alarms
    assert (alarm.kind, alarm.measured, alarm.samples) == ("read-availability", 0.75, 40)


def test_stale_eventual_reads_are_available_but_mismatches_are_not() -> None:
    stale = window_of(0, 20, 0) + window_of(0, 20, 20, "eventual_read", outcome="stale")
    assert not evaluate_alarms(stale, THRESHOLDS, [], 0.0, 60.0).fired
    mismatched = window_of(0, 20, 0) + window_of(0, 20, 5, "consistent_read", outcome="mismatch")
    assert kinds(evaluate_alarms(mismatched, THRESHOLDS, [], 0.0, 60.0)) == [
        (0.0, "az-a", "az-b", "read-availability")
    ]


def test_window_overlapping_a_fault_uses_the_looser_threshold() -> None:
    records = (
        window_of(0, 20, 8) + window_of(60, 20, 8) + window_of(120, 20, 8)
    )  # 60 % available in each minute
    # The fault [50, 61) overlaps the first two minutes; a fault ending at 60.0 would only touch the second.
    report = evaluate_alarms(records, THRESHOLDS, [(50.0, 61.0)], 0.0, 180.0)
    [alarm] = report.alarms
    assert (alarm.window_start_s, alarm.inside_fault) == (120.0, False)
    touching = evaluate_alarms(records, THRESHOLDS, [(0.0, 60.0)], 0.0, 180.0)
    assert [window.window_start_s for window in touching.breaches] == [60.0, 120.0]
    # Consecutive breached windows are one alarm (1 of 1 held from the first to the last), with both as evidence.
    [alarm] = touching.alarms
    assert [window.window_start_s for window in alarm.evidence] == [60.0, 120.0]
    # Inside a fault, availability below the inside-fault threshold still fires.
    worse = window_of(0, 20, 11)  # 45 % < 50 %
    [inside] = evaluate_alarms(worse, THRESHOLDS, [(10.0, 20.0)], 0.0, 60.0).alarms
    assert (inside.inside_fault, inside.threshold) == (True, 0.5)


def test_a_fault_kind_with_its_own_floor_is_judged_by_it_and_its_grace_after_heal() -> None:
    # 30 % available in every minute; the general inside-fault floor is 50 %.
    records = window_of(0, 20, 14) + window_of(60, 20, 14) + window_of(120, 20, 14)
    expected_outage = FaultWindow(10.0, 50.0, availability_min=0.25, grace_s=15.0)
    report = evaluate_alarms(records, THRESHOLDS, [expected_outage], 0.0, 180.0)
    # Minute 1 holds the fault and minute 2 its grace (heal at 50 s + 15 s): both judged at 25 %.
    assert [alarm.window_start_s for alarm in report.alarms] == [120.0]
    without_grace = FaultWindow(10.0, 50.0, availability_min=0.25)
    report = evaluate_alarms(records, THRESHOLDS, [without_grace], 0.0, 180.0)
    assert [window.window_start_s for window in report.breaches] == [60.0, 120.0]
    # Two faults in one window: the lower floor holds; a plain window keeps the general floor.
    both = evaluate_alarms(records, THRESHOLDS, [(5.0, 8.0), expected_outage], 0.0, 60.0)
    assert both.alarms == []
    plain = evaluate_alarms(records, THRESHOLDS, [FaultWindow(5.0, 8.0)], 0.0, 60.0)
    assert [(alarm.threshold, alarm.inside_fault) for alarm in plain.alarms] == [(0.5, True)]


def test_too_few_samples_are_reported_not_judged() -> None:
    records = window_of(0, 9, 1)  # 8 of 9 writes: 80 % or 90 % with the tenth, so 9 < samples_min decide nothing
    report = evaluate_alarms(records, THRESHOLDS, [], 0.0, 120.0)
    assert not report.fired
    unjudged = sorted((window.window_start_s, window.kind, window.samples) for window in report.unjudged)
    assert unjudged == [
        (0.0, "latency-p99", 8),
        (0.0, "read-availability", 0),
        (0.0, "write-availability", 9),
        # the second minute has no samples at all: a silent canary must show up, not pass quietly
        (60.0, "latency-p99", 0),
        (60.0, "read-availability", 0),
        (60.0, "write-availability", 0),
    ]


def test_latency_p99_boundary_and_errors_excluded() -> None:
    fast = [step(index * 0.5, "write", latency_ms=10.0) for index in range(98)]
    # Of 100 samples the p99 (nearest rank 99) is the second slowest.
    at_threshold = fast + [step(49.0, "write", latency_ms=100.0), step(49.5, "write", latency_ms=100.0)]
    report = evaluate_alarms(at_threshold, THRESHOLDS, [], 0.0, 60.0)
    assert not report.fired and report.summary[0].latency_p99_ms == 100.0
    two_slow = fast + [step(49.0, "write", latency_ms=100.5), step(49.5, "write", latency_ms=100.5)]
    [alarm] = evaluate_alarms(two_slow, THRESHOLDS, [], 0.0, 60.0).alarms
    assert (alarm.kind, alarm.measured, alarm.threshold, alarm.samples) == ("latency-p99", 100.5, 100.0, 100)
    one_slow = fast + [step(49.0, "write", latency_ms=10.0), step(49.5, "write", latency_ms=5000.0)]
    assert not evaluate_alarms(one_slow, THRESHOLDS, [], 0.0, 60.0).fired
    # Slow errors count against availability only (here 98/100 >= 0.9), not against latency.
    slow_errors = fast + [step(49.0 + index * 0.5, "write", "error", latency_ms=5000.0) for index in range(2)]
    report = evaluate_alarms(slow_errors, THRESHOLDS, [], 0.0, 60.0)
    assert not report.fired and report.summary[0].latency_p99_ms == 10.0


def test_alarms_name_the_pair_and_records_outside_the_run_are_counted() -> None:
    records = (
        window_of(0, 20, 0, canary_az="az-a", endpoint_az="az-a")
        + window_of(0, 20, 20, canary_az="az-b", endpoint_az="az-c")
        + [step(-1.0, "write"), step(60.0, "write")]
    )
    report = evaluate_alarms(records, THRESHOLDS, [], 0.0, 60.0)
    assert kinds(report) == [(0.0, "az-b", "az-c", "write-availability")]
    assert report.records_outside_run == 2
    assert [(pair.canary_az, pair.endpoint_az) for pair in report.summary] == [
        ("az-a", "az-a"),
        ("az-b", "az-c"),
    ]


def test_last_window_is_cut_at_run_end() -> None:
    report = evaluate_alarms(window_of(0, 20, 20), THRESHOLDS, [], 0.0, 90.0)
    assert {(window.window_start_s, window.window_end_s) for window in report.unjudged} >= {(60.0, 90.0)}


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        AlarmThresholds(window_s=0)
    with pytest.raises(ValueError):
        AlarmThresholds(availability_min_outside_fault=1.5)
    with pytest.raises(ValueError):
        evaluate_alarms([], THRESHOLDS, [], 10.0, 10.0)
    with pytest.raises(ValueError):
        evaluate_alarms([step(1.0, "scan")], THRESHOLDS, [], 0.0, 60.0)


@given(
    outcomes=st.lists(st.sampled_from(["ok", "error"]), min_size=10, max_size=200),
    threshold=st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]),
)
def test_write_alarm_fires_exactly_when_availability_is_below_threshold(
    outcomes: list[str], threshold: float
) -> None:
    records = [step(index * 0.1, "write", outcome) for index, outcome in enumerate(outcomes)]
    thresholds = AlarmThresholds(availability_min_outside_fault=threshold, samples_min=10)
    report = evaluate_alarms(records, thresholds, [], 0.0, 60.0)
    ok_count = outcomes.count("ok")
    # Integer arithmetic as the oracle: fires iff ok / n < threshold, i.e. ok * 1000 < threshold * 1000 * n.
    expected = ok_count * 1000 < round(threshold * 1000) * len(outcomes)
    assert any(alarm.kind == "write-availability" for alarm in report.alarms) == expected


@given(
    times_s=st.lists(st.floats(min_value=0.0, max_value=299.999, allow_nan=False), max_size=100),
    window_s=st.sampled_from([1.0, 7.5, 60.0]),
)
def test_every_record_in_the_run_lands_in_exactly_one_window(times_s: list[float], window_s: float) -> None:
    records = [step(time_s, "write") for time_s in times_s]
    thresholds = AlarmThresholds(window_s=window_s, samples_min=10_000)  # judge nothing, count everything
    report = evaluate_alarms(records, thresholds, [], 0.0, 300.0)
    writes = [window for window in report.unjudged if window.kind == "write-availability"]
    assert sum(window.samples for window in writes) == len(times_s)
    assert report.summary == [] or report.summary[0].write_total == len(times_s)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=300))
def test_nearest_rank_p99_has_at_least_99_percent_at_or_below(values: list[float]) -> None:
    p99 = percentile_nearest_rank(values, 99.0)
    assert p99 in values
    assert sum(value <= p99 for value in values) >= 0.99 * len(values)
    assert sum(value < p99 for value in values) < 0.99 * len(values)


def test_alarm_module_does_no_io_and_reads_no_clock() -> None:
    tree = ast.parse(Path(canaries.alarms.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported.isdisjoint(
        {"time", "datetime", "os", "io", "socket", "pathlib", "random", "subprocess", "threading"}
    )
    assert "open" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
