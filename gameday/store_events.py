"""The store's own mechanisms, as events in the run's history (process "store", type info).

Log replicas, scrub findings and partition splits are recorded by the processes that did them, each in
its own place (a node's status, a node's findings file, the metadata leader's status). After a run they
are turned into history events on the history's clock (CLOCK_MONOTONIC nanoseconds) and merged into
every history file, so one file tells what the clients saw, what chaos did and what the store did about
it. Pure conversion here; `add_store_events` is the file edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cluster.storage.json_lines import read_json_objects
from loadgen.history_merge import merge_histories
from verify.history import STORE_PROCESS

STORE_EVENTS_FILE = "store-events.jsonl"
# Fields of a log-replica record that describe it (the rest is bookkeeping already in summary.json).
_LOG_REPLICA_FIELDS = ("group", "member", "removed", "az", "seconds_after_detection", "failed", "recorded_by")


def _event(f: str, time_s: float, value: Mapping[str, Any]) -> dict[str, Any]:
    return {"process": STORE_PROCESS, "type": "info", "f": f, "time": max(0, int(time_s * 1e9)), "value": dict(value)}


def log_replica_store_events(events: Iterable[Mapping[str, Any]], wall_minus_monotonic_s: float) -> list[dict[str, Any]]:
    """A leader's membership changes around an unhealthy replica (`committed_at` is wall-clock seconds)."""
    converted = []
    for event in events:
        wall_s = event.get("committed_at") or event.get("detected_at")
        if not isinstance(wall_s, int | float) or not isinstance(event.get("action"), str):
            continue
        value = {name: event[name] for name in _LOG_REPLICA_FIELDS if event.get(name) is not None}
        converted.append(_event(str(event["action"]), float(wall_s) - wall_minus_monotonic_s, value))
    return converted


def scrub_store_events(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scrub alarms and repairs (`time_monotonic_s` is already the history's clock)."""
    converted = []
    for finding in findings:
        time_s = finding.get("time_monotonic_s")
        if not isinstance(time_s, int | float) or not isinstance(finding.get("kind"), str):
            continue
        value = {name: item for name, item in finding.items() if name not in ("time_monotonic_s", "time_s", "kind")}
        converted.append(_event(f"scrub-{finding['kind']}", float(time_s), value))
    return converted


def split_store_events(splits: Iterable[Mapping[str, Any]], wall_minus_monotonic_s: float) -> list[dict[str, Any]]:
    """Partition splits for consumption: one event when begun, one when finished (wall-clock seconds)."""
    converted = []
    for split in splits:
        value = {name: split.get(name) for name in ("table", "parent", "child", "split_hash", "reason")}
        for field, f in (("begun_wall_s", "split-begun"), ("finished_wall_s", "split-finished")):
            wall_s = split.get(field)
            if isinstance(wall_s, int | float):
                converted.append(_event(f, float(wall_s) - wall_minus_monotonic_s, value))
    return converted


def collect_store_events(run_dir: Path, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every store event of a finished run, from summary.json's sections and the scrub's record."""
    offset_s = float(summary.get("run_start_wall_s", 0.0)) - float(summary.get("run_start_monotonic_s", 0.0))
    events = log_replica_store_events((summary.get("log_replicas") or {}).get("events", []), offset_s)
    events += scrub_store_events(read_json_objects(run_dir / "scrub.jsonl"))
    events += split_store_events((summary.get("admission") or {}).get("splits", []), offset_s)
    return sorted(events, key=lambda event: event["time"])


def add_store_events(run_dir: Path, summary: Mapping[str, Any], history_paths: Iterable[Path]) -> int:
    """Writes RUN_DIR/store-events.jsonl and merges it into each history; returns how many events."""
    events = collect_store_events(run_dir, summary)
    events_path = run_dir / STORE_EVENTS_FILE
    with open(events_path, "w") as output:
        for event in events:
            output.write(json.dumps(event, separators=(", ", ": ")) + "\n")
    if events:
        for history_path in history_paths:
            if history_path.exists():
                merge_histories([history_path, events_path], history_path)
    return len(events)
