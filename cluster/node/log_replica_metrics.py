"""Prometheus metrics of a storage node's log replicas, read at scrape time from its manager."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.node.log_replica_manager import LogReplicaManager


class LogReplicaNode(Protocol):
    process_id: str
    log_replicas: LogReplicaManager
    log_replica_groups: set[str]


class LogReplicaCollector(Collector):
    """log_replica_changes_total{process,action} (every kind, from 0), failures, and groups hosted."""

    def __init__(self, node: LogReplicaNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        process = self.node.process_id
        manager = self.node.log_replicas
        changes = CounterMetricFamily(
            "log_replica_changes_total",
            "Membership changes this node committed as a group leader around an unhealthy storage replica.",
            labels=["process", "action"],
        )
        for action, count in sorted(manager.changes.items()):
            changes.add_metric([process, action], count)
        yield changes
        failures = CounterMetricFamily(
            "log_replica_change_failures_total",
            "Membership changes that failed (no reachable spare node, not committed in time, leadership lost).",
            labels=["process"],
        )
        failures.add_metric([process], manager.failures)
        yield failures
        hosted = GaugeMetricFamily(
            "log_replicas_hosted", "Groups this node holds only a log replica (or learner) of.", labels=["process"]
        )
        hosted.add_metric([process], len(self.node.log_replica_groups))
        yield hosted
