"""The checks' shape and registry, and the run record they judge (gameday/checks/, gameday/run_record.py):
small real run directories in tmp_path, judged by the real checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaos.controller import RunOutcome
from cluster.deploy.local_processes import LocalCluster
from gameday.baseline import baseline_from_summary
from gameday.checks.registry import ALL_CHECKS, checks_for, judge_checks, observe_after_down
from gameday.run_record import RunRecord
from gameday.scenario import load_scenario
from tests.gameday.test_store_errors import stopped_local_cluster

RUN_START_S = 1000.0
RUN_END_S = 1040.0


def _names(checks: Any) -> list[str]:
    return [check.name for check in checks]


def test_every_check_has_its_own_name_and_summary_key() -> None:
    names = _names(ALL_CHECKS)
    assert all(names) and len(set(names)) == len(names)
    keys = [check.summary_key for check in ALL_CHECKS if check.summary_key is not None]
    assert len(set(keys)) == len(keys)


def test_each_scenario_wants_the_checks_of_its_lesson_only() -> None:
    smoke, hot_key, cache_flush = (load_scenario(name) for name in ("smoke", "hot-key", "cache-flush"))
    assert "admission" in _names(checks_for(hot_key))
    assert "admission" not in _names(checks_for(smoke)) + _names(checks_for(cache_flush))
    assert "metadata-load" in _names(checks_for(cache_flush))
    assert "metadata-load" not in _names(checks_for(smoke)) + _names(checks_for(hot_key))
    # The history checks follow the workload: registers, sets, or both.
    assert {"linearizability", "sets"} & set(_names(checks_for(smoke))) == {"linearizability"}
    assert {"linearizability", "sets"} <= set(_names(checks_for(cache_flush)))
    # Registry order is the order of the results.
    order = _names(ALL_CHECKS)
    assert _names(checks_for(cache_flush)) == [name for name in order if name in _names(checks_for(cache_flush))]


def _canary(time_s: float, operation: str) -> dict[str, Any]:
    return {"time_s": time_s, "canary_az": "az-a", "endpoint_az": "az-b", "written_endpoint_az": "az-a",
            "operation": operation, "outcome": "ok", "latency_ms": 5.0}  # fmt: skip


def _nemesis(kind: str, fault: int, start_s: float, heal_s: float | None) -> list[dict[str, Any]]:
    events = [{"process": "nemesis", "type": "info", "f": f"start-{kind}", "value": {"fault": fault}, "time": int(start_s * 1e9)}]
    if heal_s is not None:
        events.append({"process": "nemesis", "type": "info", "f": f"stop-{kind}", "value": {"fault": fault}, "time": int(heal_s * 1e9)})
    return events


def _run_dir(tmp_path: Path) -> Path:
    """Forty seconds of healthy canaries, a pause healed after five seconds and a power-off never healed."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    records = [
        _canary(RUN_START_S + step * 0.25, operation)
        for step in range(160)
        for operation in ("write", "consistent_read", "cross_read")
    ]
    (run_dir / "canaries.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    events = _nemesis("pause", 1, 1010.0, 1015.0) + _nemesis("power-off", 2, 1030.0, None)
    (run_dir / "nemesis.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    return run_dir


def _record(run_dir: Path, scenario: str = "smoke", **fields: Any) -> RunRecord:
    record = RunRecord(
        scenario=load_scenario(scenario),
        seed=7,
        run_dir=run_dir,
        started_at="2026-12-06T12:00:00Z",
        run_start_monotonic_s=RUN_START_S,
        run_start_wall_s=1_765_000_000.0,
        **fields,
    )
    record.run_end_monotonic_s = RUN_END_S
    return record


def test_the_summary_keeps_the_contracts_keys_and_times_faults_from_the_runs_start(tmp_path: Path) -> None:
    record = _record(_run_dir(tmp_path), planted_bugs=["skip-fsync"])
    record.endpoints = {"az-a": "http://127.0.0.1:1"}
    record.plan = []
    record.chaos = RunOutcome("completed", "", 2, 0, [])
    record.partial = False
    record.observations["log-replicas"] = {"processes": []}  # as read before the cluster went down
    _judge_after_down(record, stopped_local_cluster(tmp_path / "cluster"))
    summary = record.to_summary()
    # In the order summary.json has always had (the log replicas' section before the run's timing).
    assert list(summary) == [
        "scenario", "seed", "started_at", "run_start_monotonic_s", "run_start_wall_s", "replay", "planted_bugs",
        "backend", "thresholds", "partial", "endpoints", "plan", "log_replicas", "duration_s", "faults", "chaos",
        "errors", "load", "alarms", "availability_regression", "scrub",
    ]  # fmt: skip
    assert summary["replay"] == f"gameday run {record.scenario.source} --seed 7 --planted-bug skip-fsync"
    record.backend = "docker"
    assert record.to_summary()["replay"].endswith("--planted-bug skip-fsync --backend docker")
    assert summary["duration_s"] == 40.0
    # Relative to the run's start; the power-off that never healed lasts until the run's end.
    assert [(fault["kind"], fault["start_s"], fault["heal_s"]) for fault in summary["faults"]] == [
        ("pause", 10.0, 15.0),
        ("power-off", 30.0, 40.0),
    ]
    assert summary["chaos"]["reason"] == "completed"
    json.dumps(summary)  # what write_outputs writes


def test_a_run_stopped_before_the_cluster_came_up_says_only_what_it_knows(tmp_path: Path) -> None:
    record = RunRecord(load_scenario("smoke"), 7, tmp_path, "2026-12-06T12:00:00Z", RUN_START_S, 0.0)
    record.proxied_links = False
    assert list(record.to_summary())[-2:] == ["partial", "proxied_links"]
    assert record.to_summary()["partial"] is True


def _judge_after_down(record: RunRecord, cluster: LocalCluster) -> dict[str, Any]:
    checks = checks_for(record.scenario)
    observe_after_down(checks, cluster, record)
    return {result.name: result for result in judge_checks(checks, record, print)}


def test_a_partial_run_skips_the_checks_that_need_a_whole_one(tmp_path: Path) -> None:
    cluster = stopped_local_cluster(tmp_path / "cluster")
    partial = _record(_run_dir(tmp_path), errors=["cluster up: RuntimeError: no"])
    assert partial.partial
    results = _judge_after_down(partial, cluster)
    # No load ran: the history is unknown, not skipped; the canaries are judged; nothing needs the end state.
    assert list(results) == ["linearizability", "alarms", "canary-data"]
    assert results["linearizability"].valid == "unknown"
    assert results["alarms"].valid is True and results["canary-data"].valid is True

    whole = _record(_run_dir(tmp_path / "whole"))
    whole.partial = False
    results = _judge_after_down(whole, cluster)
    assert list(results) == [
        "linearizability", "alarms", "canary-data", "availability-regression", "scrub", "store-errors",
    ]  # fmt: skip
    # Read where the stopped cluster left its logs: each process started and stopped once, as asked.
    assert results["store-errors"].valid is True, results["store-errors"].detail
    assert whole.to_summary()["scrub"] == results["scrub"].data


def test_the_cluster_health_checks_judge_only_what_was_read_before_the_cluster_went_down(tmp_path: Path) -> None:
    record = _record(_run_dir(tmp_path))
    record.partial = False
    status = {"processes": [{"id": "node-a1", "state": "down"}]}
    record.observations = {"cluster-healthy": {"status": status, "unplanned": ["node-b1 was paused"]}}
    results = {result.name: result for result in judge_checks(checks_for(record.scenario), record, print)}
    assert results["cluster-healthy"].valid is False
    assert results["cluster-healthy"].detail == "unplanned fault: node-b1 was paused; node-a1 is down"
    assert "log-replicas" not in results  # its status was never read


@pytest.mark.parametrize(("scale", "regressed"), [(1.0, False), (0.5, True)])
def test_the_regression_check_compares_the_alarms_measurements_judged_before_it(
    tmp_path: Path, scale: float, regressed: bool
) -> None:
    first = _record(_run_dir(tmp_path / "first"))
    judge_checks(checks_for(first.scenario), first, print)
    baseline = baseline_from_summary(first.to_summary())
    for pair in baseline["pairs"].values():
        pair["latency_p99_ms"] *= scale  # a baseline twice as fast makes this run's latency a regression
    record = _record(_run_dir(tmp_path / "second"), baseline=baseline)
    results = {result.name: result for result in judge_checks(checks_for(record.scenario), record, print)}
    assert results["regression"].valid is (not regressed), results["regression"].detail


def _user_load_result(run_dir: Path, events: list[dict[str, Any]]) -> Any:
    from loadgen.run import LoadResult, count_outcomes

    history = run_dir / "load-user" / "history.jsonl"
    history.parent.mkdir(parents=True)
    history.write_text("".join(json.dumps({"index": i, "time": i * 10, **event}) + "\n" for i, event in enumerate(events)))
    (run_dir / "history-user.jsonl").write_text(history.read_text())
    return LoadResult(history, count_outcomes(history), [], [history], [])


def test_a_user_locustfile_adds_its_own_history_check_judged_as_registers_and_counters(tmp_path: Path) -> None:
    smoke = load_scenario("smoke")
    names = _names(checks_for(smoke, user_load=True))
    assert names[:2] == ["linearizability", "user-linearizability"] and "user-linearizability" not in _names(checks_for(smoke))
    record = _record(_run_dir(tmp_path), user_load={"locustfile": "/x/orders.py", "users": 3})
    record.load_results["user"] = _user_load_result(record.run_dir, [
        {"process": 900, "type": "invoke", "f": "incr", "key": "orders", "value": 1},
        {"process": 901, "type": "invoke", "f": "incr", "key": "orders", "value": 1},
        {"process": 900, "type": "ok", "f": "incr", "key": "orders", "value": 1},
        {"process": 901, "type": "ok", "f": "incr", "key": "orders", "value": 1},  # a lost increment
    ])  # fmt: skip
    check = next(check for check in checks_for(smoke, user_load=True) if check.name == "user-linearizability")
    outcome = check.judge(record)
    assert outcome is not None and outcome.result.valid is False and "both returned 1" in outcome.result.detail
    summary = record.to_summary()
    assert summary["user_load"] == {"locustfile": "/x/orders.py", "users": 3}
    assert summary["replay"].endswith("--locustfile /x/orders.py --locust-users 3")


def test_a_user_locustfile_that_records_nothing_gets_no_history_verdict(tmp_path: Path) -> None:
    record = _record(_run_dir(tmp_path), user_load={"locustfile": "/x/plain.py", "users": 1})
    record.load_results["user"] = _user_load_result(record.run_dir, [])
    check = next(check for check in checks_for(load_scenario("smoke"), user_load=True) if check.name == "user-linearizability")
    assert check.judge(record) is None
