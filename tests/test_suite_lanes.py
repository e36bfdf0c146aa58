"""The suite's two lanes (tests/conftest.py): which module runs where."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import IN_PROCESS_LANE, OUTCOME_ONLY_CLUSTER_MODULES, PROCESSES_LANE, module_lane

ROOT = Path(__file__).resolve().parent.parent


def test_every_outcome_only_module_exists_starts_a_cluster_and_runs_beside_the_processes_lane() -> None:
    for name in OUTCOME_ONLY_CLUSTER_MODULES:
        module = ROOT / name
        assert module.is_file(), f"{name} is listed in OUTCOME_ONLY_CLUSTER_MODULES but does not exist"
        assert module_lane(module) == IN_PROCESS_LANE


def test_game_days_chaos_and_timed_process_tests_stay_in_the_processes_lane() -> None:
    for name in ("tests/gameday/test_gameday_run.py", "tests/chaos/test_chaos_live_cluster.py",
                 "tests/cluster/test_cluster_failures.py", "tests/loadgen/test_loadgen_locust_runs.py"):  # fmt: skip
        assert module_lane(ROOT / name) == PROCESSES_LANE, name
    assert module_lane(ROOT / "tests/core/test_core_simulated_safety.py") == IN_PROCESS_LANE
