from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from dashboards.grafana import (
    DATASOURCE_UID,
    PROVISIONING_DIR,
    canary_dashboard,
    cluster_dashboard,
    dashboard_models,
    write_dashboards,
)
from dashboards.metric_contract import series_labels
from dashboards.promql_names import expression_names
from dashboards.yaml_text import to_yaml
from gameday.scenario import load_scenario
from tests.dashboards.conftest import PromtoolRunner, describe


@dataclass(frozen=True)
class _Thresholds:
    availability_outside_faults: float
    latency_p99_ms: float
    window_s: float


DEFAULT = load_scenario("default").thresholds
# Unlike any shipped scenario, so a value taken from elsewhere than the argument shows.
CUSTOM = _Thresholds(availability_outside_faults=0.97, latency_p99_ms=800.0, window_s=20.0)
MODELS = dashboard_models(CUSTOM)


def _expressions(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every panel target and annotation query."""
    found = [
        (f"{model['uid']} panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"])
        for panel in model["panels"]
        for target in panel["targets"]
    ]
    found += [
        (f"{model['uid']} annotation {annotation['name']!r}", annotation["expr"])
        for annotation in model["annotations"]["list"]
    ]
    return found


ALL_EXPRESSIONS = [item for model in MODELS.values() for item in _expressions(model)]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_is_a_grafana_dashboard_model(name: str) -> None:
    model = json.loads(json.dumps(MODELS[name]))  # what Grafana reads: JSON, nothing Python-only
    assert model == MODELS[name]
    assert isinstance(model["schemaVersion"], int) and model["schemaVersion"] >= 36
    assert model["title"] and 0 < len(model["uid"]) <= 40
    panels = model["panels"]
    assert panels
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    rectangles = []
    for panel in panels:
        grid = panel["gridPos"]
        assert {key: type(value) for key, value in grid.items()} == {"h": int, "w": int, "x": int, "y": int}
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        rectangles.append((grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"], panel["title"]))
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        assert panel["type"] in {"timeseries", "table", "stat"}
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["type"] == "prometheus"
    for first, second in combinations(rectangles, 2):
        overlap = first[0] < second[2] and second[0] < first[2] and first[1] < second[3] and second[1] < first[3]
        assert not overlap, f"panels {first[4]!r} and {second[4]!r} overlap"
    for annotation in model["annotations"]["list"]:
        assert annotation["datasource"]["type"] == "prometheus" and annotation["expr"]


def test_every_expression_is_valid_promql(promtool: PromtoolRunner, tmp_path: Path) -> None:
    # promtool has no expression checker; as recording rules, every expression gets Prometheus's parser.
    rules = [{"record": f"dashboard:expression_{index}:check", "expr": expr} for index, (_, expr) in enumerate(ALL_EXPRESSIONS)]
    path = tmp_path / "dashboard_expressions.yml"
    path.write_text(to_yaml({"groups": [{"name": "dashboard-expressions", "rules": rules}]}), encoding="utf-8")
    result = promtool("check", "rules", path)
    assert result.returncode == 0, describe(result) + "\n" + "\n".join(f"{i}: {w}" for i, (w, _) in enumerate(ALL_EXPRESSIONS))
    assert f"{len(rules)} rules found" in result.stdout


def test_the_promql_check_catches_a_broken_expression(promtool: PromtoolRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    broken = {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum by (az (rate(x[10s]))"}]}]}
    path.write_text(to_yaml(broken), encoding="utf-8")
    assert promtool("check", "rules", path).returncode != 0


@pytest.mark.parametrize(("where", "expr"), ALL_EXPRESSIONS, ids=[where for where, _ in ALL_EXPRESSIONS])
def test_expressions_use_only_contracted_metrics_and_labels(where: str, expr: str) -> None:
    known = series_labels()
    names = expression_names(expr)
    assert names.metrics, where
    assert names.metrics <= known.keys(), (where, sorted(names.metrics - known.keys()))
    allowed = frozenset().union(*(known[metric] for metric in names.metrics))
    assert names.labels <= allowed, (where, sorted(names.labels - allowed))


def _metrics_of(model: dict[str, Any]) -> set[str]:
    return {metric for _, expr in _expressions(model) for metric in expression_names(expr).metrics}


def test_canary_dashboard_shows_what_the_alarms_judge() -> None:
    model = canary_dashboard(CUSTOM)
    titles = " | ".join(panel["title"] for panel in model["panels"])
    for wanted in ("Write availability", "Read availability", "Write p99", "Read p99", "alarms firing"):
        assert wanted in titles
    assert {"canary_requests_total", "canary_request_latency_seconds_bucket", "canary_up", "ALERTS",
            "chaos_active_faults"} <= _metrics_of(model)
    # Rates over the alarm window, and the alarm thresholds drawn on the graphs.
    for panel in model["panels"]:
        for target in panel["targets"]:
            if "rate(" in target["expr"]:
                assert "[20s]" in target["expr"], panel["title"]
    steps = {
        panel["title"]: [step["value"] for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
        for panel in model["panels"]
        if "thresholds" in panel["fieldConfig"]["defaults"]
    }
    assert any(values[1:] == [0.97] for title, values in steps.items() if "availability" in title)
    assert all(values[1:] == [0.8] for title, values in steps.items() if "latency" in title)
    faults = model["annotations"]["list"]
    assert any("chaos_active_faults" in annotation["expr"] for annotation in faults)


def test_cluster_dashboard_covers_consensus_routers_and_wal() -> None:
    metrics = _metrics_of(cluster_dashboard(CUSTOM.window_s))
    assert {
        "storage_node_leaders", "raft_role", "raft_term", "raft_commit_index", "raft_applied_index",
        "raft_replication_lag_entries", "router_requests_total", "router_request_latency_seconds_bucket",
        "router_throttles_total", "router_retries_total", "wal_fsync_latency_seconds_bucket", "wal_size_bytes",
    } <= metrics


def test_shipped_provisioning_is_what_write_dashboards_writes(tmp_path: Path) -> None:
    written = write_dashboards(tmp_path, DEFAULT)
    generated = {path.relative_to(tmp_path): path.read_text(encoding="utf-8") for path in written}
    assert {Path("dashboards/canaries.json"), Path("dashboards/cluster.json"), Path("dashboards/dashboards.yml"),
            Path("datasources/prometheus.yml")} == generated.keys()
    shipped = {
        path.relative_to(PROVISIONING_DIR): path.read_text(encoding="utf-8")
        for path in PROVISIONING_DIR.rglob("*") if path.is_file()
    }
    assert shipped == generated, "dashboards/provisioning is stale: run `python -m dashboards.generate`"


def test_provisioning_points_grafana_at_the_dashboards_and_the_datasource(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the text back; it comes with the bench extra")
    write_dashboards(tmp_path, DEFAULT, prometheus_url="http://127.0.0.1:9090")
    datasource = yaml.safe_load((tmp_path / "datasources/prometheus.yml").read_text(encoding="utf-8"))
    [source] = datasource["datasources"]
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", DATASOURCE_UID, "http://127.0.0.1:9090")
    providers = yaml.safe_load((tmp_path / "dashboards/dashboards.yml").read_text(encoding="utf-8"))
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("/dashboards")
