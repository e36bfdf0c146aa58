"""Grafana dashboards built in code, and the file-provisioning YAML a compose file's Grafana loads.

Two dashboards:

- ``gameday-canaries``: what customers see. Availability and p99 latency per (canary AZ, endpoint AZ),
  writes and reads apart, with the alarm thresholds drawn on the graphs and the very expressions the
  alert rules evaluate (a graph that disagrees with its alarm is worse than none); alerts firing;
  canaries up; faults in force, also as annotations on every graph.
- ``gameday-cluster``: why. Leaders per process, leaderless groups, terms, commit and applied indexes,
  replication lag, router throughput by status class, latency, throttles and retries, WAL fsync
  latency and size.

Plain dicts (Grafana's JSON model), no grafanalib: the JSON is the contract with Grafana, and the
tests read it back exactly as Grafana will.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.alert_rules import AlertThresholds, availability_expr, latency_p99_seconds_expr
from dashboards.yaml_text import duration, to_yaml

__all__ = [
    "DATASOURCE",
    "DATASOURCE_UID",
    "PROVISIONING_DIR",
    "SCHEMA_VERSION",
    "Query",
    "canary_dashboard",
    "cluster_dashboard",
    "dashboard_models",
    "provisioning_files",
    "write_dashboards",
]

PROVISIONING_DIR = Path(__file__).parent / "provisioning"
DATASOURCE_UID = "gameday-prometheus"
# Every panel names the provisioned datasource by uid, so the dashboards work with no variable to pick.
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": DATASOURCE_UID}
# Grafana 10/11's model version; Grafana migrates older models on load, never newer ones.
SCHEMA_VERSION = 39
GRID_WIDTH = 24
PANEL_HEIGHT = 8
# Where the compose file mounts dashboards/provisioning inside the Grafana container.
CONTAINER_PROVISIONING_DIR = "/etc/grafana/provisioning"

_PAIR_LEGEND = "{{az}} → {{endpoint_az}}"
_READS = 'operation=~"consistent_read|eventual_read"'
_FAULTS_EXPR = "sum by (kind) (chaos_active_faults) > 0"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False  # one value per series now (tables), rather than a range (graphs)


@dataclass(frozen=True)
class _PanelSpec:
    title: str
    queries: tuple[Query, ...]
    width: int = 12
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""
    # A line on the graph: (value, True when values below it are bad, e.g. availability).
    threshold: tuple[float, bool] | None = None
    minimum: float | None = None


def _field_config(spec: _PanelSpec) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": spec.unit, "custom": {}}
    if spec.minimum is not None:
        defaults["min"] = spec.minimum
    if spec.threshold is not None:
        value, low_is_bad = spec.threshold
        good, bad = ("green", "red")
        steps = (
            [{"color": bad, "value": None}, {"color": good, "value": value}]
            if low_is_bad
            else [{"color": good, "value": None}, {"color": bad, "value": value}]
        )
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        defaults["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    return {"defaults": defaults, "overrides": []}


def _panels(specs: Sequence[_PanelSpec]) -> list[dict[str, Any]]:
    """Panels laid left to right on Grafana's 24-column grid, wrapping to a new line when full."""
    panels: list[dict[str, Any]] = []
    x = y = 0
    for panel_id, spec in enumerate(specs, start=1):
        if not 0 < spec.width <= GRID_WIDTH:
            raise ValueError(f"panel {spec.title!r}: width {spec.width} outside 1..{GRID_WIDTH}")
        if x + spec.width > GRID_WIDTH:
            x, y = 0, y + PANEL_HEIGHT
        targets = [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                "instant": query.instant,
                "range": not query.instant,
                **({"format": "table"} if query.instant else {}),
            }
            for index, query in enumerate(spec.queries)
        ]
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": spec.kind,
            "title": spec.title,
            "description": spec.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": PANEL_HEIGHT, "w": spec.width, "x": x, "y": y},
            "targets": targets,
            "fieldConfig": _field_config(spec),
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
        }
        panels.append(panel)
        x += spec.width
    return panels


def _fault_annotation() -> dict[str, Any]:
    return {
        "name": "Faults",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": _FAULTS_EXPR,
        "step": "1s",
        "titleFormat": "fault: {{kind}}",
        "tagKeys": "kind",
        "useValueForTime": False,
    }


