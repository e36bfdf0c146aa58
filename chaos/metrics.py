"""``chaos_active_faults{kind}``: the faults the chaos controller has in force, read at scrape time.

The game-day process serves it over HTTP for the run's Prometheus, so the dashboards can draw fault
windows next to the alarms they cause. Every kind is exported, at 0 when not in force, so a query
sees "no fault" rather than "no data".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chaos.faults.kinds import FAULT_KINDS

ActiveCounts = Callable[[], Mapping[str, int]]


class ActiveFaultsCollector(Collector):
    def __init__(self, active_counts: ActiveCounts, kinds: Iterable[str] = FAULT_KINDS) -> None:
        self.active_counts = active_counts
        self.kinds = tuple(kinds)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "chaos_active_faults", "Faults the chaos controller has started and not yet healed.", labels=["kind"]
        )
        counts = dict(self.active_counts())
        for kind in sorted(set(self.kinds) | set(counts)):
            family.add_metric([kind], counts.get(kind, 0))
        yield family


def chaos_registry(active_counts: ActiveCounts) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ActiveFaultsCollector(active_counts))
    return registry


def serve_chaos_metrics(active_counts: ActiveCounts, address: str = "127.0.0.1", port: int = 0) -> tuple[Any, int]:
    """Serve ``/metrics`` from a thread; returns the server (``shutdown()`` and ``server_close()`` it) and port."""
    server, _thread = start_http_server(port, addr=address, registry=chaos_registry(active_counts))
    return server, int(server.server_port)
