"""Raft's log invariants, checked once when appending and again when replaying the log.

The same rules guard both paths (TigerBeetle's pairs of assertions: before write, after read):
an append that breaks them is a caller bug (ValueError), a replay that breaks them is a log we
cannot trust (the recovery turns the ValueError into a WalCorruptionError).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from cluster.core.types import Entry, HardState
from cluster.storage.wal_records import MAX_U64


class LogRules:
    """Terms of every entry in the log, plus the latest hard state: enough to check each append."""

    def __init__(self) -> None:
        # One signed 64-bit term per index (index i lives at position i - 1): 8 bytes per entry.
        self._terms: array[int] = array("q")
        self.hard_state: HardState | None = None

    @property
    def last_index(self) -> int:
        return len(self._terms)

    def term_at(self, index: int) -> int:
        assert 1 <= index <= self.last_index, f"index {index} outside 1..{self.last_index}"
        return self._terms[index - 1]

    def check_entries(self, entries: Sequence[Entry]) -> None:
        """Raise ValueError unless `entries` may be appended (replacing the suffix from its first index)."""
        if not entries:
            raise ValueError("an empty batch has nothing to check")
        first_index = entries[0].index
        if not 1 <= first_index <= self.last_index + 1:
            raise ValueError(
                f"batch starts at index {first_index}, leaving a gap after last index {self.last_index}"
            )
        previous_term = self._terms[first_index - 2] if first_index >= 2 else 0
        commit = self.hard_state.commit if self.hard_state is not None else 0
        for position, entry in enumerate(entries):
            if entry.index != first_index + position:
                raise ValueError(
                    f"batch is not contiguous: position {position} holds index {entry.index}, "
                    f"expected {first_index + position}"
                )
            if not 0 <= entry.term <= MAX_U64 >> 1:
                raise ValueError(f"entry {entry.index} has term {entry.term} outside the stored range")
            if entry.term < previous_term:
                raise ValueError(f"term decreases at index {entry.index}: {entry.term} after {previous_term}")
            if entry.index <= min(commit, self.last_index) and self._terms[entry.index - 1] != entry.term:
                # Raft never replaces a committed entry; a different term here would lose a write.
                raise ValueError(
                    f"entry {entry.index} (term {entry.term}) would replace a committed entry of term "
                    f"{self._terms[entry.index - 1]} (commit {commit})"
                )
            previous_term = entry.term

    def apply_entries(self, entries: Sequence[Entry]) -> None:
        """Record a checked batch: Raft truncation drops everything from its first index on."""
        first_index = entries[0].index
        del self._terms[first_index - 1 :]
        self._terms.extend(entry.term for entry in entries)
        assert self.last_index == entries[-1].index

    def check_hard_state(self, hard_state: HardState) -> None:
        if not 0 <= hard_state.term <= MAX_U64 or not 0 <= hard_state.commit <= MAX_U64:
            raise ValueError(f"hard state {hard_state} has a term or commit outside the stored range")
        if self.hard_state is not None and hard_state.term < self.hard_state.term:
            # Raft's currentTerm never goes back; going back would allow a second vote in a term.
            raise ValueError(
                f"hard state term {hard_state.term} is below the persisted {self.hard_state.term}"
            )

    def apply_hard_state(self, hard_state: HardState) -> None:
        self.hard_state = hard_state
