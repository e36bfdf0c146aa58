"""Customer-facing alarms (CFAs) as Prometheus alerting rules, with the game day's own thresholds.

The game day judges canary records offline (canaries/alarms.py); these rules raise the same alarms live,
from the canaries' metrics, so an on-call sees during a game day what the verdict will say after it:

- write availability per (canary AZ, endpoint AZ): ``ok`` writes / all writes over the window;
- read availability: consistent and eventual reads whose outcome is ``ok`` or ``stale`` (an eventual
  read may lag) / all reads; a ``mismatch`` is a wrong answer, so it counts as unavailable;
- p99 latency per pair, from the latency histogram over the window;
- a canary that reports itself down, whose series vanished, or that no Prometheus target exports.

Only the outside-fault thresholds are used: a customer-facing alarm must fire whenever customers
would see the failure. The looser inside-fault thresholds are what the game day's verdict tolerates,
and stay with that verifier. Like the verifier, an alarm fires when M of the last N windows breached
(a subquery counts the breached windows, aligned to multiples of the window as CloudWatch's periods
are), and a window with fewer than ``samples_min`` requests breaches only when the requests it lacks
could not have saved it. Unlike the verifier, a window without samples is not skipped (the last N
windows are the last N, judged or not), and latency counts errors (the histogram holds every request).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from canaries.alarms import AlarmRule
from dashboards.yaml_text import duration, to_yaml

__all__ = [
    "ALERT_NAMES",
    "CANARY_INTERVAL_S",
    "RULES_PATH",
    "AlertThresholds",
    "alarm_rule",
    "availability_breach_expr",
    "availability_expr",
    "default_samples_min",
    "latency_breach_expr",
    "latency_p99_seconds_expr",
    "m_of_n_expr",
    "render_rules",
    "rule_groups",
    "write_rules",
]

RULES_PATH = Path(__file__).parent / "rules" / "customer_facing_alarms.yml"
ALERT_NAMES = ("CanaryWriteAvailabilityLow", "CanaryReadAvailabilityLow", "CanaryLatencyP99High", "CanaryDown")

# How often a canary probes each endpoint; must equal gameday.canary_settings.CANARY_INTERVAL_S (a test checks).
CANARY_INTERVAL_S = 0.25
# How long after its last sample a vanished canary still raises CanaryDown by name. Longer than any
# game day; past it, only a fleet with no canary left at all is noticed (absent()).
CANARY_MEMORY_S = 3600.0

_PAIR = "az, endpoint_az"
_READ_OPERATIONS = 'operation=~"consistent_read|eventual_read"'
_AVAILABLE = {"write": 'operation="write",outcome="ok"', "read": f'{_READ_OPERATIONS},outcome=~"ok|stale"'}
_ALL = {"write": 'operation="write"', "read": _READ_OPERATIONS}


class AlertThresholds(Protocol):
    """What the rules need of a scenario's thresholds (gameday.scenario.Thresholds fits)."""

    @property
    def availability_outside_faults(self) -> float: ...
    @property
    def latency_p99_ms(self) -> float: ...
    @property
    def window_s(self) -> float: ...


