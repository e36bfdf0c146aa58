from __future__ import annotations

import pytest

from dashboards.promql_names import expression_names


@pytest.mark.parametrize(
    ("expression", "metrics", "labels"),
    [
        ("up", {"up"}, set()),
        (
            'sum by (az, endpoint_az) (rate(canary_requests_total{operation="write",outcome=~"ok|x"}[10s]))',
            {"canary_requests_total"},
            {"az", "endpoint_az", "operation", "outcome"},
        ),
        (
            "histogram_quantile(0.99, sum(rate(wal_fsync_latency_seconds_bucket[1m])) by (process, le))",
            {"wal_fsync_latency_seconds_bucket"},
            {"process", "le"},
        ),
        (
            "count by (group) (raft_role) unless on (group) count by (group) (raft_role == 2)",
            {"raft_role"},
            {"group"},
        ),
        ("raft_commit_index - raft_applied_index offset 5m", {"raft_commit_index", "raft_applied_index"}, set()),
        ('a / ignoring (follower) group_left (x) b and bool c{d="and or"}', {"a", "b", "c"}, {"follower", "x", "d"}),
        ("absent(canary_up) or max_over_time(canary_up[1h]) > 1e3", {"canary_up"}, set()),
    ],
)
def test_names_of_expression(expression: str, metrics: set[str], labels: set[str]) -> None:
    names = expression_names(expression)
    assert names.metrics == metrics
    assert names.labels == labels
