"""The `scrub` verifier of a game day: every item the bit-rot fault rotted must be found and repaired.

It reads the nemesis events (which items each bit-rot fault changed, on which node, when it powered
the node back on) and the findings every node appended to DATA_DIR/processes/<node>/scrub/
findings.jsonl, and reports per corruption the detection and repair time after power-on. Both files
use CLOCK_MONOTONIC (the history's clock is monotonic_ns, the nodes record monotonic seconds), which
one machine shares across processes. Pure matching (`judge_scrub`) is kept apart from file reading.

A rotten item that an acknowledged write (invoked after the node's power-on, so applied after the rot
on every replica) replaced before any round looked at it no longer exists: it is reported as
overwritten, not as missed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cluster.api.attribute_values import KeySchema, encode_key
from cluster.scrub.findings import FINDINGS_FILE, read_findings
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

NAME = "scrub"


def cluster_findings(data_dir: Path) -> list[dict[str, Any]]:
    """Every scrub finding of every node of a local cluster, oldest first."""
    findings: list[dict[str, Any]] = []
    for path in sorted(Path(data_dir).glob(f"processes/*/scrub/{FINDINGS_FILE}")):
        findings.extend(read_findings(path))
    return sorted(findings, key=lambda finding: finding.get("time_monotonic_s", 0.0))


def bit_rot_corruptions(nemesis_events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per rotten item: process, group, key, hash, attribute, and when rot began and power returned (s)."""
    powered_on_s: dict[Any, float] = {}
    started: list[tuple[Mapping[str, Any], float]] = []
    for event in nemesis_events:
        value = event.get("value")
        if not isinstance(value, dict):
            continue
        time_s = float(event.get("time", 0)) / 1e9
        if event.get("f") == "start-bit-rot":
            started.append((value, time_s))
        elif event.get("f") == "stop-bit-rot":
            powered_on_s[value.get("fault")] = time_s
    corruptions = []
    for value, start_s in started:
        process = (value.get("process_ids") or [None])[0]
        for record in value.get("corrupted", []):
            corruptions.append({
                "fault": value.get("fault"), "process": process, "group": record["group"], "key": record["key"],
                "hash": record["hash"], "attribute": record["attribute"], "rot_s": start_s,
                "powered_on_s": powered_on_s.get(value.get("fault")),
            })
    return corruptions


def stored_key(history_key: Any) -> str | None:
    """The base64 stored key of a history key (the workloads' string partition keys), as bit-rot records it."""
    if not isinstance(history_key, str):
        return None
    return base64.b64encode(encode_key({"k": {"S": history_key}}, KeySchema("k", "S"))).decode()


