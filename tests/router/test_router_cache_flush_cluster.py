"""A real cluster under a steady stream of requests, its routers' caches flushed: the metadata load.

Constant-work routers cost the metadata service one lookup per request, so the flush leaves its
request rate flat (peak <= 1.2 x steady). Classic routers cost it almost nothing while warm and a burst
when every cache goes cold at once: the same verifier fails them. Asserted as counts and ratios with
margins, never as latencies.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chaos.faults.cache_flush import CacheFlush
from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView
from cluster.deploy.local_processes import LocalCluster, build_topology
from cluster.router.partition_cache import CLASSIC, CONSTANT_WORK
from gameday.checks.metadata_load import (
    PEAK_RATIO_LIMIT,
    MetadataLoadSampler,
    judge_metadata_load,
    metadata_addresses,
    rates,
    read_samples,
)
from tests.cluster.conftest import create_tables, make_client

pytestmark = pytest.mark.cluster

TABLES = [f"cache-{number}" for number in range(6)]
CLIENTS = 6
RATE_PER_CLIENT_S = 20.0  # paced: the request rate stays flat whatever the metadata service does
STEADY_S = 5.0  # the verifier needs 3 one-second windows before a flush
AFTER_FLUSH_S = 4.0  # it judges the 3 s after one


def cluster_in_mode(data_dir: Path, mode: str) -> LocalCluster:
    """A 3-AZ cluster whose routers cache in `mode` (the topology is written before `up` reads it)."""
    data_dir.mkdir(parents=True)
    topology = build_topology(3, 1, 4)
    topology.router_cache_mode = mode
    topology.save(data_dir / "topology.json")
    return LocalCluster(data_dir)


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[dict[str, LocalCluster]]:
    """One cluster per mode, run side by side: each phase below is fixed time, and the two loads together
    keep less than a core busy. They start one after the other, so that the second draws its ports while
    the first already holds its own."""
    clusters: dict[str, LocalCluster] = {}
    try:
        for mode in (CONSTANT_WORK, CLASSIC):
            clusters[mode] = cluster_in_mode(tmp_path / mode, mode)
            clusters[mode].up(azs=3, nodes_per_az=1, wait_s=60)
        yield clusters
    finally:
        for cluster in clusters.values():
            cluster.down()


class PacedClients:
    """Threads sending GetItem at a fixed pace, round robin over tables and routers; counts answers."""

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints
        self.stop = threading.Event()
        self.sent = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def __enter__(self) -> PacedClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, number: int) -> None:
        url = urlparse(self.endpoints[number % len(self.endpoints)])
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        next_s = time.monotonic()
        request_number = number
        while not self.stop.is_set():
            table = TABLES[request_number % len(TABLES)]
            request_number += 1
            body = json.dumps({"TableName": table, "Key": {"pk": {"S": f"k{request_number % 7}"}}})
            headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"}
            try:
                connection.request("POST", "/", body, headers)
                status = connection.getresponse()
                status.read()
                ok = status.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            with self._lock:
                self.sent += 1
                self.errors += 0 if ok else 1
            next_s += 1.0 / RATE_PER_CLIENT_S
            self.stop.wait(max(0.0, next_s - time.monotonic()))


def lookups_served(cluster: LocalCluster) -> int:
    path = cluster.data_dir / "counters.jsonl"
    sampler = MetadataLoadSampler(metadata_addresses(cluster), path)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    samples = read_samples(path)
    path.unlink()
    latest: dict[str, int] = {}
    for sample in samples:
        if "error" not in sample:
            latest[sample["process"]] = sample["lookups_served"]
    assert len(latest) == 3, samples
    return sum(latest.values())


def test_flush_under_load_metadata_rate(clusters: dict[str, LocalCluster], tmp_path: Path) -> None:
    with ThreadPoolExecutor(len(clusters)) as pool:
        runs = [pool.submit(_flush_under_load, cluster, mode, tmp_path / f"{mode}-samples") for mode, cluster in clusters.items()]
        for run in runs:
            run.result()  # a failed assertion in either mode fails the test


def _flush_under_load(cluster: LocalCluster, mode: str, scratch: Path) -> None:
    assert cluster.topology().router_cache_mode == mode
    endpoints = list(cluster.endpoints().values())
    admin = make_client(endpoints[0])
    create_tables(admin, TABLES)
    scratch.mkdir()
    samples_path = scratch / "metadata-load.jsonl"
    sampler = MetadataLoadSampler(metadata_addresses(cluster), samples_path, cluster.endpoints())
    flush = CacheFlush({"routers": "all"})
    context = FaultContext(cluster, lambda: LeaderView({}, []))
    lookups_before = lookups_served(cluster)
    with PacedClients(endpoints) as clients:
        time.sleep(2.0)  # every router has looked every table up once: caches warm
        sampler.start()
        try:
            time.sleep(STEADY_S)
            flushed_at_s = time.monotonic()
            result = flush.start(context)
            time.sleep(AFTER_FLUSH_S)
        finally:
            sampler.stop()
    time.sleep(1.0)  # the last asynchronous lookups land
    sent = clients.sent
    lookups = lookups_served(cluster) - lookups_before
    assert sorted(result["routers"]) == ["router-a", "router-b", "router-c"], result
    assert set(result["entries_flushed"].values()) == {len(TABLES)}, result
    assert clients.errors == 0
    samples = read_samples(samples_path)
    verdict = judge_metadata_load(rates(samples, "metadata"), [flushed_at_s], mode, rates(samples, "router"))
    print(mode, verdict.detail, f"requests {sent}, lookups {lookups}")
    if mode == CONSTANT_WORK:
        # Exactly one lookup per request, hit or miss (DescribeTable/ListTables read catalogues, not lookups).
        assert lookups == sent, (lookups, sent)
        assert verdict.valid is True, verdict.detail
        assert verdict.data["ratio"] <= PEAK_RATIO_LIMIT
        assert verdict.data["flushes"][0]["steady_per_client_request"] == pytest.approx(1.0, abs=0.1)
    else:
        # Only misses: each router's first request per table (the creating router cached its tables), then
        # one per router and table after the flush, plus any miss that raced the first one.
        assert len(TABLES) * 3 + len(TABLES) * 2 <= lookups <= sent / 10, (lookups, sent)
        assert verdict.valid is False, verdict.detail
        assert verdict.data["steady_per_s"] < 1.0 and verdict.data["ratio"] > 5 * PEAK_RATIO_LIMIT
        assert verdict.data["peak_per_s"] >= len(TABLES) * 3 / 2  # the burst lands within two 1 s bins
