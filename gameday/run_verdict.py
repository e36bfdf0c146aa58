"""The verdict of a game day: verifier results in, one exit code and the files CI reads out.

Pure functions of the results (no clock, no files) plus two small writers at the end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2


@dataclass
class VerifierResult:
    name: str
    valid: bool | str  # True, False or "unknown"
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def overall_validity(results: list[VerifierResult], partial: bool) -> bool | str:
    """Never valid unless every verifier ran and passed (DESIGN §1)."""
    if any(result.valid is False for result in results):
        return False
    if partial or not results or any(result.valid is not True for result in results):
        return "unknown"
    return True


def exit_code_for(validity: bool | str) -> int:
    if validity is True:
        return EXIT_VALID
    if validity is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def junit_xml(results: list[VerifierResult], alarm_cases: list[dict[str, Any]], suite_name: str) -> str:
    """One test case per verifier and per alarm (kind x canary AZ x endpoint AZ)."""
    suite = ElementTree.Element("testsuite", name=suite_name)
    failures = errors = 0
    cases = 0
    for result in results:
        case = ElementTree.SubElement(suite, "testcase", classname=f"{suite_name}.verifiers", name=result.name)
        cases += 1
        if result.valid is False:
            failures += 1
            ElementTree.SubElement(case, "failure", message=result.detail[:500]).text = result.detail
        elif result.valid is not True:
            errors += 1
            ElementTree.SubElement(case, "error", message=result.detail[:500]).text = result.detail
    for alarm_case in alarm_cases:
        case = ElementTree.SubElement(suite, "testcase", classname=f"{suite_name}.alarms", name=alarm_case["name"])
        cases += 1
        if alarm_case["fired"]:
            failures += 1
            text = "\n".join(json.dumps(alarm) for alarm in alarm_case["fired"])
            ElementTree.SubElement(case, "failure", message=f"{len(alarm_case['fired'])} alarm(s) fired").text = text
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True)


def alarm_cases(alarm_report: dict[str, Any]) -> list[dict[str, Any]]:
    """Groups fired alarms by (kind, canary AZ, endpoint AZ) over every pair the canaries measured."""
    pairs: set[tuple[str, str]] = {(pair["canary_az"], pair["endpoint_az"]) for pair in alarm_report.get("summary", [])}
    for alarm in alarm_report.get("alarms", []):
        pairs.add((alarm["canary_az"], alarm["endpoint_az"]))
    cases = []
    for kind in ("write-availability", "read-availability", "latency-p99"):
        for canary_az, endpoint_az in sorted(pairs):
            fired = [
                alarm
                for alarm in alarm_report.get("alarms", [])
                if alarm["kind"] == kind and alarm["canary_az"] == canary_az and alarm["endpoint_az"] == endpoint_az
            ]
            cases.append({"name": f"{kind} canary {canary_az} -> endpoint {endpoint_az}", "fired": fired})
    return cases


def write_outputs(run_dir: Path, summary: dict[str, Any], results: list[VerifierResult]) -> None:
    summary = {**summary, "verifiers": [asdict(result) for result in results]}
    temporary = run_dir / "summary.json.tmp"
    temporary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    temporary.replace(run_dir / "summary.json")
    cases = alarm_cases(summary.get("alarms") or {})
    (run_dir / "junit.xml").write_text(junit_xml(results, cases, f"gameday.{summary.get('scenario', 'run')}"))
