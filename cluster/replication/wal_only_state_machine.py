"""The state machine of a log replica: it keeps the WAL and nothing else, so there is nothing to apply.

A log replica (the DynamoDB paper's fast healing) stores and acknowledges log entries and votes; it
never leads and never serves reads, so it holds no materialised state. Its applied index lives in
memory only: after a restart the core "re-applies" from index 1, which costs nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cluster.core.types import Entry


class WalOnlyStateMachine:
    def __init__(self) -> None:
        self._applied_index = 0

    @property
    def applied_index(self) -> int:
        return self._applied_index

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        if entries:
            self._applied_index = max(self._applied_index, entries[-1].index)
        return {}

    def close(self) -> None:
        pass
