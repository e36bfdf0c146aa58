"""The scenario's alarm fields (M of N, sample minimums, per kind) and the alarm verdict built from them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from canaries.alarms import ALARM_KINDS, AlarmRule, FaultWindow
from gameday.checks.alarms import alarm_thresholds, judge_alarms
from gameday.game_day import CANARY_INTERVAL_S
from gameday.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios

SCENARIOS = Path(__file__).parents[2] / "gameday" / "scenarios"


def _smoke_with(**thresholds: Any) -> dict[str, Any]:
    data = tomllib.loads((SCENARIOS / "smoke.toml").read_text())
    data["thresholds"] = {
        key: value for key, value in data["thresholds"].items() if key not in ("by_alarm_kind", *thresholds)
    }
    data["thresholds"].update(thresholds)
    return data


def test_omitted_fields_default_to_two_of_three_windows_of_twenty_samples() -> None:
    data = _smoke_with()
    for key in ("alarm_breaches", "alarm_windows", "samples_min"):
        data["thresholds"].pop(key, None)
    thresholds = parse_scenario(data, "smoke.toml").thresholds
    assert {kind: thresholds.alarm_rule(kind) for kind in ALARM_KINDS} == dict.fromkeys(ALARM_KINDS, AlarmRule(2, 3, 20))


def test_a_kind_overrides_only_what_it_names() -> None:
    data = _smoke_with(alarm_breaches=3, alarm_windows=4, samples_min=30, by_alarm_kind={"latency-p99": {"samples_min": 100}})
    thresholds = parse_scenario(data, "smoke.toml").thresholds
    assert thresholds.alarm_rule("latency-p99") == AlarmRule(3, 4, 100)
    assert thresholds.alarm_rule("read-availability") == AlarmRule(3, 4, 30)
    # The alarm evaluation receives every kind's rule.
    assert alarm_thresholds(thresholds).rule("latency-p99") == AlarmRule(3, 4, 100)


@pytest.mark.parametrize(
    ("fields", "path", "reason"),
    [
        ({"alarm_breaches": 4, "alarm_windows": 3}, "thresholds.alarm_breaches", "could never fire"),
        ({"alarm_breaches": 0}, "thresholds.alarm_breaches", "at least 1"),
        ({"alarm_windows": 2.5}, "thresholds.alarm_windows", "must be an integer"),
        ({"samples_min": 0}, "thresholds.samples_min", "at least 1"),
        ({"by_alarm_kind": {"latency": {"samples_min": 5}}}, "thresholds.by_alarm_kind.latency", "unknown alarm kind"),
        ({"by_alarm_kind": {"latency-p99": {"samples": 5}}}, "thresholds.by_alarm_kind.latency-p99.samples", "unknown key"),
        (
            {"alarm_breaches": 2, "by_alarm_kind": {"read-availability": {"alarm_windows": 1}}},
            "thresholds.by_alarm_kind.read-availability.alarm_breaches",
            "could never fire",
        ),
        # smoke lasts 45 s: five 10 s windows, so six breached windows cannot happen.
        ({"alarm_breaches": 6, "alarm_windows": 6}, "thresholds.alarm_breaches", "holds only 5 windows"),
    ],
)
def test_alarm_fields_are_validated_with_the_field_and_the_reason(fields: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(_smoke_with(**fields), "smoke.toml")
    assert error.value.field_path == path
    assert reason in error.value.reason


@pytest.mark.parametrize("name", shipped_scenarios())
def test_shipped_scenarios_judge_a_window_on_more_than_a_probe_or_two(name: str) -> None:
    thresholds = load_scenario(name).thresholds
    writes_per_window = thresholds.window_s / CANARY_INTERVAL_S
    for kind in ALARM_KINDS:
        rule = thresholds.alarm_rule(kind)
        # At least half the writes a window holds: one failed probe moves it by 10 points at most.
        assert writes_per_window / 2 <= rule.samples_min <= 3 * writes_per_window, (name, kind)
        # One breached window never fires an alarm on its own in a shipped scenario.
        assert rule.breaches_to_fire >= 2, (name, kind)


def _write(time_s: float, outcome: str) -> dict[str, Any]:
    return {"time_s": time_s, "canary_az": "az-a", "endpoint_az": "az-b", "operation": "write", "outcome": outcome,
            "latency_ms": 5.0}  # fmt: skip


def _smoke_thresholds() -> Any:
    return parse_scenario(_smoke_with(), "smoke.toml").thresholds


def test_the_verdict_names_each_alarm_with_its_windows_and_rule() -> None:
    # Writes every 0.25 s for 40 s; from 10 s to 30 s one in two fails: two windows below the 75 % floor.
    records = [_write(1000.0 + i * 0.25, "error" if 40 <= i < 120 and i % 2 else "ok") for i in range(160)]
    fault = FaultWindow(1012.0, 1015.0)
    result, report = judge_alarms(records, _smoke_thresholds(), [fault], 1000.0, 1040.0)
    assert result.valid is False
    assert result.detail.splitlines()[1] == (
        "write-availability canary az-a -> az-b: 2 breached window(s) (2 of 3 windows to fire) from 10.0 s to 30.0 s;"
        " worst 50.0% vs threshold 95.0% on 40 samples"  # the furthest below its own threshold
    )
    evidence = report["alarms"][0]["evidence"]
    assert [(window["verdict"], window["threshold"], window["inside_fault"]) for window in evidence] == [
        ("breach", 0.75, True),
        ("breach", 0.95, False),
    ]


def test_an_isolated_breach_passes_but_is_said() -> None:
    records = [_write(1000.0 + i * 0.25, "error" if 40 <= i < 60 and i % 2 else "ok") for i in range(160)]
    result, report = judge_alarms(records, _smoke_thresholds(), [], 1000.0, 1040.0)
    assert result.valid is True
    assert "1 isolated breached window(s) fired none" in result.detail
    assert len(report["breaches"]) == 1 and report["alarms"] == []


def test_nothing_recorded_or_nothing_judged_is_unknown() -> None:
    result, _ = judge_alarms([], _smoke_thresholds(), [], 1000.0, 1040.0)
    assert result.valid == "unknown"
    # Three ok writes in 40 s: every window lacks samples that could still fail it.
    sparse = [_write(1000.0 + i * 10, "ok") for i in range(3)]
    result, _ = judge_alarms(sparse, _smoke_thresholds(), [], 1000.0, 1040.0)
    assert result.valid == "unknown" and "no window had enough samples" in result.detail
