"""report.html from a hand-built run directory: what a reader must find on the page, and that it never breaks."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from canaries.alarms import AlarmThresholds, evaluate_alarms
from gameday.report import render_report

RUN_START_S = 5000.25  # monotonic seconds; fractional on purpose, so alignment errors show
DURATION_S = 60.0
FAULT_START_S = 20.0  # relative to the run start
FAULT_HEAL_S = 35.0
SEED = 4242
CORRUPT_HISTORY_LINES = 2
CORRUPT_CANARY_LINES = 1
VOID_ELEMENTS = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


# ---- a tiny DOM, to ask questions of the page ------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.text_parts) + "".join(child.text() for child in self.children)

    def find_all(self, tag: str, css_class: str | None = None) -> list[Element]:
        found = []
        for child in self.children:
            if child.tag == tag and (css_class is None or css_class in child.attrs.get("class", "").split()):
                found.append(child)
            found.extend(child.find_all(tag, css_class))
        return found


class _TreeBuilder(HTMLParser):
    """Builds the tree and records every tag that closes out of order or never closes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID_ELEMENTS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_ELEMENTS:
            return
        if len(self.stack) == 1 or self.stack[-1].tag != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def parse(page: str) -> tuple[Element, list[str]]:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    problems = builder.problems + [f"<{element.tag}> never closed" for element in builder.stack[1:]]
    return builder.root, problems


def table_rows(table: Element) -> list[list[str]]:
    """The data rows (those without <th>) as cell texts."""
    return [
        [cell.text().strip() for cell in row.find_all("td")]
        for row in table.find_all("tr")
        if not row.find_all("th")
    ]


# ---- the run directory -----------------------------------------------------------------------------


@dataclass
class BuiltRun:
    run_dir: Path
    completions: dict[str, Counter[str]]  # f -> ok/fail/info as written to the history
    unfinished: int
    ok_per_second: Counter[int]
    errors_per_second: Counter[int]


def _ns(relative_s: float) -> int:
    return round((RUN_START_S + relative_s) * 1e9)


def build_history(run_dir: Path, with_faults: bool = True, with_clients: bool = True) -> BuiltRun:
    """One op every 0.25 s for 60 s; inside the fault every other op fails or times out."""
    events: list[dict[str, Any]] = []
    completions: dict[str, Counter[str]] = {}
    ok_per_second: Counter[int] = Counter()
    errors_per_second: Counter[int] = Counter()
    process = 0
    if with_clients:
        for step in range(int(DURATION_S * 4)):
            invoke_s = step * 0.25 + 0.01
            complete_s = invoke_s + 0.1
            function = "read" if step % 3 else "write"
            inside = FAULT_START_S <= complete_s < FAULT_HEAL_S
            outcome = "ok" if not inside or step % 2 else ("fail" if step % 4 == 0 else "info")
            value = None if function == "read" else step
            events.append(
                {
                    "time": _ns(invoke_s),
                    "process": process,
                    "type": "invoke",
                    "f": function,
                    "key": "k1",
                    "value": value,
                }
            )
            events.append(
                {
                    "time": _ns(complete_s),
                    "process": process,
                    "type": outcome,
                    "f": function,
                    "key": "k1",
                    "value": value,
                }
            )
            completions.setdefault(function, Counter())[outcome] += 1
            (ok_per_second if outcome == "ok" else errors_per_second)[int(complete_s)] += 1
            if outcome == "info":
                process += 1  # a process that saw info never issues again
        # one operation still in flight when the run stopped
        events.append(
            {"time": _ns(59.9), "process": process, "type": "invoke", "f": "write", "key": "k2", "value": 999}
        )
    if with_faults:
        target = {"fault": 1, "node": "az-b-1"}
        events.append(
            {
                "time": _ns(FAULT_START_S),
                "process": "nemesis",
                "type": "info",
                "f": "start-power-off",
                "value": target,
            }
        )
        events.append(
            {
                "time": _ns(FAULT_HEAL_S),
                "process": "nemesis",
                "type": "info",
                "f": "stop-power-off",
                "value": target,
            }
        )
    events.sort(key=lambda event: event["time"])
    lines = [json.dumps({"index": index, **event}) for index, event in enumerate(events)]
    lines.insert(10, '{"index": 10, "time": 12')  # torn
    lines.insert(20, "not json at all")
    (run_dir / "history.jsonl").write_text("\n".join(lines) + "\n")
    unfinished = 1 if with_clients else 0
    return BuiltRun(run_dir, completions, unfinished, ok_per_second, errors_per_second)


