"""The store-errors judge on logs shaped like the store's own (process_main's format)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cluster.deploy.local_processes import LocalCluster, build_topology
from gameday.checks.store_errors import (
    KnownIssue,
    find_store_logs,
    incarnations,
    judge,
    lifecycles,
    store_errors_result,
)

T = "2026-12-02 18:15:45,288"


def record(process: str, level: str, logger: str, message: str) -> str:
    return f"{T} {process} {level} {logger}: {message}"


def start(process: str, pid: int) -> list[str]:
    return [
        record(process, "INFO", "__main__", f"process-start id={process} role=node pid={pid}"),
        record(process, "INFO", "__main__", f"{process} (node) serving"),
    ]


def stop(process: str, pid: int) -> list[str]:
    return [
        record(process, "INFO", "__main__", f"process-stop id={process} pid={pid} signal=SIGTERM"),
        record(process, "INFO", "__main__", f"process-exit id={process} pid={pid} status=clean"),
    ]


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/work/cluster/replication/replica_host.py", line 210, in _pump_forever',
    "    group.finish(ready)",
    "KeyError: 'c7114e9c-p0'",
]


def power_off(process: str, killed: int, started: int, fault: int = 1) -> list[dict]:
    return [
        {"process": "nemesis", "type": "info", "f": "start-power-off",
         "value": {"fault": fault, "process_ids": [process], "pids": {process: killed}}},
        {"process": "nemesis", "type": "info", "f": "stop-power-off",
         "value": {"fault": fault, "process_ids": [process], "pids": {process: started}}},
    ]


def test_a_clean_run_with_a_power_off_passes() -> None:
    logs = {
        "node-a1": start("node-a1", 100) + start("node-a1", 200) + stop("node-a1", 200),
        "node-b1": start("node-b1", 101) + stop("node-b1", 101),
    }
    result = judge(logs, power_off("node-a1", 100, 200))
    assert result.valid is True, result.detail
    assert result.data["incarnations"] == {"node-a1": 2, "node-b1": 1}


def test_a_traceback_fails_with_the_process_and_its_lines() -> None:
    lines = start("node-a1", 100) + [record("node-a1", "ERROR", "cluster.runtime.rpc", "handler node.get failed")]
    lines += TRACEBACK + stop("node-a1", 100)
    result = judge({"node-a1": lines}, [])
    assert result.valid is False
    finding = result.data["findings"][0]
    assert finding["kind"] == "traceback" and finding["process"] == "node-a1"
    assert "KeyError: 'c7114e9c-p0'" in finding["lines"] and "handler node.get failed" in finding["summary"]
    assert "KeyError" in result.detail


def test_a_group_closed_by_an_error_names_the_group() -> None:
    message = "group-error group=c7114e9c-p0 host=node-a1 phase=finish action=close error=RuntimeError('boom')"
    lines = start("node-a1", 100) + [record("node-a1", "ERROR", "cluster.replication.replica_host", message)]
    lines += TRACEBACK[:-1] + ["RuntimeError: boom"] + stop("node-a1", 100)
    result = judge({"node-a1": lines}, [])
    assert result.valid is False
    assert result.data["counts"] == {"group-closed": 1}
    assert result.data["findings"][0]["group"] == "c7114e9c-p0"


def test_explained_errors_pass() -> None:
    lines = start("node-a1", 100) + [
        record("node-a1", "INFO", "cluster.scrub.coordinator",
               "scrub of 94757ee0-p0: no digest from node-c1: connection to ('127.0.0.1', 49627) lost"),
        record("node-a1", "WARNING", "cluster.node.log_replica_manager",
               "group 94757ee0-p0: add-learner node-c2 failed: RpcUnavailable('connection refused')"),
        record("node-a1", "WARNING", "cluster.replication.group_runner",
               "group 94757ee0-p0: truncated 12 bytes of torn WAL tail in /d/wal/0001"),
        record("node-a1", "WARNING", "cluster.node.split_driver", "split of p0 into p4 paused: RpcTimeout('2.0s')"),
    ] + stop("node-a1", 100)
    assert judge({"node-a1": lines}, []).valid is True


def test_a_warning_quoting_a_programming_error_fails() -> None:
    lines = start("meta-a", 100) + [
        record("meta-a", "WARNING", "cluster.metadata.split_service", "proposing a split of t failed: TypeError('x')"),
    ] + stop("meta-a", 100)
    result = judge({"meta-a": lines}, [])
    assert result.valid is False and result.data["counts"] == {"suspicious-warning": 1}


def test_a_process_that_exits_with_no_fault_fails() -> None:
    # It crashed (uncaught traceback, no stop line) and something started it again: no fault did either.
    lines = start("node-a1", 100) + TRACEBACK + start("node-a1", 300) + stop("node-a1", 300)
    result = judge({"node-a1": lines}, [])
    assert result.valid is False
    kinds = {finding["kind"] for finding in result.data["findings"]}
    assert {"unexplained-exit", "unexplained-start"} <= kinds
    exit_finding = next(f for f in result.data["findings"] if f["kind"] == "unexplained-exit")
    assert "crashed" in exit_finding["summary"] and "pid 100" in exit_finding["summary"]


def test_a_silent_exit_swept_on_by_heal_all_fails() -> None:
    lines = start("node-a1", 100) + start("node-a1", 300) + stop("node-a1", 300)
    sweep = [{"process": "nemesis", "type": "info", "f": "heal-all", "value": {"powered_on": {"node-a1": 300}}}]
    result = judge({"node-a1": lines}, sweep)
    assert result.valid is False
    assert any("vanished" in finding["summary"] for finding in result.data["findings"])


def test_a_kill_by_a_fault_passes_but_an_extra_one_does_not() -> None:
    lines = start("node-a1", 100) + start("node-a1", 200) + start("node-a1", 250) + stop("node-a1", 250)
    result = judge({"node-a1": lines}, power_off("node-a1", 100, 200))
    assert result.valid is False
    summaries = [finding["summary"] for finding in result.data["findings"]]
    assert any("pid 200" in summary for summary in summaries) and not any("pid 100" in s for s in summaries)


def test_the_sweep_after_a_failed_heal_is_explained() -> None:
    events = power_off("node-a1", 100, 0)[:1] + [
        {"process": "nemesis", "type": "info", "f": "heal-all", "value": {"powered_on": {"node-a1": 200}}}
    ]
    lines = start("node-a1", 100) + start("node-a1", 200) + stop("node-a1", 200)
    assert judge({"node-a1": lines}, events).valid is True


def test_a_pause_is_not_an_exit() -> None:
    events = [
        {"process": "nemesis", "type": "info", "f": "start-pause", "value": {"fault": 1, "pids": {"node-a1": 100}}},
        {"process": "nemesis", "type": "info", "f": "stop-pause", "value": {"fault": 1, "resumed": {"node-a1": 100}}},
    ]
    assert lifecycles(events) == {}
    lines = start("node-a1", 100) + start("node-a1", 200) + stop("node-a1", 200)
    assert judge({"node-a1": lines}, events).valid is False


def test_clock_skew_restarts_are_explained_by_their_stopped_pids() -> None:
    events = [
        {"process": "nemesis", "type": "info", "f": "start-clock-skew",
         "value": {"fault": 1, "pids": {"node-a1": 200}, "stopped_pids": {"node-a1": 100}}},
        {"process": "nemesis", "type": "info", "f": "stop-clock-skew",
         "value": {"fault": 1, "restarted": True, "pids": {"node-a1": 300}, "stopped_pids": {"node-a1": 200}}},
    ]
    lines = start("node-a1", 100) + stop("node-a1", 100)[:1] + start("node-a1", 200) + stop("node-a1", 200)[:1]
    lines += start("node-a1", 300) + stop("node-a1", 300)
    assert judge({"node-a1": lines}, events).valid is True


def test_container_pids_that_do_not_link_are_judged_by_counts() -> None:
    # Inside a container every incarnation is pid 1; the harness records the host's pids.
    lines = start("node-a1", 1) + start("node-a1", 1) + stop("node-a1", 1)
    assert judge({"node-a1": lines}, power_off("node-a1", 5000, 6000)).valid is True
    assert judge({"node-a1": lines + start("node-a1", 1) + stop("node-a1", 1)}, power_off("node-a1", 5000, 6000)).valid is False


def test_a_process_gone_before_the_cluster_stopped_fails() -> None:
    result = judge({"node-a1": start("node-a1", 100)}, [])
    assert result.valid is False and "before the cluster was stopped" in result.data["findings"][0]["summary"]


def test_shutdown_noise_after_a_requested_stop_passes() -> None:
    lines = start("node-a1", 100) + stop("node-a1", 100)[:1] + [
        record("node-a1", "ERROR", "asyncio", "Task was destroyed but it is pending!"),
        "task: <Task pending name='Task-5' coro=<_PeerOutbox._run() running at /x.py:80>>",
    ]
    assert judge({"node-a1": lines}, []).valid is True


def test_a_missing_log_is_unknown_not_valid() -> None:
    assert judge({"node-a1": None}, []).valid == "unknown"


def test_incarnations_split_at_each_start_line() -> None:
    runs = incarnations(start("node-a1", 100) + start("node-a1", 200))
    assert [run.pid for run in runs] == [100, 200]


def stopped_local_cluster(cluster_dir: Path) -> LocalCluster:
    """A cluster as `down` leaves it: a topology and every process's log, each started and stopped once."""
    cluster = LocalCluster(cluster_dir)
    cluster.data_dir.mkdir()
    build_topology(3, 1, 1).save(cluster.topology_path)
    logs = cluster.data_dir / "logs"
    logs.mkdir()
    for spec in cluster.topology().processes:
        (logs / f"{spec.process_id}.log").write_text("\n".join(start(spec.process_id, 7) + stop(spec.process_id, 7)) + "\n")
    return cluster


