"""The Prometheus side of a game day run with ``--prometheus``: what to scrape, start, stop.

game_day.py calls ``scrape_targets`` (pure), ``start_run_prometheus`` once the cluster and canaries
are up, and ``stop`` at the end, whatever happened; the prometheus check (gameday/checks/prometheus.py)
cross-checks the canaries against it in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.metrics import ActiveCounts, serve_chaos_metrics
from cluster.runtime.topology import Topology
from dashboards.alert_rules import AlertThresholds
from gameday.prometheus_server import (
    CONFIG_FILE,
    DATA_DIR,
    PrometheusServer,
    browse_command,
    start_prometheus,
)

# Job names by process role: the dashboards group by these.
_JOBS = {"node": "storage-node", "metadata": "metadata", "router": "router"}


def scrape_targets(
    topology: Topology,
    canary_ports: Mapping[str, int],
    chaos_port: int,
    process_targets: Mapping[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """job → ["host:port", ...]: every cluster process that serves metrics, every canary, the chaos exporter.

    `process_targets` (role → addresses) replaces the topology's own addresses when the processes are
    reached another way from this machine (the Docker backend's ports published on 127.0.0.1)."""
    targets: dict[str, list[str]] = {job: [] for job in _JOBS.values()}
    if process_targets is not None:
        for role, addresses in process_targets.items():
            targets[_JOBS[role]] += list(addresses)
    for spec in topology.processes if process_targets is None else ():
        if spec.metrics_port:
            targets[_JOBS[spec.role]].append(f"{spec.host}:{spec.metrics_port}")
    targets["canary"] = [f"127.0.0.1:{port}" for _, port in sorted(canary_ports.items())]
    targets["chaos"] = [f"127.0.0.1:{chaos_port}"]
    return {job: addresses for job, addresses in targets.items() if addresses}


@dataclass
class RunPrometheus:
    server: PrometheusServer
    chaos_server: Any  # prometheus_client's WSGI server: shutdown() and server_close()
    started_wall_s: float

    def summary(self) -> dict[str, Any]:
        return {
            "url": self.server.url,
            "config": str(self.server.run_dir / CONFIG_FILE),
            "tsdb": str(self.server.run_dir / DATA_DIR),
            "browse_after_run": browse_command(self.server.binary, self.server.run_dir),
        }

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.chaos_server.shutdown()
            self.chaos_server.server_close()


def start_run_prometheus(
    run_dir: Path,
    topology: Topology,
    canary_ports: Mapping[str, int],
    active_faults: ActiveCounts,
    thresholds: AlertThresholds,
    say: Callable[[str], None],
    process_targets: Mapping[str, list[str]] | None = None,
) -> RunPrometheus:
    started_wall_s = time.time()
    chaos_server, chaos_port = serve_chaos_metrics(active_faults)
    try:
        # The rules' minimum samples per window are the game day's own (dashboards.alert_rules.default_samples_min).
        targets = scrape_targets(topology, canary_ports, chaos_port, process_targets)
        server = start_prometheus(run_dir, targets, thresholds)
    except BaseException:
        chaos_server.shutdown()
        chaos_server.server_close()
        raise
    say(
        f"prometheus UI: {server.url}/graph (try ALERTS or canary_requests_total); "
        f"scraping every process every second; data in {run_dir / DATA_DIR}"
    )
    return RunPrometheus(server, chaos_server, started_wall_s)
