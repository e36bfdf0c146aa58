"""What the log replicas did during a game day, judged from the nodes' own records (pure).

Each group's leader records every membership change it made around an unhealthy storage replica
(cluster/node/log_replica_manager.py). The verdict: log replicas are committed within the goal after
the silence was detected (the paper's point: healing in seconds, not a rebuild's minutes), and after
recovery every group is back to its placed storage replicas with no log replica left.

Judged like a latency alarm, on evidence rather than one sample: 90 % of the adds within the goal and
none beyond HARD_LIMIT_FACTOR times it. A busy machine delays a few adds (a control game day with one
core taken: 35 adds, median 0.37 s, the slowest two 2.22 and 2.29 s), and that is no failure of the
mechanism; a mechanism that is slow for most groups, or very slow for one, is.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from canaries.alarms import percentile_nearest_rank
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

ADD_GOAL_S = 2.0
WITHIN_GOAL_PERCENT = 90.0
HARD_LIMIT_FACTOR = 3.0


def log_replica_events(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every node's recorded membership changes, oldest first."""
    events = [
        dict(event, recorded_by=process["id"])
        for process in status.get("processes", [])
        for event in process.get("log_replicas", {}).get("events", [])
    ]
    return sorted(events, key=lambda event: (event.get("committed_at") or event.get("detected_at") or 0.0))


def groups_still_stood_in(status: Mapping[str, Any]) -> list[str]:
    """Groups whose leader still reports a log replica or a missing storage replica."""
    return sorted(
        group["group"]
        for process in status.get("processes", [])
        for group in process.get("groups", [])
        if group.get("role") == "leader" and (group.get("membership") or {}).get("log")
    )


def log_replica_result(status: Mapping[str, Any], enabled: bool, goal_s: float = ADD_GOAL_S) -> VerifierResult:
    events = log_replica_events(status)
    added = [event for event in events if event["action"] == "add-log-replica" and "failed" not in event]
    # An add that first failed (no spare node of the AZ answered: the whole AZ was cut off or down) waited
    # for the environment, not for the mechanism: reported, not held to the goal.
    adds = [event for event in added if not event.get("failed_attempts_before")]
    delayed = [event for event in added if event.get("failed_attempts_before")]
    add_seconds = [float(event["seconds_after_detection"]) for event in adds]
    data: dict[str, Any] = {
        "enabled": enabled,
        "goal_s": goal_s,
        "events": events,
        "add_seconds_after_detection": add_seconds,
        "failed_attempts": sum(1 for event in events if "failed" in event),
        "added_after_failed_attempts": [
            {key: event.get(key) for key in ("group", "member", "seconds_after_detection", "failed_attempts_before")}
            for event in delayed
        ],
    }
    if add_seconds:
        data["add_seconds_median"] = statistics.median(add_seconds)
        data["add_seconds_p90"] = percentile_nearest_rank(add_seconds, WITHIN_GOAL_PERCENT)
        data["add_seconds_max"] = max(add_seconds)
    if not enabled:
        return VerifierResult(
            "log-replicas", True, "off: groups with an unhealthy replica ran on the two left until it returned", data
        )
    hard_limit_s = goal_s * HARD_LIMIT_FACTOR
    problems = [
        f"{event['group']}: log replica {event['member']} committed {event['seconds_after_detection']:.2f}s after "
        f"detection (none may take over {hard_limit_s:g}s)"
        for event in adds if float(event["seconds_after_detection"]) > hard_limit_s
    ]
    over_goal = [event for event in adds if float(event["seconds_after_detection"]) > goal_s]
    if add_seconds and data["add_seconds_p90"] > goal_s:
        slowest = ", ".join(
            f"{event['group']} {float(event['seconds_after_detection']):.2f}s" for event in over_goal[:5]
        )
        problems.append(
            f"{len(over_goal)} of {len(adds)} log replicas committed later than {goal_s:g}s after detection "
            f"(goal: {WITHIN_GOAL_PERCENT:g}% within it; {data['add_seconds_p90']:.2f}s for {WITHIN_GOAL_PERCENT:g}%): "
            f"{slowest}"
        )
    stood_in = groups_still_stood_in(status)
    if stood_in:
        problems.append(f"still healing after recovery: {', '.join(stood_in)}")
    if problems:
        return VerifierResult("log-replicas", False, "; ".join(problems), data)
    later = f"; {len(delayed)} more once a spare node of the AZ answered again" if delayed else ""
    if not adds:
        detail = "no storage replica stayed silent past detection" if not delayed else later.lstrip("; ")
        return VerifierResult("log-replicas", True, detail, data)
    return VerifierResult(
        "log-replicas",
        True,
        f"{len(adds)} log replica(s) added, {data['add_seconds_median']:.2f}s median / {data['add_seconds_p90']:.2f}s "
        f"p90 / {data['add_seconds_max']:.2f}s max after detection (goal: {WITHIN_GOAL_PERCENT:g}% within "
        f"{goal_s:g}s, none over {hard_limit_s:g}s){later}; every group back to its placed replicas",
        data,
    )


class LogReplicasCheck(Check):
    name = "log-replicas"
    summary_key = "log_replicas"

    def before_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        return cluster.status()

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        status = record.observations.get(self.name)
        if status is None:  # the run stopped before the nodes' records could be read
            return None
        result = log_replica_result(status, record.scenario.cluster.log_replicas)
        return CheckOutcome(result, result.data)
