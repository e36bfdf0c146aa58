"""One canary, in process, against real DynamoDB endpoints (moto_server), healthy and failing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from canaries.canary import Canary
from canaries.probe import make_dynamodb_client
from loadgen.dynamodb_client import ensure_table
from tests.canaries.conftest import MotoEndpoints

INTERVAL_S = 0.1
TABLE = "canary"


class Collected:
    """A thread-safe ``record`` that keeps everything in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def __call__(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)

    def between(self, endpoint_az: str, start_s: float, end_s: float) -> list[dict[str, Any]]:
        with self._lock:
            return [
                r for r in self.records if r["endpoint_az"] == endpoint_az and start_s <= r["time_s"] < end_s
            ]


def start_endpoints(moto_endpoints: MotoEndpoints) -> dict[str, str]:
    urls = moto_endpoints.start(["az-a", "az-b"])
    for url in urls.values():
        ensure_table(make_dynamodb_client(url, 2.0), TABLE, timeout_s=15.0)
    return urls


def test_healthy_endpoints_give_ok_probes_with_every_field(moto_endpoints: MotoEndpoints) -> None:
    urls = start_endpoints(moto_endpoints)
    collected = Collected()
    with Canary("az-a", urls, TABLE, INTERVAL_S, collected, timeout_s=1.0):
        time.sleep(1.0)
    assert collected.records
    by_step = Counter((r["endpoint_az"], r["operation"], r["outcome"]) for r in collected.records)
    for endpoint_az in urls:
        for operation in ("write", "consistent_read", "eventual_read"):
            assert by_step[(endpoint_az, operation, "ok")] >= 5, by_step
    assert {outcome for _, _, outcome in by_step} == {"ok"}
    first = collected.records[0]
    common = {
        "time_s", "wall_time_s", "canary_az", "endpoint_az", "endpoint",
        "operation", "outcome", "error_class", "latency_ms", "key", "sequence",
    }  # fmt: skip
    assert set(first) == common | ({"read_sequence"} if first["operation"] != "write" else set())
    assert first["canary_az"] == "az-a" and first["endpoint"] == urls[first["endpoint_az"]]
    assert first["error_class"] is None and 0 < first["latency_ms"] < 1000
    # Evidence for a data alarm: each read names the key and the sequence written, and what it read back.
    reads = [r for r in collected.records if r["operation"] == "consistent_read"]
    assert all(r["read_sequence"] == r["sequence"] and r["key"].startswith("canary#az-a#") for r in reads)
    assert not any(r["operation"] == "cross_read" for r in collected.records)  # off unless asked for


def test_hung_endpoint_times_out_without_slowing_the_other(moto_endpoints: MotoEndpoints) -> None:
    urls = start_endpoints(moto_endpoints)
    collected = Collected()
    with Canary("az-a", urls, TABLE, INTERVAL_S, collected, timeout_s=0.5):
        time.sleep(0.5)
        moto_endpoints.pause("az-b")
        paused_s = time.monotonic()
        time.sleep(2.5)
        observed_until_s = time.monotonic()
    after = collected.between("az-b", paused_s + 0.2, observed_until_s)
    assert after and {(r["outcome"], r["error_class"]) for r in after} == {("error", "ReadTimeoutError")}
    # Each timed-out request is bounded by the timeout, not by anything longer.
    assert max(r["latency_ms"] for r in after) < 1500
    healthy_writes = [
        r for r in collected.between("az-a", paused_s, observed_until_s) if r["operation"] == "write"
    ]
    expected_probes = (observed_until_s - paused_s) / INTERVAL_S
    assert len(healthy_writes) >= 0.7 * expected_probes, (len(healthy_writes), expected_probes)
    assert {r["outcome"] for r in healthy_writes} == {"ok"}


def test_killed_endpoint_is_connection_refused(moto_endpoints: MotoEndpoints) -> None:
    urls = start_endpoints(moto_endpoints)
    collected = Collected()
    with Canary("az-b", urls, TABLE, INTERVAL_S, collected, timeout_s=0.5) as canary:
        time.sleep(0.5)
        moto_endpoints.kill("az-a")
        killed_s = time.monotonic()
        time.sleep(1.0)
        probes_before_stop = canary.probes_done()
    assert not canary.running
    after = collected.between("az-a", killed_s + 0.1, time.monotonic())
    assert after and {(r["outcome"], r["error_class"]) for r in after} == {("error", "ConnectionRefused")}
    assert {r["outcome"] for r in collected.between("az-b", killed_s, time.monotonic())} == {"ok"}
    # Refusals are quick, so the dead endpoint keeps its probe rate too (it is measured, not skipped).
    assert probes_before_stop["az-a"] >= 0.7 * probes_before_stop["az-b"]
