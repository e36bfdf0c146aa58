"""``report.html``: one self-contained page (inline CSS and SVG, nothing fetched) from a run directory.

Reads ``summary.json``, ``history.jsonl`` (and ``history-set.jsonl``), ``canaries.jsonl`` and
``check/*.html``; any of them may be missing, empty or partly corrupt after a run cut short,
and the page then says what is missing instead of failing (the verdict must stay readable).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from gameday.checks.metadata_load import SAMPLES_FILE as METADATA_SAMPLES_FILE
from gameday.report import markup
from gameday.report.hot_key import hot_key_section
from gameday.report.index_lag import index_lag_section
from gameday.report.inputs import (
    CanaryDigest,
    FileRead,
    HistoryDigest,
    read_canaries,
    read_histories,
    read_summary,
)
from gameday.report.metadata_load import metadata_load_figure
from gameday.report.resources import resources_section
from gameday.report.svg import Line, line_plot
from gameday.report.timeline import (
    Axis,
    FaultWindow,
    availability_from_records,
    availability_from_summary,
    choose_axis,
    latency_series,
    rate_series,
    second_range,
    windows_from_nemesis,
    windows_from_summary,
)

REPORT_FILE_NAME = "report.html"
# The fields the orchestrator writes in a complete run; a missing one is shown as a notice.
EXPECTED_SUMMARY_FIELDS = (
    "scenario",
    "seed",
    "started_at",
    "duration_s",
    "verdict",
    "verifiers",
    "alarms",
    "faults",
)


def render_report(run_dir: Path) -> Path:
    """Writes ``run_dir/report.html`` and returns its path."""
    run_dir = Path(run_dir)
    path = run_dir / REPORT_FILE_NAME
    temporary = run_dir / (REPORT_FILE_NAME + ".tmp")
    temporary.write_text(build_report_html(run_dir), encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a page
    return path


def build_report_html(run_dir: Path) -> str:
    summary_read = read_summary(run_dir)
    summary = summary_read.data
    run_start = summary.get("run_start_monotonic_s")
    history = read_histories(run_dir, float(run_start) if _is_number(run_start) else None)
    canaries = read_canaries(run_dir)
    duration = summary.get("duration_s")
    axis = choose_axis(
        run_start if _is_number(run_start) else None,
        float(duration) if _is_number(duration) else None,
        [history.earliest_s, min((record.time_s for record in canaries.records), default=None)],
        [history.latest_s, max((record.time_s for record in canaries.records), default=None)],
    )
    windows = _fault_windows(history, summary, axis)
    messages = _notices(summary_read.file, summary, history, canaries)

    sections = [
        markup.header(summary, axis),
        markup.notices(messages),
        "<h2>Timeline</h2>",
        _plots(history, canaries, windows, axis),
        _metadata_load_plot(run_dir, summary, windows, axis),
        hot_key_section(summary.get("admission")),
        index_lag_section(_list(summary.get("verifiers")), axis, windows),
        resources_section(run_dir, axis.origin_s, windows, summary.get("resources")),
        "<h2>Client operations</h2>",
        markup.operations_table(history),
        markup.load_counts_table(summary.get("load")),
        markup.requests_table(summary.get("load")),
        "<h2>Canary availability</h2>",
        _availability(summary, canaries),
        "<h2>Verifiers</h2>",
        markup.verifier_table(_list(summary.get("verifiers"))),
        "<h2>Customer-facing alarms</h2>",
        markup.alarms_section(summary.get("alarms"), axis),
        "<h2>Witnesses</h2>",
        markup.witnesses_section(_witness_links(run_dir), _list(summary.get("verifiers"))),
        "<h2>Faults</h2>",
        markup.faults_table(windows),
        "<h2>Input files</h2>",
        _files_table([summary_read.file, *history.files, canaries.file]),
    ]
    title = (
        f"Game day {summary.get('scenario', '(scenario missing)')}, seed {summary.get('seed', '(missing)')}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{markup.STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(section for section in sections if section)
        + "\n</body>\n</html>\n"
    )


def _fault_windows(history: HistoryDigest, summary: dict[str, Any], axis: Axis) -> list[FaultWindow]:
    if history.nemesis:
        return windows_from_nemesis(history.nemesis, axis, history.nemesis_source)
    return windows_from_summary(_list(summary.get("faults")), axis)


def _plots(history: HistoryDigest, canaries: CanaryDigest, windows: list[FaultWindow], axis: Axis) -> str:
    earliest = [
        axis.relative(value)
        for value in (history.earliest_s, min((record.time_s for record in canaries.records), default=None))
        if value is not None
    ]
    first, last = second_range(axis, min(earliest, default=None))
    x_range = (float(first), float(last + 1))
    parts = []
    if history.ok_by_bucket or history.errors_by_bucket:
        ok = rate_series(history.ok_by_bucket, history.bucket_origin_s, axis, first, last)
        errors = rate_series(history.errors_by_bucket, history.bucket_origin_s, axis, first, last)
        parts.append(
            line_plot(
                "Client throughput and errors per second (from history completions)",
                [
                    Line("ok ops/s", "#2a9d4a", ok.points()),
                    Line("fail + info /s", "#c62828", errors.points()),
                ],
                windows,
                x_range,
                "operations per second",
            )
        )
    else:
        parts.append("<p>No client operation completed: no throughput plot.</p>")
    if canaries.records:
        p50, p99 = latency_series(canaries.records, axis, first, last)
        parts.append(
            line_plot(
                "Canary latency per second (errors left out)",
                [Line("p50", "#1f77b4", p50.points()), Line("p99", "#7b2cbf", p99.points())],
                windows,
                x_range,
                "latency (ms)",
            )
        )
    else:
        parts.append("<p>No canary measurement: no latency plot.</p>")
    return "\n".join(parts)


def _metadata_load_plot(run_dir: Path, summary: dict[str, Any], windows: list[FaultWindow], axis: Axis) -> str:
    """Metadata-service requests per second, for runs that sampled them (the cache-flush scenarios)."""
    if not (run_dir / METADATA_SAMPLES_FILE).exists():
        return ""
    return metadata_load_figure(run_dir, axis.origin_s, windows, str(summary.get("router_cache", "constant-work")))


def _availability(summary: dict[str, Any], canaries: CanaryDigest) -> str:
    alarms = summary.get("alarms") if isinstance(summary.get("alarms"), dict) else {}
    pairs = availability_from_summary(_list(alarms.get("summary")))
    source = "as judged by the alarm evaluation in summary.json"
    if not pairs:
        pairs = availability_from_records(canaries.records)
        source = "computed from canaries.jsonl"
    thresholds = summary.get("thresholds") if isinstance(summary.get("thresholds"), dict) else {}
    outside, inside = (
        thresholds.get("availability_outside_faults"),
        thresholds.get("availability_inside_faults"),
    )
    if _is_number(outside) and _is_number(inside):
        threshold_source = "from summary.json"
    else:
        outside = markup.DEFAULT_AVAILABILITY_OUTSIDE_FAULTS
        inside = markup.DEFAULT_AVAILABILITY_INSIDE_FAULTS
        threshold_source = "defaults (summary.json carries none)"
    return markup.availability_tables(pairs, source, float(outside), float(inside), threshold_source)


def _witness_links(run_dir: Path) -> list[str]:
    check_dir = run_dir / "check"
    if not check_dir.is_dir():
        return []
    return [f"check/{path.name}" for path in sorted(check_dir.glob("*.html")) if path.is_file()]


def _notices(
    summary_file: FileRead, summary: dict[str, Any], history: HistoryDigest, canaries: CanaryDigest
) -> list[str]:
    messages = []
    if not summary_file.present:
        messages.append("summary.json is missing: no verdict, verifiers or alarms to show.")
    elif summary_file.error:
        messages.append(f"summary.json could not be read ({summary_file.error}).")
    else:
        missing = [name for name in EXPECTED_SUMMARY_FIELDS if name not in summary]
        if missing:
            messages.append(f"summary.json lacks: {', '.join(missing)}.")
    if summary.get("partial") is True:
        messages.append(
            "The run is partial (cut short or an infrastructure error): the verdict cannot be valid."
        )
    for error in _list(summary.get("errors")):
        messages.append(f"Run error: {error}")
    if not any(file.present for file in history.files if file.name.startswith("history")):
        messages.append("history.jsonl is missing: no client throughput.")
    elif history.client_operations == 0:
        messages.append("The history has no client operations.")
    if not canaries.file.present:
        messages.append("canaries.jsonl is missing: no canary latency or computed availability.")
    elif not canaries.records:
        messages.append("canaries.jsonl has no canary measurements.")
    for file in [*history.files, canaries.file]:
        if file.corrupt_lines:
            messages.append(f"{file.name}: {file.corrupt_lines} corrupt line(s) skipped.")
        if file.error:
            messages.append(f"{file.name} could not be read to the end ({file.error}).")
    return messages


def _files_table(files: list[FileRead]) -> str:
    rows = []
    for file in files:
        state = "missing" if not file.present else f"unreadable: {file.error}" if file.error else "read"
        rows.append(
            [
                f"<code>{escape(file.name)}</code>",
                escape(state),
                f'<td class="number">{file.lines}</td>',
                f'<td class="number corrupt-lines">{file.corrupt_lines}</td>',
            ]
        )
    return markup.table(["file", "state", "lines", "corrupt lines skipped"], rows, table_class="files")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
