"""What the store says about admission control at the end of a hot-key run (I/O, read defensively).

- every metadata replica's `status` RPC: `splits` (soft state of the leader that drove them, so the
  replicas' lists are merged);
- every router's GET /admin/admission: throttle counters (absent endpoint = not available);
- every storage node's `status` RPC: `admission` totals.

A store without admission control answers none of these: the observation then says "not available"
instead of failing the run, and the verdict decides what that means.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

STATUS_TIMEOUT_S = 2.0
ROUTER_ADMISSION_PATH = "/admin/admission"  # contract §6 (cluster/router admin routes)


async def _status(host: str, port: int) -> dict[str, Any]:
    from cluster.runtime.rpc import RpcClient  # the cluster's transport, only when asked

    client = RpcClient((host, port), connect_timeout_s=STATUS_TIMEOUT_S)
    try:
        answer = await client.call("status", {}, timeout_s=STATUS_TIMEOUT_S)
    finally:
        await client.close()
    return answer if isinstance(answer, dict) else {}


async def _statuses(addresses: Mapping[str, tuple[str, int]]) -> dict[str, dict[str, Any] | str]:
    async def one(address: tuple[str, int]) -> dict[str, Any] | str:
        try:
            return await _status(*address)
        except Exception as error:  # a replica down or paused: the others still answer
            return f"{type(error).__name__}: {error}"

    answers = await asyncio.gather(*(one(address) for address in addresses.values()))
    return dict(zip(addresses, answers, strict=True))


def _router_admission(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url.rstrip("/") + ROUTER_ADMISSION_PATH, timeout=STATUS_TIMEOUT_S) as response:
            document = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None  # no such endpoint (a store without admission control) or no answer
    return document if isinstance(document, dict) else None


def read_admission_observations(cluster: Any) -> dict[str, Any]:
    """{"splits": [...] | None, "routers": [...], "nodes": {node: admission}, "errors": [...]}."""
    topology = cluster.topology()
    metadata = {spec.process_id: (spec.host, spec.port) for spec in topology.by_role("metadata")}
    nodes = {spec.process_id: (spec.host, spec.port) for spec in topology.by_role("node")}
    answers = asyncio.run(_statuses({**metadata, **nodes}))
    errors = [f"{process}: {answer}" for process, answer in answers.items() if isinstance(answer, str)]
    split_lists = [
        answer["splits"]
        for process, answer in answers.items()
        if process in metadata and isinstance(answer, dict) and isinstance(answer.get("splits"), list)
    ]
    routers = [admission for url in cluster.endpoints().values() if (admission := _router_admission(url)) is not None]
    return {
        # None: no metadata replica reports splits at all (a store without split for consumption).
        "splits": [split for splits in split_lists for split in splits if isinstance(split, dict)] if split_lists else None,
        "routers": routers,
        "nodes": {
            process: answer["admission"]
            for process, answer in answers.items()
            if process in nodes and isinstance(answer, dict) and isinstance(answer.get("admission"), dict)
        },
        "errors": errors,
    }
