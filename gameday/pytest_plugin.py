"""pytest fixtures for writing your own game-day tests (loaded automatically once installed).

    def test_writes_survive_a_leader_kill(gameday_cluster, gameday_dynamodb, gameday_history, gameday_chaos):
        ...

Every fixture cleans up even when the test fails: faults are healed, the cluster is stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def gameday_cluster(tmp_path: Path) -> Iterator[Any]:
    """A running local cluster (3 AZs x 2 nodes, one router per AZ), stopped after the test."""
    from cluster.deploy.local_processes import LocalCluster

    cluster = LocalCluster(tmp_path / "gameday-cluster")
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def gameday_dynamodb(gameday_cluster: Any) -> Callable[..., Any]:
    """Makes boto3 DynamoDB clients for a router: `gameday_dynamodb("az-b")`. Retries are off, so
    what the test sees is what the store answered."""
    from loadgen.dynamodb_client import ClientSettings, make_client

    def make(az: str = "az-a", timeout_s: float = 5.0) -> Any:
        endpoint = gameday_cluster.endpoints()[az]
        return make_client(ClientSettings(endpoint, connect_timeout_s=2.0, read_timeout_s=timeout_s))

    return make


@pytest.fixture
def gameday_history(tmp_path: Path) -> Iterator[Any]:
    """A history recorder (DESIGN §4): `.invoke(process, f, key, value)` then `.complete(...)`;
    `gameday_history.path` is the file to give `check_history_file` or `gameday check`."""
    from verify.history import HistoryWriter

    path = tmp_path / "history.jsonl"
    writer = HistoryWriter(path)
    writer.path = path  # type: ignore[attr-defined]
    try:
        yield writer
    finally:
        writer.close()


@pytest.fixture
def gameday_chaos(gameday_cluster: Any, gameday_history: Any) -> Iterator[Any]:
    """A chaos controller on the cluster that records faults into the history and heals them all
    at the end of the test. Apply a fault with `gameday_chaos.run(plan, stop_event, start_time)`
    or one injector at a time through `gameday_chaos.registry.create(kind, target)`."""
    from chaos.controller import ChaosController

    controller = ChaosController(gameday_cluster, gameday_history.write)
    with controller:
        yield controller
