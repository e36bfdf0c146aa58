"""Fixtures that run a real local cluster (one OS process per node) and always stop it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from cluster.deploy.local_processes import LocalCluster


def make_client(endpoint: str, timeout_s: float = 10.0):  # noqa: ANN201 - boto3 clients are untyped
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # The tests judge what the store answered, so botocore must not retry behind their back.
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=timeout_s, connect_timeout=2),
    )


def create_table(client, name: str, range_key: bool = False) -> None:  # noqa: ANN001
    key_schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        key_schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        definitions.append({"AttributeName": "sk", "AttributeType": "N"})
    client.create_table(
        TableName=name, KeySchema=key_schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up(wait_s=60)
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
