"""The sections of ``report.html`` as plain HTML strings: header, tables, witnesses. Pure: data in, markup out.

Every value that came from a file is escaped; nothing here refers to anything outside the page
except the relative links to the checker's witness pages beside it.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any

from gameday.report.inputs import COMPLETION_TYPES, HistoryDigest
from gameday.report.timeline import Axis, FaultWindow, PairAvailability

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d1d1d; max-width: 1100px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.verdict { font-size: 2.4em; font-weight: bold; padding: 8px 16px; border-radius: 6px; display: inline-block; color: #fff; }
.verdict-valid { background: #2a9d4a; } .verdict-invalid { background: #c62828; } .verdict-unknown { background: #e09b00; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.good { background: #d8f0dd; } .warn { background: #fff0c2; } .bad { background: #f9d0d0; } .none { color: #888; }
.notice { background: #fff6d6; border: 1px solid #e0b000; padding: 8px 12px; border-radius: 4px; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: 6px; margin: 0; max-height: 360px; overflow: auto; }
code { background: #f2f2f2; padding: 1px 4px; } .muted { color: #666; }
"""

# Thresholds for colouring the whole-run availability when the summary does not carry its own.
DEFAULT_AVAILABILITY_OUTSIDE_FAULTS = 0.999
DEFAULT_AVAILABILITY_INSIDE_FAULTS = 0.95
WITNESS_DATA_MAX_CHARS = 20_000


def verdict_word(valid: Any) -> tuple[str, str]:
    if valid is True:
        return "VALID", "valid"
    if valid is False:
        return "INVALID", "invalid"
    return "UNKNOWN", "unknown"


def header(summary: dict[str, Any], axis: Axis) -> str:
    verdict = summary.get("verdict") if isinstance(summary.get("verdict"), dict) else None
    word, css = verdict_word(verdict.get("valid") if verdict else None)
    scenario = summary.get("scenario")
    seed = summary.get("seed")
    replay = summary.get("replay")
    if not isinstance(replay, str) or not replay:
        replay = f"gameday run {scenario if scenario is not None else 'SCENARIO'} --seed {seed if seed is not None else 'N'}"
    duration = summary.get("duration_s")
    rows = [
        ("scenario", _text(scenario)),
        ("seed", _text(seed)),
        ("started at", _text(summary.get("started_at"))),
        ("duration", f"{duration:.1f} s" if _is_number(duration) else "missing"),
        ("replay", f"<code>{escape(replay)}</code>"),
        ("time axis t=0", escape(f"{axis.origin_s:.3f} s monotonic ({axis.origin_source})")),
    ]
    parts = [
        f"<h1>Game day: {_text(scenario)}</h1>",
        f'<p><span class="verdict verdict-{css}" id="verdict">{word}</span>',
    ]
    if verdict is not None:
        parts.append(f' <span class="muted">exit code {_text(verdict.get("exit_code"))}</span></p>')
        parts.append(f"<p>{_text(verdict.get('reason'), 'no reason given')}</p>")
    else:
        parts.append(' <span class="muted">the summary has no verdict</span></p>')
    parts.append(table(["", ""], [[f"<b>{name}</b>", value] for name, value in rows], header_row=False))
    return "\n".join(parts)


def notices(messages: list[str]) -> str:
    if not messages:
        return ""
    items = "".join(f"<li>{escape(message)}</li>" for message in messages)
    return f'<div class="notice" id="notices"><b>This report is incomplete:</b><ul>{items}</ul></div>'


def availability_tables(
    pairs: list[PairAvailability],
    source: str,
    outside_threshold: float,
    inside_threshold: float,
    threshold_source: str,
) -> str:
    if not pairs:
        return "<p>No canary availability was measured.</p>"
    canary_azs = sorted({pair.canary_az for pair in pairs})
    endpoint_azs = sorted({pair.endpoint_az for pair in pairs})
    by_pair = {(pair.canary_az, pair.endpoint_az): pair for pair in pairs}
    parts = [
        f"<p>Whole-run canary availability ({escape(source)}); rows are the canary's AZ, columns the endpoint's AZ."
        f" Green: at least {outside_threshold:.4g} (the threshold outside faults); amber: at least"
        f" {inside_threshold:.4g} (inside faults); red: below. Thresholds: {escape(threshold_source)}.</p>"
    ]
    for side in ("write", "read"):
        rows = []
        for canary_az in canary_azs:
            cells = [escape(canary_az)]
            for endpoint_az in endpoint_azs:
                pair = by_pair.get((canary_az, endpoint_az))
                available, total = (
                    (getattr(pair, f"{side}_available"), getattr(pair, f"{side}_total")) if pair else (0, 0)
                )
                cells.append(_availability_cell(available, total, outside_threshold, inside_threshold))
            rows.append(cells)
        headings = [f"{side} availability: canary AZ \\ endpoint AZ"] + [escape(az) for az in endpoint_azs]
        parts.append(table(headings, rows, table_class=f"availability availability-{side}"))
    return "\n".join(parts)


