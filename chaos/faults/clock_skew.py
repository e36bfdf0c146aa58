"""clock-skew: one node's clock runs fast or slow, so its Raft timers drift against everyone else's.

Lease-based consistent reads assume that a leader's lease (lease_ticks of its clock) runs out before
a follower will vote for someone else (election_ticks_min of the follower's clock): a skew beyond that
margin is exactly what they must tolerate or refuse. Faking the wall clock (faketime) would not move
an asyncio loop's monotonic clock, so the store's tick clock itself is injectable: the fault restarts
the node with GAMEDAY_CLOCK_RATE=<rate> (cluster/replication/replica_host.py), and heal restarts it
with no skew. A restart is a short outage of one node, which a 3-replica group rides out.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
from collections.abc import Mapping
from typing import Any, Protocol, cast

from chaos.faults.injector import NOTHING_TO_HEAL, FaultContext, FaultNotApplicable
from chaos.faults.process_faults import SIGNAL_EFFECT_TIMEOUT_S, _wait_until
from cluster.deploy.local_processes import ClusterError
from cluster.replication.replica_host import CLOCK_RATE_ENVIRONMENT_VARIABLE, parse_clock_rate

DEFAULT_RATE = 1.5


class _ClusterWithEnvironment(Protocol):
    def start_process(self, process_id: str, environment: dict[str, str] | None = None) -> int: ...


def clock_rate_of(target: Mapping[str, Any]) -> float:
    """The target's rate, validated exactly as the node will validate it (so a bad one fails here)."""
    return parse_clock_rate(str(target.get("rate", DEFAULT_RATE)))


def _stop(context: FaultContext, process_id: str) -> int | None:
    """SIGTERM (a clean stop keeps the restart short), SIGKILL if it lingers; the pid stopped, or None."""
    if not context.cluster.is_running(process_id):
        return None
    pid = context.cluster.pids()[process_id]
    try:
        context.cluster.signal_process(process_id, signal.SIGTERM)
    except (ClusterError, ProcessLookupError):
        return None  # it died on its own meanwhile
    if not _wait_until(context, lambda: not context.cluster.is_running(process_id)):
        with contextlib.suppress(ClusterError, ProcessLookupError):
            context.cluster.signal_process(process_id, signal.SIGKILL)
        _wait_until(context, lambda: not context.cluster.is_running(process_id))
    return pid


def _restart(context: FaultContext, process_id: str, environment: dict[str, str] | None) -> dict[str, Any]:
    """Stop then start one process; recorded like the other process faults ("pids": what runs now)."""
    stopped = _stop(context, process_id)
    if context.cluster.is_running(process_id):
        raise ClusterError(f"{process_id} did not stop within {2 * SIGNAL_EFFECT_TIMEOUT_S:.0f}s")
    started = cast(_ClusterWithEnvironment, context.cluster).start_process(process_id, environment=environment)
    _wait_until(context, lambda: context.cluster.is_running(process_id))
    return {"pids": {process_id: started}, "stopped_pids": {process_id: stopped} if stopped is not None else {}}


class ClockSkew:
    kind = "clock-skew"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.rate = clock_rate_of(self.target)
        self.skewed_pid: int | None = None

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_id = self.target["process_id"]
        if "environment" not in inspect.signature(context.cluster.start_process).parameters:
            raise FaultNotApplicable("this backend cannot start a process with a skewed clock")
        if not context.cluster.is_running(process_id):
            raise FaultNotApplicable(f"{process_id} is not running")
        restart = _restart(context, process_id, {CLOCK_RATE_ENVIRONMENT_VARIABLE: repr(self.rate)})
        self.skewed_pid = restart["pids"][process_id]
        return {"process_ids": [process_id], "az": self.target.get("az"), "rate": self.rate, **restart}

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if self.skewed_pid is None:
            return dict(NOTHING_TO_HEAL)
        process_id = self.target["process_id"]
        skewed_pid, self.skewed_pid = self.skewed_pid, None
        current = context.cluster.pids().get(process_id)
        if not context.cluster.is_running(process_id) or current != skewed_pid:
            # Something else stopped or restarted it since (and any restart but ours has no skew):
            # powering it on is not this fault's business, heal_all's sweep does that.
            return {"process_ids": [process_id], "rate": 1.0, "restarted": False,
                    "reason": f"{process_id} no longer runs the skewed process {skewed_pid}"}
        return {"process_ids": [process_id], "rate": 1.0, "restarted": True, **_restart(context, process_id, None)}


def clock_skew(target: Mapping[str, Any]) -> ClockSkew:
    return ClockSkew(target)
