"""What a replication group applies committed entries to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cluster.core.types import Entry


class StateMachine(Protocol):
    @property
    def applied_index(self) -> int:
        """The last index whose effects are durable in the state machine (recovered on restart)."""
        ...

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        """Applies committed entries in order, atomically with the new applied_index.

        Returns a result per entry index (what the proposer's client is told). Deterministic: every
        replica computes the same effects from the same entries.
        """
        ...

    def close(self) -> None: ...