def _availability_cell(available: int, total: int, outside_threshold: float, inside_threshold: float) -> str:
    if total == 0:
        return '<td class="none">no samples</td>'
    ratio = available / total
    css = "good" if ratio >= outside_threshold else "warn" if ratio >= inside_threshold else "bad"
    return f'<td class="number {css}">{ratio * 100:.3f}% ({available}/{total})</td>'


def verifier_table(verifiers: list[Any]) -> str:
    rows = []
    for verifier in verifiers:
        if not isinstance(verifier, dict):
            continue
        word, css = verdict_word(verifier.get("valid"))
        css_class = {"valid": "good", "invalid": "bad", "unknown": "warn"}[css]
        rows.append(
            [
                _text(verifier.get("name")),
                f'<td class="{css_class}">{word}</td>',
                f"<pre>{_text(verifier.get('detail'), '')}</pre>",
            ]
        )
    if not rows:
        return "<p>No verifier results in the summary.</p>"
    return table(["verifier", "verdict", "detail"], rows, table_class="verifiers")


def alarms_section(alarms: Any, axis: Axis) -> str:
    if not isinstance(alarms, dict):
        return "<p>The summary has no alarms section: the customer-facing alarms were not evaluated.</p>"
    fired = [alarm for alarm in alarms.get("alarms") or [] if isinstance(alarm, dict)]
    unjudged = alarms.get("unjudged") if isinstance(alarms.get("unjudged"), list) else []
    breaches = [window for window in alarms.get("breaches") or [] if isinstance(window, dict)]
    rules = alarms.get("rules") if isinstance(alarms.get("rules"), dict) else {}
    parts = [
        f"<p>{len(fired)} alarm(s) fired; {len(breaches)} window(s) breached a threshold;"
        f" {len(unjudged)} window(s) had too few samples to judge.</p>"
    ]
    if rules:
        parts.append(
            "<p>An alarm fires when M of N consecutive judged windows of one canary, endpoint and kind breach;"
            " a window is judged on at least its minimum of samples, or when the samples it lacks could not"
            " change its verdict.</p>"
        )
        parts.append(_rules_table(rules))
    if fired:
        parts.append(_fired_table(fired, axis))
        for alarm in fired:
            parts.append(_evidence(alarm, axis))
    evidence_starts = {
        (alarm.get("canary_az"), alarm.get("endpoint_az"), alarm.get("kind"), window.get("window_start_s"))
        for alarm in fired
        for window in alarm.get("evidence") or []
        if isinstance(window, dict)
    }
    isolated = [
        window
        for window in breaches
        if (window.get("canary_az"), window.get("endpoint_az"), window.get("kind"), window.get("window_start_s"))
        not in evidence_starts
    ]
    if isolated:
        parts.append(f"<h3>Breached windows that fired no alarm ({len(isolated)})</h3>")
        parts.append(_windows_table(isolated, axis, with_pair=True, table_class="breaches-isolated"))
    return "\n".join(parts)


def _rules_table(rules: dict[str, Any]) -> str:
    rows = []
    for kind, rule in rules.items():
        rule = rule if isinstance(rule, dict) else {}
        rows.append(
            [
                escape(str(kind)),
                f"{_text(rule.get('breaches_to_fire'))} of {_text(rule.get('evaluation_windows'))}",
                f'<td class="number">{_text(rule.get("samples_min"))}</td>',
            ]
        )
    return table(["kind", "breached windows to fire", "samples to judge a window"], rows, table_class="alarm-rules")


def _window_text(start: Any, end: Any, axis: Axis) -> str:
    if _is_number(start) and _is_number(end):
        return f"{axis.relative_maybe_absolute(start):.1f} s to {axis.relative_maybe_absolute(end):.1f} s"
    return "unknown"


