"""Scrub findings: the alarms a round raises, kept in memory and appended to a JSON Lines file.

The file (DATA_DIR/processes/<node>/scrub/findings.jsonl) outlives the process, so the harness can
read every finding after a run even from a node that was powered off since. Times are both wall
clock and CLOCK_MONOTONIC seconds: the monotonic clock is the one the run's history uses on this host.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from cluster.storage.durable_directories import make_durable_directories
from cluster.storage.json_lines import append_json_object, read_json_objects

log = logging.getLogger(__name__)

FINDINGS_FILE = "findings.jsonl"
KEPT_FINDINGS = 1000
# Metric names (counters) as the node's status reports them under "scrub".
COUNTER_NAMES = (
    "scrub_rounds_total",
    "scrub_items_digested_total",
    "scrub_undecided_rounds_total",
    "scrub_mismatches_total",
    "scrub_repairs_total",
    "scrub_repaired_items_total",
    "scrub_reference_checks_total",
    "scrub_reference_mismatches_total",
    "scrub_unverifiable_total",
    "archive_segments_total",
    "archive_errors_total",
)


class FindingsLog:
    def __init__(self, directory: Path) -> None:
        make_durable_directories(directory)  # the file's name must survive a power-off, like its lines
        self.path = directory / FINDINGS_FILE
        self.recent: deque[dict[str, Any]] = deque(maxlen=KEPT_FINDINGS)
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTER_NAMES})

    def record(self, kind: str, **details: Any) -> dict[str, Any]:
        finding = {"kind": kind, "time_unix_s": time.time(), "time_monotonic_s": time.monotonic(), **details}
        self.recent.append(finding)
        append_json_object(self.path, finding)
        level = logging.INFO if kind == "repaired" else logging.WARNING
        log.log(level, "SCRUB %s: %s", kind.upper(), json.dumps(details, sort_keys=True)[:600])
        return finding


def read_findings(path: Path) -> list[dict[str, Any]]:
    """Every finding in one node's file; a torn last line (power-off mid-append) is skipped."""
    return read_json_objects(path)
