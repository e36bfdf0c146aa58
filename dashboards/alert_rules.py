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
and stay with that verifier. Like the verifier, a pair with fewer than ``samples_min`` requests of a
kind in the window is not judged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from dashboards.yaml_text import duration, to_yaml

__all__ = [
    "ALERT_NAMES",
    "CANARY_INTERVAL_S",
    "RULES_PATH",
    "AlertThresholds",
    "availability_expr",
    "default_samples_min",
    "latency_p99_seconds_expr",
    "render_rules",
    "rule_groups",
    "write_rules",
]

RULES_PATH = Path(__file__).parent / "rules" / "customer_facing_alarms.yml"
ALERT_NAMES = ("CanaryWriteAvailabilityLow", "CanaryReadAvailabilityLow", "CanaryLatencyP99High", "CanaryDown")

# How often a canary probes each endpoint; must equal gameday.game_day.CANARY_INTERVAL_S (a test checks).
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
    """The game day's minimum number of requests for a window to be judged (gameday/game_day.py)."""
    return max(3, int(window_s / CANARY_INTERVAL_S) // 2)


def _requests_rate(matchers: str, window: str) -> str:
    return f"sum by ({_PAIR}) (rate(canary_requests_total{{{matchers}}}[{window}]))"


def availability_expr(side: str, window_s: float) -> str:
    """Available / all canary requests of one side (``write`` or ``read``) per pair over the window."""
    window = duration(window_s)
    return f"{_requests_rate(_AVAILABLE[side], window)}\n  /\n{_requests_rate(_ALL[side], window)}"


def _enough_samples(side: str, window_s: float, samples_min: int) -> str:
    window = duration(window_s)
    return (
        f"sum by ({_PAIR}) (increase(canary_requests_total{{{_ALL[side]}}}[{window}])) >= {samples_min}"
    )


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
    """The rules file as a document: one group of the four customer-facing alarms."""
    _check(thresholds)
    window_s = thresholds.window_s
    window = duration(window_s)
    samples = default_samples_min(window_s) if samples_min is None else samples_min
    if samples < 1:
        raise ValueError(f"samples_min must be at least 1, got {samples}")
    availability_min = thresholds.availability_outside_faults
    latency_max_s = thresholds.latency_p99_ms / 1000.0
    labels = {"severity": "page", "team": "gameday"}
    rules: list[dict[str, Any]] = []
    for side, name in (("write", "CanaryWriteAvailabilityLow"), ("read", "CanaryReadAvailabilityLow")):
        expr = (
            f"(\n{availability_expr(side, window_s)}\n) < {_number(availability_min)}\n"
            f"and on ({_PAIR})\n{_enough_samples(side, window_s, samples)}"
        )
        rules.append(
            {
                "alert": name,
                "expr": expr,
                "labels": labels,
                "annotations": {
                    "summary": f"Canary {side} availability low from {{{{ $labels.az }}}} to "
                    f"{{{{ $labels.endpoint_az }}}}",
                    "description": f"{{{{ $value | humanizePercentage }}}} of canary {side}s from "
                    f"{{{{ $labels.az }}}} to the endpoint in {{{{ $labels.endpoint_az }}}} succeeded over "
                    f"{window}; the threshold is {_percent(availability_min)}.",
                },
            }
        )
    rules.append(
        {
            "alert": "CanaryLatencyP99High",
            "expr": f"{latency_p99_seconds_expr(window_s)} > {_number(latency_max_s)}",
            "labels": labels,
            "annotations": {
                "summary": "Canary p99 latency high from {{ $labels.az }} to {{ $labels.endpoint_az }}",
                "description": "p99 latency of canary requests from {{ $labels.az }} to the endpoint in "
                f"{{{{ $labels.endpoint_az }}}} is {{{{ $value | humanizeDuration }}}} over {window}; "
                f"the threshold is {thresholds.latency_p99_ms:g}ms.",
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
        f"p99 latency {thresholds.latency_p99_ms:g}ms, window {duration(thresholds.window_s)}."
    )
    return to_yaml(rule_groups(thresholds, samples_min), header)


def write_rules(thresholds: AlertThresholds, path: Path = RULES_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rules(thresholds), encoding="utf-8")
    return path