def _fired_table(fired: list[dict[str, Any]], axis: Axis) -> str:
    rows = []
    for alarm in fired:
        kind = str(alarm.get("kind", ""))
        rule = alarm.get("rule") if isinstance(alarm.get("rule"), dict) else {}
        breached = alarm.get("breaches")
        to_fire = (
            f" ({rule.get('breaches_to_fire')} of {rule.get('evaluation_windows')} to fire)"
            if rule.get("breaches_to_fire") is not None
            else ""
        )
        rows.append(
            [
                escape(_window_text(alarm.get("window_start_s"), alarm.get("window_end_s"), axis)),
                _text(alarm.get("canary_az")),
                _text(alarm.get("endpoint_az")),
                escape(kind),
                f'<td class="number bad">{_measure(kind, alarm.get("measured"))}</td>',
                f'<td class="number">{_measure(kind, alarm.get("threshold"))}</td>',
                f'<td class="number">{_text(alarm.get("samples"))}</td>',
                "yes" if alarm.get("inside_fault") else "no",
                _text(breached, "1") + escape(to_fire),
            ]
        )
    headings = [
        "window",
        "canary AZ",
        "endpoint AZ",
        "kind",
        "measured (worst)",
        "threshold",
        "samples",
        "inside a fault",
        "breached windows",
    ]
    return table(headings, rows, table_class="alarms")


def _evidence(alarm: dict[str, Any], axis: Axis) -> str:
    windows = [window for window in alarm.get("evidence") or [] if isinstance(window, dict)]
    if not windows:
        return ""
    kind = str(alarm.get("kind", ""))
    title = escape(f"{kind}, canary {alarm.get('canary_az')} -> endpoint {alarm.get('endpoint_az')}: the evidence")
    windows = [{**window, "kind": kind} for window in windows]
    return f"<h3>{title}</h3>\n" + _windows_table(windows, axis, with_pair=False, table_class="alarm-evidence")


def _windows_table(windows: list[dict[str, Any]], axis: Axis, *, with_pair: bool, table_class: str) -> str:
    rows = []
    for window in windows:
        kind = str(window.get("kind", ""))
        verdict = str(window.get("verdict", "breach"))
        css = {"breach": "bad", "pass": "good"}.get(verdict, "none")
        pair = [_text(window.get("canary_az")), _text(window.get("endpoint_az")), escape(kind)] if with_pair else []
        rows.append(
            [
                escape(_window_text(window.get("window_start_s"), window.get("window_end_s"), axis)),
                *pair,
                f'<td class="{css}">{escape(verdict)}</td>',
                f'<td class="number">{_measure(kind, window.get("measured"))}</td>',
                f'<td class="number">{_measure(kind, window.get("threshold"))}</td>',
                f'<td class="number">{_text(window.get("samples"))}</td>',
                "yes" if window.get("inside_fault") else "no",
            ]
        )
    pair_headings = ["canary AZ", "endpoint AZ", "kind"] if with_pair else []
    headings = ["window", *pair_headings, "verdict", "measured", "threshold", "samples", "inside a fault"]
    return table(headings, rows, table_class=table_class)


def _measure(kind: str, value: Any) -> str:
    if not _is_number(value):
        return _text(value)
    if "latency" in kind:
        return f"{value:.1f} ms"
    return f"{value * 100:.3f}%"


def witnesses_section(links: list[str], verifiers: list[Any]) -> str:
    parts = []
    if links:
        items = "".join(f'<li><a href="{escape(link)}">{escape(link)}</a></li>' for link in links)
        parts.append(
            f'<p>Witness timelines written by the checker:</p><ul class="witness-links">{items}</ul>'
        )
    else:
        parts.append("<p>No witness timelines (the checker writes them only for invalid keys).</p>")
    for verifier in verifiers:
        if not isinstance(verifier, dict) or verifier.get("valid") is True:
            continue
        word, _ = verdict_word(verifier.get("valid"))
        parts.append(f"<h3>{_text(verifier.get('name'))}: {word}</h3>")
        parts.append(f'<pre class="witness-detail">{_text(verifier.get("detail"), "")}</pre>')
        data = verifier.get("data")
        if data:
            text = json.dumps(data, indent=2, default=str, sort_keys=True)
            if len(text) > WITNESS_DATA_MAX_CHARS:
                text = (
                    text[:WITNESS_DATA_MAX_CHARS]
                    + f"\n... ({len(text) - WITNESS_DATA_MAX_CHARS} more characters)"
                )
            parts.append(f"<details><summary>data</summary><pre>{escape(text)}</pre></details>")
    return "\n".join(parts)


