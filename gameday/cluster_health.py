"""After heal and recovery the cluster must be whole again: every process up, every group led,
and nothing died that no fault killed (an unplanned fault is reported, not hidden).

This judges the end state only. What happened on the way (a group that crashed and was reopened, a
process that died and was started again, every exception logged) is store-errors' part
(gameday/store_errors.py), judged from the logs and the nemesis events."""

from __future__ import annotations

from typing import Any

from chaos.faults.leaders import leader_view_from_status
from cluster.deploy.backends import ClusterBackend
from gameday.run_verdict import VerifierResult


def check_cluster_healthy(cluster: ClusterBackend, unplanned: list[str]) -> VerifierResult:
    """`unplanned`: processes the final sweep found dead or paused although no fault held them."""
    status = cluster.status()
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
        return VerifierResult("cluster-healthy", False, "; ".join(problems), {"status": status})
    return VerifierResult(
        "cluster-healthy",
        True,
        f"{len(processes)} processes up, {len(view.groups)} groups each with one leader",
        {"leaders": dict(view.leaders)},
    )
