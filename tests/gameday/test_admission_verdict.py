"""The `admission` verdict of the hot-key lesson, on built histories (pure: no cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameday.checks.admission import (
    MEDIAN_RATIO,
    MEDIAN_SLACK_MS,
    OPERATIONS_MIN,
    digest_history,
    judge_admission,
    judge_admission_run,
    latency_bound_ms,
    per_second,
    percentile,
    router_throttles,
)

SECOND_NS = 1_000_000_000
WALL_OFFSET_S = 1_700_000_000.0  # wall clock - monotonic clock in these histories
HOT_KEYS = ["hot-0", "hot-6"]
HOT_START_S, HOT_END_S = 20.0, 40.0


class HistoryBuilder:
    """A register history with cold operations of chosen latencies, hot operations and phase events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.process = 0

    def operation(self, key: str, at_s: float, latency_ms: float, outcome: str = "ok", error: str | None = None) -> None:
        self.process += 1
        invoke_ns = int(at_s * SECOND_NS)
        self.events.append({"process": self.process, "type": "invoke", "f": "write", "key": key, "value": self.process, "time": invoke_ns})
        completion = {"process": self.process, "type": outcome, "f": "write", "key": key, "value": self.process,
                      "time": invoke_ns + int(latency_ms * 1e6)}  # fmt: skip
        if error:
            completion["error"] = error
        self.events.append(completion)

    def cold(self, start_s: float, end_s: float, latency_ms: float, per_s: int = 10, spike_every: int = 0, spike_ms: float = 0.0) -> None:
        count = int((end_s - start_s) * per_s)
        for number in range(count):
            latency = spike_ms if spike_every and number % spike_every == 0 else latency_ms
            self.operation(f"r{number % 7}", start_s + number / per_s, latency)

    def phase(self, start_s: float = HOT_START_S, end_s: float | None = HOT_END_S) -> None:
        value = {"hot_keys": HOT_KEYS, "hot_clients": 4}
        self.events.append({"process": "workload", "type": "info", "f": "hot-phase-start", "time": int(start_s * SECOND_NS),
                            "value": {**value, "wall_s": start_s + WALL_OFFSET_S}})  # fmt: skip
        if end_s is not None:
            self.events.append({"process": "workload", "type": "info", "f": "hot-phase-end", "time": int(end_s * SECOND_NS),
                                "value": {**value, "wall_s": end_s + WALL_OFFSET_S}})  # fmt: skip

    def throttles(self, count: int, at_s: float = 25.0) -> None:
        for number in range(count):
            self.operation(HOT_KEYS[number % 2], at_s + number * 0.01, 2.0, "fail", "ProvisionedThroughputExceededException")

    def sorted_events(self) -> list[dict[str, Any]]:
        return sorted(self.events, key=lambda event: event["time"])


def split(finished_s: float | None, begun_s: float = 30.0) -> dict[str, Any]:
    return {
        "table": "register-1", "parent": "abcd1234-p0", "child": "abcd1234-p4", "split_hash": 123, "reason": "consumption",
        "begun_wall_s": begun_s + WALL_OFFSET_S,
        "finished_wall_s": None if finished_s is None else finished_s + WALL_OFFSET_S,
    }  # fmt: skip


def good_day() -> HistoryBuilder:
    """Admission on as it should be: cold latency unchanged, hot keys throttled."""
    history = HistoryBuilder()
    history.cold(0.0, 50.0, 8.0, spike_every=50, spike_ms=30.0)
    history.phase()
    history.throttles(40)
    return history


def test_admission_on_passes_with_throttles_a_split_and_cold_latency_in_its_baseline() -> None:
    result = judge_admission(digest_history(good_day().sorted_events()), True, [split(33.0)])
    assert result.valid is True, result.detail
    data = result.data
    assert data["throttles_in_history"] == 40
    assert data["splits_in_hot_phase"] == 1
    assert data["cold_baseline"]["p99_ms"] == 30.0 and data["cold_hot_phase"]["p99_ms"] == 30.0
    assert data["p99_bound_ms"] == 60.0 and data["p50_bound_ms"] == pytest.approx(14.4)
    assert data["splits"][0]["finished_s"] == pytest.approx(33.0)