def faults_table(windows: list[FaultWindow]) -> str:
    if not windows:
        return "<p>No fault windows were recorded.</p>"
    rows = [
        [
            escape(window.kind),
            f'<td class="number">{window.start_s:.1f} s</td>',
            f'<td class="number">{window.end_s:.1f} s</td>'
            if window.healed
            else '<td class="bad">not healed</td>',
            f'<td class="number">{window.end_s - window.start_s:.1f} s</td>',
            f"<code>{escape(json.dumps(window.target, default=str, sort_keys=True)[:300])}</code>",
            escape(window.source),
        ]
        for window in windows
    ]
    return table(["fault", "start", "heal", "duration", "target", "source"], rows, table_class="faults")


def operations_table(history: HistoryDigest) -> str:
    if not history.counts and not history.unfinished:
        return "<p>The history has no client operations.</p>"
    functions = sorted(set(history.counts) | set(history.unfinished))
    rows = []
    totals: Counter[str] = Counter()
    for function in functions:
        counts = history.counts.get(function, Counter())
        values = [counts.get(kind, 0) for kind in COMPLETION_TYPES] + [history.unfinished.get(function, 0)]
        for name, value in zip((*COMPLETION_TYPES, "unfinished"), values, strict=True):
            totals[name] += value
        rows.append([escape(function)] + [f'<td class="number">{value}</td>' for value in values])
    rows.append(
        ["<b>total</b>"]
        + [f'<td class="number"><b>{totals[name]}</b></td>' for name in (*COMPLETION_TYPES, "unfinished")]
    )
    return table(
        ["operation", "ok", "fail", "info", "invoked, never completed"], rows, table_class="operations"
    )


def load_counts_table(load: Any) -> str:
    """The load generators' own counts from the summary: ``{"counts": ...}`` or ``{model: {"counts": ...}}``."""
    if not isinstance(load, dict):
        return ""
    models = (
        {"load": load["counts"]}
        if isinstance(load.get("counts"), dict)
        else {str(model): value.get("counts") for model, value in load.items() if isinstance(value, dict)}
    )
    rows = []
    for model, counts in sorted(models.items()):
        if not isinstance(counts, dict):
            continue
        for function, by_type in sorted(counts.items()):
            if isinstance(by_type, dict):
                rows.append(
                    [escape(model), escape(str(function))]
                    + [f'<td class="number">{_text(by_type.get(kind, 0))}</td>' for kind in COMPLETION_TYPES]
                )
    if not rows:
        return ""
    return "<p>As counted by the load generators (summary):</p>" + table(
        ["load", "operation", "ok", "fail", "info"], rows, table_class="load-counts"
    )


def requests_table(load: Any) -> str:
    """Locust's own statistics per load and request name (summary ``load.<name>.requests``): throughput,
    errors and latency of every operation, a user locustfile's (`--locustfile`) beside ours."""
    if not isinstance(load, dict):
        return ""
    rows = []
    for name, entry in sorted(load.items()):
        requests = entry.get("requests") if isinstance(entry, dict) else None
        if not isinstance(requests, dict):
            continue
        for request, stats in sorted(requests.items(), key=lambda item: (item[0] == "total", item[0])):
            if not isinstance(stats, dict):
                continue
            cells = ("requests", "failures", "requests_per_s", "p50_ms", "p95_ms", "p99_ms")
            rows.append(
                [escape(str(name)), escape(str(request))]
                + [f'<td class="number">{_text(stats.get(cell), "–")}</td>' for cell in cells]
            )
    if not rows:
        return ""
    return "<p>Requests per operation, as Locust measured them (every load, yours included):</p>" + table(
        ["load", "request", "requests", "failures", "per second", "p50 ms", "p95 ms", "p99 ms"], rows,
        table_class="locust-requests",
    )  # fmt: skip


def table(headings: list[str], rows: list[list[str]], table_class: str = "", header_row: bool = True) -> str:
    """Cells that already start with ``<td`` are used as they are; anything else is wrapped."""
    parts = [f'<table class="{table_class}">' if table_class else "<table>"]
    if header_row:
        parts.append("<tr>" + "".join(f"<th>{heading}</th>" for heading in headings) + "</tr>")
    for row in rows:
        cells = "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _text(value: Any, missing: str = "missing") -> str:
    if value is None:
        return f'<span class="none">{escape(missing)}</span>' if missing else ""
    return escape(str(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
