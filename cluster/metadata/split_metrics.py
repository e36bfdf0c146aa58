"""partition_splits_total on metadata replicas: finished splits per table, read from the catalogue at scrape time.

Every replica applies the same catalogue, so each exports the same count; a new metadata leader keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.metadata.split_service import SplitService


class SplitHost(Protocol):
    process_id: str
    splits: SplitService


class SplitCollector(Collector):
    def __init__(self, host: SplitHost) -> None:
        self.host = host

    def collect(self) -> Iterator[Metric]:
        splits = CounterMetricFamily(
            "partition_splits", "Splits for consumption finished, per table.", labels=["process", "table"]
        )
        for table, count in sorted(self.host.splits.finished_counts().items()):
            splits.add_metric([self.host.process_id, table], count)
        yield splits
