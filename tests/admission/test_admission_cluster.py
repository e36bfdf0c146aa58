"""Admission control in a real 3-AZ cluster of OS processes, driven by unmodified boto3: table-level
throttles for a provisioned table, partition-level throttles for a hot partition, the off switch, and
throttled writes that changed nothing."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cluster.admission.router_gate import PARTITION_THROTTLE_MESSAGE, TABLE_THROTTLE_MESSAGE
from cluster.admission.settings import AdmissionSettings
from cluster.deploy.local_processes import LocalCluster, build_topology
from cluster.replication.remote_errors import NOT_LEADER
from cluster.runtime.rpc import RpcError
from tests.cluster.cluster_rpc import rpc
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster

PTEE = "ProvisionedThroughputExceededException"
# Small enough that a single sequential client exceeds it on this machine (hundreds of writes/s).
SMALL_LIMITS = AdmissionSettings(partition_max_wcu=20.0, partition_max_rcu=40.0, burst_s=1.0)


def start_cluster(data_dir: Path, admission: AdmissionSettings) -> LocalCluster:
    """A cluster whose topology carries `admission` (written before `up`, which keeps a saved topology)."""
    data_dir.mkdir(parents=True)
    topology = build_topology(3, 2, 4)
    topology.admission = admission
    topology.save(data_dir / "topology.json")
    cluster = LocalCluster(data_dir)
    try:
        cluster.up(wait_s=60)
    except BaseException:
        cluster.down()
        raise
    return cluster


@pytest.fixture(scope="module")
def limited_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("admission") / "cluster", SMALL_LIMITS)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def unlimited_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    off = AdmissionSettings(**{**SMALL_LIMITS.to_json(), "enabled": False})
    cluster = start_cluster(tmp_path_factory.mktemp("admission-off") / "cluster", off)
    try:
        yield cluster
    finally:
        cluster.down()


def create_provisioned_table(client, name: str, read_units: int, write_units: int) -> None:  # noqa: ANN001
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": read_units, "WriteCapacityUnits": write_units},
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})


def put_all(client, table: str, keys_and_values: list[tuple[str, int]]) -> dict[str, str]:  # noqa: ANN001
    """Puts each item once, as fast as one client can; key -> "ok" or the throttle message."""
    outcomes = {}
    for key, value in keys_and_values:
        try:
            client.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"N": str(value)}})
            outcomes[key] = "ok"
        except ClientError as error:
            assert error.response["Error"]["Code"] == PTEE, error.response
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            outcomes[key] = error.response["Error"]["Message"]
    return outcomes


def read_value(client, table: str, key: str) -> int | None:  # noqa: ANN001
    for _ in range(50):  # reads may be throttled too: a patient reader
        try:
            item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
            return None if item is None else int(item["v"]["N"])
        except ClientError as error:
            assert error.response["Error"]["Code"] == PTEE
            time.sleep(0.2)
    raise AssertionError(f"could not read {key} back")


def admin_admission(endpoint: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}/admin/admission", timeout=5) as response:
        return json.loads(response.read())


def node_statuses(cluster: LocalCluster) -> list[dict]:
    return [rpc(cluster, spec.process_id, "status", {}) for spec in cluster.topology().by_role("node")]


def test_a_provisioned_table_is_throttled_at_table_level_while_another_table_is_not(
    limited_cluster: LocalCluster,
) -> None:
    endpoint = limited_cluster.endpoints()["az-a"]
    client = make_client(endpoint)
    create_provisioned_table(client, "small", read_units=50, write_units=5)
    create_table(client, "roomy")
    outcomes = put_all(client, "small", [(f"s{i}", i) for i in range(120)])
    throttled = [key for key, outcome in outcomes.items() if outcome != "ok"]
    assert throttled, "120 writes as fast as one client goes against 5 WCU: some must be throttled"
    assert len(throttled) > 60
    assert any(outcome.startswith("The level of configured provisioned throughput for the table was exceeded")
               for outcome in outcomes.values())
    assert {outcome for outcome in outcomes.values() if outcome != "ok"} <= {TABLE_THROTTLE_MESSAGE}
    other = put_all(client, "roomy", [(f"r{i}", i) for i in range(10)])
    assert set(other.values()) == {"ok"}, "the other table has its own buckets"
    for key, outcome in outcomes.items():  # a throttled write changed nothing, an admitted one did
        expected = int(key[1:]) if outcome == "ok" else None
        assert read_value(client, "small", key) == expected, (key, outcome)
    snapshot = admin_admission(endpoint)
    assert snapshot["router"] == "router-a" and snapshot["enabled"] is True
    assert snapshot["throttled"]["table"] >= len(throttled)
    assert snapshot["tables"]["small"]["billing_mode"] == "PROVISIONED"
    assert snapshot["tables"]["small"]["write_rate"] == 5.0
    assert set(snapshot["gac"]) == {"acquires", "failures", "tokens_granted"}
    assert snapshot["gac"]["acquires"] > 0 and snapshot["gac"]["tokens_granted"] > 0, "GAC refilled the router"


def test_gac_is_served_by_the_metadata_leader_only(limited_cluster: LocalCluster) -> None:
    client = make_client(limited_cluster.endpoints()["az-c"])
    create_provisioned_table(client, "gac-only", read_units=10, write_units=10)
    ask = {"router": "router-c", "tables": [{"table": "gac-only", "want_read": 4, "want_write": 100},
                                            {"table": "no-such-table", "want_read": 1, "want_write": 1}]}
    answers, refusals = [], []
    for spec in limited_cluster.topology().by_role("metadata"):
        try:
            answers.append(rpc(limited_cluster, spec.process_id, "gac.acquire", ask))
        except RpcError as error:
            refusals.append(error)
    assert len(answers) == 1 and len(refusals) == 2, (answers, refusals)
    assert all(error.code == NOT_LEADER and error.data.get("leader") for error in refusals)
    (grants,) = [answer["grants"] for answer in answers]
    assert set(grants) == {"gac-only"}, "an unknown table gets no grant"
    assert grants["gac-only"]["read"] == 4 and grants["gac-only"]["write_rate"] == 10.0
    assert grants["gac-only"]["write"] <= 10.0, "never more than the table's bucket holds (10 WCU x 1 s)"


def test_a_hot_partition_of_an_on_demand_table_is_throttled_at_partition_level(
    limited_cluster: LocalCluster,
) -> None:
    endpoint = limited_cluster.endpoints()["az-b"]
    client = make_client(endpoint)
    create_table(client, "hot")
    outcomes = {}
    last_admitted = None
    for value in range(150):  # one key: one partition at 20 WCU, far below the table's on-demand floor
        try:
            client.put_item(TableName="hot", Item={"pk": {"S": "hot-key"}, "v": {"N": str(value)}})
            last_admitted = value
            outcomes[value] = "ok"
        except ClientError as error:
            assert error.response["Error"]["Code"] == PTEE
            outcomes[value] = error.response["Error"]["Message"]
    refused = [value for value, outcome in outcomes.items() if outcome != "ok"]
    assert refused, "150 writes to one partition as fast as one client goes against 20 WCU"
    assert {outcomes[value] for value in refused} == {PARTITION_THROTTLE_MESSAGE}
    assert last_admitted is not None
    assert read_value(client, "hot", "hot-key") == last_admitted, "throttled writes after it changed nothing"
    assert admin_admission(endpoint)["throttled"]["partition"] >= len(refused)
    # The node leading that partition counted the refusals (status "admission", contract §6).
    statuses = node_statuses(limited_cluster)
    node_throttles = sum(status["admission"]["throttled"] for status in statuses)
    assert node_throttles >= len(refused)
    assert all(status["admission"]["enabled"] is True for status in statuses)
    groups = {group: counts for status in statuses for group, counts in status["admission"]["groups"].items()}
    assert any(counts["wcu"] > 0 and counts["throttled"] > 0 for counts in groups.values())


def test_enabled_false_never_throttles_the_same_load(unlimited_cluster: LocalCluster) -> None:
    endpoint = unlimited_cluster.endpoints()["az-a"]
    client = make_client(endpoint)
    create_provisioned_table(client, "small", read_units=50, write_units=5)
    create_table(client, "hot")
    assert set(put_all(client, "small", [(f"s{i}", i) for i in range(120)]).values()) == {"ok"}
    for value in range(150):
        client.put_item(TableName="hot", Item={"pk": {"S": "hot-key"}, "v": {"N": str(value)}})
    assert read_value(client, "hot", "hot-key") == 149
    snapshot = admin_admission(endpoint)
    assert snapshot["enabled"] is False and snapshot["throttled"] == {"table": 0, "partition": 0}
    statuses = node_statuses(unlimited_cluster)
    assert sum(status["admission"]["throttled"] for status in statuses) == 0