def _dashboard(uid: str, title: str, description: str, specs: Sequence[_PanelSpec]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["gameday"],
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,  # a shared crosshair: a fault, its alarm and its cause line up
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": [_fault_annotation()]},
        "links": [],
        "panels": _panels(specs),
    }


def _faults_panel(width: int) -> _PanelSpec:
    return _PanelSpec(
        "Faults in force",
        (Query("sum by (kind) (chaos_active_faults)", "{{kind}}"),),
        width=width,
        description="Faults the chaos controller has started and not yet healed, by kind.",
        minimum=0,
    )


def canary_dashboard(thresholds: AlertThresholds) -> dict[str, Any]:
    """What customers see, judged over the alarms' own window and against their thresholds."""
    window_s = thresholds.window_s
    window = duration(window_s)
    availability = (thresholds.availability_outside_faults, True)
    latency = (thresholds.latency_p99_ms / 1000.0, False)
    specs = [
        _PanelSpec(
            "Customer-facing alarms firing",
            (Query('ALERTS{alertstate="firing"}', "{{alertname}} {{az}} → {{endpoint_az}}", instant=True),),
            kind="table",
            description="Prometheus alerts firing now (dashboards/rules/customer_facing_alarms.yml).",
        ),
        _PanelSpec(
            "Canaries up",
            (Query("canary_up", "{{az}}"),),
            width=6,
            description="1 while the canary of an AZ is probing; a gap is a canary not scraped.",
            minimum=0,
        ),
        _faults_panel(6),
        _PanelSpec(
            f"Write availability over {window}",
            (Query(availability_expr("write", window_s), _PAIR_LEGEND),),
            unit="percentunit",
            description="ok writes / all writes per canary AZ → endpoint AZ: CanaryWriteAvailabilityLow's expression.",
            threshold=availability,
        ),
        _PanelSpec(
            f"Write p99 latency over {window}",
            (Query(latency_p99_seconds_expr(window_s, matchers='operation="write"'), _PAIR_LEGEND),),
            unit="s",
            description="p99 of canary writes per canary AZ → endpoint AZ, errors included.",
            threshold=latency,
            minimum=0,
        ),
        _PanelSpec(
            f"Read availability over {window}",
            (Query(availability_expr("read", window_s), _PAIR_LEGEND),),
            unit="percentunit",
            description="ok or stale reads / all reads (consistent and eventual): CanaryReadAvailabilityLow's expression.",
            threshold=availability,
        ),
        _PanelSpec(
            f"Read p99 latency over {window}",
            (
                Query(
                    latency_p99_seconds_expr(window_s, by="az, endpoint_az, operation", matchers=_READS),
                    "{{az}} → {{endpoint_az}} {{operation}}",
                ),
            ),
            unit="s",
            description="p99 of consistent and eventual reads apart, per canary AZ → endpoint AZ.",
            threshold=latency,
            minimum=0,
        ),
        _PanelSpec(
            "p99 latency, all canary requests",
            (Query(latency_p99_seconds_expr(window_s), _PAIR_LEGEND),),
            unit="s",
            description="CanaryLatencyP99High's expression.",
            threshold=latency,
            minimum=0,
        ),
        _PanelSpec(
            "Canary requests by outcome",
            (
                Query(
                    f"sum by (az, operation, outcome) (rate(canary_requests_total[{window}]))",
                    "{{az}} {{operation}} {{outcome}}",
                ),
            ),
            unit="reqps",
            description="ok, error, stale (an eventual read behind) and mismatch (a wrong answer).",
            minimum=0,
        ),
    ]
    return _dashboard(
        "gameday-canaries",
        "Game day: canaries",
        "Client-side availability and latency as customers in each AZ see every endpoint.",
        specs,
    )


