"""chaos_active_faults: every kind at 0, the controller's faults in force counted, served over HTTP."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaos.controller import ChaosController
from chaos.faults.kinds import FAULT_KINDS
from chaos.metrics import chaos_registry, serve_chaos_metrics
from chaos.schedule import PlannedFault
from dashboards.metric_contract import series_labels
from tests.chaos.test_chaos_controller import StandInCluster, cluster  # noqa: F401 - the fixture


def _values(exposition: str) -> dict[str, float]:
    values = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            assert sample.name == "chaos_active_faults"
            assert set(sample.labels) == series_labels()["chaos_active_faults"] - {"job", "instance"}
            values[sample.labels["kind"]] = sample.value
    return values


def test_every_kind_is_exported_and_active_faults_are_counted() -> None:
    active = {"pause": 2}
    values = _values(generate_latest(chaos_registry(lambda: active)).decode())
    assert set(values) == set(FAULT_KINDS)
    assert values["pause"] == 2 and values["power-off"] == 0
    active.clear()  # read at scrape time: a healed fault is 0 at the next scrape
    assert _values(generate_latest(chaos_registry(lambda: active)).decode())["pause"] == 0


def test_the_game_day_exporter_serves_metrics_over_http() -> None:
    server, port = serve_chaos_metrics(lambda: {"kill-leader": 1})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert _values(response.read().decode())["kill-leader"] == 1
    finally:
        server.shutdown()
        server.server_close()


def test_the_controller_counts_a_fault_from_its_start_to_its_heal(cluster: StandInCluster) -> None:  # noqa: F811
    seen: list[tuple[str, dict[str, int]]] = []
    controller: ChaosController

    def record(event: dict[str, Any]) -> None:
        seen.append((event["f"], controller.active_fault_counts()))

    controller = ChaosController(cluster, record)
    plan = [PlannedFault(0.0, 0.3, "pause", {"process_id": "node-c1", "az": "az-c"})]
    controller.run(plan, threading.Event(), time.monotonic())
    assert seen == [("start-pause", {"pause": 1}), ("stop-pause", {})]
