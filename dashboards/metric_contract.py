"""The metric names and labels the dashboards and alert rules rely on (issue 7's contract).

Exported by the canaries (canaries/metrics.py), routers (cluster/runtime/metrics_router.py), storage
nodes and metadata replicas (cluster/runtime/metrics_raft.py) and the chaos controller in the game-day
process (chaos/metrics.py); tests scrape each and compare with this list. Kept as data so a test can check that
every expression we ship names only contracted metrics and labels, and that the canaries' real
exposition matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str  # as queried: counters with their `_total`, histograms without their suffixes
    type: MetricType
    labels: tuple[str, ...]

    def series_names(self) -> tuple[str, ...]:
        """The names a query may use: a histogram is three series families (le on the buckets)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


CONTRACT: tuple[Metric, ...] = (
    # Canaries (one process per AZ).
    Metric("canary_requests_total", "counter", ("az", "endpoint_az", "operation", "outcome")),
    Metric("canary_request_latency_seconds", "histogram", ("az", "endpoint_az", "operation")),
    Metric("canary_up", "gauge", ("az",)),
    # Request routers (one per AZ); code is the HTTP status class: 2xx, 4xx, 5xx.
    Metric("router_requests_total", "counter", ("az", "operation", "code")),
    Metric("router_request_latency_seconds", "histogram", ("az", "operation")),
    Metric("router_throttles_total", "counter", ("az",)),
    Metric("router_retries_total", "counter", ("az", "reason")),
    # Admission control (cluster/admission/): throttles at the router, by level (table, partition) ...
    Metric("router_admission_throttles_total", "counter", ("az", "level")),
    # ... and at storage nodes, per partition replica; kind is read or write (cluster/node/admission_metrics.py).
    Metric("partition_throttles_total", "counter", ("process", "group")),
    Metric("partition_consumed_units_total", "counter", ("process", "group", "kind")),
    # Storage nodes and metadata replicas; role is 0 follower, 1 candidate, 2 leader.
    Metric("raft_role", "gauge", ("process", "group")),
    Metric("raft_term", "gauge", ("process", "group")),
    Metric("raft_commit_index", "gauge", ("process", "group")),
    Metric("raft_applied_index", "gauge", ("process", "group")),
    Metric("raft_replication_lag_entries", "gauge", ("process", "group", "follower")),
    Metric("wal_size_bytes", "gauge", ("process", "group")),
    Metric("wal_fsync_latency_seconds", "histogram", ("process",)),
    Metric("storage_node_leaders", "gauge", ("process",)),
    # Metadata replicas (group "metadata" in the raft_* series): requests by method and outcome (ok, error).
    Metric("metadata_requests_total", "counter", ("process", "method", "outcome")),
    # Metadata replicas: splits for consumption finished, per table (cluster/metadata/split_metrics.py).
    Metric("partition_splits_total", "counter", ("process", "table")),
    # Scrub and WAL archive, per storage node (cluster/scrub/metrics.py).
    *(
        Metric(name, "counter", ("process",))
        for name in (
            "scrub_rounds_total", "scrub_items_digested_total", "scrub_undecided_rounds_total", "scrub_mismatches_total", "scrub_repairs_total",
            "scrub_repaired_items_total", "scrub_reference_checks_total", "scrub_reference_mismatches_total",
            "scrub_unverifiable_total", "archive_segments_total", "archive_errors_total",
        )
    ),
    Metric("scrub_enabled", "gauge", ("process",)),
    # Log replicas, per storage node (cluster/node/log_replica_metrics.py); action is one of six kinds.
    Metric("log_replica_changes_total", "counter", ("process", "action")),
    Metric("log_replica_change_failures_total", "counter", ("process",)),
    Metric("log_replicas_hosted", "gauge", ("process",)),
    # Chaos controller: faults in force, by kind (power-off, pause, ...).
    Metric("chaos_active_faults", "gauge", ("kind",)),
)

RAFT_ROLE_LEADER = 2

# Series Prometheus makes itself: scrape health, and the state of alerting rules (the alerts panel).
PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {
    "up": (),
    "ALERTS": ("alertname", "alertstate", "severity"),
}
# Labels every scraped series carries, whatever the contract says.
TARGET_LABELS: tuple[str, ...] = ("job", "instance")


def series_labels() -> dict[str, frozenset[str]]:
    """Every queryable series name → the labels it may carry (``le`` on histogram buckets)."""
    labels: dict[str, frozenset[str]] = {}
    for metric in CONTRACT:
        for series in metric.series_names():
            extra = ("le",) if series.endswith("_bucket") else ()
            labels[series] = frozenset(metric.labels + extra + TARGET_LABELS)
    for name, own in PROMETHEUS_SERIES.items():
        labels[name] = frozenset(own + TARGET_LABELS)
    return labels
