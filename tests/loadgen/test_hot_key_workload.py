"""The hot-key workload: key choice against the catalogue's real partitions, roles, back-off, phase events,
and a real Locust run (cold and hot loads as separate processes) against moto_server."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cluster.api.attribute_values import KeySchema, partition_hash
from cluster.metadata.catalogue import NodePlacement, place_partitions
from loadgen.history_merge import merge_histories
from loadgen.hot_key_session import AFTER, BEFORE, HOT, HotKeyLoad
from loadgen.hot_key_workload import (
    BACKOFF_CAP_S,
    Backoff,
    ColdWorkload,
    HotKeySettings,
    cold_keys,
    hot_keys,
    initial_partition,
    is_hot_user,
    locust_arguments,
)
from loadgen.operations import PlannedOperation, UniqueValues
from loadgen.recording import run_recorded
from loadgen.register_workload import RegisterWeights
from loadgen.run import run_load, start_load
from tests.loadgen.conftest import gameday_check
from verify.history import HistoryWriter, read_history
from verify.operations import pair_operations

NODES = [NodePlacement(f"node-{az}{number}", az) for az in "abc" for number in (1, 2)]


def _catalogue_partition(key: str, partitions: int) -> int:
    """The partition the metadata catalogue itself would route `key` to, for a fresh table."""
    placed = place_partitions("0123456789abcdef", partitions, NODES, [])
    key_hash = partition_hash({"pk": {"S": key}}, KeySchema("pk", "S"))
    (index,) = [info.index for info in placed if info.hash_start <= key_hash < info.hash_end]
    return index


@pytest.mark.parametrize("partitions", [2, 4, 7])
def test_hot_keys_share_the_first_partition_and_cold_keys_avoid_it(partitions: int) -> None:
    hot = hot_keys(4, partitions)
    cold = cold_keys(20, partitions)
    assert len(set(hot)) == 4 and len(set(cold)) == 20 and not set(hot) & set(cold)
    assert {_catalogue_partition(key, partitions) for key in hot} == {0}
    assert 0 not in {_catalogue_partition(key, partitions) for key in cold}
    assert len({_catalogue_partition(key, partitions) for key in cold}) == partitions - 1  # spread over the others
    assert all(initial_partition(key, partitions) == _catalogue_partition(key, partitions) for key in hot + cold)


def test_one_partition_tables_have_every_key_in_it() -> None:
    assert cold_keys(3, 1) == ["r0", "r1", "r2"]
    assert {initial_partition(key, 1) for key in hot_keys(2, 1)} == {0}


def test_hot_users_are_spread_evenly_and_counted_exactly() -> None:
    assert sum(is_hot_user(number, 6, 32) for number in range(38)) == 32
    assert sum(is_hot_user(number, 6, 2) for number in range(8)) == 2
    assert not any(is_hot_user(number, 6, 0) for number in range(10))
    assert all(is_hot_user(number, 0, 5) for number in range(5))
    assert not is_hot_user(0, 0, 0)
    first_half = sum(is_hot_user(number, 10, 10) for number in range(10))
    assert first_half == 5  # a worker running half of the users gets half of the hot ones


def test_backoff_grows_to_its_cap_with_full_jitter_and_resets_on_success() -> None:
    backoff = Backoff(random.Random(3), base_s=0.025, cap_s=BACKOFF_CAP_S)
    waits = [backoff.after_throttle() for _ in range(40)]
    ceilings = [min(BACKOFF_CAP_S, 0.025 * 2**attempt) for attempt in range(40)]
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert max(waits[10:]) > 0.5  # it does reach up to the cap
    backoff.after_success()
    assert backoff.attempts == 0 and backoff.after_throttle() <= 0.025


def test_cold_workload_plans_only_its_keys() -> None:
    keys = cold_keys(5, 4)
    workload = ColdWorkload(keys, RegisterWeights(1, 1, 1), UniqueValues(0), random.Random(1))
    planned = [workload.plan() for _ in range(200)]
    assert {operation.key for operation in planned} == set(keys)


def test_locust_arguments_split_the_roles() -> None:
    settings = HotKeySettings(hot_keys=3, hot_clients=16, hot_start_s=20, hot_duration_s=30)
    cold = locust_arguments(settings, 6, 4, "cold")
    hot = locust_arguments(settings, 6, 4, "hot")
    assert cold[cold.index("--hot-clients") + 1] == "0" and cold[cold.index("--cold-clients") + 1] == "6"
    assert hot[hot.index("--cold-clients") + 1] == "0" and hot[hot.index("--hot-clients") + 1] == "16"
    assert cold[cold.index("--process-block") + 1] != hot[hot.index("--process-block") + 1]
    with pytest.raises(ValueError, match="role"):
        locust_arguments(settings, 6, 4, "lukewarm")


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_hot_phase_marks_its_start_and_end_once_in_a_readable_history(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as history:
        load = HotKeyLoad(
            HotKeySettings(2, 1, hot_start_s=5, hot_duration_s=10), 1, 4, 3, RegisterWeights(), UniqueValues(0),
            random.Random(0), history, clock=clock, wall_clock=lambda: clock.now_s + 1e9,
        )  # fmt: skip
        assert load.phase() == BEFORE and load.seconds_until_start() == 5.0
        history.invoke(1, "read", "r1")
        clock.now_s = 106.0
        assert load.phase() == HOT and load.phase() == HOT
        history.complete(1, "ok", "read", "r1", None)
        clock.now_s = 116.0
        assert load.phase() == AFTER
        load.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    marks = [line for line in lines if line["process"] == "workload"]
    assert [mark["f"] for mark in marks] == ["hot-phase-start", "hot-phase-end"]
    assert marks[0]["value"]["wall_s"] == pytest.approx(106.0 + 1e9) and marks[0]["value"]["hot_keys"] == load.hot_key_names
    events = list(read_history(path))  # the reader accepts workload events in the middle of an operation
    assert [operation.function for operation in pair_operations(events)] == ["read"]


def test_a_load_stopped_in_the_hot_phase_closes_it_as_cut_short(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as history:
        load = HotKeyLoad(HotKeySettings(2, 1, 1, 10), 1, 4, 3, RegisterWeights(), UniqueValues(0), random.Random(0),
                          history, clock=clock)  # fmt: skip
        clock.now_s += 2
        load.phase()
        load.close()
        load.close()
    marks = [json.loads(line) for line in path.read_text().splitlines()]
    assert [mark["f"] for mark in marks] == ["hot-phase-start", "hot-phase-end"]
    assert marks[1]["value"]["cut_short"] is True


def _throttle() -> Any:
    raise ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Throughput exceeds the current capacity"},
         "ResponseMetadata": {"HTTPStatusCode": 400}},
        "PutItem",
    )  # fmt: skip


def test_a_throttled_write_is_a_fail_that_names_its_error(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as history:
        completed = run_recorded(history, 7, PlannedOperation("write", "hot-0", 5), _throttle, record_error=True)
        run_recorded(history, 7, PlannedOperation("read", "hot-0", None), lambda: 5, record_error=True)
    assert completed.outcome == "fail" and completed.failure is not None
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1]["type"] == "fail" and lines[1]["error"] == "ProvisionedThroughputExceededException"
    assert lines[3] == {**lines[3], "type": "ok", "value": 5} and "error" not in lines[3]
    assert [operation.outcome for operation in pair_operations(read_history(path))] == ["fail", "ok"]


@pytest.mark.parametrize("separate_processes", [False, True])
def test_locust_hot_key_run_against_moto_is_a_valid_register_history(
    separate_processes: bool,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = HotKeySettings(hot_keys=3, hot_clients=3, hot_start_s=1.5, hot_duration_s=2.5)
    common: dict[str, Any] = {"table": "hot-key-test", "keys": 4, "seed": 5, "wait_ms": 50}
    if separate_processes:  # as the game day runs it: cold users and hot users in their own Locust processes
        cold_run = start_load(moto_endpoint, "hot-key", 2, 6, tmp_path / "cold",
                              workload_arguments=locust_arguments(settings, 2, 4, "cold"), **common)  # fmt: skip
        hot_run = start_load(moto_endpoint, "hot-key", 3, 6, tmp_path / "hot", workers=2,
                             workload_arguments=locust_arguments(settings, 2, 4, "hot"), **common)  # fmt: skip
        histories = [cold_run.wait().history_path, hot_run.wait().history_path]
    else:
        result = run_load(moto_endpoint, "hot-key", 5, 6, tmp_path / "both",
                          workload_arguments=locust_arguments(settings, 2, 4, "both"), **common)  # fmt: skip
        histories = [result.history_path]
    merged = tmp_path / "history.jsonl"
    merge_histories(histories, merged)
    events = list(read_history(merged))
    marks = [event for event in events if event.process == "workload"]
    assert {mark.function for mark in marks} == {"hot-phase-start", "hot-phase-end"}
    start_ns = min(mark.time_ns for mark in marks if mark.function == "hot-phase-start")
    end_ns = max(mark.time_ns for mark in marks if mark.function == "hot-phase-end")
    operations = list(pair_operations(events))
    hot = [operation for operation in operations if str(operation.key).startswith("hot-")]
    cold = [operation for operation in operations if not str(operation.key).startswith("hot-")]
    assert {operation.key for operation in hot} == set(hot_keys(3, 4))
    assert {operation.key for operation in cold} <= set(cold_keys(4, 4)) and cold
    assert all(start_ns <= operation.invoke_time_ns <= end_ns for operation in hot)  # hot users idle outside it
    assert {operation.function for operation in hot if operation.outcome == "ok"} == {"read", "write", "cas"}
    code, verdict = gameday_check(merged, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True, verdict
