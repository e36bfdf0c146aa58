"""Prometheus metrics of a request router: requests by operation and status class, latency, throttles,
retries. One registry per router (never the global one).

Per request the router pays one counter increment and one histogram observation through children it
caches by label values; retries are plain counts kept by the cluster client and read at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.router.http_server import HttpRequest, HttpResponse

TARGET_PREFIX = "DynamoDB_20120810."
# Anything else (an unknown target, a GET health check) is one label value, so a client sending
# random targets cannot multiply series.
OTHER_OPERATION = "other"
# Error codes that mean "throttled" in DynamoDB's API; admission control answers with them.
_THROTTLE_MARKERS = (b'#ProvisionedThroughputExceededException"', b'#ThrottlingException"', b'#RequestLimitExceeded"')
# From an in-memory answer (half a millisecond) to the routing budget (3 s) and beyond.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _RetriesCollector(Collector):
    def __init__(self, az: str, retry_counts: Mapping[str, int]) -> None:
        self.az = az
        self.retry_counts = retry_counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "router_retries",
            "Attempts that failed where the request certainly did not execute, then went to another replica.",
            labels=["az", "reason"],
        )
        for reason, count in sorted(dict(self.retry_counts).items()):
            family.add_metric([self.az, reason], count)
        yield family


class AdmissionThrottlesCollector(Collector):
    """router_admission_throttles_total{az,level}: admission refusals at the router's table bucket
    (level="table") and at a node's partition or node bucket (level="partition"), from 0."""

    def __init__(self, az: str, throttled: Mapping[str, int]) -> None:
        self.az = az
        self.throttled = throttled

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "router_admission_throttles",
            "Requests answered ProvisionedThroughputExceededException by admission control, by level.",
            labels=["az", "level"],
        )
        for level in ("table", "partition"):
            family.add_metric([self.az, level], self.throttled.get(level, 0))
        yield family


class RouterMetrics:
    def __init__(self, az: str, operations: Iterable[str], retry_counts: Mapping[str, int]) -> None:
        self.az = az
        self.operations = frozenset(operations)
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "router_requests",
            "Requests the router answered, by DynamoDB operation and HTTP status class (2xx, 4xx, 5xx).",
            ["az", "operation", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "router_request_latency_seconds",
            "Time from a request read to its answer written, by DynamoDB operation.",
            ["az", "operation"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.throttles = Counter(
            "router_throttles", "Requests refused with a throttling error.", ["az"], registry=self.registry
        )
        self._throttles = self.throttles.labels(az)
        self.registry.register(_RetriesCollector(az, retry_counts))
        self._request_children: dict[tuple[str, str], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}
        # Series at zero from the start, so rate() and the dashboards see 0 rather than "no data".
        for operation in sorted(self.operations):
            self._latency_child(operation)
            self._request_child(operation, "2xx")

    def _request_child(self, operation: str, code: str) -> Counter:
        child = self._request_children.get((operation, code))
        if child is None:
            child = self._request_children[operation, code] = self.requests.labels(self.az, operation, code)
        return child

    def _latency_child(self, operation: str) -> Histogram:
        child = self._latency_children.get(operation)
        if child is None:
            child = self._latency_children[operation] = self.latency.labels(self.az, operation)
        return child

    def operation_of(self, request: HttpRequest) -> str:
        target = request.headers.get("x-amz-target", "")
        operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        return operation if operation in self.operations else OTHER_OPERATION

    def observe(self, operation: str, response: HttpResponse, latency_s: float) -> None:
        self._request_child(operation, f"{response.status // 100}xx").inc()
        self._latency_child(operation).observe(latency_s)
        if response.status == 400 and any(marker in response.body for marker in _THROTTLE_MARKERS):
            self._throttles.inc()

    def instrument(self, handler: Handler) -> Handler:
        """The handler, counting and timing every request it answers."""

        async def instrumented(request: HttpRequest) -> HttpResponse:
            started_s = time.perf_counter()
            response = await handler(request)
            self.observe(self.operation_of(request), response, time.perf_counter() - started_s)
            return response

        return instrumented
