"""The index workload's figure: how far the global secondary index lagged its table, write by write, with the
fault windows shaded (from the index verifier's verdict, verify/index_checker.py)."""

from __future__ import annotations

from typing import Any

from gameday.report.svg import Line, line_plot
from gameday.report.timeline import Axis, FaultWindow


def index_lag_section(verifiers: list[Any], axis: Axis, windows: list[FaultWindow]) -> str:
    verdict = next((entry.get("data", {}).get("verdict") for entry in verifiers
                    if isinstance(entry, dict) and isinstance(entry.get("data", {}).get("verdict"), dict)
                    and entry["data"]["verdict"].get("model") == "index"), None)  # fmt: skip
    if verdict is None:
        return ""
    samples = [(axis.relative(float(at)), float(lag) * 1000.0) for at, lag in verdict.get("lag_over_time") or []]
    if not samples:
        return "<p>No index read saw a write it could time: no index lag plot.</p>"
    x_values = [at for at, _ in samples]
    title = (f"Global secondary index lag (median {_ms(verdict.get('lag_median_s'))}, "
             f"max {_ms(verdict.get('lag_max_s'))})")  # fmt: skip
    return line_plot(title, [Line("lag of each write (ms)", "#e07b00", [samples])], windows,
                     (min(0.0, min(x_values)), max(x_values)), "milliseconds")  # fmt: skip


def _ms(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value * 1000:.0f} ms"
