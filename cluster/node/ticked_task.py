"""A node's background chore started from its tick loop: every N ticks, unless the last run still goes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from cluster.runtime.task_cancel import cancel_and_wait


class TickedTask:
    def __init__(self, every_ticks: int, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.every_ticks = every_ticks
        self._work = work
        self._ticks = 0
        self.task: asyncio.Task[None] | None = None

    def on_tick(self, wanted: bool = True) -> None:
        """Counts a tick; starts the work on every Nth one when `wanted` and no run is under way."""
        self._ticks += 1
        if self._ticks % self.every_ticks or not wanted:
            return
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        if self.task is not None:
            await cancel_and_wait(self.task)
