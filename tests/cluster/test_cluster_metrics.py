"""Every cluster process serves /metrics on its own port with the contracted names and labels."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter, defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.metrics_raft import ROLE_VALUES
from dashboards.metric_contract import CONTRACT, TARGET_LABELS, series_labels
from tests.cluster.conftest import create_table, make_client

pytestmark = pytest.mark.cluster

PUTS_PER_ROUTER = 3
# Which contracted metric families each role must export (the canaries and the chaos controller
# export the rest, tested in their own packages).
ROLE_PREFIXES = {
    "router": ("router_",),
    "node": ("raft_", "wal_", "storage_node_", "scrub_", "archive_", "log_replica", "partition_throttles",
             "partition_consumed"),
    "metadata": ("raft_", "wal_", "metadata_", "partition_splits"),
}

Samples = list[tuple[str, dict[str, str], float]]


def _scrape(host: str, port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def _samples(exposition: str) -> Samples:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if not sample.name.endswith("_created")  # prometheus_client's creation times: queried by nothing
    ]


@pytest.fixture(scope="module")
def scraped(shared_cluster: LocalCluster) -> dict[str, tuple[str, Samples]]:
    """process id → (role, samples), after a table and a few writes through every router."""
    endpoints = shared_cluster.endpoints()
    create_table(make_client(next(iter(endpoints.values()))), "metrics-test")
    for az, url in sorted(endpoints.items()):
        client = make_client(url)
        for number in range(PUTS_PER_ROUTER):
            client.put_item(TableName="metrics-test", Item={"pk": {"S": f"{az}-{number}"}})
        client.get_item(TableName="metrics-test", Key={"pk": {"S": f"{az}-0"}}, ConsistentRead=True)
    topology = shared_cluster.topology()
    ports = Counter(port for spec in topology.processes for port in (spec.port, spec.metrics_port))
    # Two processes on one port: one of them serves no /metrics and the other is scraped in its place.
    assert not [port for port, uses in ports.items() if uses > 1], f"the topology hands out a port twice: {ports}"
    result = {}
    for spec in topology.processes:
        assert spec.metrics_port, f"{spec.process_id} has no metrics port"
        result[spec.process_id] = (spec.role, _samples(_scrape(spec.host, spec.metrics_port)))
    return result


def test_every_process_exports_only_contracted_names_with_their_labels(
    scraped: dict[str, tuple[str, Samples]],
) -> None:
    contracted = series_labels()
    exported_by_role: dict[str, set[str]] = defaultdict(set)
    for process_id, (role, samples) in scraped.items():
        assert samples, process_id
        for name, labels, _ in samples:
            assert name in contracted, f"{process_id} exports {name}, which the contract does not name"
            # job and instance are added by Prometheus at scrape time.
            assert set(labels) == contracted[name] - set(TARGET_LABELS), (process_id, name, labels)
            assert name.startswith(ROLE_PREFIXES[role]), (process_id, name)
            exported_by_role[role].add(name)
    for role, prefixes in ROLE_PREFIXES.items():
        expected = {
            series for metric in CONTRACT if metric.name.startswith(prefixes) for series in metric.series_names()
        }
        assert exported_by_role[role] == expected, role


def test_router_counts_match_the_requests_sent(scraped: dict[str, tuple[str, Samples]]) -> None:
    routers = {process_id: samples for process_id, (role, samples) in scraped.items() if role == "router"}
    assert len(routers) == 3
    for process_id, samples in routers.items():
        puts = [value for name, labels, value in samples
                if name == "router_requests_total" and labels["operation"] == "PutItem" and labels["code"] == "2xx"]  # fmt: skip
        assert puts == [PUTS_PER_ROUTER], process_id
        latency_count = [value for name, labels, value in samples
                         if name == "router_request_latency_seconds_count" and labels["operation"] == "PutItem"]  # fmt: skip
        assert latency_count == [PUTS_PER_ROUTER], process_id
        reasons = {labels["reason"] for name, labels, _ in samples if name == "router_retries_total"}
        assert {"not_leader", "unreachable", "timeout"} <= reasons


def test_replica_hosts_report_their_groups_and_fsyncs(scraped: dict[str, tuple[str, Samples]]) -> None:
    # Raft's election safety: at most one leader per group and term, whatever moment each scrape saw.
    leaders_by_term: dict[tuple[str, float], int] = defaultdict(int)
    for process_id, (role, samples) in scraped.items():
        if role == "router":
            continue
        roles = {labels["group"]: value for name, labels, value in samples if name == "raft_role"}
        assert roles and set(roles.values()) <= set(ROLE_VALUES.values()), process_id
        assert all(labels["process"] == process_id for _, labels, _ in samples)
        terms = {labels["group"]: value for name, labels, value in samples if name == "raft_term"}
        for group, value in roles.items():
            leaders_by_term[group, terms[group]] += value == ROLE_VALUES["leader"]
        commits = {labels["group"]: value for name, labels, value in samples if name == "raft_commit_index"}
        applied = {labels["group"]: value for name, labels, value in samples if name == "raft_applied_index"}
        assert commits.keys() == applied.keys() == roles.keys()
        assert all(value > 0 for name, _, value in samples if name == "wal_size_bytes")
        fsyncs = [value for name, _, value in samples if name == "wal_fsync_latency_seconds_count"]
        assert fsyncs and fsyncs[0] > 0, process_id
        if role == "node":
            own_leaders = [value for name, _, value in samples if name == "storage_node_leaders"]
            assert own_leaders == [sum(1 for value in roles.values() if value == ROLE_VALUES["leader"])]
        else:
            assert set(roles) == {"metadata"}
            answered = sum(value for name, labels, value in samples
                           if name == "metadata_requests_total" and labels["outcome"] == "ok")  # fmt: skip
            assert answered > 0 or roles["metadata"] != ROLE_VALUES["leader"], process_id
    assert leaders_by_term and all(count <= 1 for count in leaders_by_term.values()), leaders_by_term


def test_the_metrics_port_answers_only_get_metrics(shared_cluster: LocalCluster) -> None:
    spec = shared_cluster.topology().by_role("router")[0]
    with pytest.raises(urllib.error.HTTPError) as error:
        _scrape(spec.host, spec.metrics_port, "/nothing-here")
    assert error.value.code == 404
