"""cache-flush in the catalogue, the scheduler and the registry; its injector when no router answers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chaos.faults.cache_flush import CacheFlush, flush_router
from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.leaders import LeaderView
from chaos.faults.registry import default_registry
from chaos.schedule import FaultPhase, NodeRef, describe_target, plan_faults

NODES = [NodeRef(f"node-{az}{number}", f"az-{az}") for az in "abc" for number in (1, 2)]


def test_planned_for_every_router_and_described() -> None:
    plan = plan_faults(FaultPhase(30, 10, (2, 3), {"cache-flush": 1}), 7, NODES, 5.0)
    assert [fault.start_s for fault in plan] == [5.0, 15.0, 25.0]
    assert all(fault.target == {"routers": "all"} for fault in plan)
    assert describe_target("cache-flush", plan[0].target) == "every router's partition-metadata cache"
    assert default_registry().supports("cache-flush")


@pytest.mark.parametrize("seed", range(20))
def test_a_flush_blocks_no_other_fault_and_is_not_blocked(seed: int) -> None:
    # Two at a time, faults longer than the interval: the first two (one of each kind, in a seeded order)
    # both start on time, whichever came first: a flush takes nothing down and confines nothing to an AZ.
    phase = FaultPhase(100, 2, (20, 30), {"cache-flush": 1, "power-off": 1}, max_concurrent_faults=2)
    first, second = plan_faults(phase, seed, NODES, 0.0)[:2]
    assert {first.kind, second.kind} == {"cache-flush", "power-off"}
    assert (first.start_s, second.start_s) == (0.0, 2.0)


class _NoRouterAnswers:
    def __init__(self, endpoints: dict[str, str]) -> None:
        self._endpoints = endpoints

    def endpoints(self) -> dict[str, str]:
        return self._endpoints


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_not_applicable_when_no_router_answers(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert "error" in flush_router(url, timeout_s=0.5)
    context = FaultContext(_NoRouterAnswers({"az-a": url}), lambda: LeaderView({}, []))  # type: ignore[arg-type]
    fault = CacheFlush({"routers": "all"})
    with pytest.raises(FaultNotApplicable, match="no router flushed its cache"):
        fault.start(context)
    assert fault.heal(context)["healed"] is True  # nothing to undo, twice
    assert fault.heal(context)["healed"] is True
