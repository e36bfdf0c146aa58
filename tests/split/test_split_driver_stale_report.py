"""A metadata report answered before the driver's finish_split landed still lists the split as pending:
the driver must not split again what it finished (a second copy, a second completion). And a second
drive of the same split on another node loads nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.types import Entry
from cluster.node.partition_state_machine import PartitionStateMachine
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


def test_of_two_overlapping_drives_only_the_first_loads_the_child_the_second_finds_it_sealed(tmp_path: Path) -> None:
    """The parent's lead can move mid-split, and the new leader drives the same split (seen in CI): the
    child's seal makes its load a no-op, and its completion says so."""
    parent = PartitionStateMachine(tmp_path / "parent")
    child = PartitionStateMachine(tmp_path / "child")
    items = [PutCommand(1000 + n, f"k{n}".encode(), {"pk": {"S": f"k{n}"}}) for n in range(30)]
    parent.apply([Entry(1, index + 1, encode_command(command)) for index, command in enumerate(items)])
    child_index = iter(range(1, 1000))

    async def propose_child(group: dict[str, Any], command: str) -> Any:  # the child group's log, minus Raft
        index = next(child_index)
        return child.apply([Entry(1, index, command.encode())])[index]

    def drive() -> tuple[int, bool]:
        driver = SplitDriver(_Host())  # type: ignore[arg-type]
        driver._parent = lambda group_id: (None, parent)  # type: ignore[method-assign]
        driver._propose_child = propose_child  # type: ignore[method-assign]
        return asyncio.run(driver._load("t-p0", {"group_id": "t-p4"}, 0, 2**64))

    try:
        assert drive() == (30, False)
        assert drive() == (0, True)
        assert child.store.count() == 30
    finally:
        parent.close()
        child.close()
