"""The soak's figures: every process's resident memory and open descriptors, and every storage node's
WAL and item-store bytes over the run, from the samples the resources check recorded
(gameday/checks/resources.py). A process restarted by a fault shows as a new segment of its line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from cluster.storage.json_lines import read_json_objects
from gameday.checks.resources import SAMPLES_FILE, UNITS
from gameday.report.svg import Line, line_plot
from gameday.report.timeline import FaultWindow

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
FIGURES = (
    ("rss_mb", "Resident memory per process"),
    ("fds", "Open file descriptors per process"),
    ("wal_mb", "Write-ahead log on disk per storage node"),
    ("store_mb", "Item stores on disk per storage node"),
)


def resource_lines(samples: Sequence[Mapping[str, Any]], measure: str, origin_s: float) -> list[Line]:
    """One line per process (a segment per incarnation), in process order."""
    by_process: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for sample in samples:
        if measure in sample:
            segments = by_process.setdefault(str(sample["process"]), {})
            segments.setdefault(int(sample["pid"]), []).append((float(sample["t"]) - origin_s, float(sample[measure])))
    return [
        Line(process, PALETTE[number % len(PALETTE)], list(segments.values()))
        for number, (process, segments) in enumerate(sorted(by_process.items()))
    ]


def resources_section(run_dir: Path, origin_s: float, windows: list[FaultWindow], verdict: Mapping[str, Any] | None) -> str:
    """The four figures and the verdict's growth table; empty for runs that sampled no resources."""
    path = run_dir / SAMPLES_FILE
    if not path.exists():
        return ""
    samples = read_json_objects(path)
    if not samples:
        return "<h2>Resources</h2>\n<p>No resource sample was recorded.</p>"
    times = [float(sample["t"]) - origin_s for sample in samples]
    parts = ["<h2>Resources</h2>"]
    for measure, title in FIGURES:
        lines = resource_lines(samples, measure, origin_s)
        if lines:
            parts.append(line_plot(title, lines, windows, (min(0.0, min(times)), max(times)), UNITS[measure]))
    series = (verdict or {}).get("series", [])
    if series:
        rows = "".join(
            f"<tr><td>{escape(str(item['process']))}</td><td>{escape(str(item['measure']))}</td>"
            f"<td>{item['level']:,.1f}</td><td>{item['growth']:+,.1f}</td><td>{'grows' if item['failed'] else 'level'}</td></tr>"
            for item in series
        )
        parts.append(
            "<table><tr><th>process</th><th>measure</th><th>level at the second half's start</th>"
            f"<th>growth over the second half</th><th>judged</th></tr>{rows}</table>"
        )
    return "\n".join(parts)
