"""M-of-N alarm evaluation, sample minimums and the evidence an alarm carries (pure, hand-made records)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canaries.alarms import (
    AlarmRule,
    AlarmThresholds,
    FaultWindow,
    WindowJudgement,
    evaluate_alarms,
    fire_alarms,
    judge_availability,
    judge_latency_p99,
    percentile_nearest_rank,
)

WINDOW_S = 10.0
WRITES_PER_WINDOW = 20


def thresholds(breaches: int, windows: int, samples_min: int = 10, **fields: object) -> AlarmThresholds:
    return AlarmThresholds(
        window_s=WINDOW_S,
        availability_min_outside_fault=0.9,
        availability_min_inside_fault=0.5,
        latency_p99_max_ms_outside_fault=100.0,
        latency_p99_max_ms_inside_fault=1000.0,
        samples_min=samples_min,
        breaches_to_fire=breaches,
        evaluation_windows=windows,
        **fields,  # type: ignore[arg-type]
    )


def write(time_s: float, outcome: str = "ok", latency_ms: float = 5.0) -> dict[str, object]:
    return {
        "time_s": time_s,
        "wall_time_s": 1_700_000_000.0 + time_s,
        "canary_az": "az-a",
        "endpoint_az": "az-b",
        "endpoint": "http://127.0.0.1:1",
        "operation": "write",
        "outcome": outcome,
        "error_class": "ConnectTimeout" if outcome == "error" else None,
        "latency_ms": latency_ms,
    }


def writes(pattern: str) -> list[dict[str, object]]:
    """One window per letter: B breaches (half the writes fail), P passes, U holds 2 writes with one
    failed (unjudged: 90 % or 10 % depending on the 8 it lacks)."""
    records = []
    for index, letter in enumerate(pattern):
        start_s = index * WINDOW_S
        count, failed = {"B": (WRITES_PER_WINDOW, 10), "P": (WRITES_PER_WINDOW, 0), "U": (2, 1)}[letter]
        step_s = WINDOW_S / count
        records += [write(start_s + i * step_s, "error" if i < failed else "ok") for i in range(count)]
    return records


def write_alarms(pattern: str, rule: AlarmThresholds) -> list[list[float]]:
    """The write-availability alarms of ``pattern``, each as the start times of its evidence windows."""
    report = evaluate_alarms(writes(pattern), rule, [], 0.0, len(pattern) * WINDOW_S)
    return [
        [window.window_start_s for window in alarm.evidence]
        for alarm in report.alarms
        if alarm.kind == "write-availability"
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("PPBPP", []),  # one breached window is noise under 2 of 3
        ("PBPBP", [[10.0, 20.0, 30.0]]),  # 2 of the 3 windows 10..40 s; the pass between is evidence too
        ("BPPBP", []),  # never 2 within 3 consecutive windows
        ("PBBPPPBBP", [[10.0, 20.0], [60.0, 70.0]]),  # two stretches in alarm: two alarms
        ("BUUBP", [[0.0, 10.0, 20.0, 30.0]]),  # unjudged windows are skipped, not counted as passing
    ],
)
def test_two_of_three_consecutive_windows_fire(pattern: str, expected: list[list[float]]) -> None:
    assert write_alarms(pattern, thresholds(2, 3)) == expected


def test_one_of_one_fires_on_every_breach_and_three_of_three_needs_them_all() -> None:
    assert write_alarms("PBPPB", thresholds(1, 1)) == [[10.0], [40.0]]
    assert write_alarms("BBPBB", thresholds(3, 3)) == []
    assert write_alarms("PBBBP", thresholds(3, 3)) == [[10.0, 20.0, 30.0]]


def test_breached_windows_are_kept_even_when_no_alarm_fires() -> None:
    report = evaluate_alarms(writes("PPBPP"), thresholds(2, 3), [], 0.0, 50.0)
    assert not report.fired
    [breach] = report.breaches
    assert (breach.window_start_s, breach.kind, breach.measured, breach.samples) == (20.0, "write-availability", 0.5, 20)


def test_an_alarm_carries_its_windows_and_reports_its_worst_one() -> None:
    records = writes("PBB") + [write(20.0 + index * 0.1, "error") for index in range(5)]  # 10 of 25 ok in the third
    fault = FaultWindow(12.0, 15.0)  # the second window is inside a fault: 50 % meets its 50 % floor
    report = evaluate_alarms(records, thresholds(1, 2), [fault], 0.0, 30.0)
    [alarm] = report.alarms
    assert (alarm.kind, alarm.window_start_s, alarm.window_end_s) == ("write-availability", 20.0, 30.0)
    assert [(w.window_start_s, w.verdict, w.inside_fault, w.threshold) for w in alarm.evidence] == [
        (20.0, "breach", False, 0.9)
    ]
    assert (alarm.measured, alarm.threshold, alarm.samples, alarm.inside_fault) == (0.4, 0.9, 25, False)
    outside = evaluate_alarms(records, thresholds(2, 2), [], 0.0, 30.0)
    [alarm] = outside.alarms
    assert [(w.window_start_s, w.measured, w.samples) for w in alarm.evidence] == [(10.0, 0.5, 20), (20.0, 0.4, 25)]
    assert (alarm.measured, alarm.window_start_s, alarm.window_end_s, len(alarm.breaches)) == (0.4, 10.0, 30.0, 2)


def test_report_json_keeps_the_flat_fields_and_adds_evidence_and_rules() -> None:
    report = evaluate_alarms(writes("PBBP"), thresholds(2, 3), [], 0.0, 40.0)
    document = json.loads(json.dumps(report.to_json()))
    [alarm] = document["alarms"]
    assert {key: alarm[key] for key in ("window_start_s", "window_end_s", "kind", "measured", "samples")} == {
        "window_start_s": 10.0,
        "window_end_s": 30.0,
        "kind": "write-availability",
        "measured": 0.5,
        "samples": 20,
    }
    assert alarm["rule"] == {"breaches_to_fire": 2, "evaluation_windows": 3, "samples_min": 10}
    assert [(window["window_start_s"], window["verdict"]) for window in alarm["evidence"]] == [
        (10.0, "breach"),
        (20.0, "breach"),
    ]
    assert [window["window_start_s"] for window in document["breaches"]] == [10.0, 20.0]
    assert document["rules"]["latency-p99"] == {"breaches_to_fire": 2, "evaluation_windows": 3, "samples_min": 10}
    assert document["windows"] == 4 and document["fired"] is True


def test_each_kind_follows_its_own_rule() -> None:
    latency_three_of_three = {"latency-p99": AlarmRule(3, 3, 10)}
    slow = [write(index * 0.5, latency_ms=500.0) for index in range(40)]  # 20 s of slow answers: two windows
    report = evaluate_alarms(slow, thresholds(1, 1, rules_by_kind=latency_three_of_three), [], 0.0, 20.0)
    assert not report.fired and len(report.breaches) == 2
    report = evaluate_alarms(slow, thresholds(3, 3), [], 0.0, 20.0)
    assert not report.fired
    report = evaluate_alarms(slow, thresholds(2, 3), [], 0.0, 20.0)
    assert [alarm.kind for alarm in report.alarms] == ["latency-p99"]


@pytest.mark.parametrize(
    ("available", "total", "expected"),
    [
        (0, 5, "breach"),  # 5 errors: at best 15 of 20 = 75 % < 90 %
        (3, 5, "unjudged"),  # at best 18 of 20 = 90 % (passes), at worst 3 of 20: the 15 it lacks decide
        (19, 19, "pass"),  # at worst 19 of 20 = 95 %
        (0, 0, "unjudged"),  # a silent window
        (18, 20, "pass"),  # enough samples: judged on its own, exactly at the floor
        (17, 20, "breach"),
        (36, 40, "pass"),  # two failed probes of 40 cannot decide it either
    ],
)
def test_a_short_window_is_judged_only_when_its_missing_samples_could_not_change_the_verdict(
    available: int, total: int, expected: str
) -> None:
    assert judge_availability(available, total, 0.9, samples_min=20) == expected


def test_latency_needs_a_hundred_samples_before_one_slow_answer_stops_deciding_p99() -> None:
    fast, slow = [5.0], [5000.0]
    assert judge_latency_p99(fast * 119 + slow, 100.0, samples_min=100) == "pass"  # p99 is the 119th of 120
    assert judge_latency_p99(fast * 118 + slow * 2, 100.0, samples_min=100) == "breach"
    assert judge_latency_p99(fast * 40 + slow * 2, 100.0, samples_min=100) == "breach"  # 2 slow of any 100
    assert judge_latency_p99(fast * 40 + slow, 100.0, samples_min=100) == "unjudged"
    assert judge_latency_p99(fast * 19 + slow, 100.0, samples_min=20) == "breach"  # p99 of 20 is the slowest


def test_rules_that_could_never_fire_are_refused() -> None:
    with pytest.raises(ValueError, match="breaches_to_fire"):
        AlarmRule(breaches_to_fire=4, evaluation_windows=3)
    with pytest.raises(ValueError, match="breaches_to_fire"):
        thresholds(0, 3)
    with pytest.raises(ValueError, match="samples_min"):
        AlarmRule(1, 1, samples_min=0)
    with pytest.raises(ValueError, match="unknown alarm kinds"):
        thresholds(1, 1, rules_by_kind={"error-rate": AlarmRule()})


def _judgement(index: int, verdict: str) -> WindowJudgement:
    return WindowJudgement(
        index * WINDOW_S, (index + 1) * WINDOW_S, "az-a", "az-b", "write-availability", 0.5, 0.9, 20, False, verdict  # type: ignore[arg-type]
    )


@given(
    verdicts=st.lists(st.sampled_from(["breach", "pass", "unjudged"]), max_size=30),
    windows=st.integers(1, 5),
    data=st.data(),
)
def test_m_of_n_matches_a_brute_force_oracle(verdicts: list[str], windows: int, data: st.DataObject) -> None:
    breaches_to_fire = data.draw(st.integers(1, windows))
    judgements = [_judgement(index, verdict) for index, verdict in enumerate(verdicts)]
    alarms = fire_alarms(judgements, AlarmRule(breaches_to_fire, windows))
    judged = [index for index, verdict in enumerate(verdicts) if verdict != "unjudged"]
    # In alarm after judged window p: the last N judged windows up to p hold at least M breaches.
    in_alarm = [
        sum(verdicts[i] == "breach" for i in judged[max(0, p - windows + 1) : p + 1]) >= breaches_to_fire
        for p in range(len(judged))
    ]
    stretches = sum(1 for p, now in enumerate(in_alarm) if now and (p == 0 or not in_alarm[p - 1]))
    assert len(alarms) == stretches
    # Every breach while in alarm is evidence; an alarm that fires again may share windows with the last.
    evidence = {window.window_start_s for alarm in alarms for window in alarm.evidence}
    for p, now in enumerate(in_alarm):
        if now and verdicts[judged[p]] == "breach":
            assert judged[p] * WINDOW_S in evidence
    for alarm in alarms:
        assert alarm.evidence[0].verdict == alarm.evidence[-1].verdict == "breach"
        assert len(alarm.breaches) >= breaches_to_fire


@given(
    outcomes=st.lists(st.booleans(), max_size=30),
    samples_min=st.integers(1, 30),
    threshold=st.sampled_from([0.0, 0.5, 0.75, 0.9, 0.995, 1.0]),
)
def test_a_short_window_is_judged_exactly_when_every_completion_agrees(
    outcomes: list[bool], samples_min: int, threshold: float
) -> None:
    verdict = judge_availability(sum(outcomes), len(outcomes), threshold, samples_min)
    missing = max(0, samples_min - len(outcomes))
    # Every way the missing samples could have gone (only how many succeed matters).
    breaches = {
        (sum(outcomes) + extra) * 1000 < round(threshold * 1000) * (len(outcomes) + missing)
        for extra in range(missing + 1)
    }
    expected = {frozenset({True}): "breach", frozenset({False}): "pass"}.get(frozenset(breaches), "unjudged")
    assert verdict == expected


@given(
    latencies=st.lists(st.sampled_from([1.0, 50.0, 99.0, 100.0, 101.0, 5000.0]), max_size=40),
    samples_min=st.integers(1, 60),
)
def test_a_short_p99_is_judged_exactly_when_every_completion_agrees(latencies: list[float], samples_min: int) -> None:
    verdict = judge_latency_p99(latencies, 100.0, samples_min)
    missing = max(0, samples_min - len(latencies))
    # The p99 only depends on how many of the missing answers are fast (0 ms) or slow (endless).
    breaches = set()
    for fast in range(missing + 1):
        completed = latencies + [0.0] * fast + [float("inf")] * (missing - fast)
        if completed:
            breaches.add(percentile_nearest_rank(completed, 99.0) > 100.0)
    expected = {frozenset({True}): "breach", frozenset({False}): "pass"}.get(frozenset(breaches), "unjudged")
    assert verdict == expected
