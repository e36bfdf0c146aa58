from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from canaries.metrics import CanaryMetrics
from dashboards.metric_contract import CONTRACT, series_labels


def test_canaries_export_exactly_the_contracted_names_and_labels() -> None:
    metrics = CanaryMetrics("az-a", ["az-a", "az-b"])
    metrics.observe({"endpoint_az": "az-b", "operation": "write", "outcome": "ok", "latency_ms": 3.0})
    exposition = generate_latest(metrics.registry).decode()
    contracted = series_labels()
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue  # prometheus_client's creation timestamps: not queried by anything we ship
            exported.setdefault(sample.name, set()).update(sample.labels)
    canary_series = {name for name in contracted if name.startswith("canary_")}
    assert exported.keys() == canary_series
    for name, labels in exported.items():
        # The target labels (job, instance) are added by Prometheus at scrape time, not exported.
        assert labels == contracted[name] - {"job", "instance"}, name


def test_contract_names_follow_prometheus_conventions() -> None:
    names = [metric.name for metric in CONTRACT]
    assert len(set(names)) == len(names)
    for metric in CONTRACT:
        assert (metric.type == "counter") == metric.name.endswith("_total"), metric.name
        if metric.type == "histogram":
            assert metric.name.endswith("_seconds"), metric.name
