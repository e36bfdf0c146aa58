"""The canary's Prometheus metrics: names, labels, buckets, and the HTTP endpoint."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from canaries.metrics import LATENCY_BUCKETS_S, CanaryMetrics


def record(endpoint_az: str, operation: str, outcome: str, latency_ms: float) -> dict[str, object]:
    return {
        "time_s": 1.0, "wall_time_s": 2.0, "canary_az": "az-a", "endpoint_az": endpoint_az,
        "endpoint": "http://127.0.0.1:9", "operation": operation, "outcome": outcome,
        "error_class": None, "latency_ms": latency_ms,
    }  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_served_over_http_count_outcomes_by_endpoint_az() -> None:
    metrics = CanaryMetrics("az-a", ["az-a", "az-b"])
    metrics.observe(record("az-b", "write", "ok", 3.0))
    metrics.observe(record("az-b", "write", "ok", 4.0))
    metrics.observe(record("az-b", "eventual_read", "stale", 2000.0))
    metrics.set_up(True)
    server, port = metrics.serve(0)
    try:
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    values = samples(text)
    labels = (("az", "az-a"), ("endpoint_az", "az-b"), ("operation", "write"), ("outcome", "ok"))
    assert values[("canary_requests_total", labels)] == 2.0
    stale = (("az", "az-a"), ("endpoint_az", "az-b"), ("operation", "eventual_read"), ("outcome", "stale"))
    assert values[("canary_requests_total", stale)] == 1.0
    # Series exist at zero before anything happened, so alert rules see 0 rather than no data.
    untouched = (
        ("az", "az-a"),
        ("endpoint_az", "az-a"),
        ("operation", "consistent_read"),
        ("outcome", "error"),
    )
    assert values[("canary_requests_total", untouched)] == 0.0
    histogram = (("az", "az-a"), ("endpoint_az", "az-b"), ("operation", "write"))
    assert values[("canary_request_latency_seconds_count", histogram)] == 2.0
    assert abs(values[("canary_request_latency_seconds_sum", histogram)] - 0.007) < 1e-9
    assert (
        values[("canary_request_latency_seconds_bucket", tuple(sorted((*histogram, ("le", "0.005")))))] == 2.0
    )
    assert values[("canary_up", (("az", "az-a"),))] == 1.0
    # No URL anywhere in the labels: endpoint AZ only, to bound cardinality.
    assert all("http" not in value for _, label_set in values for _, value in label_set)


def test_latency_buckets_span_one_millisecond_to_ten_seconds() -> None:
    assert LATENCY_BUCKETS_S[0] == 0.001 and LATENCY_BUCKETS_S[-1] == 10.0
    assert list(LATENCY_BUCKETS_S) == sorted(set(LATENCY_BUCKETS_S))


def test_canary_up_drops_to_zero_when_stopped() -> None:
    metrics = CanaryMetrics("az-c", ["az-a"])
    metrics.set_up(True)
    metrics.set_up(False)
    assert metrics.registry.get_sample_value("canary_up", {"az": "az-c"}) == 0.0
