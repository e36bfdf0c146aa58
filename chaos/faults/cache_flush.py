"""cache-flush: empty every router's partition-metadata cache at once, as a fleet-wide router restart does.

A cold cache is what made DynamoDB's classic metadata cache bimodal: every request misses and asks the
metadata service at once. The fault asks each router, through its admin path (cluster/router/
admin_routes.py), to forget its cache, and records what each one dropped. Nothing stays broken, so heal
does nothing (and says so): the routers refill their caches on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.router_admin import REQUEST_TIMEOUT_S, post_admin

CACHE_FLUSH_PATH = "/admin/cache/flush"  # cluster.router.admin_routes.CACHE_FLUSH_PATH


def flush_router(url: str, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """POSTs the flush to one router; returns its answer, or {"error": ...} when it could not."""
    return post_admin(url, CACHE_FLUSH_PATH, timeout_s=timeout_s)


class CacheFlush:
    kind = "cache-flush"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)

    def start(self, context: FaultContext) -> dict[str, Any]:
        endpoints = getattr(context.cluster, "endpoints", None)
        if endpoints is None:
            raise FaultNotApplicable("cache-flush needs a cluster backend that lists its router endpoints")
        urls: dict[str, str] = endpoints()  # AZ -> router URL
        if not urls:
            raise FaultNotApplicable("the cluster has no router endpoint")
        answers = {az: flush_router(url) for az, url in sorted(urls.items())}
        flushed = {answer["router"]: answer for answer in answers.values() if "router" in answer}
        failed = {az: answer["error"] for az, answer in answers.items() if "error" in answer}
        if not flushed:
            raise FaultNotApplicable(f"no router flushed its cache: {failed}")
        return {
            "routers": sorted(flushed),
            "entries_flushed": {router: answer.get("entries_flushed") for router, answer in flushed.items()},
            "mode": sorted({str(answer.get("mode")) for answer in flushed.values()}),
            "failed": failed,
        }

    def heal(self, context: FaultContext) -> dict[str, Any]:
        # Nothing to undo: a flushed cache refills from the requests themselves.
        return {"healed": True, "undone": "nothing: the routers refill their caches on demand"}
