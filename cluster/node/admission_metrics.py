"""Prometheus metrics of a storage node's admission control, read at scrape time from its buckets:
partition_throttles_total{process,group} and partition_consumed_units_total{process,group,kind} (kind read or
write). The node is the `process` label, as on every other series a storage node exports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.admission.partition_admission import KINDS, PartitionAdmission


class AdmissionNode(Protocol):
    process_id: str
    admission: PartitionAdmission
    groups: Mapping[str, object]
    log_replica_groups: set[str]


class AdmissionCollector(Collector):
    def __init__(self, node: AdmissionNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node.process_id
        usage = dict(self.node.admission.groups)
        # Every storage replica hosted, from 0 (rate() sees 0 rather than "no data"), and any group served.
        hosted = {group for group in self.node.groups if group not in self.node.log_replica_groups}
        throttles = CounterMetricFamily(
            "partition_throttles",
            "Requests this node refused because a partition replica's (or the node's) token bucket was empty.",
            labels=["process", "group"],
        )
        consumed = CounterMetricFamily(
            "partition_consumed_units",
            "Capacity units this node served, per partition replica and kind (read, write).",
            labels=["process", "group", "kind"],
        )
        for group in sorted(hosted | set(usage)):
            served = usage.get(group)
            throttles.add_metric([node, group], served.total_throttled if served else 0)
            for kind in KINDS:
                consumed.add_metric([node, group, kind], served.total_units[kind] if served else 0.0)
        yield throttles
        yield consumed
