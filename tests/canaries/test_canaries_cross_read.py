"""Cross-endpoint read-after-write against real DynamoDB endpoints (moto_server).

Two moto servers share no data: a router that reads from somewhere the acknowledged write has not
reached (a deposed leader) answers like the second one. One server under two AZ names is one store.
"""

from __future__ import annotations

import time
from collections import Counter

from canaries.canary import Canary
from canaries.cross_read import CrossReader
from canaries.data_alarms import evaluate_data_alarms
from canaries.probe import ProbeTarget, WrittenProbe, make_dynamodb_client
from loadgen.dynamodb_client import ensure_table
from tests.canaries.conftest import MotoEndpoints
from tests.canaries.test_canaries_canary import INTERVAL_S, TABLE, Collected, start_endpoints

WAIT_S = 60.0  # a generous bound: the machine may be busy; the tests wait for events, not for time


def cross_reads(collected: Collected) -> list[dict]:
    with collected._lock:
        return [r for r in collected.records if r["operation"] == "cross_read"]


def wait_for_cross_reads(collected: Collected, count: int) -> None:
    deadline_s = time.monotonic() + WAIT_S
    while len(cross_reads(collected)) < count:
        assert time.monotonic() < deadline_s, f"fewer than {count} cross reads within {WAIT_S} s"
        time.sleep(0.05)


def test_a_read_through_an_endpoint_the_write_never_reached_is_a_data_alarm(moto_endpoints: MotoEndpoints) -> None:
    urls = start_endpoints(moto_endpoints)
    collected = Collected()
    with Canary("az-a", urls, TABLE, INTERVAL_S, collected, timeout_s=1.0, cross_reads=True) as canary:
        wait_for_cross_reads(collected, 5)
    # Every probe through one endpoint is fine: write and read back through the same store.
    own = Counter((r["endpoint_az"], r["operation"], r["outcome"]) for r in collected.records if r["operation"] != "cross_read")
    assert {outcome for _, _, outcome in own} == {"ok"}, own
    # Only az-a's own writes are read across, and only through the other endpoint.
    crossed = cross_reads(collected)
    assert len(crossed) >= 5 and canary.cross_reads_done()["az-b"] == len(crossed)
    assert {(r["canary_az"], r["written_endpoint_az"], r["endpoint_az"], r["endpoint"]) for r in crossed} == {
        ("az-a", "az-a", "az-b", urls["az-b"])
    }
    assert {(r["outcome"], r["read_sequence"]) for r in crossed} == {("mismatch", None)}
    written = {(r["key"], r["sequence"]) for r in collected.records if r["operation"] == "write" and r["endpoint_az"] == "az-a"}
    assert {(r["key"], r["sequence"]) for r in crossed} <= written
    assert all(r["write_acknowledged_s"] <= r["time_s"] for r in crossed)  # read only after the write's answer
    report = evaluate_data_alarms(collected.records)
    assert report.validity() is False and len(report.violations) == len(crossed)


def test_one_store_behind_two_endpoints_passes_and_the_check_counts_it(moto_endpoints: MotoEndpoints) -> None:
    url = moto_endpoints.start(["az-a"])["az-a"]
    ensure_table(make_dynamodb_client(url, 2.0), TABLE, timeout_s=15.0)
    collected = Collected()
    with Canary("az-b", {"az-a": url, "az-b": url}, TABLE, INTERVAL_S, collected, timeout_s=1.0, cross_reads=True):
        wait_for_cross_reads(collected, 3)
    crossed = cross_reads(collected)
    assert crossed and {(r["written_endpoint_az"], r["endpoint_az"], r["outcome"]) for r in crossed} == {("az-b", "az-a", "ok")}
    assert all(r["read_sequence"] == r["sequence"] for r in crossed)
    assert evaluate_data_alarms(collected.records).validity() is True


def test_a_hung_endpoint_delays_neither_the_probes_nor_is_it_a_data_alarm(moto_endpoints: MotoEndpoints) -> None:
    url = moto_endpoints.start(["az-a"])["az-a"]
    hung = moto_endpoints.start(["az-b"])["az-b"]
    ensure_table(make_dynamodb_client(url, 2.0), TABLE, timeout_s=15.0)
    moto_endpoints.pause("az-b")
    collected = Collected()
    with Canary("az-a", {"az-a": url, "az-b": hung}, TABLE, INTERVAL_S, collected, timeout_s=0.5, cross_reads=True):
        wait_for_cross_reads(collected, 3)
    own_writes = [r for r in collected.records if r["endpoint_az"] == "az-a" and r["operation"] == "write"]
    assert {r["outcome"] for r in own_writes} == {"ok"}
    crossed = cross_reads(collected)
    assert {(r["outcome"], r["error_class"]) for r in crossed} == {("error", "ReadTimeoutError")}
    # Each cross read waits out a timeout while the own endpoint's probes go on: had the probing thread made
    # the cross reads, no own write could start while one was waiting. (Counted as overlap, not as a rate:
    # a busy machine slows both.) The newest write is read, older ones are skipped, so cross reads never
    # queue up behind a hung endpoint.
    during = [
        write for write in own_writes for read in crossed
        if read["time_s"] < write["time_s"] < read["time_s"] + read["latency_ms"] / 1000.0
    ]
    assert during, (own_writes, crossed)
    report = evaluate_data_alarms(collected.records)
    assert report.violations == [] and report.validity() == "unknown"


def test_a_busy_cross_reader_skips_to_the_newest_acknowledged_write() -> None:
    reader = CrossReader(ProbeTarget("az-a", "az-b", "http://127.0.0.1:9", TABLE), None, Collected(), time.monotonic, time.time)
    for sequence in (1, 2, 3):
        reader.offer(WrittenProbe(f"k{sequence}", sequence, "az-a", "http://127.0.0.1:8", float(sequence)))
    newest = reader.take(timeout_s=0.0)
    assert newest is not None and (newest.key, newest.sequence) == ("k3", 3) and reader.offers_skipped == 2
    assert reader.take(timeout_s=0.0) is None  # each write is read at most once
