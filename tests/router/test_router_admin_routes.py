"""The router's /admin/ paths: the cache flush and counters, kept apart from the DynamoDB API."""

from __future__ import annotations

import json

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.admin_routes import admin_response, is_admin_path
from cluster.router.cluster_client import ClusterClient
from cluster.router.crash_points import TXN_AFTER_COMMIT_DECISION, TXN_AFTER_PREPARE, CrashPoints
from cluster.router.http_server import HttpRequest
from cluster.runtime.topology import Topology, TopologyError


def router(mode: str = "constant-work") -> ClusterClient:
    topology = build_topology(3, 1, 4)
    topology.router_cache_mode = mode
    client = ClusterClient("router-a", topology)
    for name in ("t1", "t2"):
        partition = PartitionInfo(f"{name}-p0", 0, 0, 1 << 64, ["node-a1", "node-b1", "node-c1"])
        client.remember_table(TableEntry({"name": name, "status": "ACTIVE"}, [partition]))
    return client


def call(client: ClusterClient, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    response = admin_response(HttpRequest(method, path, headers or {}, b""), client)
    return response.status, json.loads(response.body)


def test_flush_empties_the_cache_and_says_how_much() -> None:
    client = router("classic")
    assert call(client, "POST", "/admin/cache/flush") == (
        200, {"router": "router-a", "mode": "classic", "entries_flushed": 2}
    )
    status, snapshot = call(client, "GET", "/admin/cache?verbose=1")
    assert status == 200 and snapshot["entries"] == 0 and snapshot["flushes"] == 1
    assert call(client, "POST", "/admin/cache/flush")[1]["entries_flushed"] == 0


def test_unknown_paths_wrong_methods_and_api_calls_are_refused() -> None:
    client = router()
    status, body = call(client, "POST", "/admin/restart")
    assert status == 404 and "unknown admin path /admin/restart" in body["error"]
    assert call(client, "GET", "/admin/cache/flush")[0] == 405
    status, body = call(client, "POST", "/admin/cache/flush", {"x-amz-target": "DynamoDB_20120810.GetItem"})
    assert status == 400 and "DynamoDB operations are served on /" in body["error"]
    assert client.cache.get("t1") is not None, "a refused request flushed nothing"


@pytest.mark.parametrize(("path", "admin"), [("/", False), ("/?x=1", False), ("/admin", False), ("/admin/x", True)])
def test_only_the_admin_prefix_leaves_the_api(path: str, admin: bool) -> None:
    assert is_admin_path(path) is admin


def test_topology_carries_and_checks_the_cache_mode() -> None:
    topology = build_topology(3, 1, 4)
    assert topology.router_cache_mode == "constant-work"
    topology.router_cache_mode = "classic"
    assert Topology.from_json(json.loads(json.dumps(topology.to_json()))).router_cache_mode == "classic"
    data = topology.to_json()
    data["router_cache_mode"] = "lazy"
    with pytest.raises(TopologyError, match="unknown router_cache_mode 'lazy'"):
        Topology.from_json(data)


def test_a_crash_point_is_armed_disarmed_and_fires_once_at_its_own_place() -> None:
    client = router()
    kills: list[str] = []
    client.crash_points = CrashPoints(kill=lambda: kills.append(client.crash_points.armed or "disarmed"))

    def post(body: bytes) -> tuple[int, dict]:
        response = admin_response(HttpRequest("POST", "/admin/crash-point", {}, body), client)
        return response.status, json.loads(response.body)

    assert post(b'{"point": "txn-after-commit-decision"}') == (
        200, {"router": "router-a", "armed": "txn-after-commit-decision"}
    )
    client.crash_points.reached(TXN_AFTER_PREPARE, "t1")
    assert kills == [], "another point does not fire"
    client.crash_points.reached(TXN_AFTER_COMMIT_DECISION, "t1")
    client.crash_points.reached(TXN_AFTER_COMMIT_DECISION, "t2")
    assert kills == ["disarmed"], "fired once, disarmed before the kill"
    assert post(b'{"point": "txn-after-prepare"}')[1]["armed"] == "txn-after-prepare"
    assert post(b'{"point": null}')[1]["armed"] is None
    client.crash_points.reached(TXN_AFTER_PREPARE, "t3")
    assert kills == ["disarmed"]
    for body, wanted in ((b'{"point": "somewhere"}', "unknown crash point 'somewhere'"), (b"[1]", "JSON object"),
                         (b"{", "/admin/crash-point")):  # fmt: skip
        status, answer = post(body)
        assert status == 400 and wanted in answer["error"], answer
    assert client.crash_points.armed is None
