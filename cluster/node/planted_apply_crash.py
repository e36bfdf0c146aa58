"""PLANTED BUG `hidden-group-crash` (harness self-tests only): a partition replica raises while applying
now and then, so its node closes the group and reopens it from the next metadata report.

No data is harmed (the apply's transaction rolls back and the WAL replays it after the reopen) and every
group soon has a leader again, which is why a health check that only looks at "every group led now"
passes; only a verifier that reads the store's logs and restarts sees it. Each (group, index) crashes
once per process, so a reopened group gets past the index that broke it instead of looping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cluster.core.types import Entry

# Often enough that a one-minute game day crashes every busy group, rarely enough to stay a blip.
CRASH_EVERY_ENTRIES = 100


class PlantedGroupCrash(RuntimeError):
    """Raised by the planted bug; the message says so, so nobody mistakes it for a real fault."""


class PlantedApplyCrash:
    def __init__(self, every_entries: int = CRASH_EVERY_ENTRIES) -> None:
        if every_entries < 1:
            raise ValueError(f"every_entries must be >= 1, got {every_entries}")
        self.every_entries = every_entries
        self.crashed: set[tuple[str, int]] = set()

    def hook(self, group_id: str) -> Callable[[Sequence[Entry]], None]:
        """What the group's state machine calls with the entries it is about to apply."""

        def before_apply(entries: Sequence[Entry]) -> None:
            for entry in entries:
                if entry.index % self.every_entries == 0 and (group_id, entry.index) not in self.crashed:
                    self.crashed.add((group_id, entry.index))
                    raise PlantedGroupCrash(
                        f"planted bug hidden-group-crash: group {group_id} fails applying index {entry.index}"
                    )

        return before_apply
