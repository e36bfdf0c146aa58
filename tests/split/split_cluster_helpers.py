"""Talking to a running cluster's metadata and nodes about splits."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.rpc import RpcError, RpcTimeout, RpcUnavailable
from tests.cluster.cluster_rpc import rpc
from tests.cluster.conftest import make_client


def metadata_call(cluster: LocalCluster, method: str, params: dict[str, Any], timeout_s: float = 20.0) -> Any:
    """One metadata RPC, sent to whichever replica leads (retried while metadata elects one)."""
    metadata_ids = [spec.process_id for spec in cluster.topology().by_role("metadata")]
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        for metadata_id in metadata_ids:
            if not cluster.is_running(metadata_id):
                continue
            try:
                return rpc(cluster, metadata_id, method, params, timeout_s=5.0)
            except RpcError as error:
                if error.code == "Invalid":
                    raise
                last = error
            except (RpcUnavailable, RpcTimeout, OSError) as error:
                last = error
        time.sleep(0.2)
    raise AssertionError(f"{method}: no metadata leader answered: {last!r}")


def table_partitions(cluster: LocalCluster, table: str) -> list[dict[str, Any]]:
    result = metadata_call(cluster, "meta.lookup_table", {"name": table, "consistent": True})
    return sorted(result["table"]["partitions"], key=lambda p: p["hash_start"])


def splits_status(cluster: LocalCluster) -> list[dict[str, Any]]:
    for spec in cluster.topology().by_role("metadata"):
        if cluster.is_running(spec.process_id):
            try:
                return list(rpc(cluster, spec.process_id, "status", {}, timeout_s=5.0)["splits"])
            except (RpcError, RpcUnavailable, RpcTimeout, OSError):
                continue
    raise AssertionError("no metadata replica answered status")


def finished(cluster: LocalCluster, child: str) -> bool:
    """Whether the split that creates `child` has finished, as metadata reports it."""
    return any(s["child"] == child and s["finished_wall_s"] is not None for s in splits_status(cluster))


def leaders(cluster: LocalCluster) -> dict[str, str]:
    found = {}
    for process in cluster.status()["processes"]:
        for group in process.get("leading", []):
            found[group] = process["id"]
    return found


def leader_of(cluster: LocalCluster, group: str, timeout_s: float) -> str:
    """The node leading `group`, from one look at every process's status (two looks may straddle an
    election: the group led in the first and not yet in the second)."""
    deadline = time.monotonic() + timeout_s
    while True:
        leader = leaders(cluster).get(group)
        if leader is not None:
            return leader
        assert time.monotonic() < deadline, f"no leader of {group} within {timeout_s}s"
        time.sleep(0.2)


def node_split_status(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    statuses = {}
    for spec in cluster.topology().by_role("node"):
        if cluster.is_running(spec.process_id):
            try:
                statuses[spec.process_id] = rpc(cluster, spec.process_id, "status", {}, timeout_s=5.0)["splits"]
            except (RpcError, RpcUnavailable, RpcTimeout, OSError):
                continue
    return statuses


def scan_all(endpoint: str, table: str, page_items: int = 150) -> list[str]:
    """Every key of a full Scan, paged with ExclusiveStartKey (retried page by page on a 5xx)."""
    client = make_client(endpoint)
    keys: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        arguments: dict[str, Any] = {"TableName": table, "Limit": page_items, "ConsistentRead": True}
        if start is not None:
            arguments["ExclusiveStartKey"] = start
        for attempt in range(10):
            try:
                page = client.scan(**arguments)
                break
            except (ClientError, BotoCoreError):
                if attempt == 9:
                    raise
                time.sleep(0.5)
        keys.extend(item["pk"]["S"] for item in page["Items"])
        start = page.get("LastEvaluatedKey")
        if start is None:
            return keys
