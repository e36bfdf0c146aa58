"""What a replication group applies committed entries to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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


class SnapshotStateMachine(StateMachine, Protocol):
    """A state machine whose replica compacts its log behind snapshots (cluster/replication/snapshot_files.py)."""

    def write_snapshot(self, destination: Path) -> int:
        """Writes a copy of the state at one applied index to `destination` (the caller fsyncs it) and
        returns that index. Called from a worker thread while apply goes on in the event loop's."""
        ...

    def restore_snapshot(self, source: Path, index: int) -> None:
        """Replaces the state with the copy in `source`, whose applied index is `index`."""
        ...