def acknowledged_writes(history_events: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Stored key -> invoke times (s) of the writes, swapped cas and increments the store acknowledged."""
    invoked: dict[Any, float] = {}
    writes: dict[str, list[float]] = {}
    for event in history_events:
        process = event.get("process")
        if event.get("type") == "invoke":
            invoked[process] = float(event.get("time", 0)) / 1e9
        elif event.get("type") == "ok" and event.get("f") in ("write", "cas", "incr") and process in invoked:
            key = stored_key(event.get("key"))
            if key is not None:
                writes.setdefault(key, []).append(invoked[process])
    return writes


def _first(findings: list[dict[str, Any]], kind: str, corruption: Mapping[str, Any]) -> dict[str, Any] | None:
    for finding in findings:
        if (finding.get("kind") == kind and finding.get("replica") == corruption["process"]
                and finding.get("group") == corruption["group"]
                and finding.get("time_monotonic_s", 0.0) >= corruption["rot_s"]
                and any(key.get("key") == corruption["key"] for key in finding.get("keys", []))):
            return finding
    return None


def judge_scrub(
    corruptions: list[dict[str, Any]],
    findings: list[dict[str, Any]],
    writes: Mapping[str, Sequence[float]] | None = None,
) -> VerifierResult:
    rows = []
    for corruption in corruptions:
        found = _first(findings, "mismatch", corruption)
        repaired = _first(findings, "repaired", corruption)
        since_s = corruption["powered_on_s"] if corruption["powered_on_s"] is not None else corruption["rot_s"]
        overwrites = [time_s for time_s in (writes or {}).get(corruption["key"], []) if time_s > since_s]
        rows.append({
            **{name: corruption[name] for name in ("fault", "process", "group", "key", "attribute")},
            "detected_after_power_on_s": round(max(0.0, found["time_monotonic_s"] - since_s), 3) if found else None,
            "repaired_after_power_on_s":
                round(max(0.0, repaired["time_monotonic_s"] - since_s), 3) if repaired else None,
            # An acknowledged write replaced the rotten item first: nothing was left for a round to find.
            "overwritten_after_power_on_s": round(min(overwrites) - since_s, 3) if overwrites and not found else None,
        })
    unexplained = [
        finding for finding in findings
        if finding.get("kind") in ("mismatch", "reference-mismatch")
        and not any(
            finding.get("group") == c["group"] and finding.get("replica") == c["process"] for c in corruptions
        )
    ]
    data: dict[str, Any] = {
        "corruptions": rows,
        "findings": {kind: sum(1 for f in findings if f.get("kind") == kind)
                     for kind in ("mismatch", "repaired", "reference-mismatch", "undecided", "unverifiable")},
        "unexplained_findings": unexplained[:20],
    }
    detected = [row["detected_after_power_on_s"] for row in rows if row["detected_after_power_on_s"] is not None]
    if detected:
        data["detection_s_max"] = max(detected)
    overwritten = [row for row in rows if row["overwritten_after_power_on_s"] is not None]
    data["overwritten_before_a_round"] = len(overwritten)
    missed = [row for row in rows if row["detected_after_power_on_s"] is None and row not in overwritten]
    unrepaired = [row for row in rows if row["repaired_after_power_on_s"] is None and row not in overwritten]
    if missed or unrepaired:
        return VerifierResult(NAME, False, (
            f"{len(missed)} of {len(rows)} rotten item(s) never detected, {len(unrepaired)} never repaired"
        ), data)
    if unexplained:
        return VerifierResult(NAME, False, (
            f"{len(unexplained)} scrub finding(s) where no fault rotted anything: replicas diverged on their own"
        ), data)
    if not rows:
        return VerifierResult(NAME, True, "no bit rot injected; the replicas agreed in every scrub round", data)
    if not detected:
        return VerifierResult(NAME, True, f"all {len(rows)} rotten item(s) were overwritten before a round", data)
    return VerifierResult(NAME, True, (
        f"{len(detected)} of {len(rows)} rotten item(s) detected and repaired, at most {max(detected):.1f} s "
        f"after power-on; {len(overwritten)} overwritten by acknowledged writes first"
    ), data)


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def scrub_findings_dir(cluster: Any) -> Path | None:
    """Where the nodes' scrub findings are once the cluster is down; None when the backend hides them."""
    # Docker keeps node data on volumes: that backend copies the findings out into a directory laid out alike.
    findings_dir = getattr(cluster, "scrub_findings_dir", None)
    data_dir = findings_dir() if callable(findings_dir) else getattr(cluster, "data_dir", None)
    return data_dir if isinstance(data_dir, Path) else None


def scrub_result(
    data_dir: Path | None,
    nemesis_path: Path,
    run_start_s: float | None = None,
    history_paths: Sequence[Path] | None = None,
    events_path: Path | None = None,
) -> VerifierResult:
    """The verdict from the findings under `data_dir` (`scrub_findings_dir`) and the run's files.

    `history_paths` (default: the load histories beside the nemesis file, load-*/... excluded) tell which
    rotten items an acknowledged write replaced before a round could see them. With `events_path`
    (e.g. RUN_DIR/scrub.jsonl) every finding of the run is also written there, `time_s` relative to
    `run_start_s`, as the run's record of the scrub's alarms and repairs.
    """
    if data_dir is None:
        return VerifierResult(NAME, "unknown", "the scrub findings live in node data directories this backend hides")
    findings = cluster_findings(data_dir)
    if run_start_s is not None:
        findings = [f for f in findings if f.get("time_monotonic_s", 0.0) >= run_start_s - 60.0]
    if events_path is not None:
        origin = run_start_s or 0.0
        with open(events_path, "w") as output:
            for finding in findings:
                record = {"time_s": round(finding.get("time_monotonic_s", 0.0) - origin, 3), **finding}
                output.write(json.dumps(record, sort_keys=True) + "\n")
    if history_paths is None:
        history_paths = sorted(nemesis_path.parent.glob("history*.jsonl"))
    writes: dict[str, list[float]] = {}
    for path in history_paths:
        for key, times in acknowledged_writes(_events(path)).items():
            writes.setdefault(key, []).extend(times)
    return judge_scrub(bit_rot_corruptions(_events(nemesis_path)), findings, writes)


class ScrubCheck(Check):
    name = NAME
    summary_key = "scrub"
    needs_complete_run = True

    def after_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        return scrub_findings_dir(cluster)

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        result = scrub_result(
            record.observations.get(self.name), record.nemesis_path, record.run_start_monotonic_s,
            events_path=record.run_dir / "scrub.jsonl",
        )  # fmt: skip
        return CheckOutcome(result, result.data)
