"""A fleet of canary processes (one per AZ) against real endpoints, through an endpoint outage, to alarms."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from canaries.alarms import AlarmThresholds, evaluate_alarms
from canaries.fleet import CanaryStartError, start_canaries
from canaries.records_file import read_records
from tests.canaries.conftest import MotoEndpoints

INTERVAL_S = 0.1


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_fleet_measures_an_endpoint_outage_and_alarms_on_it_only(
    moto_endpoints: MotoEndpoints, tmp_path: Path
) -> None:
    urls = moto_endpoints.start(["az-a", "az-b"])
    # Each canary reaches every endpoint; on loopback the URL is the same from every AZ.
    endpoints_by_az = {"az-a": dict(urls), "az-b": dict(urls)}
    fleet = start_canaries(endpoints_by_az, "fleet", tmp_path / "run", INTERVAL_S, timeout_s=0.5)
    pids = fleet.pids
    try:
        run_start_s = time.monotonic()
        assert set(fleet.metrics_ports) == {"az-a", "az-b"}
        time.sleep(2.0)
        for canary_az, port in fleet.metrics_ports.items():
            values = scrape(port)
            assert values[("canary_up", frozenset({("az", canary_az)}))] == 1.0
            for endpoint_az in urls:
                labels = frozenset(
                    {
                        ("az", canary_az),
                        ("endpoint_az", endpoint_az),
                        ("operation", "write"),
                        ("outcome", "ok"),
                    }
                )
                assert values[("canary_requests_total", labels)] >= 5, (canary_az, endpoint_az)
        kill_started_s = time.monotonic()
        moto_endpoints.kill("az-b")
        outage_start_s = time.monotonic()
        time.sleep(3.0)
        run_end_s = time.monotonic()
    finally:
        exit_codes = fleet.stop()
    assert exit_codes == {"az-a": 0, "az-b": 0}
    assert not any(process_alive(pid) for pid in pids.values())

    records = list(read_records(fleet.records_path))
    # Steps that completed before the kill began; one in flight during the kill may fail either way.
    before = [r for r in records if r["time_s"] + r["latency_ms"] / 1000 < kill_started_s]
    assert {(r["canary_az"], r["endpoint_az"], r["outcome"], r["error_class"]) for r in before} == {
        (canary, endpoint, "ok", None) for canary in endpoints_by_az for endpoint in urls
    }
    settled = [r for r in records if outage_start_s + 0.2 <= r["time_s"] < run_end_s]
    dead = [r for r in settled if r["endpoint_az"] == "az-b"]
    assert dead and {(r["outcome"], r["error_class"]) for r in dead} == {("error", "ConnectionRefused")}
    alive = [r for r in settled if r["endpoint_az"] == "az-a"]
    assert {r["outcome"] for r in alive} == {"ok"}
    # The live endpoint keeps its probe rate during the outage, from both canaries.
    writes_per_canary = Counter(r["canary_az"] for r in alive if r["operation"] == "write")
    expected_probes = (run_end_s - outage_start_s - 0.2) / INTERVAL_S
    assert all(writes_per_canary[az] >= 0.7 * expected_probes for az in endpoints_by_az), writes_per_canary

    # One-second windows; no fault was declared, so the outage must fire the strict alarms.
    thresholds = AlarmThresholds(window_s=1.0, samples_min=5, latency_p99_max_ms_outside_fault=5000.0)
    report = evaluate_alarms(records, thresholds, [], run_start_s, run_end_s)
    fired = {(alarm.canary_az, alarm.endpoint_az, alarm.kind) for alarm in report.alarms}
    assert fired == {
        (canary_az, "az-b", kind)
        for canary_az in endpoints_by_az
        for kind in ("write-availability", "read-availability")
    }
    summary = {(pair.canary_az, pair.endpoint_az): pair for pair in report.summary}
    assert summary[("az-a", "az-a")].write_availability == 1.0
    assert summary[("az-a", "az-b")].write_availability < 0.8


def test_failed_start_leaves_no_process_behind(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(CanaryStartError, match="exited with 2"):
        start_canaries({"az-a": {"az-a": closed_url}}, "fleet", tmp_path, INTERVAL_S, startup_timeout_s=1.0)
    assert "set-up at az-a failed" in (tmp_path / "canary-az-a.log").read_text()
