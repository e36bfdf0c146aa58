"""Asks a node or metadata replica for its status over RPC, from synchronous code."""

from __future__ import annotations

import asyncio
from typing import Any

from cluster.runtime.rpc import RpcClient, RpcError, RpcTimeout, RpcUnavailable

GROUP_STATUS_KEYS = (
    "group", "role", "term", "leader", "commit_index", "last_index", "membership", "membership_index", "preferred",
    "snapshot_index", "snapshots_taken", "snapshots_installed", "recovered_entries", "opened_in_s",
)


async def _probe(host: str, port: int, timeout_s: float) -> dict[str, Any]:
    client = RpcClient((host, port), connect_timeout_s=timeout_s)
    try:
        status = await client.call("status", {}, timeout_s=timeout_s)
    finally:
        await client.close()
    probed: dict[str, Any] = {
        "leading": status.get("leading", []),
        "groups": [
            {key: group.get(key) for key in GROUP_STATUS_KEYS if key in group}
            for group in status.get("groups", [])
        ],
    }
    if "log_replicas" in status:
        probed["log_replicas"] = status["log_replicas"]
    return probed


def probe_status(host: str, port: int, timeout_s: float = 1.0) -> dict[str, Any]:
    try:
        return asyncio.run(_probe(host, port, timeout_s))
    except (RpcError, RpcTimeout, RpcUnavailable, OSError) as error:
        return {"status_error": str(error)}