def test_the_result_reads_a_stopped_local_cluster_and_its_run_directory(tmp_path: Path) -> None:
    cluster = stopped_local_cluster(tmp_path / "cluster")
    logs = cluster.data_dir / "logs"
    ids = [spec.process_id for spec in cluster.topology().processes]
    (logs / "node-a1.log").write_text("\n".join(start("node-a1", 100) + start("node-a1", 200) + stop("node-a1", 200)))
    (tmp_path / "nemesis.jsonl").write_text("\n".join(json.dumps(event) for event in power_off("node-a1", 100, 200)))
    result = store_errors_result(find_store_logs(cluster, tmp_path), tmp_path / "nemesis.jsonl")
    assert result.valid is True, result.detail
    assert len(result.data["incarnations"]) == len(ids)
    (logs / "node-a1.log").write_text("\n".join(start("node-a1", 100) + TRACEBACK + start("node-a1", 200)))
    assert store_errors_result(find_store_logs(cluster, tmp_path), tmp_path / "nemesis.jsonl").valid is False
    (logs / "router-a.log").unlink()


def test_an_uncaught_exception_after_an_info_record_is_reported_as_uncaught() -> None:
    lines = start("node-a1", 100) + TRACEBACK
    result = judge({"node-a1": lines}, [])
    traceback = next(finding for finding in result.data["findings"] if finding["kind"] == "traceback")
    assert traceback["summary"] == "uncaught exception: KeyError: 'c7114e9c-p0'"
    assert traceback["lines"][0].startswith("Traceback")
    assert any("crashed" in finding["summary"] for finding in result.data["findings"])


