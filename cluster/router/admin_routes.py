"""The router's operator paths under /admin/, apart from the DynamoDB API on `/`.

DynamoDB clients always POST to `/`, so nothing an SDK sends lands here; a request here that names a
DynamoDB operation is refused rather than half-served, and an unknown admin path is a 404, never an API
call. Used by the `cache-flush` fault (chaos/faults/cache_flush.py), by the `kill-coordinator` fault
(chaos/faults/coordinator_kill.py: it arms a crash point) and to read the cache's counters.
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
CRASH_POINT_PATH = "/admin/crash-point"  # POST {"point": NAME or null}: arms (or disarms) a crash point


def is_admin_path(path: str) -> bool:
    return path.split("?", 1)[0].startswith(ADMIN_PREFIX)


def _json(status: int, payload: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, separators=(",", ":")).encode(), {"Content-Type": "application/json"})


def admin_response(request: HttpRequest, cluster: ClusterClient) -> HttpResponse:
    path = request.path.split("?", 1)[0]
    if "x-amz-target" in request.headers:
        return _json(400, {"error": f"{path} is an admin path: DynamoDB operations are served on /"})
    routes = {CACHE_PATH: "GET", CACHE_FLUSH_PATH: "POST", ADMISSION_PATH: "GET", CRASH_POINT_PATH: "POST"}
    method = routes.get(path)
    if method is None:
        return _json(404, {"error": f"unknown admin path {path}; known: {', '.join(sorted(routes))}"})
    if request.method != method:
        return _json(405, {"error": f"{path} takes {method}, not {request.method}"})
    if path == CACHE_FLUSH_PATH:
        return _json(200, {"router": cluster.router_id, **cluster.flush_cache()})
    if path == ADMISSION_PATH:
        return _json(200, cluster.admission.snapshot())
    if path == CRASH_POINT_PATH:
        return _arm_crash_point(request, cluster)
    return _json(200, {"router": cluster.router_id, **cluster.cache.snapshot()})


def _arm_crash_point(request: HttpRequest, cluster: ClusterClient) -> HttpResponse:
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object such as {\"point\": \"txn-after-prepare\"}")
        cluster.crash_points.arm(body.get("point"))
    except ValueError as error:  # json.JSONDecodeError is one
        return _json(400, {"error": f"{CRASH_POINT_PATH}: {error}"})
    return _json(200, {"router": cluster.router_id, "armed": cluster.crash_points.armed})
