"""Fixtures that run a real local cluster (one OS process per node) and always stop it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.deploy.local_processes import LocalCluster
from cluster.replication.group_runner import GroupRunner
from cluster.replication.replica_host import ReplicaHost
from cluster.replication.wal_only_state_machine import WalOnlyStateMachine
from loadgen.dynamodb_client import ClientSettings
from loadgen.dynamodb_client import make_client as dynamodb_client


def make_client(endpoint: str, timeout_s: float = 10.0):  # noqa: ANN201 - boto3 clients are untyped
    # The tests judge what the store answered, so botocore must not retry behind their back.
    return dynamodb_client(ClientSettings(endpoint, connect_timeout_s=2.0, read_timeout_s=timeout_s))


def one_voter_group(host: ReplicaHost, directory: Path) -> GroupRunner:
    """A one-replica group on `host` (in process, WAL without fsync), added to the host: what tests of the
    runtime's group loop drive without a cluster."""
    group = GroupRunner(
        "c7114e9c-p0", host.process_id, [host.process_id], directory, WalOnlyStateMachine(), host.send,
        host.raft_config, random.Random(1), on_dirty=host.mark_dirty, wal_sync=False,
    )
    host.add_group(group)
    return group


async def tick_until_leader(group: GroupRunner) -> None:
    """Ticks a one-voter group until it has elected itself (it needs no peer, only its election timeout)."""
    for _ in range(200):
        if group.is_leader:
            return
        group.tick()
        await asyncio.sleep(0)
    assert group.is_leader


def create_table(client, name: str, range_key: bool = False) -> None:  # noqa: ANN001
    create_tables(client, [name], range_key)


def create_tables(client, names: list[str], range_key: bool = False) -> None:  # noqa: ANN001
    """Creates every table, then waits for each: the store makes them ACTIVE in parallel (about 1 s each)."""
    key_schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        key_schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        definitions.append({"AttributeName": "sk", "AttributeType": "N"})
    for name in names:
        client.create_table(
            TableName=name, KeySchema=key_schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
        )
    for name in names:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})


@pytest.fixture
def fresh_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A new cluster for one test; parametrize it indirectly with a dict of store settings to switch some."""
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up(wait_s=60, settings=getattr(request, "param", None))
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("shared") / "cluster")
    try:
        cluster.up(wait_s=60)
        yield cluster
    finally:
        cluster.down()


# One cluster for the data-plane modules (boto3's and PynamoDB's): starting one costs seconds of the suite's budget.
# Package scope would keep it idling through the later modules' timing-sensitive tests, so it stops after the last
# test that uses it (pytest_runtest_teardown below); its package-scope teardown then finds nothing left to stop.
DATA_PLANE_CLUSTER = "data_plane_cluster"
_data_plane_cluster_key = pytest.StashKey[LocalCluster]()
_last_data_plane_test_key = pytest.StashKey[str]()


@pytest.fixture(scope="package")
def data_plane_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("data_plane") / "cluster")
    request.config.stash[_data_plane_cluster_key] = cluster
    try:
        cluster.up(wait_s=60)
        yield cluster
    finally:
        cluster.down()


def pytest_collection_finish(session: pytest.Session) -> None:
    users = [item.nodeid for item in session.items if DATA_PLANE_CLUSTER in getattr(item, "fixturenames", ())]
    if users:
        session.config.stash[_last_data_plane_test_key] = users[-1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield
    if item.nodeid == item.config.stash.get(_last_data_plane_test_key, None):
        cluster = item.config.stash.get(_data_plane_cluster_key, None)
        if cluster is not None:
            cluster.down()
