"""GET /admin/admission on a router (contract §6), and PTEE for a node's THROTTLED refusal."""

from __future__ import annotations

import json

from cluster.admission.router_gate import PARTITION_THROTTLE_MESSAGE, TABLE_THROTTLE_MESSAGE
from cluster.admission.settings import AdmissionSettings
from cluster.api.errors import ProvisionedThroughputExceededException
from cluster.deploy.local_processes import build_topology
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.admin_routes import admin_response
from cluster.router.cluster_client import ClusterClient
from cluster.router.http_server import HttpRequest


def router(admission: AdmissionSettings) -> ClusterClient:
    topology = build_topology(3, 1, 4)
    topology.admission = admission
    return ClusterClient("router-a", topology)


def provisioned_entry(name: str, write_units: int) -> TableEntry:
    table = {"name": name, "status": "ACTIVE", "billing_mode": "PROVISIONED", "read_capacity_units": 30,
             "write_capacity_units": write_units}
    return TableEntry(table, [PartitionInfo(f"{name}-p0", 0, 0, 1 << 64, ["node-a1", "node-b1", "node-c1"])])


def admission_snapshot(client: ClusterClient, method: str = "GET") -> tuple[int, dict]:
    response = admin_response(HttpRequest(method, "/admin/admission", {}, b""), client)
    return response.status, json.loads(response.body)


def test_the_admin_path_shows_throttles_gac_and_tables() -> None:
    client = router(AdmissionSettings())
    entry = provisioned_entry("t", write_units=3)  # 1 token per router for its first second
    client.admission.charge(entry, "write", 1.0)
    try:
        client.admission.charge(entry, "write", 1.0)
        raise AssertionError("the second write of the first second must be throttled")
    except ProvisionedThroughputExceededException as error:
        assert error.message == TABLE_THROTTLE_MESSAGE
    partition_error = client.admission.partition_throttled("node-a1: over capacity")
    assert partition_error.message == PARTITION_THROTTLE_MESSAGE and partition_error.http_status == 400
    status, body = admission_snapshot(client)
    assert status == 200
    assert set(body) == {"router", "enabled", "throttled", "gac", "tables"}
    assert body["router"] == "router-a" and body["enabled"] is True
    assert body["throttled"] == {"table": 1, "partition": 1}
    assert body["gac"] == {"acquires": 0, "failures": 0, "tokens_granted": 0.0}
    assert body["tables"]["t"]["billing_mode"] == "PROVISIONED" and body["tables"]["t"]["throttled"] == 1
    assert body["tables"]["t"]["wcu"] == 1.0 and body["tables"]["t"]["write_rate"] == 3.0
    assert admission_snapshot(client, "POST")[0] == 405


def test_switched_off_the_router_admits_everything() -> None:
    client = router(AdmissionSettings(enabled=False))
    entry = provisioned_entry("t", write_units=1)
    for _ in range(1000):
        client.admission.charge(entry, "write", 5.0)
    status, body = admission_snapshot(client)
    assert (status, body["enabled"], body["throttled"], body["tables"]) == (
        200, False, {"table": 0, "partition": 0}, {}
    )
