from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from dashboards.alert_rules import (
    ALERT_NAMES,
    CANARY_INTERVAL_S,
    RULES_PATH,
    default_samples_min,
    render_rules,
    rule_groups,
)
from dashboards.metric_contract import series_labels
from dashboards.promql_names import expression_names
from dashboards.yaml_text import to_yaml
from gameday.scenario import load_scenario
from tests.dashboards.conftest import PromtoolRunner, describe

RULE_TESTS = sorted((RULES_PATH.parent / "tests").glob("*.yml"))


@dataclass(frozen=True)
class _Thresholds:
    availability_outside_faults: float
    latency_p99_ms: float
    window_s: float


DEFAULT = load_scenario("default").thresholds


def test_shipped_rules_are_generated_from_the_default_scenario() -> None:
    assert RULES_PATH.read_text(encoding="utf-8") == render_rules(DEFAULT), (
        "dashboards/rules/customer_facing_alarms.yml is stale: run `python -m dashboards.generate`"
    )


def test_promtool_accepts_the_shipped_rules(promtool: PromtoolRunner) -> None:
    result = promtool("check", "rules", RULES_PATH)
    assert result.returncode == 0, describe(result)
    assert f"{len(ALERT_NAMES)} rules found" in result.stdout


def test_there_are_rule_unit_tests_for_every_alert() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in RULE_TESTS)
    for name in ALERT_NAMES:
        assert f"alertname: {name}" in text, f"no promtool unit test names {name}"


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=[path.name for path in RULE_TESTS])
def test_promtool_unit_tests_of_the_shipped_rules_pass(promtool: PromtoolRunner, test_file: Path) -> None:
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, describe(result)


@pytest.mark.parametrize(
    "changed",
    [
        replace(DEFAULT, availability_outside_faults=0.98),  # would miss 99 % and 98.5 %
        replace(DEFAULT, latency_p99_ms=1000.0),  # would miss a 750 ms p99
        replace(DEFAULT, window_s=30.0),  # would still fire for errors 15 s old
    ],
    ids=["availability", "latency", "window"],
)
def test_the_unit_tests_notice_a_changed_threshold(promtool: PromtoolRunner, tmp_path: Path, changed: Any) -> None:
    # The shipped unit tests against rules rendered at other thresholds must fail, or they test nothing.
    rules = tmp_path / "rules" / RULES_PATH.name
    (tmp_path / "rules" / "tests").mkdir(parents=True)
    rules.write_text(render_rules(changed, samples_min=default_samples_min(DEFAULT.window_s)), encoding="utf-8")
    for test_file in RULE_TESTS:
        shutil.copy(test_file, tmp_path / "rules" / "tests" / test_file.name)
    results = [promtool("test", "rules", tmp_path / "rules" / "tests" / path.name) for path in RULE_TESTS]
    assert any(result.returncode != 0 for result in results)


def _series(labels: dict[str, str], values: str) -> dict[str, str]:
    rendered = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"canary_requests_total{{{rendered}}}", "values": values}


def _write(az: str, endpoint_az: str, outcome: str, values: str) -> dict[str, str]:
    return _series({"az": az, "endpoint_az": endpoint_az, "operation": "write", "outcome": outcome}, values)


def _bucket(az: str, endpoint_az: str, le: str, values: str) -> dict[str, str]:
    labels = f'az="{az}",endpoint_az="{endpoint_az}",operation="consistent_read",le="{le}"'
    return {"series": f"canary_request_latency_seconds_bucket{{{labels}}}", "values": values}


def _count(az: str, endpoint_az: str, values: str) -> dict[str, str]:
    labels = f'az="{az}",endpoint_az="{endpoint_az}",operation="consistent_read"'
    return {"series": f"canary_request_latency_seconds_count{{{labels}}}", "values": values}


def _firing(alertname: str, az: str, endpoint_az: str) -> dict[str, Any]:
    labels = f'alertname="{alertname}",alertstate="firing",az="{az}",endpoint_az="{endpoint_az}",'
    return {"labels": f'ALERTS{{{labels}severity="page",team="gameday"}}', "value": 1}