def cluster_dashboard(window_s: float) -> dict[str, Any]:
    """The store's own view: consensus, routers and WAL, with rates over ``window_s``."""
    window = duration(window_s)
    specs = [
        _faults_panel(12),
        _PanelSpec(
            "Groups without a leader",
            (
                # 1 for a group none of whose scraped replicas is leader, 0 otherwise: a series per group
                # at all times, so "no data" never hides a group (or a broken scrape) behind a healthy look.
                Query("sum by (group) (raft_role == bool 2) == bool 0", "{{group}}"),
            ),
            description="1 while no replica of a Raft group reports the leader role (writes to it fail), else 0.",
            minimum=0,
        ),
        _PanelSpec(
            "Leaders per storage node",
            (Query("storage_node_leaders", "{{process}}"),),
            description="Partition leaders each node holds; leadership returns to preferred members after a failover.",
            minimum=0,
        ),
        _PanelSpec(
            "Leaders per process (from raft_role)",
            (Query("count by (process) (raft_role == 2)", "{{process}}"),),
            description="Groups each process leads, metadata replicas included.",
            minimum=0,
        ),
        _PanelSpec(
            "Raft term per group",
            (Query("max by (group) (raft_term)", "{{group}}"),),
            description="A term that climbs is an election; one that keeps climbing is a group that cannot elect.",
        ),
        _PanelSpec(
            "Commit index per group",
            (Query("max by (group) (raft_commit_index)", "{{group}}"),),
            description="Highest index known committed in each group.",
        ),
        _PanelSpec(
            "Committed but not applied, per replica",
            (Query("raft_commit_index - raft_applied_index", "{{process}} {{group}}"),),
            description="Entries a replica knows are committed but has not applied to its state machine yet.",
            minimum=0,
        ),
        _PanelSpec(
            "Replication lag per follower",
            (Query("max by (group, follower) (raft_replication_lag_entries)", "{{group}} → {{follower}}"),),
            description="Entries a follower is behind its leader, as the leader sees it.",
            minimum=0,
        ),
        _PanelSpec(
            "Router throughput by status class",
            (Query(f"sum by (az, code) (rate(router_requests_total[{window}]))", "{{az}} {{code}}"),),
            unit="reqps",
            minimum=0,
        ),
        _PanelSpec(
            "Router p99 latency",
            (
                Query(
                    "histogram_quantile(0.99, sum by (az, operation, le) "
                    f"(rate(router_request_latency_seconds_bucket[{window}])))",
                    "{{az}} {{operation}}",
                ),
            ),
            unit="s",
            minimum=0,
        ),
        _PanelSpec(
            "Router throttles",
            (Query(f"sum by (az) (rate(router_throttles_total[{window}]))", "{{az}}"),),
            unit="reqps",
            description="Requests refused by admission control.",
            minimum=0,
        ),
        _PanelSpec(
            "Admission control: throttles by level",
            (
                Query(f"sum by (level) (rate(router_admission_throttles_total[{window}]))", "router: {{level}}"),
                Query(f"sum by (group) (rate(partition_throttles_total[{window}]))", "partition {{group}}"),
            ),
            unit="reqps",
            description=(
                "Requests refused with ProvisionedThroughputExceededException: by a router's table bucket (tokens "
                "from global admission control) or by a partition's bucket on its node."
            ),
            minimum=0,
        ),
        _PanelSpec(
            "Partition consumption (capacity units/s)",
            (
                Query(
                    f"topk(8, sum by (group, kind) (rate(partition_consumed_units_total[{window}])))",
                    "{{group}} {{kind}}",
                ),
                Query(f"sum(increase(partition_splits_total[{window}]))", "splits for consumption"),
            ),
            description="The busiest partitions' admitted read and write units; a hot one is split for consumption.",
            minimum=0,
        ),
        _PanelSpec(
            "Log replicas: membership changes",
            (Query(f"sum by (action) (increase(log_replica_changes_total[{window}]))", "{{action}}"),),
            description=(
                "Changes group leaders committed around a silent storage replica: a learner joins, is promoted to "
                "a log replica, the silent replica leaves and comes back, the log replica leaves."
            ),
            minimum=0,
        ),
        _PanelSpec(
            "Log replicas hosted per node",
            (Query("log_replicas_hosted", "{{process}}"),),
            description="Groups a node holds only the WAL of, standing in for an unhealthy storage replica.",
            minimum=0,
        ),
        _PanelSpec(
            "Scrub: mismatches and repaired items",
            (
                Query(f"sum(increase(scrub_mismatches_total[{window}]))", "mismatching ranges"),
                Query(f"sum(increase(scrub_repaired_items_total[{window}]))", "items repaired"),
            ),
            description="Replica key ranges that differed from the majority or the archive reference, and repairs.",
            minimum=0,
        ),
        _PanelSpec(
            "Metadata service requests by method",
            (Query(f"sum by (method) (rate(metadata_requests_total[{window}]))", "{{method}}"),),
            unit="reqps",
            description=(
                "With the constant-work router cache, lookups follow client traffic whatever the caches hold; "
                "with the classic cache they burst after a flush."
            ),
            minimum=0,
        ),
        _PanelSpec(
            "Router retries by reason",
            (Query(f"sum by (az, reason) (rate(router_retries_total[{window}]))", "{{az}} {{reason}}"),),
            unit="reqps",
            description="Retries of requests that certainly did not execute (refused, not the leader).",
            minimum=0,
        ),
        _PanelSpec(
            "WAL fsync p99 latency",
            (
                Query(
                    "histogram_quantile(0.99, sum by (process, le) "
                    f"(rate(wal_fsync_latency_seconds_bucket[{window}])))",
                    "{{process}}",
                ),
            ),
            unit="s",
            description="A write is acknowledged only after a quorum fsynced it: this bounds write latency.",
            minimum=0,
        ),
        _PanelSpec(
            "Metadata requests by method and outcome",
            (
                Query(
                    f"sum by (method, outcome) (rate(metadata_requests_total[{window}]))",
                    "{{method}} {{outcome}}",
                ),
            ),
            unit="reqps",
            description="Catalogue reads (every router, every second), table changes and leader reports.",
            minimum=0,
        ),
        _PanelSpec(
            "WAL size per process",
            (Query("sum by (process) (wal_size_bytes)", "{{process}}"),),
            unit="bytes",
            minimum=0,
        ),
    ]
    return _dashboard(
        "gameday-cluster",
        "Game day: cluster",
        "Consensus, routers and write-ahead logs of the DynamoDB clone under test.",
        specs,
    )


