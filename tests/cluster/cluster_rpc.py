"""Small helpers for tests that talk to a running local cluster's processes directly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.rpc import RpcClient


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


def rpc(cluster: LocalCluster, process_id: str, method: str, params: dict, timeout_s: float = 10.0) -> Any:
    """One RPC to a process at its own address (not through any proxy)."""
    spec = cluster.topology().get(process_id)

    async def ask() -> Any:
        client = RpcClient((spec.host, spec.port))
        try:
            return await client.call(method, params, timeout_s=timeout_s)
        finally:
            await client.close()

    return asyncio.run(ask())
