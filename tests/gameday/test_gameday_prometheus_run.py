"""`gameday run --prometheus` end to end: a real Prometheus scrapes the whole run, keeps its data in the
run directory, the verdict carries its cross-check, and every dashboard panel has data from that run.

The scenario's p99 latency threshold is 1 ms, which every real request exceeds: a customer-facing
alarm fires in both sources (the canaries' files and Prometheus' alert rules), so the alarms panel has
data and the cross-check compares a run with alarms, not an idle one. That run is therefore INVALID
(exit 1) by design. The same run is judged against a baseline no real run can meet, so it also shows
`gameday run --baseline` failing a regression end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards.alert_rules import AlertThresholds
from dashboards.grafana import dashboard_models
from gameday.prometheus_crosscheck import range_query
from gameday.prometheus_server import DATA_DIR, PrometheusServer, find_prometheus, start_prometheus

pytestmark = pytest.mark.cluster

SCENARIO = """
name = "prometheus-tiny"
description = "A pause under load, watched by Prometheus; a 1 ms p99 threshold makes an alarm fire."
warmup_s = 3
recovery_s = 4
final_reads = false

[cluster]
azs = 3
nodes_per_az = 2
partitions_per_table = 2

[workload]
model = "register"
keys = 4
clients = 2
rate_per_client_s = 10
read_weight = 1
write_weight = 1
cas_weight = 1

[faults]
duration_s = 6
interval_s = 5
fault_duration_s = [3, 3]

[faults.mix]
pause = 1

[thresholds]
availability_outside_faults = 0.5
availability_inside_faults = 0.1
latency_p99_ms = 1
window_s = 3
regression_tolerance = 0.5
"""

# What Grafana substitutes in a query before sending it; none of our panels use them today.
GRAFANA_VARIABLES = {"$__rate_interval": "5s", "$__interval": "1s", "$__range": "60s"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    try:
        find_prometheus()
    except Exception as error:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(str(error))
    directory = tmp_path_factory.mktemp("prometheus-run")
    scenario = directory / "prometheus-tiny.toml"
    scenario.write_text(SCENARIO)
    # A baseline no real run can meet: 1 microsecond p99 on every pair.
    impossible = {
        "pairs": {f"az-{c}->az-{e}": {"latency_p99_ms": 0.001} for c in "abc" for e in "abc"},
        "seed": 0,
    }
    baseline = directory / "baseline.json"
    baseline.write_text(json.dumps(impossible))
    run_dir = directory / "run"
    started_s = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", "run", str(scenario), "--seed", "7", "--out", str(run_dir), "--prometheus",
         "--baseline", str(baseline)],
        cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
        process.wait()
    yield {"output": output, "code": process.returncode, "run_dir": run_dir, "start_s": started_s, "end_s": time.time()}


@pytest.fixture(scope="module")
def reopened(finished_run: dict[str, Any]) -> Iterator[PrometheusServer]:
    """The run's Prometheus restarted over its kept TSDB, as a user browsing the run afterwards would."""
    browse_dir = finished_run["run_dir"] / "browse"
    browse_dir.mkdir()
    (browse_dir / DATA_DIR).symlink_to(finished_run["run_dir"] / DATA_DIR)

    class NoRules:  # rules would evaluate again over the past: not wanted when browsing
        availability_outside_faults = 0.5
        latency_p99_ms = 1e9
        window_s = 3.0

    thresholds: AlertThresholds = NoRules()
    server = start_prometheus(browse_dir, {}, thresholds)
    try:
        yield server
    finally:
        server.stop()


def test_the_run_ends_with_a_verdict_that_carries_the_prometheus_cross_check(finished_run: dict[str, Any]) -> None:
    output, run_dir = finished_run["output"], finished_run["run_dir"]
    assert finished_run["code"] == 1, output  # the 1 ms p99 alarm fires: INVALID, by design
    assert "prometheus UI: http://127.0.0.1:" in output and "prometheus stopped; to browse this run again" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    verifiers = {verifier["name"]: verifier for verifier in summary["verifiers"]}
    assert verifiers["alarms"]["valid"] is False
    crosscheck = verifiers["prometheus"]
    assert crosscheck["valid"] is True, crosscheck["detail"]
    assert crosscheck["detail"].startswith("prometheus agrees")
    assert "CanaryLatencyP99High" in crosscheck["detail"]
    assert (run_dir / "prometheus.yml").exists() and (run_dir / "prometheus-rules.yml").exists()
    assert any((run_dir / DATA_DIR).iterdir())
    for job in ("storage-node", "metadata", "router", "canary", "chaos"):
        assert f"job_name: \"{job}\"" in (run_dir / "prometheus.yml").read_text()


def test_a_run_that_regresses_against_its_baseline_fails_on_the_regression(finished_run: dict[str, Any]) -> None:
    assert finished_run["code"] == 1, finished_run["output"]
    verifiers = {v["name"]: v for v in json.loads((finished_run["run_dir"] / "summary.json").read_text())["verifiers"]}
    assert verifiers["regression"]["valid"] is False
    assert "latency_p99_ms" in verifiers["regression"]["detail"]
    # Every verifier but the two this run fails by design passed: the regression is the baseline's doing.
    assert all(v["valid"] is True for name, v in verifiers.items() if name not in ("regression", "alarms"))


def _panel_queries() -> list[tuple[str, str]]:
    class Thresholds:
        availability_outside_faults = 0.5
        latency_p99_ms = 1.0
        window_s = 3.0

    queries = []
    for file_name, dashboard in dashboard_models(Thresholds()).items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                queries.append((f"{file_name}: {panel['title']}", target["expr"]))
        for annotation in dashboard["annotations"]["list"]:
            queries.append((f"{file_name}: annotation {annotation['name']}", annotation["expr"]))
    return queries


def test_every_dashboard_panel_has_data_from_the_run(
    finished_run: dict[str, Any], reopened: PrometheusServer
) -> None:
    queries = _panel_queries()
    assert len(queries) > 20
    empty = []
    for where, expr in queries:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        data = range_query(reopened.url, expr, finished_run["start_s"], finished_run["end_s"], 1.0)
        if not any(series["values"] for series in data["result"]):
            empty.append(f"{where}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
