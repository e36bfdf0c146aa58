"""Prometheus counters of a node's scrub and WAL archive, read at scrape time from its findings log.

Register it on the node's own registry: `registry.register(ScrubCollector(node))` for role "node".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.scrub.coordinator import ScrubCoordinator
from cluster.scrub.findings import COUNTER_NAMES

_HELP = {
    "scrub_rounds_total": "Scrub rounds this node ran as a group leader (marker committed, digests compared).",
    "scrub_items_digested_total": "Items this node's own replica digested in the rounds it led (each replica digests as many).",
    "scrub_undecided_rounds_total": "Scrub rounds that decided nothing (marker not committed).",
    "scrub_mismatches_total": "Replica key ranges found differing from the majority or the archive reference.",
    "scrub_repairs_total": "Repair commands committed for a damaged replica's key range.",
    "scrub_repaired_items_total": "Items those repairs rewrote.",
    "scrub_reference_checks_total": "Comparisons of live replicas with a reference replayed from the archived WAL.",
    "scrub_reference_mismatches_total": "Live replica ranges the archive reference disagreed with (and the majority did not).",
    "scrub_unverifiable_total": "Replicas that gave no digest in several rounds in a row.",
    "archive_segments_total": "Sealed WAL segments copied to the archive.",
    "archive_errors_total": "Failed attempts to copy WAL segments to the archive.",
}


class ScrubNode(Protocol):
    process_id: str
    scrub: ScrubCoordinator


class ScrubCollector(Collector):
    def __init__(self, node: ScrubNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        process = self.node.process_id
        counters = dict(self.node.scrub.findings.counters)
        for name in COUNTER_NAMES:
            family = CounterMetricFamily(name, _HELP.get(name, name), labels=["process"])
            family.add_metric([process], counters.get(name, 0))
            yield family
        enabled = GaugeMetricFamily("scrub_enabled", "1 when this node scrubs and archives its WAL.", labels=["process"])
        enabled.add_metric([process], 1 if self.node.scrub.settings.enabled else 0)
        yield enabled
