"""Crash points: places in the router where it may be told to die at once, as a power cut would kill it.

The `kill-coordinator` fault (chaos/faults/coordinator_kill.py) arms one through the router's admin path;
the next transaction to reach it kills the router with SIGKILL, so the transaction is left exactly
between its phases: its items prepared and locked, its ledger entry registered (and, at the second point,
decided to commit) and nobody left to finish it. The janitors must then finish it by the ledger's word.
Nothing happens unless a point is armed, and an armed point fires once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

# Every vote was yes, the ledger has not decided: the janitors cancel it.
TXN_AFTER_PREPARE = "txn-after-prepare"
# The ledger recorded the commit, no item is written yet: the janitors commit every item.
TXN_AFTER_COMMIT_DECISION = "txn-after-commit-decision"
CRASH_POINTS = (TXN_AFTER_PREPARE, TXN_AFTER_COMMIT_DECISION)


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashPoints:
    def __init__(self, kill: Callable[[], None] = _kill_this_process) -> None:
        self.armed: str | None = None
        self._kill = kill

    def arm(self, point: str | None) -> None:
        """Arms `point` (None disarms); ValueError names the known points for any other."""
        if point is not None and point not in CRASH_POINTS:
            raise ValueError(f"unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")
        self.armed = point

    def reached(self, point: str, detail: str = "") -> None:
        if self.armed != point:
            return
        self.armed = None
        log.warning("crash point %s reached %s: this router dies now", point, detail)
        self._kill()
