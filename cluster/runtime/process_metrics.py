"""Which metrics a cluster process exports, by role, and the server that exports them."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from cluster.metadata.split_metrics import SplitCollector
from cluster.node.admission_metrics import AdmissionCollector
from cluster.node.log_replica_metrics import LogReplicaCollector
from cluster.runtime.metrics_http import MetricsServer
from cluster.runtime.metrics_raft import raft_registry
from cluster.runtime.metrics_router import AdmissionThrottlesCollector
from cluster.scrub.metrics import ScrubCollector


def registry_for(role: str, server: object) -> CollectorRegistry:
    """The process's own registry: routers build theirs; replica hosts get Raft collectors here."""
    if role == "router":
        registry = server.metrics.registry  # type: ignore[attr-defined]
        throttled = server.cluster.admission.admission.throttled  # type: ignore[attr-defined]
        registry.register(AdmissionThrottlesCollector(server.metrics.az, throttled))  # type: ignore[attr-defined]
        return registry
    registry, fsync = raft_registry(server, role)  # type: ignore[arg-type]
    observe = fsync.labels(server.process_id).observe  # type: ignore[attr-defined]
    server.on_fsync_s = observe  # type: ignore[attr-defined]
    if role == "node":
        registry.register(ScrubCollector(server))  # type: ignore[arg-type]
        registry.register(LogReplicaCollector(server))  # type: ignore[arg-type]
        registry.register(AdmissionCollector(server))  # type: ignore[arg-type]
    if role == "metadata":
        registry.register(SplitCollector(server))  # type: ignore[arg-type]
    return registry


async def start_metrics_server(role: str, server: object, host: str, port: int) -> MetricsServer | None:
    """Serves /metrics; a port someone else took costs the metrics (loudly), never the process."""
    metrics = MetricsServer(registry_for(role, server))
    try:
        await metrics.start(host, port)
    except OSError as error:
        logging.getLogger(__name__).error("cannot serve /metrics on %s:%d: %s", host, port, error)
        return None
    return metrics
