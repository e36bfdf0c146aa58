"""Draw a key's operations on a timeline: text for the terminal, SVG inside HTML for `--out`.

The horizontal axis is event order, not nanoseconds: what matters for linearizability is which
operations overlap, and equal spacing keeps short operations legible next to slow ones.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from verify.operations import OK, Operation
from verify.witness import Witness

_TEXT_WIDTH_COLUMNS = 48
_MAX_TEXT_ROWS = 60
_MAX_SVG_OPERATIONS = 2000


def _end_position(operation: Operation) -> int | None:
    return operation.complete_position


def window_around_witness(operations: Sequence[Operation], witness: Witness) -> list[Operation]:
    """The key's operations that overlap the witness's span, witness operations first when capped."""
    start = min(operation.invoke_position for operation in witness.operations)
    stop = max(
        max((operation.complete_position or operation.invoke_position) for operation in witness.operations),
        max(operation.invoke_position for operation in witness.operations),
    )
    in_window = [
        operation
        for operation in operations
        if operation.invoke_position <= stop
        and (operation.complete_position is None or operation.complete_position >= start)
    ]
    return in_window


def _columns(operations: Sequence[Operation], width: int) -> dict[int, int]:
    points = sorted(
        {operation.invoke_position for operation in operations}
        | {operation.complete_position for operation in operations if operation.complete_position is not None}
    )
    last = max(1, len(points) - 1)
    return {point: rank * (width - 1) // last for rank, point in enumerate(points)}


def render_text_timeline(
    operations: Sequence[Operation], witness: Witness | None = None, width: int = _TEXT_WIDTH_COLUMNS
) -> str:
    """One row per operation in invoke order; `!` marks what cannot be placed, `*` the witness."""
    shown = _capped(operations, witness, _MAX_TEXT_ROWS)
    column_of = _columns(shown, width)
    in_witness = {operation.invoke_position for operation in witness.operations} if witness else set()
    blocked = {operation.invoke_position for operation in witness.unplaceable} if witness else set()
    lines = []
    if len(shown) < len(operations):
        lines.append(f"(showing {len(shown)} of {len(operations)} operations, witness first)")
    for operation in shown:
        start = column_of[operation.invoke_position]
        if operation.complete_position is None:
            bar = " " * start + "[" + "-" * (width - start - 2) + ">"
        else:
            end = max(start + 1, column_of[operation.complete_position])
            bar = " " * start + "[" + "=" * (end - start - 1) + "]" + " " * (width - end - 1)
        mark = (
            "!"
            if operation.invoke_position in blocked
            else "*"
            if operation.invoke_position in in_witness
            else " "
        )
        ended = "" if operation.complete_time_ns is None else f"..{operation.complete_time_ns}"
        lines.append(
            f"{mark} {operation.describe():<30} |{bar:<{width}}| t={operation.invoke_time_ns}{ended} "
            f"line {operation.invoke_line_number}"
        )
    return "\n".join(lines)


def describe_witness(witness: Witness) -> str:
    """Plain-language summary of why the key cannot be linearized."""
    partial = ", ".join(operation.describe() for operation in witness.partial_linearization) or "(nothing)"
    blocked = "; ".join(operation.describe() for operation in witness.unplaceable)
    state = "null" if witness.state_after_partial is None else witness.state_after_partial
    return (
        f"{len(witness.operations)} operations cannot be linearized"
        f"{'' if witness.is_minimal else ' (shrinking stopped at its budget)'}. "
        f"Longest legal order: {partial} (register = {state}); "
        f"then {blocked} completed but cannot be placed."
    )


def _capped(operations: Sequence[Operation], witness: Witness | None, limit: int) -> list[Operation]:
    if len(operations) <= limit:
        return list(operations)
    keep = {operation.invoke_position for operation in witness.operations} if witness else set()
    chosen = [operation for operation in operations if operation.invoke_position in keep][:limit]
    room = limit - len(chosen)
    chosen += [operation for operation in operations if operation.invoke_position not in keep][:room]
    return sorted(chosen, key=lambda operation: operation.invoke_position)


def render_svg_timeline(operations: Sequence[Operation], witness: Witness | None = None) -> str:
    """One lane per process (like Knossos's linear.svg); bars with hover titles giving times and lines."""
    shown = _capped(operations, witness, _MAX_SVG_OPERATIONS)
    slot_width, lane_height, label_width = 90, 28, 70
    points = sorted(
        {operation.invoke_position for operation in shown}
        | {operation.complete_position for operation in shown if operation.complete_position is not None}
    )
    slot_of = {point: index for index, point in enumerate(points)}
    processes = sorted({str(operation.process) for operation in shown}, key=_natural_order)
    lane_of = {process: index for index, process in enumerate(processes)}
    in_witness = {operation.invoke_position for operation in witness.operations} if witness else set()
    blocked = {operation.invoke_position for operation in witness.unplaceable} if witness else set()
    width = label_width + slot_width * (len(points) + 1)
    height = lane_height * (len(processes) + 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">'
    ]
    for process, lane in lane_of.items():
        y = lane * lane_height + 18
        parts.append(f'<text x="4" y="{y}">p{html.escape(process)}</text>')
    for operation in shown:
        x = label_width + slot_of[operation.invoke_position] * slot_width
        if operation.complete_position is None:
            end_x = width - 4
        else:
            end_x = label_width + slot_of[operation.complete_position] * slot_width + slot_width // 2
        y = lane_of[str(operation.process)] * lane_height + 4
        if operation.invoke_position in blocked:
            fill = "#e06666"
        elif operation.outcome == OK:
            fill = "#93c47d"
        else:
            fill = "#f6b26b"
        stroke = (
            'stroke="#000" stroke-width="2"' if operation.invoke_position in in_witness else 'stroke="#666"'
        )
        title = html.escape(
            f"{operation.describe()} — invoked t={operation.invoke_time_ns} (line {operation.invoke_line_number}), "
            f"completed t={operation.complete_time_ns} (line {operation.complete_line_number})"
        )
        parts.append(
            f'<g><title>{title}</title><rect x="{x}" y="{y}" width="{max(8, end_x - x)}" height="{lane_height - 8}" '
            f'rx="3" fill="{fill}" {stroke}/>'
            f'<text x="{x + 4}" y="{y + 14}">{html.escape(operation.describe().split(" ", 1)[1])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html_report(key: object, operations: Sequence[Operation], witness: Witness | None) -> str:
    """A standalone page for one invalid key: the explanation, the witness list and the timeline."""
    rows: Iterable[Operation] = witness.operations if witness else ()
    items = "".join(
        f"<tr><td>p{html.escape(str(operation.process))}</td><td>{html.escape(operation.describe())}</td>"
        f"<td>{operation.invoke_time_ns}</td><td>{operation.complete_time_ns}</td>"
        f"<td>{operation.invoke_line_number}</td><td>{operation.complete_line_number}</td></tr>"
        for operation in rows
    )
    explanation = (
        html.escape(describe_witness(witness)) if witness else "No witness could be shrunk within the budget."
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Key {html.escape(str(key))}: not linearizable</title>"
        "<style>body{font-family:sans-serif} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}"
        ".timeline{overflow-x:auto}</style></head><body>"
        f"<h1>Key {html.escape(str(key))}: not linearizable</h1><p>{explanation}</p>"
        "<p>Legend: green ok, orange info/never completed (open-ended), red cannot be placed, "
        "thick border = in the witness. Hover a bar for times and history lines.</p>"
        "<h2>Witness</h2><table><tr><th>process</th><th>operation</th><th>invoke time</th>"
        f"<th>complete time</th><th>invoke line</th><th>complete line</th></tr>{items}</table>"
        f"<h2>Timeline</h2><div class='timeline'>{render_svg_timeline(operations, witness)}</div>"
        "</body></html>"
    )


def _natural_order(process: str) -> tuple[int, int | str]:
    return (0, int(process)) if process.lstrip("-").isdigit() else (1, process)
