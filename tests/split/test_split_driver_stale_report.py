"""A metadata report answered before the driver's finish_split landed still lists the split as pending:
the driver must not split again what it finished (a second copy, a second completion)."""

from __future__ import annotations

import asyncio
from typing import Any

from cluster.node.split_driver import SplitDriver


class _Host:
    """Only what SplitDriver's constructor and _drive touch of a GroupHost."""

    process_id = "node-a1"
    groups: dict[str, Any] = {}

    def register(self, method: str, handler: Any) -> None:
        pass


def _driven(completed: list[dict[str, Any]]) -> list[str]:
    driver = SplitDriver(_Host())  # type: ignore[arg-type]
    driver.completed = completed
    steps: list[str] = []

    async def split(split: dict[str, Any]) -> None:
        steps.append("split")

    async def drop(split: dict[str, Any]) -> None:
        steps.append("drop")

    driver._split = split  # type: ignore[method-assign]
    driver._drop = drop  # type: ignore[method-assign]
    asyncio.run(driver._drive({"parent": "t-p0", "child": {"group_id": "t-p4"}, "state": "pending"}))
    return steps


def test_a_pending_split_is_split_then_dropped() -> None:
    assert _driven([]) == ["split", "drop"]


def test_a_split_this_driver_finished_is_only_dropped_when_a_stale_report_says_pending() -> None:
    finished = [{"parent": "t-p0", "child": "t-p4", "items": 10, "fence_to_finish_s": 0.2}]
    assert _driven(finished) == ["drop"]
    other = [{"parent": "t-p0", "child": "t-p5", "items": 10, "fence_to_finish_s": 0.2}]
    assert _driven(other) == ["split", "drop"]
