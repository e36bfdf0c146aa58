"""Scrub every group of a running cluster now, from outside: ask each node to scrub the groups it leads.

`summarize` is pure: it turns the nodes' answers into one verdict, 0 clean, 1 mismatches found
(repaired or not), 2 could not decide (a group no node scrubbed, a replica that did not answer, a
range no majority decides), the same exit codes as every `gameday` verdict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from cluster.runtime.rpc import RpcClient, RpcError, RpcTimeout, RpcUnavailable
from cluster.runtime.topology import Topology

RUN_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 3.0
EXIT_CLEAN, EXIT_MISMATCH, EXIT_UNDECIDED = 0, 1, 2


async def _ask(topology: Topology, process_id: str, method: str, timeout_s: float) -> Any:
    spec = topology.get(process_id)
    client = RpcClient((spec.host, spec.port), connect_timeout_s=1.0)
    try:
        return await client.call(method, {}, timeout_s=timeout_s)
    finally:
        await client.close()


async def _scrub_all(topology: Topology) -> tuple[dict[str, Any], dict[str, str]]:
    nodes = [spec.process_id for spec in topology.by_role("node")]
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}

    async def one(process_id: str) -> None:
        try:
            status = await _ask(topology, process_id, "status", STATUS_TIMEOUT_S)
            run = await _ask(topology, process_id, "scrub.run", RUN_TIMEOUT_S)
            answers[process_id] = {"status": status, "run": run}
        except (RpcError, RpcTimeout, RpcUnavailable, OSError) as error:
            errors[process_id] = f"{type(error).__name__}: {error}"

    await asyncio.gather(*(one(process_id) for process_id in nodes))
    return answers, errors


def scrub_cluster(topology: Topology) -> tuple[dict[str, Any], dict[str, str]]:
    return asyncio.run(_scrub_all(topology))


def summarize(answers: Mapping[str, Any], errors: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    groups: set[str] = set()
    rounds: list[dict[str, Any]] = []
    disabled: list[str] = []
    for process_id, answer in sorted(answers.items()):
        groups.update(entry["group"] for entry in answer["status"].get("groups", []) if entry.get("group") != "metadata")
        if not answer["run"].get("enabled", True):
            disabled.append(process_id)
        rounds.extend(answer["run"].get("rounds", []))
    mismatches = [
        {"group": report["group"], **mismatch}
        for report in rounds for mismatch in report.get("mismatches", [])
    ]
    undecided: list[str] = []
    scrubbed = {report["group"] for report in rounds if "marker_index" in report}
    for report in rounds:
        if report.get("undecided"):
            undecided.append(f"{report['group']}: {report['undecided']}")
        if report.get("missing_replicas"):
            undecided.append(f"{report['group']}: no digest from {', '.join(report['missing_replicas'])}")
        if report.get("undecided_ranges"):
            undecided.append(f"{report['group']}: ranges {report['undecided_ranges']} have no majority")
    undecided.extend(f"{group}: no node scrubbed it (no leader answered)" for group in sorted(groups - scrubbed))
    undecided.extend(f"{process_id}: {error}" for process_id, error in sorted(errors.items()))
    if disabled:
        undecided.append(f"scrub is off on {', '.join(disabled)}")
    repaired = [m for m in mismatches if m.get("repair_committed")]
    verdict = {
        "groups": len(groups),
        "groups_scrubbed": len(scrubbed),
        "mismatches": mismatches,
        "repairs_committed": len(repaired),
        "undecided": undecided,
        "rounds": rounds,
    }
    if mismatches:
        return EXIT_MISMATCH, {"verdict": "mismatches found", **verdict}
    if undecided:
        return EXIT_UNDECIDED, {"verdict": "could not decide", **verdict}
    return EXIT_CLEAN, {"verdict": "clean", **verdict}
