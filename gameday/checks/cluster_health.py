"""After heal and recovery the cluster must be whole again: every process up, every group led,
and nothing died that no fault killed (an unplanned fault is reported, not hidden).

This judges the end state only. What happened on the way (a group that crashed and was reopened, a
process that died and was started again, every exception logged) is store-errors' part
(gameday/checks/store_errors.py), judged from the logs and the nemesis events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.faults.leaders import leader_view_from_status
from gameday.checks.base import Check, CheckOutcome
from gameday.nemesis_file import unplanned_faults
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

NAME = "cluster-healthy"


def judge_cluster_health(status: Mapping[str, Any], unplanned: list[str]) -> VerifierResult:
    """`status`: the cluster's at the end of recovery; `unplanned`: processes the final sweep found dead
    or paused although no fault held them."""
    problems: list[str] = [f"unplanned fault: {what}" for what in unplanned]
    processes: list[dict[str, Any]] = status["processes"]
    for process in processes:
        if process["state"] != "up":
            problems.append(f"{process['id']} is {process['state']}")
        elif process.get("status_error"):
            problems.append(f"{process['id']} does not answer: {process['status_error']}")
    view = leader_view_from_status(status)
    leaderless = sorted(group for group in view.groups if group not in view.leaders)
    if leaderless:
        problems.append(f"groups without a leader: {', '.join(leaderless)}")
    if problems:
        return VerifierResult(NAME, False, "; ".join(problems), {"status": status})
    return VerifierResult(
        NAME,
        True,
        f"{len(processes)} processes up, {len(view.groups)} groups each with one leader",
        {"leaders": dict(view.leaders)},
    )


class ClusterHealthCheck(Check):
    name = NAME

    def before_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        # Read now: the outer clean-up heals once more, and what that sweep finds is not this verdict's.
        return {"status": cluster.status(), "unplanned": unplanned_faults(record.nemesis_path)}

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        observed = record.observations.get(self.name)
        if observed is None:  # the run stopped before its end state could be read
            return None
        return CheckOutcome(judge_cluster_health(observed["status"], observed["unplanned"]))