def build_canaries(run_dir: Path) -> None:
    lines = []
    for step in range(int(DURATION_S * 2)):
        relative_s = step * 0.5
        inside = FAULT_START_S <= relative_s < FAULT_HEAL_S
        for endpoint_az in ("az-a", "az-b"):
            outcome = "error" if inside and endpoint_az == "az-b" else "ok"
            for operation in ("write", "consistent_read"):
                lines.append(
                    json.dumps(
                        {
                            "time_s": RUN_START_S + relative_s,
                            "wall_time_s": 1.7e9 + relative_s,
                            "canary_az": "az-a",
                            "endpoint_az": endpoint_az,
                            "endpoint": f"router-{endpoint_az}",
                            "operation": operation,
                            "outcome": outcome,
                            "error_class": "ConnectionError" if outcome == "error" else None,
                            "latency_ms": 40.0 if inside else 5.0,
                        }
                    )
                )
    lines.append('{"time_s": "soon"}')
    (run_dir / "canaries.jsonl").write_text("\n".join(lines) + "\n")


ALARMS = [
    {
        "window_start_s": RUN_START_S + 20.0,
        "window_end_s": RUN_START_S + 30.0,
        "canary_az": "az-a",
        "endpoint_az": "az-b",
        "kind": "write-availability",
        "measured": 0.8,
        "threshold": 0.95,
        "samples": 20,
        "inside_fault": True,
    },
    {
        "window_start_s": RUN_START_S + 30.0,
        "window_end_s": RUN_START_S + 40.0,
        "canary_az": "az-a",
        "endpoint_az": "az-b",
        "kind": "latency-p99",
        "measured": 2500.0,
        "threshold": 2000.0,
        "samples": 20,
        "inside_fault": True,
    },
]


def build_summary(run_dir: Path, **overrides: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "scenario": "az-outage",
        "seed": SEED,
        "started_at": "2024-05-01T10:00:00Z",
        "duration_s": DURATION_S,
        "partial": False,
        "run_start_monotonic_s": RUN_START_S,
        "verdict": {"valid": False, "exit_code": 1, "reason": "linearizability: False; alarms: False"},
        "verifiers": [
            {
                "name": "linearizability",
                "valid": False,
                "detail": "240 ok operations; verdict False\nkey k1: read of 7 <after> write of 8",
                "data": {"verdict": {"valid": False, "witness": [{"f": "read", "value": 7}]}},
            },
            {
                "name": "alarms",
                "valid": False,
                "detail": "2 customer-facing alarm window(s) fired",
                "data": {},
            },
            {"name": "cluster-healthy", "valid": True, "detail": "every process answered", "data": {}},
        ],
        "alarms": {
            "fired": True,
            "alarms": ALARMS,
            "unjudged": [],
            "summary": [
                {
                    "canary_az": "az-a",
                    "endpoint_az": "az-a",
                    "write_available": 120,
                    "write_total": 120,
                    "read_available": 120,
                    "read_total": 120,
                    "latency_p99_ms": 5.0,
                },
                {
                    "canary_az": "az-a",
                    "endpoint_az": "az-b",
                    "write_available": 90,
                    "write_total": 120,
                    "read_available": 119,
                    "read_total": 120,
                    "latency_p99_ms": 40.0,
                },
            ],
        },
        "faults": [
            {
                "kind": "power-off",
                "start_s": FAULT_START_S,
                "heal_s": FAULT_HEAL_S,
                "target": {"node": "az-b-1"},
            }
        ],
        "load": {"register": {"counts": {"read": {"ok": 150, "fail": 3, "info": 2}}}},
    }
    summary.update(overrides)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return summary


@pytest.fixture
def full_run(tmp_path: Path) -> BuiltRun:
    built = build_history(tmp_path)
    build_canaries(tmp_path)
    build_summary(tmp_path)
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "timeline-register-k1.html").write_text("<html><body>witness</body></html>")
    return built


def render(run_dir: Path) -> tuple[str, Element]:
    path = render_report(run_dir)
    assert path == run_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    root, problems = parse(page)
    assert problems == []
    return page, root


# ---- the full run ----------------------------------------------------------------------------------