def dashboard_models(thresholds: AlertThresholds) -> dict[str, dict[str, Any]]:
    """File name → dashboard model."""
    return {
        "canaries.json": canary_dashboard(thresholds),
        "cluster.json": cluster_dashboard(thresholds.window_s),
    }


def provisioning_files(
    prometheus_url: str = "http://prometheus:9090",
    dashboards_path: str = f"{CONTAINER_PROVISIONING_DIR}/dashboards",
    scrape_interval_s: float = 1.0,
) -> dict[str, str]:
    """Relative path → text of Grafana's file-provisioning YAML (datasource and dashboard provider)."""
    header = "Generated by `python -m dashboards.generate` from dashboards/grafana.py: do not edit."
    datasources = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
                # Tells Grafana the scrape interval, so it never asks for a step finer than the data.
                "jsonData": {"timeInterval": duration(scrape_interval_s)},
            }
        ],
    }
    providers = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "gameday",
                "orgId": 1,
                "folder": "Game day",
                "type": "file",
                "disableDeletion": False,
                # The files are generated: edits in the UI would be lost at the next generation.
                "allowUiUpdates": False,
                "updateIntervalSeconds": 10,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }
    return {
        "datasources/prometheus.yml": to_yaml(datasources, header),
        "dashboards/dashboards.yml": to_yaml(providers, header),
    }


def write_dashboards(
    out_dir: Path = PROVISIONING_DIR,
    thresholds: AlertThresholds | None = None,
    prometheus_url: str = "http://prometheus:9090",
) -> list[Path]:
    """Write the dashboards and provisioning YAML under ``out_dir``; returns the files written.

    ``thresholds`` defaults to the ``default`` scenario's, which the shipped alert rules use too.
    """
    if thresholds is None:
        # Imported here: only this default needs the scenario loader.
        from gameday.scenario import load_scenario

        thresholds = load_scenario("default").thresholds
    files = {
        f"dashboards/{name}": json.dumps(model, indent=2, ensure_ascii=False) + "\n"
        for name, model in dashboard_models(thresholds).items()
    }
    files.update(provisioning_files(prometheus_url))
    written: list[Path] = []
    for relative, text in sorted(files.items()):
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
