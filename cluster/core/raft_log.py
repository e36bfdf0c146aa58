"""The in-memory Raft log of one replica, and which part of it the runtime has made durable.

Entries live in one list addressed through an offset, so reading a batch for an APPEND copies only
that batch and appending is amortised O(1): replicating 10k entries stays linear.
A snapshot moves `snapshot_index`/`snapshot_term` forward and drops the list's prefix: the entries
through snapshot_index live only in the state machine's snapshot from then on.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.core.types import Entry


class RaftLog:
    def __init__(self, entries: Sequence[Entry] = (), snapshot_index: int = 0, snapshot_term: int = 0) -> None:
        self._snapshot_index = snapshot_index
        self._snapshot_term = snapshot_term
        self._entries: list[Entry] = []
        # A crash between a snapshot becoming durable and the WAL's truncation leaves entries the
        # snapshot covers in the WAL: skip them (the snapshot holds the same committed entries).
        entries = [entry for entry in entries if entry.index > snapshot_index]
        previous_term = snapshot_term
        for expected_index, entry in enumerate(entries, start=self._snapshot_index + 1):
            if entry.index != expected_index:
                raise ValueError(f"recovered log is not contiguous: expected index {expected_index}, got {entry.index}")
            if entry.term < previous_term or entry.term < 1:
                raise ValueError(f"recovered log has term {entry.term} at index {entry.index} after {previous_term}")
            previous_term = entry.term
            self._entries.append(entry)
        # Everything recovered came from the WAL, so it is durable already.
        self.persisted_index = self.last_index
        # The lowest index the runtime has not been asked to persist yet (entries above it are new).
        self._unpersisted_from = self.last_index + 1

    @property
    def snapshot_index(self) -> int:
        """The last index the snapshot covers (0: no snapshot); the log holds the entries after it."""
        return self._snapshot_index

    @property
    def snapshot_term(self) -> int:
        return self._snapshot_term

    @property
    def last_index(self) -> int:
        return self._snapshot_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self._snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at index, 0 for index 0, None when the log does not reach it."""
        if index == self._snapshot_index:
            return self._snapshot_term
        if index < self._snapshot_index or index > self.last_index:
            return None
        return self._entries[index - self._snapshot_index - 1].term

    def entry_at(self, index: int) -> Entry:
        return self._entries[index - self._snapshot_index - 1]

    def entries_between(self, first_index: int, last_index: int) -> list[Entry]:
        """Entries first_index..last_index inclusive (clamped to what the log holds)."""
        first = max(first_index, self._snapshot_index + 1) - self._snapshot_index - 1
        last = min(last_index, self.last_index) - self._snapshot_index
        return self._entries[first:last] if last > first else []

    def batch_from(self, first_index: int, max_count: int, max_bytes: int) -> tuple[Entry, ...]:
        """Up to max_count entries from first_index within max_bytes of commands (always at least one)."""
        assert first_index > self._snapshot_index, (first_index, self._snapshot_index)  # send the snapshot instead
        start = first_index - self._snapshot_index - 1
        end = min(start + max_count, len(self._entries))
        if start >= end:
            return ()
        total_bytes = 0
        for position in range(start, end):
            total_bytes += len(self._entries[position].command)
            if total_bytes > max_bytes and position > start:
                end = position
                break
        return tuple(self._entries[start:end])

    def is_up_to_date(self, last_term: int, last_index: int) -> bool:
        """Raft §5.4.1: may a candidate whose log ends at (last_term, last_index) get our vote?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def append(self, entry: Entry) -> None:
        assert entry.index == self.last_index + 1, (entry.index, self.last_index)
        assert entry.term >= self.last_term, (entry.term, self.last_term)
        self._entries.append(entry)

    def merge(self, entries: Sequence[Entry], commit_index: int) -> None:
        """Follower side of APPEND: skip entries we already hold, truncate at the first conflict, append the rest."""
        for position, entry in enumerate(entries):
            existing_term = self.term_at(entry.index)
            if existing_term == entry.term:
                continue
            if existing_term is not None:
                # A committed entry can never conflict with a current leader's log (Leader Completeness).
                assert entry.index > commit_index, f"conflict at committed index {entry.index} <= {commit_index}"
                self._truncate_from(entry.index)
            for new_entry in entries[position:]:
                self.append(new_entry)
            return

    def truncate_from(self, index: int) -> None:
        """Drop the entries from index on. Only the planted forget-on-leader-change bug calls this."""
        assert index > 0, index
        if index <= self.last_index:
            self._truncate_from(index)

    def compact_through(self, index: int) -> None:
        """Drop the entries through index: a durable snapshot of the state machine holds them now."""
        assert self._snapshot_index < index <= self.persisted_index, (index, self._snapshot_index, self.persisted_index)
        self._snapshot_term = self.entry_at(index).term
        del self._entries[: index - self._snapshot_index]
        self._snapshot_index = index

    def restore(self, index: int, term: int) -> bool:
        """Follower side of SNAPSHOT: the log now starts after (index, term). Keeps the entries after it
        when ours hold the same entry at index (Raft §7); returns whether it kept them."""
        assert index > self._snapshot_index, (index, self._snapshot_index)
        kept = self.term_at(index) == term
        # The runtime installs the snapshot durably before anything of this Ready goes out.
        if kept:
            del self._entries[: index - self._snapshot_index]
            self.persisted_index = max(self.persisted_index, index)
            self._unpersisted_from = max(self._unpersisted_from, index + 1)
        else:
            self._entries = []
            self.persisted_index = index
            self._unpersisted_from = index + 1
        self._snapshot_index, self._snapshot_term = index, term
        return kept

    def _truncate_from(self, index: int) -> None:
        assert index > self._snapshot_index, (index, self._snapshot_index)
        del self._entries[index - self._snapshot_index - 1 :]
        self._unpersisted_from = min(self._unpersisted_from, index)
        # The WAL still holds the old suffix until the replacement is persisted; it no longer counts as ours.
        self.persisted_index = min(self.persisted_index, index - 1)

    def conflict_hint(self, index: int, term_ceiling: int, commit_index: int) -> int:
        """Where a leader should resume after we rejected its APPEND at index (etcd's findConflictByTerm).

        Walks back over the entries whose term exceeds the leader's term at that index: none of them can
        match, so the leader skips a whole term per round trip instead of one entry.
        """
        hint = min(index, self.last_index)
        while hint > commit_index and (self.term_at(hint) or 0) > term_ceiling:
            hint -= 1
        return hint

    # ---- what the runtime still has to persist ----------------------------------------------------

    def unpersisted_entries(self) -> tuple[Entry, ...]:
        return tuple(self.entries_between(self._unpersisted_from, self.last_index))

    def has_unpersisted_entries(self) -> bool:
        return self._unpersisted_from <= self.last_index

    def mark_persisted(self, through_index: int) -> None:
        """The runtime fsynced entries up to through_index (the last entry of a Ready's persist)."""
        self.persisted_index = max(self.persisted_index, through_index)
        self._unpersisted_from = max(self._unpersisted_from, through_index + 1)
