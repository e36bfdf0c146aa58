"""The CI gate: a baseline of availability and p99 per AZ, and runs that regress against it fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gameday.baseline import BaselineError, baseline_from_summary, compare, load_baseline


def _summary(write: float = 1.0, read: float = 1.0, p99: float = 20.0, pairs: int = 2) -> dict:
    return {
        "scenario": "s",
        "seed": 1,
        "alarms": {
            "summary": [
                {"canary_az": "az-a", "endpoint_az": f"az-{letter}", "write_availability": write,
                 "read_availability": read, "latency_p99_ms": p99}
                for letter in "abc"[:pairs]
            ]
        },
    }  # fmt: skip


def test_an_equal_run_does_not_regress() -> None:
    baseline = baseline_from_summary(_summary(0.99, 0.995, 30.0))
    assert compare(baseline, _summary(0.99, 0.995, 30.0), tolerance=0.2) == []


def test_availability_may_drop_by_the_tolerance_of_the_unavailability_and_no_more() -> None:
    baseline = baseline_from_summary(_summary(write=0.98))
    # Unavailability 2 % may grow by 20 % of itself: down to 97.6 %.
    assert compare(baseline, _summary(write=0.977), tolerance=0.2) == []
    regressions = compare(baseline, _summary(write=0.975), tolerance=0.2)
    assert [(r.measure, r.endpoint_az) for r in regressions] == [
        ("write_availability", "az-a"), ("write_availability", "az-b")
    ]
    assert regressions[0].limit == pytest.approx(0.976)


def test_a_perfect_baseline_allows_only_the_noise_floor() -> None:
    baseline = baseline_from_summary(_summary(read=1.0))
    assert compare(baseline, _summary(read=0.9995), tolerance=0.5) == []
    assert [r.measure for r in compare(baseline, _summary(read=0.998), tolerance=0.5)] == ["read_availability"] * 2


def test_latency_and_lost_pairs_regress() -> None:
    baseline = baseline_from_summary(_summary(p99=100.0))
    assert compare(baseline, _summary(p99=119.0), tolerance=0.2) == []
    assert {r.measure for r in compare(baseline, _summary(p99=121.0), tolerance=0.2)} == {"latency_p99_ms"}
    lost = compare(baseline, _summary(pairs=1), tolerance=0.2)
    assert {(r.endpoint_az, r.measure) for r in lost} == {
        ("az-b", "write_availability"), ("az-b", "read_availability"), ("az-b", "latency_p99_ms")
    }


def test_bad_baselines_are_named(tmp_path: Path) -> None:
    (tmp_path / "not-json").write_text("{")
    with pytest.raises(BaselineError, match="cannot read baseline"):
        load_baseline(tmp_path / "not-json")
    (tmp_path / "wrong.json").write_text("[]")
    with pytest.raises(BaselineError, match="not a baseline"):
        load_baseline(tmp_path / "wrong.json")
    with pytest.raises(BaselineError, match="no canary measurements"):
        baseline_from_summary({"alarms": {"summary": []}})


def test_baseline_command_records_a_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps(_summary(0.99, 0.98, 42.0)))
    out = tmp_path / "baseline.json"
    done = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "baseline", str(run_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert load_baseline(out)["pairs"]["az-a->az-b"] == {
        "write_availability": 0.99, "read_availability": 0.98, "latency_p99_ms": 42.0
    }
    missing = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "baseline", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr


# `gameday run --baseline` failing a real run: tests/gameday/test_gameday_prometheus_run.py judges its run
# against an impossible baseline (one game day serves both).
