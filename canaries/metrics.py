"""Prometheus metrics of one canary process, in a registry of its own.

Labels are bounded: the canary's AZ and the endpoint's AZ, never the URL (a URL changes
with ports and proxies and would multiply series).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from canaries.outcomes import OPERATIONS, OUTCOMES

# From a fast in-memory answer (1 ms) to the slowest a probe can take before its timeouts (10 s).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CanaryMetrics:
    """Counters, latency histogram and ``canary_up`` for one canary; ``observe`` takes a probe record."""

    def __init__(
        self, az: str, endpoint_azs: Iterable[str], registry: CollectorRegistry | None = None
    ) -> None:
        self.az = az
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "canary_requests",
            "Canary probe requests by outcome (ok, error, stale, mismatch), as a customer's first attempt saw them.",
            ["az", "endpoint_az", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "canary_request_latency_seconds",
            "Client-side latency of canary probe requests, errors included.",
            ["az", "endpoint_az", "operation"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.up = Gauge(
            "canary_up", "1 while this canary is probing, 0 once it stops.", ["az"], registry=self.registry
        )
        # Create every series at zero so rate() and alert rules see 0 rather than "no data".
        for endpoint_az in endpoint_azs:
            for operation in OPERATIONS:
                self.latency.labels(az, endpoint_az, operation)
                for outcome in OUTCOMES:
                    self.requests.labels(az, endpoint_az, operation, outcome)
        self.up.labels(az).set(0)

    def observe(self, record: dict[str, Any]) -> None:
        self.requests.labels(self.az, record["endpoint_az"], record["operation"], record["outcome"]).inc()
        self.latency.labels(self.az, record["endpoint_az"], record["operation"]).observe(
            record["latency_ms"] / 1000.0
        )

    def set_up(self, probing: bool) -> None:
        self.up.labels(self.az).set(1 if probing else 0)

    def serve(self, port: int, address: str = "127.0.0.1") -> tuple[Any, int]:
        """Serve ``/metrics`` over HTTP; returns the server (``shutdown()`` it) and the bound port."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server, int(server.server_port)
