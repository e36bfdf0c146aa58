"""The router's operator paths under /admin/, apart from the DynamoDB API on `/`.

DynamoDB clients always POST to `/`, so nothing an SDK sends lands here; a request here that names a
DynamoDB operation is refused rather than half-served, and an unknown admin path is a 404, never an API
call. Used by the `cache-flush` fault (chaos/faults/cache_flush.py) and to read the cache's counters.
"""

from __future__ import annotations

import json
from typing import Any

from cluster.router.cluster_client import ClusterClient
from cluster.router.http_server import HttpRequest, HttpResponse

ADMIN_PREFIX = "/admin/"
CACHE_PATH = "/admin/cache"
CACHE_FLUSH_PATH = "/admin/cache/flush"
ADMISSION_PATH = "/admin/admission"  # the router's admission buckets and throttle counts (contract §6)


def is_admin_path(path: str) -> bool:
    return path.split("?", 1)[0].startswith(ADMIN_PREFIX)


def _json(status: int, payload: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, separators=(",", ":")).encode(), {"Content-Type": "application/json"})


def admin_response(request: HttpRequest, cluster: ClusterClient) -> HttpResponse:
    path = request.path.split("?", 1)[0]
    if "x-amz-target" in request.headers:
        return _json(400, {"error": f"{path} is an admin path: DynamoDB operations are served on /"})
    routes = {CACHE_PATH: "GET", CACHE_FLUSH_PATH: "POST", ADMISSION_PATH: "GET"}
    method = routes.get(path)
    if method is None:
        return _json(404, {"error": f"unknown admin path {path}; known: {', '.join(sorted(routes))}"})
    if request.method != method:
        return _json(405, {"error": f"{path} takes {method}, not {request.method}"})
    if path == CACHE_FLUSH_PATH:
        return _json(200, {"router": cluster.router_id, **cluster.flush_cache()})
    if path == ADMISSION_PATH:
        return _json(200, cluster.admission.snapshot())
    return _json(200, {"router": cluster.router_id, **cluster.cache.snapshot()})
