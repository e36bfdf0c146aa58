"""Inline SVG line plots with axes, tick labels, a legend and shaded fault windows. Pure: data in, markup out.

The SVG carries its own geometry as data attributes (``data-x-min``, ``data-plot-left``, ...)
so a reader or a test can map a time back to a pixel without re-deriving the scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from gameday.report.timeline import FaultWindow

WIDTH_PX = 960
HEIGHT_PX = 300
MARGIN_LEFT_PX = 64
MARGIN_RIGHT_PX = 16
MARGIN_TOP_PX = 40
MARGIN_BOTTOM_PX = 44
PLOT_WIDTH_PX = WIDTH_PX - MARGIN_LEFT_PX - MARGIN_RIGHT_PX
PLOT_HEIGHT_PX = HEIGHT_PX - MARGIN_TOP_PX - MARGIN_BOTTOM_PX
FAULT_LABEL_ROWS = 3


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    segments: list[list[tuple[float, float]]]


def nice_step(span: float, target_ticks: int = 8) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``target_ticks`` ticks over ``span``."""
    if not span > 0:
        return 1.0
    raw = span / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if raw <= multiple * power:
            return multiple * power
    return 10.0 * power


def ticks(low: float, high: float, target_ticks: int = 8) -> list[float]:
    step = nice_step(high - low, target_ticks)
    first = math.ceil(low / step - 1e-9)
    values = []
    index = first
    while index * step <= high + step * 1e-9:
        values.append(round(index * step, 10))
        index += 1
    return values


def _label(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _format(value: float) -> str:
    return f"{value:.2f}"


def line_plot(
    title: str,
    lines: list[Line],
    windows: list[FaultWindow],
    x_range: tuple[float, float],
    y_label: str,
    x_label: str = "seconds since run start",
) -> str:
    x_min, x_max = x_range
    if not x_max > x_min:
        x_max = x_min + 1.0
    y_values = [y for line in lines for segment in line.segments for _, y in segment]
    y_top = max(y_values, default=0.0)
    y_ticks = ticks(0.0, y_top if y_top > 0 else 1.0, 5)
    y_max = max(y_ticks[-1], y_top) if y_ticks else 1.0
    if not y_max > 0:
        y_max = 1.0

    def x_px(value: float) -> float:
        return MARGIN_LEFT_PX + (min(max(value, x_min), x_max) - x_min) / (x_max - x_min) * PLOT_WIDTH_PX

    def y_px(value: float) -> float:
        return MARGIN_TOP_PX + PLOT_HEIGHT_PX - value / y_max * PLOT_HEIGHT_PX

    bottom = MARGIN_TOP_PX + PLOT_HEIGHT_PX
    parts = [
        f'<svg class="plot" role="img" width="{WIDTH_PX}" height="{HEIGHT_PX}" viewBox="0 0 {WIDTH_PX} {HEIGHT_PX}"'
        f' data-x-min="{x_min:g}" data-x-max="{x_max:g}" data-plot-left="{MARGIN_LEFT_PX}"'
        f' data-plot-width="{PLOT_WIDTH_PX}">',
        f"<title>{escape(title)}</title>",
        f'<rect class="frame" x="{MARGIN_LEFT_PX}" y="{MARGIN_TOP_PX}" width="{PLOT_WIDTH_PX}" height="{PLOT_HEIGHT_PX}"'
        ' fill="#ffffff" stroke="#999999"></rect>',
    ]
    for number, window in enumerate(windows):
        left, right = x_px(window.start_s), x_px(window.end_s)
        if right <= left and not (x_min <= window.start_s <= x_max):
            continue
        state = "" if window.healed else " (not healed)"
        parts.append(
            f'<rect class="fault" x="{_format(left)}" y="{MARGIN_TOP_PX}" width="{_format(max(right - left, 1.0))}"'
            f' height="{PLOT_HEIGHT_PX}" fill="#f4a261" fill-opacity="0.25" data-kind="{escape(window.kind)}"'
            f' data-start-s="{window.start_s:g}" data-end-s="{window.end_s:g}">'
            f"<title>{escape(window.kind)}{state}: {window.start_s:.1f} s to {window.end_s:.1f} s</title></rect>"
        )
        label_y = MARGIN_TOP_PX + 12 + 12 * (number % FAULT_LABEL_ROWS)
        parts.append(
            f'<text class="fault-label" x="{_format(left + 3)}" y="{label_y}" font-size="11" fill="#9c4a12">'
            f"{escape(window.kind)}</text>"
        )
    for value in y_ticks:
        y = y_px(value)
        parts.append(
            f'<line x1="{MARGIN_LEFT_PX}" y1="{_format(y)}" x2="{MARGIN_LEFT_PX + PLOT_WIDTH_PX}" y2="{_format(y)}"'
            ' stroke="#e5e5e5"></line>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT_PX - 6}" y="{_format(y + 4)}" font-size="11" text-anchor="end">{_label(value)}</text>'
        )
    for value in ticks(x_min, x_max, 10):
        x = x_px(value)
        parts.append(
            f'<line x1="{_format(x)}" y1="{bottom}" x2="{_format(x)}" y2="{bottom + 5}" stroke="#333333"></line>'
        )
        parts.append(
            f'<text x="{_format(x)}" y="{bottom + 18}" font-size="11" text-anchor="middle">{_label(value)}</text>'
        )
    parts.append(
        f'<text x="{MARGIN_LEFT_PX + PLOT_WIDTH_PX / 2:.0f}" y="{HEIGHT_PX - 6}" font-size="12" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text x="14" y="{MARGIN_TOP_PX + PLOT_HEIGHT_PX / 2:.0f}" font-size="12" text-anchor="middle"'
        f' transform="rotate(-90 14 {MARGIN_TOP_PX + PLOT_HEIGHT_PX / 2:.0f})">{escape(y_label)}</text>'
    )
    for line in lines:
        for segment in line.segments:
            points = " ".join(f"{_format(x_px(x))},{_format(y_px(y))}" for x, y in segment)
            if len(segment) == 1:
                x, y = segment[0]
                parts.append(
                    f'<circle cx="{_format(x_px(x))}" cy="{_format(y_px(y))}" r="2" fill="{line.colour}"></circle>'
                )
            else:
                parts.append(
                    f'<polyline class="series" data-series="{escape(line.label)}" fill="none" stroke="{line.colour}"'
                    f' stroke-width="1.5" points="{points}"></polyline>'
                )
    parts.append(_legend(lines, bool(windows)))
    parts.append(
        f'<text x="{MARGIN_LEFT_PX}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(lines: list[Line], with_faults: bool) -> str:
    entries = [(line.label, line.colour, "line") for line in lines]
    if with_faults:
        entries.append(("fault window", "#f4a261", "box"))
    parts = ['<g class="legend">']
    x = WIDTH_PX - MARGIN_RIGHT_PX
    for label, colour, shape in reversed(entries):
        width = 26 + 7 * len(label)
        x -= width
        if shape == "line":
            parts.append(
                f'<line x1="{x}" y1="26" x2="{x + 18}" y2="26" stroke="{colour}" stroke-width="3"></line>'
            )
        else:
            parts.append(
                f'<rect x="{x}" y="20" width="18" height="12" fill="{colour}" fill-opacity="0.35"></rect>'
            )
        parts.append(f'<text x="{x + 22}" y="30" font-size="11">{escape(label)}</text>')
    parts.append("</g>")
    return "".join(parts)
