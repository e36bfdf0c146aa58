"""Locust's own per-request statistics (`<prefix>_stats.csv`) as the summary and the report show them.

Pure parsing of the CSV text; `read_locust_stats` is the file edge. Every load of a game day, ours and a
user's own locustfile (`gameday run --locustfile`), writes this file, so one table shows them all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STATS_SUFFIX = "_stats.csv"
TOTAL_ROW = "Aggregated"


def parse_locust_stats(text: str) -> dict[str, dict[str, Any]]:
    """Request name → requests, failures, requests per second, average and p50/p95/p99 latency (ms).

    Locust's total row is kept under "total". Rows of one name but several request types (a user's
    HTTP and boto3 requests) are told apart as "TYPE NAME"."""
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [row.get("Name", "") for row in rows]
    stats: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row.get("Name", "")
        if name == TOTAL_ROW and not row.get("Type"):
            label = "total"
        elif names.count(name) > 1:
            label = f"{row.get('Type', '')} {name}"
        else:
            label = name
        stats[label] = {
            "requests": _integer(row.get("Request Count")),
            "failures": _integer(row.get("Failure Count")),
            "requests_per_s": _number(row.get("Requests/s")),
            "average_ms": _number(row.get("Average Response Time")),
            "p50_ms": _number(row.get("50%")),
            "p95_ms": _number(row.get("95%")),
            "p99_ms": _number(row.get("99%")),
        }
    return stats


def read_locust_stats(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """The stats of the first `*_stats.csv` among a load's stats files ({} when Locust wrote none)."""
    for path in paths:
        if path.name.endswith(STATS_SUFFIX) and path.is_file():
            return parse_locust_stats(path.read_text(encoding="utf-8"))
    return {}


def _integer(text: str | None) -> int:
    try:
        return int(float(text or 0))
    except ValueError:
        return 0


def _number(text: str | None) -> float | None:
    try:
        return round(float(text), 3) if text not in (None, "", "N/A") else None
    except ValueError:
        return None
