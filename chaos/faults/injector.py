"""What every fault injector looks like, and what it is given to act on the cluster.

An injector is made for one planned fault. `start` applies it and returns exactly what it touched;
`heal` undoes what `start` did and is idempotent: a second heal, or a heal of a fault that never
started, does nothing and says so. An injector with a `tick` method (EvolvingInjector) also acts
while it is active.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from chaos.faults.leaders import LeaderView, choose_leader
from cluster.runtime.topology import Topology


class FaultNotApplicable(Exception):
    """Nothing to target right now (e.g. no process leads the group): the fault is skipped, not failed."""


class ProcessCluster(Protocol):
    """The part of a deploy backend (LocalCluster) that process faults need."""

    def topology(self) -> Topology: ...
    def pids(self) -> dict[str, int]: ...
    def is_running(self, process_id: str) -> bool: ...
    def signal_process(self, process_id: str, signal_number: int) -> None: ...
    def start_process(self, process_id: str) -> int: ...
    def status(self) -> dict[str, Any]: ...


@dataclass
class FaultContext:
    cluster: ProcessCluster
    leaders: Callable[[], LeaderView]
    # A group may be mid-election when its leader is wanted: wait this long for one before skipping.
    leader_wait_s: float = 5.0
    sleep: Callable[[float], object] = field(default=time.sleep)
    # Read by faults that change over their lifetime (a flapping link, leader churn); the controller's clock.
    clock: Callable[[], float] = field(default=time.monotonic)


class FaultInjector(Protocol):
    kind: str

    def __init__(self, target: Mapping[str, Any]) -> None: ...
    def start(self, context: FaultContext) -> dict[str, Any]: ...
    def heal(self, context: FaultContext) -> dict[str, Any]: ...


class EvolvingInjector(FaultInjector, Protocol):
    """A fault that keeps acting between its start and its heal (a link that flaps, leader churn).

    The controller calls `tick` every step while the fault is active; it does what is due by
    `context.clock()` and returns the nemesis events to record, each `{"f": ..., "value": {...}}`.
    Their `f` never starts with `start-` or `stop-`: those pair into the fault's one window.
    """

    def tick(self, context: FaultContext) -> list[dict[str, Any]]: ...


_T = TypeVar("_T")
LEADER_POLL_S = 0.2
# What `heal` answers when there is nothing of its own to undo (never started, or healed already).
NOTHING_TO_HEAL = {"healed": False, "reason": "never started or already healed"}


def leader_now(context: FaultContext, selector: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(process, group) leading what `selector` names now, or None mid-election (the caller looks again)."""
    node_ids = {spec.process_id for spec in context.cluster.topology().by_role("node")}
    try:
        return choose_leader(selector, context.leaders(), node_ids)
    except LookupError:
        return None


def within_leader_wait(context: FaultContext, attempt: Callable[[], _T | None], what: str) -> _T:
    """attempt()'s first result that is not None, polling for up to context.leader_wait_s (a group may be
    mid-election when a fault starts); FaultNotApplicable naming `what` when none comes."""
    waited_s = 0.0
    while (result := attempt()) is None:
        if waited_s >= context.leader_wait_s:
            raise FaultNotApplicable(f"{what} (waited {waited_s:.1f}s)")
        context.sleep(LEADER_POLL_S)
        waited_s += LEADER_POLL_S
    return result
