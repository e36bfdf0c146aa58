"""Stopping a background task for certain."""

from __future__ import annotations

import asyncio

RECANCEL_S = 0.1


async def cancel_and_wait(task: asyncio.Task) -> None:
    """Cancels `task` until it has ended. Once is not always enough: Python 3.11's asyncio.wait_for (our
    RPC connect) returns the result instead of raising when the cancellation lands as the awaited call
    finishes, and a loop around it goes on. Seen as a node that took the 10 s kill timeout to stop."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_S)
    if not task.cancelled():
        task.exception()  # it ended by an error of its own: retrieved, so asyncio does not report it again