def test_header_shows_verdict_seed_and_replay_command(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    verdict = [span for span in root.find_all("span") if span.attrs.get("id") == "verdict"]
    assert [span.text() for span in verdict] == ["INVALID"]
    assert "verdict-invalid" in verdict[0].attrs["class"]
    header = {row[0]: row[1] for row in table_rows(root.find_all("table")[0])}
    assert header["seed"] == str(SEED)
    assert header["scenario"] == "az-outage"
    assert header["duration"] == "60.0 s"
    assert header["replay"] == f"gameday run az-outage --seed {SEED}"


def test_verdict_colour_follows_the_summary(tmp_path: Path) -> None:
    build_summary(tmp_path, verdict={"valid": "unknown", "exit_code": 2, "reason": "budget exceeded"})
    _, root = render(tmp_path)
    verdict = next(span for span in root.find_all("span") if span.attrs.get("id") == "verdict")
    assert (verdict.text(), verdict.attrs["class"]) == ("UNKNOWN", "verdict verdict-unknown")


def test_both_plots_shade_the_fault_window_at_its_time(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    plots = root.find_all("svg", "plot")
    assert len(plots) == 2  # throughput and canary latency
    for plot in plots:
        x_min, x_max = float(plot.attrs["data-x-min"]), float(plot.attrs["data-x-max"])
        left, width = float(plot.attrs["data-plot-left"]), float(plot.attrs["data-plot-width"])
        assert (x_min, x_max) == (0.0, DURATION_S)
        faults = plot.find_all("rect", "fault")
        assert len(faults) == 1
        expected_x = left + (FAULT_START_S - x_min) / (x_max - x_min) * width
        expected_width = (FAULT_HEAL_S - FAULT_START_S) / (x_max - x_min) * width
        assert float(faults[0].attrs["x"]) == pytest.approx(expected_x, abs=0.01)
        assert float(faults[0].attrs["width"]) == pytest.approx(expected_width, abs=0.01)
        assert [label.text() for label in plot.find_all("text", "fault-label")] == ["power-off"]
        legend = plot.find_all("g", "legend")[0].text()
        assert "fault window" in legend
        # the x axis has tick labels, 0 to 60
        tick_labels = {text.text() for text in plot.find_all("text")}
        assert {"0", "30", "60"} <= tick_labels


def test_throughput_plot_follows_the_history(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    throughput = root.find_all("svg", "plot")[0]
    series = {line.attrs["data-series"]: line for line in throughput.find_all("polyline", "series")}
    assert set(series) == {"ok ops/s", "fail + info /s"}
    bottom = 40 + (300 - 40 - 44)  # margin top + plot height, as drawn

    def heights(name: str) -> list[float]:
        points = series[name].attrs["points"].split()
        return [bottom - float(point.split(",")[1]) for point in points]

    ok, errors = heights("ok ops/s"), heights("fail + info /s")
    assert len(ok) == len(errors) == int(DURATION_S)
    # pixel heights are proportional to the per-second counts written to the history
    scale = ok[0] / full_run.ok_per_second[0]
    for second in range(int(DURATION_S)):
        assert ok[second] == pytest.approx(full_run.ok_per_second[second] * scale, abs=0.05)
        assert errors[second] == pytest.approx(full_run.errors_per_second[second] * scale, abs=0.05)
    assert sum(full_run.errors_per_second.values()) > 0


def test_operation_counts_match_the_history(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    table = root.find_all("table", "operations")[0]
    rows = {row[0]: [int(cell) for cell in row[1:]] for row in table_rows(table)}
    for function, counts in full_run.completions.items():
        expected_unfinished = full_run.unfinished if function == "write" else 0
        assert rows[function] == [counts["ok"], counts["fail"], counts["info"], expected_unfinished]
    total = Counter[str]()
    for counts in full_run.completions.values():
        total.update(counts)
    assert rows["total"] == [total["ok"], total["fail"], total["info"], full_run.unfinished]
    assert total["fail"] > 0 and total["info"] > 0


def test_corrupt_lines_are_skipped_and_counted(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    files = {row[0]: row for row in table_rows(root.find_all("table", "files")[0])}
    assert files["history.jsonl"][3] == str(CORRUPT_HISTORY_LINES)
    assert files["canaries.jsonl"][3] == str(CORRUPT_CANARY_LINES)
    notices = root.find_all("div")[0].text()
    assert f"history.jsonl: {CORRUPT_HISTORY_LINES} corrupt line(s) skipped" in notices
    assert f"canaries.jsonl: {CORRUPT_CANARY_LINES} corrupt line(s) skipped" in notices


def test_every_fired_alarm_has_a_row_on_the_run_time_axis(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    rows = table_rows(root.find_all("table", "alarms")[0])
    # A summary from before M-of-N evaluation: one window per alarm, no evidence.
    assert rows == [
        ["20.0 s to 30.0 s", "az-a", "az-b", "write-availability", "80.000%", "95.000%", "20", "yes", "1"],
        ["30.0 s to 40.0 s", "az-a", "az-b", "latency-p99", "2500.0 ms", "2000.0 ms", "20", "yes", "1"],
    ]


def test_each_fired_alarm_shows_the_windows_that_made_it_fire(full_run: BuiltRun) -> None:
    # The real evaluation's output: writes az-a -> az-b fail half the time from 20 s to 40 s (2 of 3 fire);
    # az-b -> az-c breaches once at 50 s, which fires nothing and is listed apart.
    def write(time_s: float, canary_az: str, endpoint_az: str, outcome: str) -> dict[str, Any]:
        return {"time_s": RUN_START_S + time_s, "canary_az": canary_az, "endpoint_az": endpoint_az,
                "operation": "write", "outcome": outcome, "latency_ms": 5.0}  # fmt: skip

    records = [
        write(second + third / 3, "az-a", "az-b", "error" if 20 <= second < 40 and third == 1 else "ok")
        for second in range(60)
        for third in range(3)
    ] + [write(50 + index / 10, "az-b", "az-c", "error" if index < 5 else "ok") for index in range(30)]
    thresholds = AlarmThresholds(window_s=10.0, availability_min_outside_fault=0.9, samples_min=20,
                                 breaches_to_fire=2, evaluation_windows=3)  # fmt: skip
    report = evaluate_alarms(records, thresholds, [], RUN_START_S, RUN_START_S + DURATION_S).to_json()
    build_summary(full_run.run_dir, alarms=report)
    page, root = render(full_run.run_dir)
    [fired] = table_rows(root.find_all("table", "alarms")[0])
    assert fired[:4] + fired[8:] == ["20.0 s to 40.0 s", "az-a", "az-b", "write-availability", "2 (2 of 3 to fire)"]
    [evidence] = root.find_all("table", "alarm-evidence")
    assert table_rows(evidence) == [
        ["20.0 s to 30.0 s", "breach", "66.667%", "90.000%", "30", "no"],
        ["30.0 s to 40.0 s", "breach", "66.667%", "90.000%", "30", "no"],
    ]
    [isolated] = root.find_all("table", "breaches-isolated")
    assert table_rows(isolated) == [["50.0 s to 60.0 s", "az-b", "az-c", "write-availability", "breach",
                                     "83.333%", "90.000%", "30", "no"]]  # fmt: skip
    rules = {row[0]: row[1:] for row in table_rows(root.find_all("table", "alarm-rules")[0])}
    assert rules["write-availability"] == ["2 of 3", "20"]
    assert "1 alarm(s) fired; 3 window(s) breached a threshold" in page


def test_verifier_table_and_witnesses(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    rows = table_rows(root.find_all("table", "verifiers")[0])
    assert [(row[0], row[1]) for row in rows] == [
        ("linearizability", "INVALID"),
        ("alarms", "INVALID"),
        ("cluster-healthy", "VALID"),
    ]
    assert "read of 7 <after> write of 8" in rows[0][2]  # escaped in the page, the same text once parsed
    links = [anchor.attrs["href"] for anchor in root.find_all("a")]
    assert links == ["check/timeline-register-k1.html"]
    details = [pre.text() for pre in root.find_all("pre", "witness-detail")]
    assert any("key k1: read of 7 <after> write of 8" in detail for detail in details)
    assert not any(
        "every process answered" in detail for detail in details
    )  # valid verifiers are not witnesses


def test_availability_tables_are_coloured_against_thresholds(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    write_table = root.find_all("table", "availability-write")[0]
    cells = write_table.find_all("td")
    assert cells[0].text() == "az-a"
    assert (cells[1].text(), "good" in cells[1].attrs["class"]) == ("100.000% (120/120)", True)
    assert (cells[2].text(), "bad" in cells[2].attrs["class"]) == ("75.000% (90/120)", True)
    read_cells = root.find_all("table", "availability-read")[0].find_all("td")
    assert read_cells[2].text() == "99.167% (119/120)"
    assert "warn" in read_cells[2].attrs["class"]  # between the inside- and outside-fault thresholds


def test_availability_is_computed_from_canaries_without_a_summary(tmp_path: Path) -> None:
    build_canaries(tmp_path)
    _, root = render(tmp_path)
    cells = root.find_all("table", "availability-write")[0].find_all("td")
    inside_steps = int((FAULT_HEAL_S - FAULT_START_S) * 2)
    total = int(DURATION_S * 2)
    assert cells[1].text() == f"100.000% ({total}/{total})"
    assert cells[2].text() == f"{(total - inside_steps) / total * 100:.3f}% ({total - inside_steps}/{total})"


def test_fault_table_lists_the_window(full_run: BuiltRun) -> None:
    _, root = render(full_run.run_dir)
    rows = table_rows(root.find_all("table", "faults")[0])
    assert [row[:4] for row in rows] == [["power-off", "20.0 s", "35.0 s", "15.0 s"]]
    assert "az-b-1" in rows[0][4]


def test_page_is_self_contained(full_run: BuiltRun) -> None:
    page, root = render(full_run.run_dir)
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    for tag in ("img", "link", "iframe", "object", "embed"):
        assert root.find_all(tag) == []
    for anchor in root.find_all("a"):
        assert anchor.attrs["href"].startswith("check/")


def test_text_from_files_is_escaped(tmp_path: Path) -> None:
    build_summary(
        tmp_path,
        scenario="<script>alert(1)</script>",
        verifiers=[{"name": "sets", "valid": False, "detail": "</table><script src=x></script>"}],
    )
    page, root = render(tmp_path)
    assert "<script" not in page
    assert root.find_all("script") == []
    assert "</table><script src=x></script>" in table_rows(root.find_all("table", "verifiers")[0])[0][2]


# ---- runs cut short --------------------------------------------------------------------------------


def test_an_empty_directory_renders_with_a_notice(tmp_path: Path) -> None:
    _, root = render(tmp_path)
    notices = [div for div in root.find_all("div") if div.attrs.get("id") == "notices"][0].text()
    assert "summary.json is missing" in notices
    assert "history.jsonl is missing" in notices
    assert "canaries.jsonl is missing" in notices
    assert (
        next(span for span in root.find_all("span") if span.attrs.get("id") == "verdict").text() == "UNKNOWN"
    )
    assert root.find_all("svg") == []


def test_empty_files_render(tmp_path: Path) -> None:
    for name in ("summary.json", "history.jsonl", "canaries.jsonl"):
        (tmp_path / name).write_text("")
    _, root = render(tmp_path)
    notices = [div for div in root.find_all("div") if div.attrs.get("id") == "notices"][0].text()
    assert "summary.json could not be read" in notices
    assert "The history has no client operations" in notices
    assert "canaries.jsonl has no canary measurements" in notices


def test_partial_summary_without_alarms_says_what_is_missing(tmp_path: Path) -> None:
    summary = {
        "scenario": "smoke",
        "seed": 7,
        "partial": True,
        "run_start_monotonic_s": RUN_START_S,
        "errors": ["faults: RuntimeError: router az-b did not start"],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    build_history(tmp_path, with_faults=False)
    page, root = render(tmp_path)
    notices = [div for div in root.find_all("div") if div.attrs.get("id") == "notices"][0].text()
    assert "The run is partial" in notices
    assert "summary.json lacks: started_at, duration_s, verdict, verifiers, alarms, faults." in notices
    assert "router az-b did not start" in notices
    assert "The summary has no alarms section" in page
    assert root.find_all("table", "alarms") == []
    # without duration_s the axis ends at the last history event
    plot = root.find_all("svg", "plot")[0]
    assert float(plot.attrs["data-x-max"]) == 60.0
    assert root.find_all("rect", "fault") == []


def test_history_without_client_operations_still_shades_faults(tmp_path: Path) -> None:
    build_history(tmp_path, with_clients=False)
    build_canaries(tmp_path)
    build_summary(tmp_path, faults=[])  # the history's nemesis events are the only fault source
    page, root = render(tmp_path)
    assert "No client operation completed: no throughput plot." in page
    plots = root.find_all("svg", "plot")
    assert len(plots) == 1  # canary latency only
    fault = plots[0].find_all("rect", "fault")[0]
    assert (fault.attrs["data-start-s"], fault.attrs["data-end-s"]) == ("20", "35")


def test_summary_faults_are_used_when_the_history_has_none(tmp_path: Path) -> None:
    build_history(tmp_path, with_faults=False)
    build_summary(tmp_path, faults=[{"kind": "pause", "start_s": 10.0, "heal_s": 12.5, "target": {}}])
    _, root = render(tmp_path)
    fault = root.find_all("svg", "plot")[0].find_all("rect", "fault")[0]
    assert (fault.attrs["data-kind"], fault.attrs["data-start-s"], fault.attrs["data-end-s"]) == (
        "pause",
        "10",
        "12.5",
    )
    rows = table_rows(root.find_all("table", "faults")[0])
    assert rows[0][5] == "summary"


def test_report_replaces_an_older_one(full_run: BuiltRun) -> None:
    (full_run.run_dir / "report.html").write_text("old")
    page, _ = render(full_run.run_dir)
    assert page.startswith("<!DOCTYPE html>")
    assert not (full_run.run_dir / "report.html.tmp").exists()


def test_nemesis_file_is_the_fault_source_before_the_histories_are_merged(tmp_path: Path) -> None:
    build_history(tmp_path, with_faults=False)
    build_summary(tmp_path, faults=[])
    target = {"fault": 4, "link": "az-a->az-c"}
    (tmp_path / "nemesis.jsonl").write_text(
        json.dumps(
            {"time": _ns(5.0), "process": "nemesis", "type": "info", "f": "start-partition", "value": target}
        )
        + "\n"
    )
    _, root = render(tmp_path)
    rows = table_rows(root.find_all("table", "faults")[0])
    assert [(row[0], row[1], row[2], row[5]) for row in rows] == [
        ("partition", "5.0 s", "not healed", "nemesis.jsonl")
    ]
    fault = root.find_all("svg", "plot")[0].find_all("rect", "fault")[0]
    assert (fault.attrs["data-start-s"], fault.attrs["data-end-s"]) == ("5", "60")  # open until the run's end


def test_set_history_adds_to_the_counts_and_load_counts_are_shown(tmp_path: Path) -> None:
    built = build_history(tmp_path)
    events = [
        {"time": _ns(1.0), "process": 500, "type": "invoke", "f": "add", "value": 1},
        {"time": _ns(1.2), "process": 500, "type": "ok", "f": "add", "value": 1},
        {"time": _ns(2.0), "process": 500, "type": "invoke", "f": "add", "value": 2},
        {"time": _ns(2.2), "process": 500, "type": "fail", "f": "add", "value": 2},
    ]
    (tmp_path / "history-set.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    build_summary(tmp_path, load={"counts": {"read": {"ok": 150, "fail": 3, "info": 2}}})
    _, root = render(tmp_path)
    rows = {row[0]: row[1:] for row in table_rows(root.find_all("table", "operations")[0])}
    assert rows["add"] == ["1", "1", "0", "0"]
    assert rows["total"][0] == str(sum(counts["ok"] for counts in built.completions.values()) + 1)
    assert table_rows(root.find_all("table", "load-counts")[0]) == [["load", "read", "150", "3", "2"]]


def test_locust_requests_of_every_load_and_a_user_locustfiles_history_are_shown(tmp_path: Path) -> None:
    build_history(tmp_path)
    events = [
        {"time": _ns(1.0), "process": 900_000_000, "type": "invoke", "f": "incr", "key": "orders", "value": 1},
        {"time": _ns(1.1), "process": 900_000_000, "type": "ok", "f": "incr", "key": "orders", "value": 1},
    ]
    (tmp_path / "history-user.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    stats = {"requests": 20, "failures": 1, "requests_per_s": 4.5, "p50_ms": 12.0, "p95_ms": 40.0, "p99_ms": None}
    build_summary(tmp_path, load={
        "register": {"counts": {}, "requests": {"read": stats, "total": stats}},
        "user": {"counts": {}, "requests": {"count order": stats}},
    })  # fmt: skip
    _, root = render(tmp_path)
    rows = {row[0]: row[1:] for row in table_rows(root.find_all("table", "operations")[0])}
    assert rows["incr"] == ["1", "0", "0", "0"]
    requests = table_rows(root.find_all("table", "locust-requests")[0])
    assert [row[:3] for row in requests] == [["register", "read", "20"], ["register", "total", "20"], ["user", "count order", "20"]]
    assert requests[2][3:] == ["1", "4.5", "12.0", "40.0", "–"]
