"""The report's section of the hot-key lesson: throttles over time, split times, cold latency before/during.

Pure: the `admission` section of summary.json in, HTML out (the plots are the report's inline SVG).
"""

from __future__ import annotations

from html import escape
from typing import Any

from gameday.report import markup
from gameday.report.svg import Line, line_plot
from gameday.report.timeline import FaultWindow


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ms(value: Any) -> str:
    number = _number(value)
    return f'<td class="number">{number:.1f}</td>' if number is not None else '<td class="none">-</td>'


def _points(series: Any) -> list[tuple[float, float]]:
    points = []
    for item in series if isinstance(series, list) else []:
        if isinstance(item, list) and len(item) == 2 and all(_number(value) is not None for value in item):
            points.append((float(item[0]), float(item[1])))
    return points


def _marks(admission: dict[str, Any]) -> list[FaultWindow]:
    """The hot phase as a shaded window, each finished split as a thin one (the plots' way of marking time)."""
    marks = []
    phase = admission.get("hot_phase") if isinstance(admission.get("hot_phase"), dict) else {}
    start, end = _number(phase.get("start_s")), _number(phase.get("end_s"))
    if start is not None and end is not None:
        marks.append(FaultWindow("hot phase", start, end, True, {"hot_keys": phase.get("hot_keys")}, "summary"))
    for split in admission.get("splits") or []:
        finished = _number(split.get("finished_s")) if isinstance(split, dict) else None
        if finished is not None:
            marks.append(FaultWindow("split", finished, finished + 0.3, True, split.get("child"), "summary"))
    return marks


def hot_key_section(admission: Any) -> str:
    """The section, or "" for runs without the hot-key workload."""
    if not isinstance(admission, dict) or not admission:
        return ""
    marks = _marks(admission)
    throttles = _points(admission.get("throttles_per_second"))
    cold_p99 = _points(admission.get("cold_p99_ms_per_2s"))
    cold_p50 = _points(admission.get("cold_p50_ms_per_2s"))
    x_values = [x for x, _ in throttles + cold_p99 + cold_p50] + [mark.end_s for mark in marks] + [0.0]
    x_range = (min(x_values), max(x_values) + 1.0)
    latency_lines = [Line("cold p99", "#7b2cbf", [cold_p99] if cold_p99 else []),
                     Line("cold p50", "#1f77b4", [cold_p50] if cold_p50 else [])]  # fmt: skip
    phase = admission.get("hot_phase") if isinstance(admission.get("hot_phase"), dict) else {}
    start, end = _number(phase.get("start_s")), _number(phase.get("end_s"))
    for label, key, colour in (("p99 bound", "p99_bound_ms", "#c9a3e6"), ("p50 bound", "p50_bound_ms", "#9ec5e8")):
        bound = _number(admission.get(key))
        if bound is not None and start is not None and end is not None:  # judged over the hot phase only
            latency_lines.append(Line(label, colour, [[(start, bound), (end, bound)]]))
    parts = [
        "<h2>Hot keys: admission control</h2>",
        f"<p>Admission control was <strong>{'on' if admission.get('enabled') else 'off'}</strong>."
        f" Throttles seen by the hot clients: {escape(str(admission.get('throttles_in_history', '-')))};"
        f" counted by the routers: {escape(str(admission.get('throttles_at_routers', 'not available')))}."
        f" Splits finished during the hot phase: {escape(str(admission.get('splits_in_hot_phase', '-')))}.</p>",
        line_plot(
            "Throttled hot-key requests per second (shaded: hot phase; thin bars: splits finished)",
            [Line("throttles/s", "#c62828", [throttles] if throttles else [])], marks, x_range, "throttles per second",
        ),
        line_plot(
            "Cold keys' latency per 2 s and the bounds judged over the hot phase (thin bars: splits finished)",
            latency_lines, marks, x_range, "latency (ms)",
        ),
        _latency_table(admission),
        _splits_table(admission.get("splits")),
    ]
    return "\n".join(part for part in parts if part)


def _latency_table(admission: dict[str, Any]) -> str:
    rows = []
    for label, key in (("before the hot phase (baseline)", "cold_baseline"), ("during the hot phase", "cold_hot_phase")):
        phase = admission.get(key) if isinstance(admission.get(key), dict) else {}
        rows.append([escape(label), f'<td class="number">{phase.get("count", "-")}</td>', _ms(phase.get("p50_ms")),
                     _ms(phase.get("p99_ms"))])  # fmt: skip
    rows.append(["bound (judged)", "<td></td>", _ms(admission.get("p50_bound_ms")), _ms(admission.get("p99_bound_ms"))])
    return "<p>Cold keys' latency (operations by invoke time):</p>" + markup.table(
        ["cold operations", "count", "p50 (ms)", "p99 (ms)"], rows, table_class="hot-key-latency"
    )


def _splits_table(splits: Any) -> str:
    if not isinstance(splits, list) or not splits:
        return "<p>No partition split was reported.</p>"
    rows = []
    for split in splits:
        if not isinstance(split, dict):
            continue
        rows.append([escape(str(split.get(name, ""))) for name in ("table", "parent", "child", "reason")]
                    + [_ms(split.get("begun_s")), _ms(split.get("finished_s"))])  # fmt: skip
    return markup.table(
        ["table", "parent", "child", "reason", "begun (s)", "finished (s)"], rows, table_class="hot-key-splits"
    )
