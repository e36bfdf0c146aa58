"""Prometheus metrics of a replica host (storage node or metadata replica), read at scrape time.

The Raft gauges are not updated as the replicas change: a custom collector reads each group's state
when Prometheus scrapes, so consensus pays nothing per message or per tick. Only the WAL fsync latency
is observed as it happens (once per fsync, off the event loop, in the fsync thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.replication.group_runner import GroupRunner

# The contract's encoding of a replica's role (dashboards/metric_contract.py): 2 is the leader.
ROLE_VALUES = {"follower": 0, "pre_candidate": 1, "candidate": 1, "leader": 2}
# From a page-cache write (tens of microseconds) to a disk stalled for seconds.
FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RaftHost(Protocol):
    """What the collector needs of a replica host (cluster.replication.replica_host.ReplicaHost fits)."""

    process_id: str
    groups: dict[str, GroupRunner]
    request_counts: dict[tuple[str, str], int]


class RaftCollector(Collector):
    """raft_* and wal_size_bytes per group; storage_node_leaders on nodes; metadata requests on metadata."""

    def __init__(self, host: RaftHost, role: str) -> None:
        self.host = host
        self.role = role

    def collect(self) -> Iterator[Metric]:
        process = self.host.process_id
        labels = ["process", "group"]
        role = GaugeMetricFamily("raft_role", "Raft role of this replica: 0 follower, 1 candidate, 2 leader.", labels=labels)
        term = GaugeMetricFamily("raft_term", "Current Raft term of this replica.", labels=labels)
        commit = GaugeMetricFamily("raft_commit_index", "Highest log index this replica knows committed.", labels=labels)
        applied = GaugeMetricFamily(
            "raft_applied_index", "Highest log index applied to this replica's state machine.", labels=labels
        )
        lag = GaugeMetricFamily(
            "raft_replication_lag_entries",
            "Entries a follower is behind this leader's last index (exported by leaders only).",
            labels=[*labels, "follower"],
        )
        wal_size = GaugeMetricFamily("wal_size_bytes", "Bytes of this replica's write-ahead log on disk.", labels=labels)
        leaders = 0
        # A snapshot of the dict: the event loop may add or drop a group while a scrape runs.
        for group_id, group in list(self.host.groups.items()):
            if group.closed:
                continue
            status = group.replica.status()
            values = [process, group_id]
            role_value = ROLE_VALUES.get(str(status["role"]), 0)
            leaders += role_value == ROLE_VALUES["leader"]
            role.add_metric(values, role_value)
            term.add_metric(values, status["term"])
            commit.add_metric(values, status["commit_index"])
            applied.add_metric(values, group.state_machine.applied_index)
            wal_size.add_metric(values, group.wal.size_bytes())
            for follower, progress in (status.get("followers") or {}).items():
                if follower != process:
                    lag.add_metric([*values, follower], max(0, status["last_index"] - progress["match"]))
        yield from (role, term, commit, applied, lag, wal_size)
        if self.role == "node":
            node_leaders = GaugeMetricFamily(
                "storage_node_leaders", "Partition groups this storage node leads.", labels=["process"]
            )
            node_leaders.add_metric([process], leaders)
            yield node_leaders
        if self.role == "metadata":
            requests = CounterMetricFamily(
                "metadata_requests",
                "Requests the metadata service answered, by method and outcome (ok or error).",
                labels=["process", "method", "outcome"],
            )
            for (method, outcome), count in sorted(dict(self.host.request_counts).items()):
                requests.add_metric([process, method, outcome], count)
            yield requests


def raft_registry(host: RaftHost, role: str) -> tuple[CollectorRegistry, Histogram]:
    """A registry of the host's own (not the global one) and the fsync histogram the host must feed."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RaftCollector(host, role))
    fsync = Histogram(
        "wal_fsync_latency_seconds",
        "Time one WAL fsync took (every group's fsyncs of this process).",
        ["process"],
        buckets=FSYNC_BUCKETS_S,
        registry=registry,
    )
    return registry, fsync