ARCHIVE_GAP = (
    "scrub of 94757ee0-p1: reference replay failed: corrupt write-ahead log record in /d/0009.wal at byte "
    "offset 0: checksummed record breaks the log: batch starts at index 235, leaving a gap after last index 227"
)
POWER_LOSS = [{"process": "nemesis", "type": "info", "f": "start-cluster-power-off", "value": {"fault": 1}}]


def test_an_archive_gap_after_a_cluster_power_off_fails_the_verdict() -> None:
    """Once a known issue: a power loss right after a seal unsealed the segment (tests/scrub/
    test_wal_archive_power_loss.py). Fixed in the WAL, so a gap again means an archive that lost data."""
    lines = start("node-a2", 100) + [record("node-a2", "ERROR", "cluster.scrub.coordinator", ARCHIVE_GAP)]
    result = judge({"node-a2": lines + stop("node-a2", 100)}, POWER_LOSS)
    assert result.valid is False and result.data["known_issues"] == {}


def test_a_known_issue_is_set_apart_only_after_its_fault_kind() -> None:
    issue = KnownIssue("gap-after-power-loss", re.compile(r"leaving a gap after last index"),
                       frozenset({"cluster-power-off"}), "a defect a power loss explains")
    lines = start("node-a2", 100) + [record("node-a2", "ERROR", "cluster.scrub.coordinator", ARCHIVE_GAP)]
    lines += stop("node-a2", 100)
    assert judge({"node-a2": lines}, [], [issue]).valid is False
    result = judge({"node-a2": lines}, POWER_LOSS, [issue])
    assert result.valid is True
    assert result.data["known_issues"]["gap-after-power-loss"]["count"] == 1
    assert "known issue gap-after-power-loss: 1" in result.detail


