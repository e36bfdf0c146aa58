"""The cache-flush lesson's figure: metadata requests/s and client requests/s at the routers, from the
samples the metadata-load check recorded (gameday/checks/metadata_load.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gameday.checks.metadata_load import SAMPLES_FILE, rates, read_samples
from gameday.report.svg import Line, line_plot


def metadata_load_figure(run_dir: Path, run_start_s: float, windows: list[Any], mode: str) -> str:
    """An SVG plot of metadata requests/s and client requests/s at the routers, fault windows shaded."""
    samples = read_samples(run_dir / SAMPLES_FILE)
    metadata, clients = rates(samples, "metadata"), rates(samples, "router")
    if not metadata:
        return "<p>No metadata-load sample: no metadata request plot.</p>"
    lines = [Line("metadata requests/s", "#1f77b4", [[(w.end_s - run_start_s, w.rate_per_s) for w in metadata]])]
    if clients:
        lines.append(Line("client requests/s at the routers", "#999999", [[(w.end_s - run_start_s, w.rate_per_s) for w in clients]]))
    x_values = [point[0] for line in lines for point in line.segments[0]]
    return line_plot(
        f"Metadata service load ({mode} router cache)", lines, windows, (min(0.0, min(x_values)), max(x_values)),
        "requests per second",
    )
