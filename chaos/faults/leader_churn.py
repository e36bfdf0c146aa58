"""leader-churn: for the whole fault, take away whichever process leads a group as soon as it leads.

One kill-leader per fault shows one clean election. Raft's Figure 8 and its relatives need several
leader changes in one group close together, with entries of older terms half-replicated when the next
leader takes over: this fault produces them. Each victim is taken by SIGKILL (`by = "kill"`, powered on
again after `down_s`) or by cutting every link it has (`by = "isolate"`, reconnected once another
process leads the group, or after ISOLATE_LIMIT_S, and never before `down_s`).

Only one victim is away at a time, so on its own the fault never takes a majority of the group down:
the next leader is taken only once the previous victim is back. Every takeaway and every return is a
nemesis event (`churn-kill`, `churn-power-on`, `churn-isolate`, `churn-reconnect`), and the stop event
lists every process the fault took down, so a process exit during the fault is explained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos.faults.injector import (
    NOTHING_TO_HEAL,
    FaultContext,
    FaultNotApplicable,
    leader_now,
    within_leader_wait,
)
from chaos.faults.network_faults import PartitionNode
from chaos.faults.process_faults import _power_off, _power_on

DEFAULT_DOWN_S = 0.5
# An isolated leader whose group elects nobody else (e.g. the others are slow to start) is reconnected
# after this long anyway: the fault must keep churning, not turn into a long partition.
ISOLATE_LIMIT_S = 5.0


@dataclass
class _Victim:
    process_id: str
    group: str | None
    since: float
    pids: dict[str, int]
    isolation: PartitionNode | None = None


class LeaderChurn:
    kind = "leader-churn"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.by = str(self.target.get("by", "kill"))
        if self.by not in ("kill", "isolate"):
            raise ValueError(f"leader-churn: by must be kill or isolate, got {self.by!r}")
        self.down_s = float(self.target.get("down_s", DEFAULT_DOWN_S))
        self.active = False
        self.started_at = 0.0
        self.victim: _Victim | None = None
        self.taken: list[str] = []  # every victim, in order (a process may lead, and be taken, again)

    def _leader(self, context: FaultContext) -> tuple[str, str | None] | None:
        return leader_now(context, self.target)

    # ---- taking a leader away, giving it back -------------------------------------------------------

    def _take(self, context: FaultContext, process_id: str, group: str | None) -> dict[str, Any] | None:
        az = context.cluster.topology().get(process_id).az
        if self.by == "kill":
            killed = _power_off(context, [process_id])
            if not killed:
                return None  # it died on its own meanwhile: nothing of ours to give back
            self.victim = _Victim(process_id, group, context.clock(), killed)
            event = {"f": "churn-kill", "value": {"group": group, "process_ids": [process_id], "pids": killed, "az": az}}
        else:
            isolation = PartitionNode({"process_id": process_id, "az": az})
            # Assigned before start: a half-applied cut is still removed by _give_back.
            self.victim = _Victim(process_id, group, context.clock(), {}, isolation)
            result = isolation.start(context)
            event = {"f": "churn-isolate", "value": {"group": group, "process_ids": [process_id], "az": az,
                                                     "links": len(result["links"])}}
        self.taken.append(process_id)
        return event

    def _give_back(self, context: FaultContext) -> dict[str, Any] | None:
        victim = self.victim
        if victim is None:
            return None
        if victim.isolation is not None:
            victim.isolation.heal(context)  # raises if a toxic stays: the victim is kept, heal_all sweeps
            self.victim = None
            return {"f": "churn-reconnect", "value": {"process_ids": [victim.process_id]}}
        started = _power_on(context, [victim.process_id])
        self.victim = None
        return {"f": "churn-power-on", "value": {"process_ids": [victim.process_id], "pids": started}}

    def _due_back(self, context: FaultContext, now: float) -> bool:
        victim = self.victim
        assert victim is not None
        away_s = now - victim.since
        if away_s < self.down_s:
            return False
        if victim.isolation is None or away_s >= ISOLATE_LIMIT_S:
            return True
        # An isolated leader may still call itself leader (of an older term): back once another leads.
        leader = self._leader(context)
        return leader is not None and leader[0] != victim.process_id

    # ---- the injector ---------------------------------------------------------------------------------

    def start(self, context: FaultContext) -> dict[str, Any]:
        leader = within_leader_wait(context, lambda: self._leader(context), "no process leads the selected group")
        self.started_at = context.clock()
        event = self._take(context, *leader)
        if event is None:
            raise FaultNotApplicable(f"{leader[0]} led {leader[1] or 'the most groups'} but is not running")
        self.active = True
        return {"of": self.target.get("of"), "by": self.by, "down_s": self.down_s, **event["value"]}

    def tick(self, context: FaultContext) -> list[dict[str, Any]]:
        if not self.active:
            return []
        events: list[dict[str, Any]] = []
        now = context.clock()
        if self.victim is not None:
            if not self._due_back(context, now):
                return events
            returned = self._give_back(context)
            if returned:
                events.append(returned)
        leader = self._leader(context)
        if leader is not None:
            taken = self._take(context, *leader)
            if taken:
                events.append(taken)
        return events

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.active:
            return dict(NOTHING_TO_HEAL)
        self.active = False
        returned = self._give_back(context)
        elapsed_s = max(context.clock() - self.started_at, 1e-9)
        healed: dict[str, Any] = {
            "by": self.by,
            "process_ids": sorted(set(self.taken)),
            "leaders_taken": list(self.taken),
            "leader_changes_per_s": round(len(self.taken) / elapsed_s, 3),
        }
        if returned is not None and returned["value"].get("pids"):
            # The last victim, started by the heal: store-errors must see who started it (a run's
            # process-start with no fault to explain it fails the run).
            healed["started_pids"] = returned["value"]["pids"]
        return healed
