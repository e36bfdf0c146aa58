"""`gameday run hot-key` end to end on real processes: throttles, a split, cold keys measured against a baseline.

The shipped scenario's load and limits, with shorter phases so the suite stays under two minutes for it.
The off scenario (the failure mode, expected INVALID) is a soak test: it proves the lesson, not the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gameday.game_day_process import run_gameday
from tests.gameday.scenario_copies import shortened_copy
from tests.gameday.test_gameday_run import _processes_mentioning

pytestmark = pytest.mark.cluster

RUN_TIMEOUT_S = 300


def _short_copy(name: str, directory: Path) -> Path:
    """The shipped scenario with a 6 s baseline and a 12 s hot phase (enough for a split: sustain 3 s)."""
    return shortened_copy(name, directory, {"warmup_s": 6, "recovery_s": 14}, workload={"hot_start_s": 6, "hot_duration_s": 12})


def _run(scenario: Path, run_dir: Path, cwd: Path) -> tuple[int, str, dict[str, Any]]:
    code, output = run_gameday(["run", str(scenario), "--seed", "11", "--out", str(run_dir)], cwd, RUN_TIMEOUT_S)
    summary = json.loads((run_dir / "summary.json").read_text())
    return code, output, summary


def test_hot_key_game_day_throttles_splits_and_keeps_the_cold_keys_latency(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, output, summary = _run(_short_copy("hot-key", tmp_path), run_dir, tmp_path)
    verifiers = {verifier["name"]: verifier for verifier in summary["verifiers"]}
    admission = summary["admission"]
    assert admission["throttles_in_history"] > 0, output[-3000:]
    assert admission["splits_in_hot_phase"] >= 1, admission["splits"]
    assert verifiers["linearizability"]["valid"] is True  # hot and cold users in one history, still linearizable
    # Whether the cold keys' latency stayed within its baseline is a timed judgement on a shared 2-core
    # machine (measured: p50 x1.05-1.62 of the baseline against a bound of x1.8): the suite asserts all the
    # rest exactly and accepts that one rule's verdict either way; `gameday run hot-key` and the soak twin
    # judge it.
    failing = sorted(name for name, verifier in verifiers.items() if verifier["valid"] is not True)
    assert failing in ([], ["admission"]), {name: verifiers[name]["detail"] for name in failing}
    if failing:
        assert admission["latency_within_bound"] is False, verifiers["admission"]["detail"]
    assert code == (1 if failing else 0), output[-3000:]
    assert admission["cold_baseline"]["count"] > 100 and admission["cold_hot_phase"]["count"] > 100
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert {event["f"] for event in history if event["process"] == "workload"} == {"hot-phase-start", "hot-phase-end"}
    # Each split is in the history too, as the store's own events.
    assert [event["f"] for event in history if event["process"] == "store"].count("split-finished") >= (
        admission["splits_in_hot_phase"]
    )
    assert "Hot keys: admission control" in (run_dir / "report.html").read_text()
    assert _processes_mentioning(str(run_dir)) == []


@pytest.mark.soak
def test_hot_key_off_game_day_fails_because_cold_latency_leaves_its_baseline(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, output, summary = _run(_short_copy("hot-key-off", tmp_path), run_dir, tmp_path)
    admission = summary["admission"]
    assert admission["throttles_in_history"] == 0 and admission["splits"] == []
    assert admission["latency_within_bound"] is False, admission
    assert code == 1 and "admission: False" in output
    assert _processes_mentioning(str(run_dir)) == []