def default_samples_min(window_s: float) -> int:
    """Half the probes a window holds: the minimum of thresholds that do not name their own."""
    return max(3, int(window_s / CANARY_INTERVAL_S) // 2)


def alarm_rule(thresholds: AlertThresholds, kind: str, samples_min: int | None = None) -> AlarmRule:
    """The scenario's M of N and sample minimum for ``kind`` (gameday.scenario.Thresholds.alarm_rule);
    thresholds without them fire on one breached window of ``default_samples_min`` requests."""
    rule_of = getattr(thresholds, "alarm_rule", None)
    rule = rule_of(kind) if callable(rule_of) else AlarmRule(1, 1, default_samples_min(thresholds.window_s))
    return rule if samples_min is None else replace(rule, samples_min=samples_min)


def _requests_rate(matchers: str, window: str) -> str:
    return f"sum by ({_PAIR}) (rate(canary_requests_total{{{matchers}}}[{window}]))"


def availability_expr(side: str, window_s: float) -> str:
    """Available / all canary requests of one side (``write`` or ``read``) per pair over the window."""
    window = duration(window_s)
    return f"{_requests_rate(_AVAILABLE[side], window)}\n  /\n{_requests_rate(_ALL[side], window)}"


def _increase(matchers: str, window: str) -> str:
    return f"sum by ({_PAIR}) (increase(canary_requests_total{{{matchers}}}[{window}]))"


def availability_breach_expr(side: str, window_s: float, availability_min: float, samples_min: int) -> str:
    """1 per pair when the window ending now breached, else 0: availability below the threshold even if
    the requests it lacks below ``samples_min`` had all succeeded (canaries.alarms.judge_availability)."""
    window = duration(window_s)
    available, total = _increase(_AVAILABLE[side], window), _increase(_ALL[side], window)
    # A pair whose available series was never exported counts as none available, not as unknown.
    return (
        f"(\n({available}\n  or {total} * 0)\n  + clamp_min({samples_min} - {total}, 0)\n)\n  /\n"
        f"clamp_min({total}, {samples_min})\n< bool {_number(availability_min)}"
    )


def latency_breach_expr(window_s: float, latency_max_s: float, samples_min: int) -> str:
    """1 per pair when the window's p99 is above the threshold on at least ``samples_min`` requests, else 0."""
    count = f"sum by ({_PAIR}) (increase(canary_request_latency_seconds_count[{duration(window_s)}]))"
    return (
        f"(\n{latency_p99_seconds_expr(window_s)} > bool {_number(latency_max_s)}\n)\n"
        f"and on ({_PAIR})\n{count} >= {samples_min}"
    )


def m_of_n_expr(breach: str, window_s: float, rule: AlarmRule) -> str:
    """Breached windows among the last N, each evaluated at a multiple of the window; fires at M.
    The range stops a millisecond short of N windows so that it holds N evaluations, not N + 1."""
    span = duration(rule.evaluation_windows * window_s - 0.001)
    return f"sum_over_time((\n{breach}\n)[{span}:{duration(window_s)}]) >= {rule.breaches_to_fire}"


def latency_p99_seconds_expr(window_s: float, by: str = _PAIR, matchers: str = "") -> str:
    """p99 canary latency in seconds per group of ``by``, interpolated within histogram buckets."""
    selector = f"canary_request_latency_seconds_bucket{{{matchers}}}" if matchers else (
        "canary_request_latency_seconds_bucket"
    )
    return f"histogram_quantile(0.99, sum by ({by}, le) (rate({selector}[{duration(window_s)}])))"


def _number(value: float) -> str:
    # repr keeps every digit of a threshold as written (0.995 stays 0.995, not 0.99500000000000011).
    return repr(float(value))


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _check(thresholds: AlertThresholds) -> None:
    availability = thresholds.availability_outside_faults
    if not 0.0 <= availability <= 1.0:
        raise ValueError(f"availability_outside_faults must be within [0, 1], got {availability}")
    if not (math.isfinite(thresholds.latency_p99_ms) and thresholds.latency_p99_ms > 0):
        raise ValueError(f"latency_p99_ms must be a positive number, got {thresholds.latency_p99_ms}")
    if not (math.isfinite(thresholds.window_s) and thresholds.window_s > 0):
        raise ValueError(f"window_s must be a positive number, got {thresholds.window_s}")


def rule_groups(thresholds: AlertThresholds, samples_min: int | None = None) -> dict[str, Any]:
    """The rules file as a document: one group of the four customer-facing alarms. ``samples_min``
    replaces every kind's own minimum."""
    _check(thresholds)
    window_s = thresholds.window_s
    window = duration(window_s)
    if samples_min is not None and samples_min < 1:
        raise ValueError(f"samples_min must be at least 1, got {samples_min}")
    availability_min = thresholds.availability_outside_faults
    latency_max_s = thresholds.latency_p99_ms / 1000.0
    labels = {"severity": "page", "team": "gameday"}
    rules: list[dict[str, Any]] = []
    for side, name in (("write", "CanaryWriteAvailabilityLow"), ("read", "CanaryReadAvailabilityLow")):
        rule = alarm_rule(thresholds, f"{side}-availability", samples_min)
        breach = availability_breach_expr(side, window_s, availability_min, rule.samples_min)
        rules.append(
            {
                "alert": name,
                "expr": m_of_n_expr(breach, window_s, rule),
                "labels": labels,
                "annotations": {
                    "summary": f"Canary {side} availability low from {{{{ $labels.az }}}} to "
                    f"{{{{ $labels.endpoint_az }}}}",
                    "description": f"Canary {side}s from {{{{ $labels.az }}}} to the endpoint in "
                    f"{{{{ $labels.endpoint_az }}}} were less than {_percent(availability_min)} available in "
                    f"{{{{ $value }}}} of the last {rule.evaluation_windows} windows of {window} "
                    f"({rule.breaches_to_fire} fire; a window needs {rule.samples_min} requests).",
                },
            }
        )
    rule = alarm_rule(thresholds, "latency-p99", samples_min)
    rules.append(
        {
            "alert": "CanaryLatencyP99High",
            "expr": m_of_n_expr(latency_breach_expr(window_s, latency_max_s, rule.samples_min), window_s, rule),
            "labels": labels,
            "annotations": {
                "summary": "Canary p99 latency high from {{ $labels.az }} to {{ $labels.endpoint_az }}",
                "description": "p99 latency of canary requests from {{ $labels.az }} to the endpoint in "
                f"{{{{ $labels.endpoint_az }}}} was above {thresholds.latency_p99_ms:g}ms in {{{{ $value }}}} of "
                f"the last {rule.evaluation_windows} windows of {window} ({rule.breaches_to_fire} fire; "
                f"a window needs {rule.samples_min} requests).",
            },
        }
    )
    rules.append(
        {
            "alert": "CanaryDown",
            # A canary that says so, one whose series vanished (its process died: Prometheus marks
            # them stale at once), or no canary at all.
            "expr": f"canary_up == 0\nor\n(max_over_time(canary_up[{duration(CANARY_MEMORY_S)}]) unless canary_up)"
            "\nor\nabsent(canary_up)",
            # A canary that was down for less than a window has not yet cost a judged window.
            "for": window,
            "labels": labels,
            "annotations": {
                "summary": "Canary {{ with $labels.az }}in {{ . }} {{ end }}is not probing",
                "description": "Without a canary, customer-facing availability and latency are not measured.",
            },
        }
    )
    return {"groups": [{"name": "customer-facing-alarms", "rules": rules}]}


def render_rules(thresholds: AlertThresholds, samples_min: int | None = None) -> str:
    """The Prometheus rules file (YAML) of the customer-facing alarms at ``thresholds``."""
    header = (
        "Generated by `python -m dashboards.generate` from dashboards/alert_rules.py: do not edit.\n"
        f"Thresholds: availability {_percent(thresholds.availability_outside_faults)}, "
        f"p99 latency {thresholds.latency_p99_ms:g}ms, window {duration(thresholds.window_s)}; "
        + "; ".join(
            f"{kind} {rule.breaches_to_fire} of {rule.evaluation_windows} windows of {rule.samples_min} requests"
            for kind in ("write-availability", "read-availability", "latency-p99")
            for rule in [alarm_rule(thresholds, kind, samples_min)]
        )
        + "."
    )
    return to_yaml(rule_groups(thresholds, samples_min), header)


def write_rules(thresholds: AlertThresholds, path: Path = RULES_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rules(thresholds), encoding="utf-8")
    return path
