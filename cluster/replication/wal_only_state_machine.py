"""The state machine of a log replica: it keeps the WAL and nothing else, so there is nothing to apply.

A log replica (the DynamoDB paper's fast healing) stores and acknowledges log entries and votes; it
never leads and never serves reads, so it holds no materialised state. Its applied index lives in
memory only: after a restart the core "re-applies" from the log's start, which costs nothing here. Its
snapshots are empty files: a log replica compacts its log like any replica, and takes a leader's
snapshot as metadata only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.core.types import Entry


class WalOnlyStateMachine:
    snapshot_has_data = False  # a leader's snapshot is installed from its metadata alone

    def __init__(self) -> None:
        self._applied_index = 0

    @property
    def applied_index(self) -> int:
        return self._applied_index

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        if entries:
            self._applied_index = max(self._applied_index, entries[-1].index)
        return {}

    def write_snapshot(self, destination: Path) -> int:
        destination.write_bytes(b"")
        return self._applied_index

    def restore_snapshot(self, source: Path, index: int) -> None:
        self._applied_index = index

    def close(self) -> None:
        pass