def test_cancelled_connection_tasks_are_shutdown_noise_only_after_a_requested_stop() -> None:
    noise = [
        record("node-b1", "ERROR", "asyncio", "Exception in callback StreamReaderProtocol.connection_made.<locals>.callback"),
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3.11/asyncio/streams.py", line 249, in callback',
        "    exc = task.exception()",
        "asyncio.exceptions.CancelledError",
    ]
    stopped = start("node-b1", 100) + stop("node-b1", 100) + noise
    assert judge({"node-b1": stopped}, []).valid is True
    running = start("node-b1", 100) + noise + stop("node-b1", 100)
    assert judge({"node-b1": running}, []).valid is False


def test_a_metrics_port_taken_by_another_program_is_the_machine_not_the_store() -> None:
    taken = "cannot serve /metrics on 127.0.0.1:48777: [Errno 98] error while attempting to bind: address already in use"
    lines = start("meta-a", 100) + [record("meta-a", "ERROR", "cluster.runtime.process_metrics", taken)]
    result = judge({"meta-a": lines + stop("meta-a", 100)}, [])
    assert result.valid is True and result.data["known_issues"]["metrics-port-taken"]["count"] == 1


def test_a_fault_that_kills_while_it_lasts_says_so_with_killed_and_started_pids() -> None:
    events = [
        {"process": "nemesis", "type": "info", "f": "start-leader-churn", "value": {"fault": 1}},
        {"process": "nemesis", "type": "info", "f": "churn-kill",
         "value": {"fault": 1, "killed_pids": {"node-a1": 100}, "started_pids": {"node-a1": 200}}},
        {"process": "nemesis", "type": "info", "f": "stop-leader-churn", "value": {"fault": 1}},
    ]
    lines = start("node-a1", 100) + start("node-a1", 200) + stop("node-a1", 200)
    assert judge({"node-a1": lines}, events).valid is True
    assert judge({"node-a1": lines}, events[:1] + events[2:]).valid is False
    churn = [  # leader-churn's own events (chaos/faults/leader_churn.py)
        {"process": "nemesis", "type": "info", "f": "churn-kill", "value": {"process_ids": ["node-a1"], "pids": {"node-a1": 100}}},
        {"process": "nemesis", "type": "info", "f": "churn-power-on", "value": {"process_ids": ["node-a1"], "pids": {"node-a1": 200}}},
    ]
    assert judge({"node-a1": lines}, churn).valid is True


def test_a_leader_churn_that_ends_with_its_victim_down_explains_the_start_its_heal_made() -> None:
    # Seen in a torture run: the churn's last kill, then its heal started the victim again.
    events = [
        {"process": "nemesis", "type": "info", "f": "churn-kill", "value": {"process_ids": ["node-b1"], "pids": {"node-b1": 100}}},
        {"process": "nemesis", "type": "info", "f": "stop-leader-churn",
         "value": {"fault": 1, "process_ids": ["node-a1", "node-b1"], "started_pids": {"node-b1": 200}}},
    ]
    lines = start("node-b1", 100) + start("node-b1", 200) + stop("node-b1", 200)
    assert judge({"node-b1": lines}, events).valid is True
    without = [events[0], {**events[1], "value": {"fault": 1, "process_ids": ["node-a1", "node-b1"]}}]
    assert judge({"node-b1": lines}, without).valid is False