def test_cold_latency_out_of_its_baseline_fails_even_with_throttles_and_a_split() -> None:
    history = HistoryBuilder()
    history.cold(0.0, HOT_START_S, 8.0, spike_every=50, spike_ms=30.0)
    history.cold(HOT_START_S, 50.0, 8.0, spike_every=10, spike_ms=400.0)  # one in ten cold requests waits
    history.phase()
    history.throttles(40)
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert result.valid is False
    assert "cold keys' latency left its baseline" in result.detail
    assert result.data["cold_hot_phase"]["p99_ms"] == 400.0


def test_a_median_just_within_and_just_over_its_bound() -> None:
    for hot_ms, expected in ((14.3, True), (14.5, False)):  # baseline p50 8 ms: bound max(1.8 x 8, 8 + 2) = 14.4
        history = HistoryBuilder()
        history.cold(0.0, HOT_START_S, 8.0, spike_every=50, spike_ms=30.0)
        history.cold(HOT_START_S, 50.0, hot_ms, spike_every=50, spike_ms=30.0)
        history.phase()
        history.throttles(5)
        result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
        assert result.valid is expected, (hot_ms, result.detail)


def test_latency_just_within_and_just_over_the_bound() -> None:
    for hot_ms, expected in ((60.0, True), (61.0, False)):
        history = HistoryBuilder()
        history.cold(0.0, HOT_START_S, 8.0, spike_every=50, spike_ms=30.0)
        history.cold(HOT_START_S, 50.0, 8.0, spike_every=50, spike_ms=hot_ms)
        history.phase()
        history.throttles(5)
        result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
        assert result.valid is expected, (hot_ms, result.detail)


def test_the_whole_distribution_moving_fails_even_when_a_noisy_baseline_hides_the_tail() -> None:
    history = HistoryBuilder()
    history.cold(0.0, HOT_START_S, 6.0, spike_every=20, spike_ms=90.0)  # a noisy neighbour before the hot phase
    history.cold(HOT_START_S, 50.0, 20.0, spike_every=20, spike_ms=100.0)  # every request slower, tail as before
    history.phase()
    history.throttles(5)
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert result.valid is False and "left its baseline" in result.detail
    assert result.data["cold_hot_phase"]["p99_ms"] <= result.data["p99_bound_ms"]
    assert result.data["cold_hot_phase"]["p50_ms"] > result.data["p50_bound_ms"] == pytest.approx(10.8)


def test_no_throttle_fails() -> None:
    history = good_day()
    history.events = [event for event in history.events if not str(event.get("key", "")).startswith("hot-")]
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert result.valid is False
    assert "no request was throttled" in result.detail


def test_router_counters_count_as_throttles_when_clients_saw_none() -> None:
    history = good_day()
    history.events = [event for event in history.events if not str(event.get("key", "")).startswith("hot-")]
    routers = [{"router": "az1", "throttled": {"table": 0, "partition": 7}}, {"router": "az2", "throttled": {"partition": 2}}]
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)], routers)
    assert result.valid is True, result.detail
    assert result.data["throttles_at_routers"] == 9


def test_a_split_outside_the_hot_phase_or_unfinished_does_not_count() -> None:
    for splits in ([split(None)], [split(45.0, begun_s=42.0)], [split(10.0, begun_s=5.0)], []):
        result = judge_admission(digest_history(good_day().sorted_events()), True, splits)
        assert result.valid is False, splits
        assert "no split finished during the hot phase" in result.detail


def test_the_same_split_reported_by_several_metadata_replicas_counts_once() -> None:
    result = judge_admission(digest_history(good_day().sorted_events()), True, [split(None), split(33.0), split(33.0)])
    assert result.valid is True
    assert len(result.data["splits"]) == 1 and result.data["splits_in_hot_phase"] == 1


