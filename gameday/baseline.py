"""A run's client-side availability and p99 per (canary AZ, endpoint AZ), and the comparison that
turns a change which costs availability into a failed build. Pure, apart from load/save."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Below this, an availability difference is measurement noise of a few canary probes.
AVAILABILITY_NOISE_FLOOR = 0.001
MEASURES = ("write_availability", "read_availability", "latency_p99_ms")


class BaselineError(Exception):
    pass


@dataclass(frozen=True)
class Regression:
    canary_az: str
    endpoint_az: str
    measure: str
    baseline: float
    measured: float
    limit: float

    def describe(self) -> str:
        return (
            f"{self.measure} canary {self.canary_az} -> endpoint {self.endpoint_az}: "
            f"{self.measured:.4g} vs baseline {self.baseline:.4g} (limit {self.limit:.4g})"
        )


def baseline_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    pairs = (summary.get("alarms") or {}).get("summary") or []
    if not pairs:
        raise BaselineError("the run has no canary measurements to take a baseline from")
    return {
        "scenario": summary.get("scenario"),
        "seed": summary.get("seed"),
        "verdict": (summary.get("verdict") or {}).get("valid"),
        "pairs": {
            f"{pair['canary_az']}->{pair['endpoint_az']}": {measure: pair.get(measure) for measure in MEASURES}
            for pair in pairs
        },
    }


def compare(baseline: dict[str, Any], summary: dict[str, Any], tolerance: float) -> list[Regression]:
    """Availability may drop by `tolerance` of the baseline's unavailability (at least the noise
    floor); p99 latency may grow by `tolerance` of the baseline's. A pair the run lost counts too."""
    current = baseline_from_summary(summary)["pairs"]
    regressions = []
    for pair_name, base in baseline["pairs"].items():
        canary_az, _, endpoint_az = pair_name.partition("->")
        now = current.get(pair_name)
        for measure in MEASURES:
            base_value = base.get(measure)
            if base_value is None:
                continue
            measured = None if now is None else now.get(measure)
            if measure == "latency_p99_ms":
                limit = base_value * (1 + tolerance)
                worse = measured is None or measured > limit
            else:
                limit = base_value - max(tolerance * (1 - base_value), AVAILABILITY_NOISE_FLOOR)
                worse = measured is None or measured < limit
            if worse:
                regressions.append(
                    Regression(canary_az, endpoint_az, measure, base_value, float("nan") if measured is None else measured, limit)
                )
    return regressions


def save_baseline(summary_path: Path, out: Path) -> dict[str, Any]:
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BaselineError(f"cannot read {summary_path}: {error}") from error
    baseline = baseline_from_summary(summary)
    out.write_text(json.dumps(baseline, indent=2) + "\n")
    return baseline


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        baseline = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from error
    if not isinstance(baseline, dict) or not isinstance(baseline.get("pairs"), dict):
        raise BaselineError(f"{path} is not a baseline written by `gameday baseline` (no 'pairs')")
    return baseline
