"""The self-test's table (bug x seed -> caught by which verifier, or escaped; control -> false alarms),
as terminal text, JSON and JUnit XML. Pure renderers of a SelfTestVerdict, plus one writer at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from gameday.selftest_verdict import (
    CAUGHT,
    ESCAPED,
    FALSE_ALARM,
    NOT_JUDGED,
    OTHER,
    PASSED,
    SKIPPED,
    UNKNOWN,
    ClassifiedRun,
    SelfTestVerdict,
)

JSON_FILE_NAME = "selftest.json"
JUNIT_FILE_NAME = "selftest-junit.xml"
_EXIT_WORDS = {0: "PASSED", 1: "FAILED", 2: "UNDECIDED"}


def cell(run: ClassifiedRun) -> str:
    """One table cell: what happened to this game day, in a few words."""
    outcome = run.outcome
    if outcome == CAUGHT:
        return "caught: " + ", ".join(run.caught_by)
    if outcome == OTHER:
        return "other: " + ", ".join(run.caught_by)
    if outcome == FALSE_ALARM:
        return "FALSE ALARM: " + ", ".join(run.caught_by)
    return {ESCAPED: "ESCAPED", PASSED: "ok", NOT_JUDGED: "not judged", UNKNOWN: "unknown", SKIPPED: "skipped"}.get(
        outcome, outcome
    )


def _rows(verdict: SelfTestVerdict) -> tuple[list[str], list[list[str]]]:
    seeds = sorted({run.run.seed for bug in verdict.bugs for run in bug.runs} | {run.run.seed for run in verdict.controls})
    header = ["planted bug", "scenario", *[f"seed {seed}" for seed in seeds], "detected"]
    rows: list[list[str]] = []
    for bug in verdict.bugs:
        if bug.skip_reason:
            rows.append([bug.bug, bug.scenario, f"skipped: {bug.skip_reason}"])
            continue
        by_seed = {run.run.seed: cell(run) for run in bug.runs}
        rows.append([bug.bug, bug.scenario, *[by_seed.get(seed, "") for seed in seeds], f"{bug.caught}/{bug.judged}"])
    by_scenario: dict[str, dict[int, str]] = {}
    for run in verdict.controls:
        by_scenario.setdefault(run.run.scenario, {})[run.run.seed] = cell(run)
    for scenario, cells in by_scenario.items():
        runs = [run for run in verdict.controls if run.run.scenario == scenario]
        false_alarms = sum(run.outcome == FALSE_ALARM for run in runs)
        rows.append(["(control)", scenario, *[cells.get(seed, "") for seed in seeds], f"{false_alarms} false"])
    return header, rows


def render_table(verdict: SelfTestVerdict) -> str:
    header, rows = _rows(verdict)
    widths = [len(title) for title in header]
    for row in rows:
        if len(row) == len(header):  # a skipped bug's message spans the seed columns
            widths = [max(width, len(text)) for width, text in zip(widths, row, strict=True)]
    lines = ["  ".join(title.ljust(width) for title, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=False)).rstrip())
    notes = [f"  {bug.bug}: {bug.note}" for bug in verdict.bugs if bug.note and (bug.skip_reason or bug.caught < bug.judged)]
    if notes:
        lines += ["", "notes:", *notes]
    word = _EXIT_WORDS.get(verdict.exit_code, "?")
    lines += ["", f"selftest: {word} (exit {verdict.exit_code}) - " + "; ".join(verdict.reasons)]
    return "\n".join(lines)


def _run_json(run: ClassifiedRun) -> dict[str, Any]:
    record = run.run
    return {
        "seed": record.seed,
        "outcome": run.outcome,
        "caught_by": list(run.caught_by),
        "failed_verifiers": list(record.failed_verifiers),
        "exit_code": record.exit_code,
        "run_dir": record.run_dir,
        "duration_s": record.duration_s,
        "errors": list(record.errors),
    }


def verdict_json(verdict: SelfTestVerdict) -> dict[str, Any]:
    return {
        "exit_code": verdict.exit_code,
        "reasons": list(verdict.reasons),
        "min_detection": verdict.min_detection,
        "bugs": [
            {
                "bug": bug.bug,
                "scenario": bug.scenario,
                "expected_verifiers": list(bug.expected),
                "skipped": bug.skip_reason or None,
                "note": bug.note,
                "caught": bug.caught,
                "judged": bug.judged,
                "detection": bug.detection,
                "runs": [_run_json(run) for run in bug.runs],
            }
            for bug in verdict.bugs
        ],
        "controls": [{"scenario": run.run.scenario, **_run_json(run)} for run in verdict.controls],
    }


def junit_xml(verdict: SelfTestVerdict) -> str:
    """One test case per bug x seed and per control run; a skipped bug is one skipped case."""
    suite = ElementTree.Element("testsuite", name="gameday.selftest")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def add(classname: str, name: str, outcome: str, message: str, detail: str) -> None:
        case = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
        counts["tests"] += 1
        if outcome in (ESCAPED, OTHER, FALSE_ALARM):
            counts["failures"] += 1
            ElementTree.SubElement(case, "failure", message=message).text = detail
        elif outcome in (UNKNOWN, NOT_JUDGED):
            counts["errors"] += 1
            ElementTree.SubElement(case, "error", message=message).text = detail
        elif outcome == SKIPPED:
            counts["skipped"] += 1
            ElementTree.SubElement(case, "skipped", message=message)

    for bug in verdict.bugs:
        if bug.skip_reason:
            add(f"selftest.{bug.bug}", bug.scenario, SKIPPED, bug.skip_reason, "")
        for run in bug.runs:
            detail = json.dumps(_run_json(run))
            message = f"{bug.bug} {cell(run)} (expected a failure of {', '.join(bug.expected)})"
            add(f"selftest.{bug.bug}", f"{bug.scenario} seed {run.run.seed}", run.outcome, message, detail)
    for run in verdict.controls:
        add(
            f"selftest.control.{run.run.scenario}", f"seed {run.run.seed}", run.outcome,
            f"control {cell(run)}", json.dumps(_run_json(run)),
        )  # fmt: skip
    for key, value in counts.items():
        suite.set(key, str(value))
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def write_reports(out_dir: Path, verdict: SelfTestVerdict, extra: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, junit_path = out_dir / JSON_FILE_NAME, out_dir / JUNIT_FILE_NAME
    json_path.write_text(json.dumps({**extra, **verdict_json(verdict)}, indent=2) + "\n")
    junit_path.write_text(junit_xml(verdict))
    return json_path, junit_path