def test_admission_off_fails_by_the_same_rule_and_says_why() -> None:
    history = HistoryBuilder()
    history.cold(0.0, HOT_START_S, 8.0, spike_every=50, spike_ms=30.0)
    history.cold(HOT_START_S, 50.0, 40.0, spike_every=20, spike_ms=900.0)
    history.phase()
    result = judge_admission(digest_history(history.sorted_events()), False, [])
    assert result.valid is False
    assert result.detail.startswith("admission off")
    for problem in ("no request was throttled", "no split", "left its baseline"):
        assert problem in result.detail
    assert result.data["latency_within_bound"] is False


def test_unknown_without_hot_phase_too_few_cold_operations_or_no_split_information() -> None:
    history = good_day()
    history.events = [event for event in history.events if event["process"] != "workload"]
    assert judge_admission(digest_history(history.sorted_events()), True, [split(33.0)]).valid == "unknown"
    history = HistoryBuilder()
    history.cold(0.0, HOT_START_S, 8.0, per_s=1)
    history.cold(HOT_START_S, 50.0, 8.0)
    history.phase()
    history.throttles(3)
    sparse = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert sparse.valid == "unknown" and f"need {OPERATIONS_MIN}" in sparse.detail
    unknown_splits = judge_admission(digest_history(good_day().sorted_events()), True, None)
    assert unknown_splits.valid == "unknown" and "no metadata replica answered" in unknown_splits.detail


def test_a_start_without_end_is_no_hot_phase() -> None:
    history = HistoryBuilder()
    history.cold(0.0, 50.0, 8.0)
    history.phase(end_s=None)
    assert digest_history(history.sorted_events()).hot_phase is None


def test_baseline_skips_the_first_seconds_and_phases_use_invoke_times() -> None:
    history = HistoryBuilder()
    history.operation("r1", 0.5, 5000.0)  # the first request after table creation: slow, not a baseline
    history.cold(1.0, 50.0, 8.0)
    history.operation("r2", HOT_START_S - 0.1, 8.0)  # invoked before the hot phase: baseline
    history.phase()
    history.throttles(1)
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert result.valid is True, result.detail
    assert result.data["cold_baseline"]["p99_ms"] == 8.0


def test_timeouts_of_cold_operations_count_with_their_wait() -> None:
    history = HistoryBuilder()
    history.cold(0.0, 50.0, 8.0)
    for number in range(10):
        history.operation("r3", 25.0 + number, 3000.0, "info")
    history.phase()
    history.throttles(2)
    result = judge_admission(digest_history(history.sorted_events()), True, [split(33.0)])
    assert result.valid is False and result.data["cold_hot_phase"]["p99_ms"] == 3000.0


def test_small_helpers() -> None:
    assert percentile([], 99.0) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50.0) == 2.0
    assert percentile(list(range(1, 101)), 99.0) == 99
    assert latency_bound_ms(10.0) == 35.0 and latency_bound_ms(100.0) == 200.0
    assert latency_bound_ms(2.0, MEDIAN_RATIO, MEDIAN_SLACK_MS) == 4.0
    assert latency_bound_ms(4.0, MEDIAN_RATIO, MEDIAN_SLACK_MS) == pytest.approx(7.2)
    assert per_second([10.2, 10.9, 12.0], 0.0) == [[10.0, 2.0], [12.0, 1.0]]
    assert router_throttles([]) is None and router_throttles([{"router": "a"}]) is None


def test_judge_run_reads_the_merged_history(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in good_day().sorted_events()) + "{cut short\n")
    observations = {"splits": [split(33.0)], "routers": [], "nodes": {"n1": {"throttled": 40}}, "errors": ["m3: down"]}
    result = judge_admission_run(path, True, observations, run_start_s=10.0)
    assert result.valid is True, result.detail
    assert result.data["hot_phase"]["start_s"] == pytest.approx(HOT_START_S - 10.0)
    assert result.data["nodes"] == {"n1": {"throttled": 40}} and result.data["probe_errors"] == ["m3: down"]
    missing = judge_admission_run(tmp_path / "absent.jsonl", True, None, 0.0)
    assert missing.valid == "unknown"
