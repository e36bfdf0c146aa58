"""Raft's log invariants, checked once when appending and again when replaying the log.

The same rules guard both paths (TigerBeetle's pairs of assertions: before write, after read):
an append that breaks them is a caller bug (ValueError), a replay that breaks them is a log we
cannot trust (the recovery turns the ValueError into a WalCorruptionError).

The rules hold the log after its floor: the (index, term) of the last entry a durable snapshot
covers. Entries through the floor are gone with their terms and may never be replaced; the floor's
own term stays known, as the predecessor of the first entry after it. Without a snapshot the floor
is (0, 0) and the log starts at index 1.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from cluster.core.types import Entry, HardState
from cluster.storage.wal_records import MAX_U64

NO_FLOOR = (0, 0)


def check_floor(floor: tuple[int, int]) -> None:
    """Raise ValueError unless `floor` is an (index, term) a snapshot can cover."""
    index, term = floor
    if not 0 <= index <= MAX_U64 or not 0 <= term <= MAX_U64 >> 1:
        raise ValueError(f"floor {floor} is outside the stored range")
    if index == 0 and term != 0:
        raise ValueError(f"floor {floor}: an empty snapshot (index 0) has term 0")


class LogRules:
    """Terms of every entry after the floor, plus the latest hard state: enough to check each append."""

    def __init__(self, floor: tuple[int, int] = NO_FLOOR) -> None:
        check_floor(floor)
        self._floor_index, self._floor_term = floor
        # One signed 64-bit term per index after the floor (index i lives at position i - floor - 1):
        # 8 bytes per entry the snapshot does not cover.
        self._terms: array[int] = array("q")
        self.hard_state: HardState | None = None

    @property
    def floor(self) -> tuple[int, int]:
        return self._floor_index, self._floor_term

    @property
    def floor_index(self) -> int:
        return self._floor_index

    @property
    def last_index(self) -> int:
        return self._floor_index + len(self._terms)

    @property
    def held_terms(self) -> int:
        """How many terms are held in memory: one per entry after the floor."""
        return len(self._terms)

    def term_at(self, index: int) -> int:
        """The term of entry `index`, from the floor (the snapshot's term there) to the last index."""
        assert self._floor_index <= index <= self.last_index, (
            f"index {index} outside {self._floor_index}..{self.last_index}"
        )
        if index == self._floor_index:
            return self._floor_term
        return self._terms[index - self._floor_index - 1]

    def check_entries(self, entries: Sequence[Entry]) -> None:
        """Raise ValueError unless `entries` may be appended (replacing the suffix from its first index)."""
        if not entries:
            raise ValueError("an empty batch has nothing to check")
        first_index = entries[0].index
        last_index = self.last_index
        if first_index <= self._floor_index:
            raise ValueError(
                f"batch starts at index {first_index}, at or below the snapshot floor {self._floor_index}: "
                "it would replace entries the snapshot covers"
            )
        if first_index > last_index + 1:
            raise ValueError(
                f"batch starts at index {first_index}, leaving a gap after last index {last_index} "
                f"(entries {last_index + 1}..{first_index - 1} are missing)"
            )
        previous_term = self.term_at(first_index - 1)
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
            previous_term = entry.term
        self.check_keeps_committed(entries)

    def check_keeps_committed(self, entries: Sequence[Entry]) -> None:
        """Raise ValueError if `entries` (after the floor) would give a committed entry another term."""
        commit = self.hard_state.commit if self.hard_state is not None else 0
        committed_through = min(commit, self.last_index)
        for entry in entries:
            if entry.index > committed_through:
                return
            if self.term_at(entry.index) != entry.term:
                # Raft never replaces a committed entry; a different term here would lose a write.
                raise ValueError(
                    f"entry {entry.index} (term {entry.term}) would replace a committed entry of term "
                    f"{self.term_at(entry.index)} (commit {commit})"
                )

    def apply_entries(self, entries: Sequence[Entry]) -> None:
        """Record a checked batch: Raft truncation drops everything from its first index on."""
        first_index = entries[0].index
        del self._terms[first_index - self._floor_index - 1 :]
        self._terms.extend(entry.term for entry in entries)
        assert self.last_index == entries[-1].index

    def reset_to_floor(self, floor: tuple[int, int]) -> None:
        """Restart the log at `floor`, holding no entry after it (the hard state stays)."""
        check_floor(floor)
        self._floor_index, self._floor_term = floor
        del self._terms[:]

    def raise_floor(self, index: int) -> None:
        """Forget the terms through `index` (a durable snapshot covers them); its own term stays known."""
        if index <= self._floor_index:
            return
        if index > self.last_index:
            raise ValueError(f"cannot raise the floor to {index}: the log ends at {self.last_index}")
        term = self.term_at(index)
        del self._terms[: index - self._floor_index]
        self._floor_index, self._floor_term = index, term

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
