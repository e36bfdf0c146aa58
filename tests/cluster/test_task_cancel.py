"""A background task stops for certain, even when its first cancellation is swallowed."""

from __future__ import annotations

import asyncio

from cluster.runtime.task_cancel import cancel_and_wait


def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again_until_it_ends() -> None:
    # What Python 3.11's wait_for does when a cancellation lands as the awaited call finishes: the loop
    # around it goes on to wait on its queue, where only a second cancellation reaches it.
    queue: asyncio.Queue[int] = asyncio.Queue()
    swallowed = []

    async def outbox_loop() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not swallowed:
                    swallowed.append(True)
                    continue
                raise
            await queue.get()

    async def scenario() -> asyncio.Task[None]:
        task = asyncio.ensure_future(outbox_loop())
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(task), timeout=5)
        return task

    task = asyncio.run(scenario())
    assert swallowed and task.cancelled()


def test_a_task_ended_by_its_own_error_is_waited_for_without_raising() -> None:
    async def failing() -> None:
        raise ValueError("its own error")

    async def scenario() -> asyncio.Task[None]:
        task = asyncio.ensure_future(failing())
        await asyncio.sleep(0)
        await cancel_and_wait(task)
        return task

    assert isinstance(asyncio.run(scenario()).exception(), ValueError)