def test_rendered_rules_follow_the_thresholds_given(promtool: PromtoolRunner, tmp_path: Path) -> None:
    # Stricter availability, tighter latency and a longer window than the default scenario's.
    thresholds = _Thresholds(availability_outside_faults=0.999, latency_p99_ms=250.0, window_s=30.0)
    (tmp_path / "rules.yml").write_text(render_rules(thresholds), encoding="utf-8")
    series = [
        # 1000 writes of which 2 failed: 99.8 % < 99.9 % fires (it would pass the default 99.5 %).
        _write("az-a", "az-b", "ok", "0+499x90"),
        _write("az-a", "az-b", "error", "0+1x90"),
        # 1 of 2000 failed: 99.95 % passes.
        _write("az-a", "az-c", "ok", "0+1999x90"),
        _write("az-a", "az-c", "error", "0+1x90"),
        # A burst of errors in the first 10 s is inside the window judged at 30 s and 50 s (it ends at 30 s:
        # windows are judged at multiples of their length), out of the one judged at 65 s.
        _write("az-b", "az-a", "ok", "0+90x90"),
        _write("az-b", "az-a", "error", "0+10x10 100+0x80"),
        # 15 writes in a 30 s window are fewer than the 60 a window needs; all ok, it is not judged ...
        _write("az-b", "az-c", "ok", "0+0.5x90"),
        # ... all failed, it breaches all the same: 45 more successes would leave 75 %.
        _write("az-c", "az-b", "error", "0+0.5x90"),
        # p99 of 300 ms (2 of 100 in (0.1 s, 0.5 s]) is above 250 ms (and under the default 500 ms).
        _bucket("az-c", "az-a", "0.1", "0+98x90"),
        _bucket("az-c", "az-a", "0.5", "0+100x90"),
        _bucket("az-c", "az-a", "+Inf", "0+100x90"),
        _bucket("az-c", "az-b", "0.1", "0+100x90"),
        _bucket("az-c", "az-b", "+Inf", "0+100x90"),
        *(_count("az-c", endpoint_az, "0+100x90") for endpoint_az in ("az-a", "az-b")),
        # Every canary up: CanaryDown is the subject of the shipped unit tests, not of this one.
        *({"series": f'canary_up{{az="{az}"}}', "values": "1x90"} for az in ("az-a", "az-b", "az-c")),
    ]
    firing = 'ALERTS{alertstate="firing"}'
    unit_tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": firing,
                        "eval_time": "30s",
                        "exp_samples": [
                            _firing("CanaryWriteAvailabilityLow", "az-a", "az-b"),
                            _firing("CanaryWriteAvailabilityLow", "az-b", "az-a"),
                            _firing("CanaryWriteAvailabilityLow", "az-c", "az-b"),
                            _firing("CanaryLatencyP99High", "az-c", "az-a"),
                        ],
                    },
                    {
                        "expr": firing,
                        "eval_time": "65s",
                        "exp_samples": [
                            _firing("CanaryWriteAvailabilityLow", "az-a", "az-b"),
                            _firing("CanaryWriteAvailabilityLow", "az-c", "az-b"),
                            _firing("CanaryLatencyP99High", "az-c", "az-a"),
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "rules_test.yml").write_text(to_yaml(unit_tests), encoding="utf-8")
    result = promtool("test", "rules", tmp_path / "rules_test.yml")
    assert result.returncode == 0, describe(result)


def test_alert_expressions_use_only_contracted_metrics_and_labels() -> None:
    known = series_labels()
    for rule in rule_groups(DEFAULT)["groups"][0]["rules"]:
        names = expression_names(rule["expr"])
        assert names.metrics, rule["alert"]
        assert names.metrics <= known.keys(), (rule["alert"], names.metrics - known.keys())
        allowed = frozenset().union(*(known[metric] for metric in names.metrics))
        assert names.labels <= allowed, (rule["alert"], names.labels - allowed)


def test_samples_minimum_follows_the_game_days_canary_interval() -> None:
    # Thresholds without their own minimum get half a window's probes: the interval must be the game day's.
    from gameday import game_day

    assert CANARY_INTERVAL_S == game_day.CANARY_INTERVAL_S


def test_the_rules_take_m_of_n_and_sample_minimums_from_the_scenario() -> None:
    rules = {rule["alert"]: rule for rule in rule_groups(DEFAULT)["groups"][0]["rules"]}
    write = DEFAULT.alarm_rule("write-availability")
    latency = DEFAULT.alarm_rule("latency-p99")
    assert rules["CanaryWriteAvailabilityLow"]["expr"].endswith(f"[29999ms:10s]) >= {write.breaches_to_fire}")
    assert f"clamp_min({write.samples_min} - " in rules["CanaryWriteAvailabilityLow"]["expr"]
    assert f">= {latency.samples_min}\n)[29999ms:10s])" in rules["CanaryLatencyP99High"]["expr"]
    assert "for" not in rules["CanaryWriteAvailabilityLow"]  # the window count is in the expression


@pytest.mark.parametrize(
    "thresholds",
    [
        _Thresholds(1.5, 500.0, 10.0),
        _Thresholds(-0.1, 500.0, 10.0),
        _Thresholds(0.99, 0.0, 10.0),
        _Thresholds(0.99, 500.0, 0.0),
        _Thresholds(0.99, float("nan"), 10.0),
    ],
)
def test_refuses_thresholds_that_make_no_alarm(thresholds: _Thresholds) -> None:
    with pytest.raises(ValueError):
        render_rules(thresholds)
