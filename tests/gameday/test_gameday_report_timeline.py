"""The report's time axis, per-second series and fault windows, checked on small hand-made inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday.report.inputs import CanaryRecord, NemesisEvent, read_histories
from gameday.report.svg import nice_step, ticks
from gameday.report.timeline import (
    Axis,
    choose_axis,
    latency_series,
    rate_series,
    windows_from_nemesis,
    windows_from_summary,
)

ORIGIN_S = 7123.4567


def _write_history(path: Path, completions_relative_s: list[tuple[float, str]]) -> None:
    lines = []
    for process, (relative_s, outcome) in enumerate(completions_relative_s):
        time_ns = round((ORIGIN_S + relative_s) * 1e9)
        lines.append(
            json.dumps(
                {"time": time_ns - 1000, "process": process, "type": "invoke", "f": "read", "value": None}
            )
        )
        lines.append(
            json.dumps({"time": time_ns, "process": process, "type": outcome, "f": "read", "value": 1})
        )
    path.write_text("\n".join(lines) + "\n")


def test_rates_fall_in_the_right_second_at_the_boundaries(tmp_path: Path) -> None:
    _write_history(
        tmp_path / "history.jsonl",
        [(0.001, "ok"), (0.999, "ok"), (1.0001, "ok"), (1.999, "fail"), (2.0001, "info"), (2.5, "ok")],
    )
    history = read_histories(tmp_path, ORIGIN_S)
    axis = choose_axis(ORIGIN_S, 3.0, [history.earliest_s], [history.latest_s])
    ok = rate_series(history.ok_by_bucket, history.bucket_origin_s, axis, 0, 2)
    errors = rate_series(history.errors_by_bucket, history.bucket_origin_s, axis, 0, 2)
    assert ok.values == [2.0, 1.0, 1.0]
    assert errors.values == [0.0, 1.0, 1.0]
    assert ok.points() == [[(0.5, 2.0), (1.5, 1.0), (2.5, 1.0)]]


def test_axis_origin_is_the_summary_start_else_the_earliest_timestamp() -> None:
    assert choose_axis(100.0, 30.0, [90.0], [125.0]) == Axis(100.0, "summary", 30.0)
    # without a start the earliest timestamp is t=0, and the run lasts until the latest one
    assert choose_axis(None, None, [110.0, 104.0, None], [150.5, None]) == Axis(
        104.0, "earliest timestamp", 46.5
    )
    assert choose_axis(None, None, [None], [None]) == Axis(0.0, "none", 0.0)


def test_window_bounds_may_be_absolute_or_relative() -> None:
    axis = Axis(5000.0, "summary", 60.0)
    assert axis.relative_maybe_absolute(5020.0) == 20.0
    assert axis.relative_maybe_absolute(20.0) == 20.0
    assert axis.relative_maybe_absolute(4999.5) == pytest.approx(-0.5)


def test_nemesis_events_pair_by_fault_number_then_by_kind() -> None:
    axis = Axis(1000.0, "summary", 100.0)
    events = [
        NemesisEvent(1010.0, "start-pause", {"fault": 1, "node": "a"}),
        NemesisEvent(1015.0, "start-pause", {"fault": 2, "node": "b"}),
        NemesisEvent(1020.0, "stop-pause", {"fault": 2}),  # heals the second one first
        NemesisEvent(1030.0, "stop-pause", {"fault": 1}),
        NemesisEvent(1040.0, "start-partition", {}),  # no numbers: first in, first out
        NemesisEvent(1045.0, "stop-partition", {}),
        NemesisEvent(1050.0, "heal-all", {}),
        NemesisEvent(1090.0, "start-power-off", {"fault": 3}),  # never healed
    ]
    windows = windows_from_nemesis(events, axis, "history")
    assert [(window.kind, window.start_s, window.end_s, window.healed) for window in windows] == [
        ("pause", 10.0, 30.0, True),
        ("pause", 15.0, 20.0, True),
        ("partition", 40.0, 45.0, True),
        ("power-off", 90.0, 100.0, False),
    ]
    assert windows[0].target == {"fault": 1, "node": "a"}


def test_summary_faults_without_heal_last_to_the_end() -> None:
    axis = Axis(1000.0, "summary", 80.0)
    windows = windows_from_summary(
        [
            {"kind": "pause", "start_s": 1010.0, "heal_s": 1020.0},
            {"kind": "skew", "start_s": 50.0},
            "junk",
            {"kind": "x"},
        ],
        axis,
    )
    assert [(window.kind, window.start_s, window.end_s, window.healed) for window in windows] == [
        ("pause", 10.0, 20.0, True),
        ("skew", 50.0, 80.0, False),
    ]


def test_latency_percentiles_per_second_leave_out_errors_and_gaps() -> None:
    axis = Axis(10.0, "summary", 3.0)

    def record(time_s: float, latency_ms: float, outcome: str = "ok") -> CanaryRecord:
        return CanaryRecord(time_s, "az-a", "az-b", "write", outcome, latency_ms)

    records = [record(10.0 + index / 100, float(index + 1)) for index in range(100)]  # 1..100 ms in second 0
    records.append(record(10.5, 9999.0, "error"))
    records.append(record(12.2, 7.0))
    p50, p99 = latency_series(records, axis, 0, 2)
    assert p50.values == [50.0, None, 7.0]
    assert p99.values == [99.0, None, 7.0]
    assert p99.points() == [[(0.5, 99.0)], [(2.5, 7.0)]]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 60.0, [0, 10, 20, 30, 40, 50, 60]),
        (0.0, 7.0, [0, 1, 2, 3, 4, 5, 6, 7]),
        (-3.0, 12.0, [-2, 0, 2, 4, 6, 8, 10, 12]),
    ],
)
def test_ticks_are_round_numbers_covering_the_range(low: float, high: float, expected: list[float]) -> None:
    assert ticks(low, high, 8) == expected


def test_nice_step() -> None:
    assert nice_step(1000.0, 5) == 200.0
    assert nice_step(0.0) == 1.0
