"""lagging-election: an election whose only candidate, for a while, is a replica that missed committed writes.

For one group (selected like kill-leader's), round after round for the whole fault:

1. `lag`: power off one follower F (seeded choice) for `lag_s`; the leader L and the other follower T
   commit writes without it.
2. `orphan`: power off L. T, alone, stops hearing a leader for ORPHAN_S: long enough that it no longer
   refuses votes out of loyalty to L (leader stickiness), which would hide what comes next.
3. `election`: pause T (SIGSTOP) and power F back on: F restarts without what it missed and campaigns
   alone for `hold_s`; its vote requests wait in T's socket.
4. `resume`: SIGCONT T, which reads F's requests first. T must refuse F (Raft's election restriction,
   §5.4.1) and win itself; a store that grants votes without comparing logs lets F win and overwrite
   entries T had committed, which the histories (and T's own log, which refuses to drop a committed
   entry) show.
5. `power-on`: once another process leads the group (or after SETTLE_LIMIT_S), L is powered back on;
   the next round starts when the group has a leader and every member runs.

A round costs the group its availability from step 2 until T wins (ORPHAN_S, hold_s and an election): on
its own the fault takes a majority of one group down on purpose, so a scenario must allow majority
loss. Every kill and start is a nemesis event with `killed_pids` / `started_pids`, so a process exit
during the fault is explained; the heal resumes and powers on whatever a round left down.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.faults.injector import (
    NOTHING_TO_HEAL,
    FaultContext,
    FaultNotApplicable,
    leader_now,
    within_leader_wait,
)
from chaos.faults.process_faults import Pause, _power_off, _power_on

DEFAULT_LAG_S = 1.5
DEFAULT_HOLD_S = 1.5
# How long T stays alone after L is powered off: well past election_ticks_min (10 ticks of 50 ms), after
# which a replica that heard no leader grants votes again.
ORPHAN_S = 1.0
# Once T is resumed, L is powered on when another process leads the group, or after this long anyway.
SETTLE_LIMIT_S = 3.0


@dataclass
class _Round:
    number: int
    group: str | None
    leader: str
    laggard: str
    voter: str
    phase: str  # "lag" -> "orphan" -> "election" -> "resume" -> "done"
    since: float
    pause: Pause | None = None
    down: set[str] = field(default_factory=set)


def group_members(status: Mapping[str, Any], leader: str, group: str | None, storage_nodes: list[str]) -> list[str]:
    """The storage replicas of `group` (of a group `leader` leads, when None), from the leader's status;
    in a cluster with one storage node per AZ every node holds every group."""
    for process in status.get("processes", []):
        if process.get("id") != leader:
            continue
        for entry in process.get("groups", []):
            if (group is None or entry.get("group") == group) and entry.get("role") == "leader":
                members = (entry.get("membership") or {}).get("storage")
                if members:
                    return sorted(members)
    if len(storage_nodes) == 3:
        return sorted(storage_nodes)
    raise LookupError(f"no membership known for {group or 'the groups'} led by {leader}")


class LaggingElection:
    kind = "lagging-election"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.lag_s = float(self.target.get("lag_s", DEFAULT_LAG_S))
        self.hold_s = float(self.target.get("hold_s", DEFAULT_HOLD_S))
        self.rng = random.Random(int(self.target.get("seed", 0)))
        self.active = False
        self.round: _Round | None = None
        self.rounds = 0
        self.touched: set[str] = set()

    # ---- reading the cluster ------------------------------------------------------------------------

    def _storage_nodes(self, context: FaultContext) -> list[str]:
        return sorted(spec.process_id for spec in context.cluster.topology().by_role("node"))

    def _leader(self, context: FaultContext) -> tuple[str, str | None] | None:
        return leader_now(context, self.target)

    # ---- one round ------------------------------------------------------------------------------------

    def _begin_round(self, context: FaultContext) -> dict[str, Any] | None:
        leader = self._leader(context)
        if leader is None:
            return None
        leader_id, group = leader
        try:
            members = group_members(context.cluster.status(), leader_id, group, self._storage_nodes(context))
        except LookupError:
            return None
        followers = [member for member in members if member != leader_id]
        if len(followers) < 2 or not all(context.cluster.is_running(member) for member in members):
            return None
        laggard = self.rng.choice(followers)
        voter = next(member for member in followers if member != laggard)
        killed = _power_off(context, [laggard])
        if not killed:
            return None
        self.rounds += 1
        self.round = _Round(self.rounds, group, leader_id, laggard, voter, "lag", context.clock(), down={laggard})
        self.touched.update(members)
        return {"f": "lagging-kill", "value": {"round": self.rounds, "group": group, "leader": leader_id,
                                                 "laggard": laggard, "voter": voter, "killed_pids": killed}}  # fmt: skip

    def _orphan_voter(self, context: FaultContext, now: float) -> dict[str, Any]:
        current = self.round
        assert current is not None
        killed = _power_off(context, [current.leader])
        current.down |= set(killed)
        current.phase, current.since = "orphan", now
        return {"f": "lagging-orphan", "value": {"round": current.number, "killed_pids": killed}}

    def _hold_election(self, context: FaultContext, now: float) -> dict[str, Any]:
        current = self.round
        assert current is not None
        current.pause = Pause({"process_id": current.voter})
        with contextlib.suppress(FaultNotApplicable):  # it died meanwhile: the laggard campaigns alone anyway
            current.pause.start(context)
        started = _power_on(context, [current.laggard])
        current.down -= set(started)
        current.phase, current.since = "election", now
        return {"f": "lagging-election", "value": {"round": current.number, "paused": current.voter,
                                                     "started_pids": started}}  # fmt: skip

    def _resume_voter(self, context: FaultContext, now: float) -> dict[str, Any]:
        current = self.round
        assert current is not None
        self._resume(context)
        current.phase, current.since = "resume", now
        return {"f": "lagging-resume", "value": {"round": current.number, "resumed": current.voter}}

    def _resume(self, context: FaultContext) -> None:
        current = self.round
        if current is not None and current.pause is not None:
            current.pause.heal(context)  # only the process it paused (a power-on since has another pid)
            current.pause = None

    def _power_on_the_rest(self, context: FaultContext) -> dict[str, Any] | None:
        current = self.round
        assert current is not None
        started = _power_on(context, sorted(current.down))
        current.down.clear()
        current.phase = "done"
        if not started:
            return None
        return {"f": "lagging-power-on", "value": {"round": current.number, "started_pids": started}}

    # ---- the injector ---------------------------------------------------------------------------------

    def start(self, context: FaultContext) -> dict[str, Any]:
        event = within_leader_wait(
            context, lambda: self._begin_round(context), "no group with a leader and every member running"
        )
        self.active = True
        return {"of": self.target.get("of"), "lag_s": self.lag_s, "hold_s": self.hold_s, **event["value"]}

    def tick(self, context: FaultContext) -> list[dict[str, Any]]:
        if not self.active:
            return []
        now = context.clock()
        current = self.round
        event: dict[str, Any] | None = None
        if current is None or current.phase == "done":
            event = self._begin_round(context)
        elif current.phase == "lag" and now - current.since >= self.lag_s:
            event = self._orphan_voter(context, now)
        elif current.phase == "orphan" and now - current.since >= ORPHAN_S:
            event = self._hold_election(context, now)
        elif current.phase == "election" and now - current.since >= self.hold_s:
            event = self._resume_voter(context, now)
        elif current.phase == "resume":
            leader = self._leader(context)
            if now - current.since >= SETTLE_LIMIT_S or (leader is not None and leader[0] != current.leader):
                event = self._power_on_the_rest(context)
        return [event] if event else []

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.active:
            return dict(NOTHING_TO_HEAL)
        self.active = False
        healed: dict[str, Any] = {"rounds": self.rounds, "process_ids": sorted(self.touched)}
        if self.round is not None:
            self._resume(context)
            started = _power_on(context, sorted(self.round.down))
            self.round.down.clear()
            if started:
                healed["started_pids"] = started  # store-errors: the heal started these
        return healed
