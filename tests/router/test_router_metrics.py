"""The router's request metrics: operation and status class per request, throttles, bounded labels."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cluster.api.errors import ProvisionedThroughputExceededException, ValidationException
from cluster.router.dynamodb_service import error_response, json_response
from cluster.router.http_server import HttpRequest, HttpResponse
from cluster.runtime.metrics_router import RouterMetrics


def _request(operation: str) -> HttpRequest:
    return HttpRequest("POST", "/", {"x-amz-target": f"DynamoDB_20120810.{operation}"}, b"{}")


def _values(metrics: RouterMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }


def test_requests_are_counted_by_operation_and_status_class_and_throttles_apart() -> None:
    retries = {"not_leader": 4}
    metrics = RouterMetrics("az-a", ["PutItem", "GetItem"], retries)
    answers = iter([
        json_response(200, {}),
        error_response(ValidationException("bad")),
        error_response(ProvisionedThroughputExceededException("slow down")),
        json_response(200, {}),
    ])  # fmt: skip

    async def handler(_request: HttpRequest) -> HttpResponse:
        return next(answers)

    instrumented = metrics.instrument(handler)

    async def send_all() -> None:
        for operation in ("PutItem", "PutItem", "GetItem", "NoSuchOperation"):
            await instrumented(_request(operation))

    asyncio.run(send_all())
    values = _values(metrics)

    def requests(operation: str, code: str) -> float:
        return values.get(("router_requests_total", (("az", "az-a"), ("code", code), ("operation", operation))), 0)

    assert requests("PutItem", "2xx") == 1 and requests("PutItem", "4xx") == 1
    assert requests("GetItem", "4xx") == 1 and requests("GetItem", "2xx") == 0  # at 0 from the start
    assert requests("other", "2xx") == 1  # an unknown target is one label value, never its own
    assert values[("router_throttles_total", (("az", "az-a"),))] == 1
    assert values[("router_request_latency_seconds_count", (("az", "az-a"), ("operation", "PutItem")))] == 2
    retries["not_leader"] += 1  # read at scrape time
    assert _values(metrics)[("router_retries_total", (("az", "az-a"), ("reason", "not_leader")))] == 5
