"""Locust for real against moto_server: the locustfile alone, and master/worker runs through loadgen.run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadgen.run import LOCUSTFILE, run_load, start_load
from tests.loadgen.conftest import gameday_check
from verify.history import read_history

LOCUST_TIMEOUT_S = 60


def run_locustfile(endpoint: str, tmp_path: Path, *options: str) -> Path:
    history = tmp_path / "history.jsonl"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4",
        "-t", "3s", "--host", endpoint, "--history", str(history), "--csv", str(tmp_path / "stats"),
        "--stop-timeout", "4", "--only-summary", *options,
    ]  # fmt: skip
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LOADGEN_")}
    # Run from elsewhere: the locustfile must find its package on its own.
    completed = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=LOCUST_TIMEOUT_S
    )
    assert completed.returncode in (0, 1), completed.stderr[-3000:]  # 1: Locust saw failed requests
    return history


def test_loadgen_locustfile_register_history_is_valid(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = run_locustfile(moto_endpoint, tmp_path, "--workload", "register", "--keys", "3", "--table", "reg")
    events = list(read_history(history))
    functions_ok = {event.function for event in events if event.type == "ok"}
    assert functions_ok == {"read", "write", "cas"}  # cas ok proves `expected` came from a value seen
    assert sum(event.type == "invoke" for event in events) == sum(event.type != "invoke" for event in events)
    code, verdict = gameday_check(history, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True and verdict["key_count"] == 3
    with open(tmp_path / "stats_stats.csv", newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    invokes_by_function = {f: sum(e.type == "invoke" and e.function == f for e in events) for f in ("read", "write")}
    for function in ("read", "write"):  # Locust's own statistics count the same operations
        assert 0 < int(rows[function]["Request Count"]) <= invokes_by_function[function]


def test_loadgen_locustfile_set_history_has_final_read(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = run_locustfile(moto_endpoint, tmp_path, "--workload", "set", "--table", "set")
    events = list(read_history(history))
    final_reads = [event for event in events if event.function == "read-set" and event.type == "ok"]
    assert len(final_reads) == 1
    ok_adds = {event.value for event in events if event.function == "add" and event.type == "ok"}
    assert ok_adds and ok_adds <= set(final_reads[0].value)
    code, verdict = gameday_check(history, "set", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True
    assert verdict["keys"]["set"]["ok_add_count"] == len(ok_adds)


@pytest.mark.parametrize("workload", ["register", "set"])
def test_loadgen_workers_shards_merge_into_one_valid_history(
    workload: str,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_load(
        moto_endpoint, workload, users=4, duration_s=3, out_dir=tmp_path / "run", workers=2, table=workload, keys=3
    )
    worker_shards = [path for path in result.shard_paths if ".worker" in path.name]
    assert len(worker_shards) == 2
    processes_by_shard = [{event.process for event in read_history(path)} for path in worker_shards]
    assert all(processes_by_shard) and not processes_by_shard[0] & processes_by_shard[1]
    shard_event_count = sum(1 for path in result.shard_paths for _ in read_history(path))
    merged = list(read_history(result.history_path))
    assert len(merged) == shard_event_count
    assert [event.index for event in merged] == list(range(len(merged)))
    assert result.counts[("add" if workload == "set" else "write")]["ok"] > 0
    if workload == "set":
        assert result.counts["read-set"]["ok"] == 1
    assert any(path.name == "locust_stats.csv" for path in result.stats_paths)
    code, verdict = gameday_check(result.history_path, workload, monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True


def test_loadgen_stop_leaves_no_locust_process(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_load(moto_endpoint, "register", 4, None, tmp_path / "run", workers=1, table="stop", keys=2)
    try:
        shard = tmp_path / "run" / "shards" / "history.worker0.jsonl"
        recorded_events = 0
        for _ in range(200):  # until load flows (worker connected, users spawned)
            recorded_events = len(shard.read_text().splitlines()) if shard.exists() else 0
            if recorded_events > 50:
                break
            time.sleep(0.1)
        assert recorded_events > 50
        run.stop()
        result = run.wait(timeout_s=30)
    finally:
        run.stop()
        run.wait(timeout_s=30)
    for pid in run.pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert result.exit_codes == {"master": 0, "worker0": 0}
    code, verdict = gameday_check(result.history_path, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True


def test_loadgen_locustfile_counters_are_incremented_read_back_and_judged(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = run_locustfile(
        moto_endpoint, tmp_path, "--workload", "register", "--keys", "2", "--table", "counters", "--incr-weight", "3",
        "-t", "6s",  # table set-up eats into the run time on a busy machine
    )
    events = list(read_history(history))
    counts = [event.value for event in events if event.function == "incr" and event.type == "ok"]
    counter_reads = [e for e in events if e.function == "read" and e.type == "ok" and str(e.key).startswith("c")]
    assert counts and counter_reads and all(isinstance(count, int) and count >= 1 for count in counts)
    code, verdict = gameday_check(history, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True
    counter_keys = {name for name, entry in verdict["keys"].items() if entry.get("model") == "counter"}
    assert counter_keys == {"c0", "c1"}
    # Every acknowledged increment is counted: the highest count is at least their number.
    assert sum(verdict["keys"][key]["final_value"] for key in counter_keys) >= len(counts)
