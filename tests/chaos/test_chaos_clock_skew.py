"""clock-skew: a node restarted with GAMEDAY_CLOCK_RATE runs its Raft ticks that much faster.

The pure tests check the rate's parsing, the host's tick period and the injector's restarts against a
fake backend; the cluster test (marked) measures a skewed node's tick counter against another's.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaos.faults.clock_skew import ClockSkew
from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.leaders import LeaderView
from chaos.faults.registry import default_registry
from cluster.deploy.local_processes import LocalCluster
from cluster.replication.replica_host import (
    CLOCK_RATE_ENVIRONMENT_VARIABLE,
    ClockRateError,
    ReplicaHost,
    parse_clock_rate,
)
from cluster.runtime.rpc import RpcClient
from cluster.runtime.topology import ProcessSpec, TimingConfig, Topology


@pytest.mark.parametrize(("text", "rate"), [(None, 1.0), ("", 1.0), ("  ", 1.0), ("2.5", 2.5), ("0.1", 0.1),
                                            ("10", 10.0), (" 3 ", 3.0), ("1e0", 1.0)])
def test_clock_rate_parses_numbers_within_bounds(text: str | None, rate: float) -> None:
    assert parse_clock_rate(text) == rate


@pytest.mark.parametrize("text", ["0.09", "10.5", "0", "-2", "nan", "inf", "fast", "1,5"])
def test_clock_rate_refuses_what_no_clock_drifts_by(text: str) -> None:
    with pytest.raises(ClockRateError, match=CLOCK_RATE_ENVIRONMENT_VARIABLE):
        parse_clock_rate(text)


def _host(tick_ms: int = 50) -> ReplicaHost:
    topology = Topology([ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", 1)], timing=TimingConfig(tick_ms=tick_ms))
    return ReplicaHost("node-a1", topology)


def test_the_host_divides_its_tick_period_by_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLOCK_RATE_ENVIRONMENT_VARIABLE, raising=False)
    assert _host(40).tick_s == pytest.approx(0.040)
    monkeypatch.setenv(CLOCK_RATE_ENVIRONMENT_VARIABLE, "4")
    assert _host(40).tick_s == pytest.approx(0.010)
    monkeypatch.setenv(CLOCK_RATE_ENVIRONMENT_VARIABLE, "0.5")
    assert _host(40).tick_s == pytest.approx(0.080)
    monkeypatch.setenv(CLOCK_RATE_ENVIRONMENT_VARIABLE, "100")
    with pytest.raises(ClockRateError):
        _host(40)


class _FakeCluster:
    """Records the restarts ClockSkew asks for; a SIGTERM stops the process at once."""

    def __init__(self) -> None:
        self.pid = 10
        self.running = True
        self.signals: list[tuple[int, int]] = []
        self.environments: list[dict[str, str] | None] = []

    def pids(self) -> dict[str, int]:
        return {"node-b1": self.pid}

    def is_running(self, process_id: str) -> bool:
        return self.running

    def signal_process(self, process_id: str, signal_number: int) -> None:
        self.signals.append((self.pid, signal_number))
        self.running = False

    def start_process(self, process_id: str, environment: dict[str, str] | None = None) -> int:
        self.pid += 1
        self.running = True
        self.environments.append(environment)
        return self.pid


def _context(cluster: Any) -> FaultContext:
    return FaultContext(cluster, leaders=lambda: LeaderView({}, {}), sleep=lambda seconds: None)


def test_clock_skew_restarts_with_the_rate_and_heal_restarts_without_it_once() -> None:
    cluster = _FakeCluster()
    fault = default_registry().create("clock-skew", {"process_id": "node-b1", "az": "az-b", "rate": 2.0})
    started = fault.start(_context(cluster))
    assert started == {"process_ids": ["node-b1"], "az": "az-b", "rate": 2.0,
                       "pids": {"node-b1": 11}, "stopped_pids": {"node-b1": 10}}
    assert cluster.signals == [(10, signal.SIGTERM)] and cluster.environments == [{CLOCK_RATE_ENVIRONMENT_VARIABLE: "2.0"}]
    healed = fault.heal(_context(cluster))
    assert healed["restarted"] is True and healed["pids"] == {"node-b1": 12} and healed["stopped_pids"] == {"node-b1": 11}
    assert cluster.environments[-1] is None and cluster.signals[-1] == (11, signal.SIGTERM)
    assert fault.heal(_context(cluster))["healed"] is False and len(cluster.environments) == 2


def test_clock_skew_heal_leaves_a_process_someone_else_restarted_alone() -> None:
    cluster = _FakeCluster()
    fault = ClockSkew({"process_id": "node-b1", "az": "az-b"})
    assert fault.start(_context(cluster))["rate"] == 1.5
    cluster.pid += 1  # a power-off and power-on since: the running process is no longer the skewed one
    healed = fault.heal(_context(cluster))
    assert healed["restarted"] is False and len(cluster.environments) == 1


def test_clock_skew_refuses_a_bad_rate_before_touching_anything_and_a_backend_without_environments() -> None:
    with pytest.raises(ClockRateError):
        ClockSkew({"process_id": "node-b1", "az": "az-b", "rate": 50})

    class NoEnvironment(_FakeCluster):
        def start_process(self, process_id: str) -> int:  # type: ignore[override]
            return super().start_process(process_id)

    cluster = NoEnvironment()
    with pytest.raises(FaultNotApplicable, match="skewed clock"):
        ClockSkew({"process_id": "node-b1", "az": "az-b"}).start(_context(cluster))
    assert cluster.signals == [] and cluster.running


# ---- against a live cluster ---------------------------------------------------------------------


def _wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


def _ticks(cluster: LocalCluster, process_ids: list[str]) -> dict[str, int]:
    async def ask() -> dict[str, int]:
        ticks = {}
        for process_id in process_ids:
            spec = cluster.topology().get(process_id)
            rpc = RpcClient((spec.host, spec.port))
            try:
                ticks[process_id] = (await rpc.call("status", {}, timeout_s=3))["ticks"]
            finally:
                await rpc.close()
        return ticks

    return asyncio.run(ask())


def _tick_ratio(cluster: LocalCluster, skewed: str, reference: str, window_s: float = 3.0) -> float:
    before = _ticks(cluster, [skewed, reference])
    time.sleep(window_s)
    after = _ticks(cluster, [skewed, reference])
    return (after[skewed] - before[skewed]) / (after[reference] - before[reference])


def _retrying_5xx(call: Callable[[], Any], attempts: int = 20) -> Any:
    """A leader change (the restarted node takes its groups back) answers 5xx for a moment: retry those only."""
    from botocore.exceptions import ClientError

    for attempt in range(attempts):
        try:
            return call()
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] < 500 or attempt == attempts - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _answers(cluster: LocalCluster, process_id: str) -> bool:
    try:
        _ticks(cluster, [process_id])
    except Exception:
        return False
    return True


@pytest.mark.cluster
def test_a_skewed_node_ticks_faster_and_the_cluster_stays_correct(tmp_path: Path) -> None:
    from tests.cluster.conftest import create_table, make_client

    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up(wait_s=60)
        client = make_client(next(iter(cluster.endpoints().values())))
        create_table(client, "skew")
        fault = ClockSkew({"process_id": "node-a1", "az": "az-a", "rate": 3.0})
        context = FaultContext(cluster, leaders=lambda: LeaderView({}, {}))
        started = fault.start(context)
        try:
            assert started["rate"] == 3.0 and started["pids"] == {"node-a1": cluster.pids()["node-a1"]}
            skewed_entry = next(p for p in cluster.status()["processes"] if p["id"] == "node-a1")
            assert skewed_entry["environment"] == {CLOCK_RATE_ENVIRONMENT_VARIABLE: "3.0"}
            _wait_until(lambda: _answers(cluster, "node-a1"), 30, "the skewed node-a1 to answer")
            assert 2.2 <= _tick_ratio(cluster, "node-a1", "node-b1") <= 3.8
            for number in range(10):
                item = {"pk": {"S": f"k{number}"}, "v": {"N": str(number)}}
                _retrying_5xx(lambda item=item: client.put_item(TableName="skew", Item=item))
                read = _retrying_5xx(
                    lambda item=item: client.get_item(TableName="skew", Key={"pk": item["pk"]}, ConsistentRead=True)
                )
                assert read["Item"] == item
        finally:
            healed = fault.heal(context)
        assert healed["restarted"] is True and healed["rate"] == 1.0
        assert "environment" not in next(p for p in cluster.status()["processes"] if p["id"] == "node-a1")
        _wait_until(lambda: _answers(cluster, "node-a1"), 30, "node-a1 to answer without skew")
        assert 0.75 <= _tick_ratio(cluster, "node-a1", "node-b1") <= 1.3
        cluster.wait_until_serving(30)
        for number in range(10):
            key = {"pk": {"S": f"k{number}"}}
            read = _retrying_5xx(lambda key=key: client.get_item(TableName="skew", Key=key, ConsistentRead=True))
            assert read["Item"]["v"] == {"N": str(number)}
    finally:
        cluster.down()
        shutil.rmtree(tmp_path / "cluster", ignore_errors=True)
