"""Replay of the write-ahead log on open: rebuild Raft's view, repair a torn tail, refuse corruption.

Why a torn tail can only be in the last segment: the writer makes a segment (and the directory
entry naming it) durable before it creates the next one. So damage in any earlier segment, or
damage followed by a valid record, is not a crash artefact but lost data, and is raised loudly.

With a floor (the index S and term T a durable snapshot covers) the log is replayed as starting after
S: early segments may be gone (deleted once a snapshot covered them), and entries through S that are
still on disk (a crash before their deletion) are skipped. The first entry kept must be S + 1.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from cluster.core.types import Entry, HardState
from cluster.storage.wal_errors import WalCorruptionError
from cluster.storage.wal_log_rules import NO_FLOOR, LogRules
from cluster.storage.wal_records import (
    ParseFailure,
    RecordType,
    ScanBudgetExceeded,
    decode_entries,
    decode_hard_state,
    find_next_valid_record,
    parse_record,
)

# CRC work allowed when deciding whether anything valid follows a bad record, relative to the
# segment size: generous for real tails, and a hard stop for adversarial ones.
_SCAN_BUDGET_SEGMENT_MULTIPLE = 8
_SCAN_BUDGET_FLOOR_BYTES = 1 << 20


@dataclass(frozen=True)
class RecoveredLog:
    entries: list[Entry]  # the log after the floor as Raft sees it, after applying every truncation
    hard_state: HardState | None  # the latest one written
    truncated_tail_bytes: int  # bytes cut from a torn or corrupt tail of the last segment (0 when clean)
    truncated_tail_path: Path | None  # the segment that was cut, None when clean
    # The term the log held at the floor's index when it differed from the snapshot's: what followed it
    # came from a log the snapshot replaced (a crash interrupted installing it), so none of it is kept.
    floor_conflict_term: int | None = None


@dataclass(frozen=True)
class SegmentSummary:
    sequence: int
    path: Path
    size_bytes: int
    highest_index: int  # the highest entry index ever written in it (0: none); truncation never lowers it


@dataclass(frozen=True)
class RecoveredSegments:
    """What the writer needs to continue: the rules state and every segment, oldest first."""

    log: RecoveredLog
    rules: LogRules
    segments: list[SegmentSummary]
    hard_state_sequence: int  # the segment holding the latest hard state record (0: none)


def recover(
    directory: Path, segments: list[tuple[int, Path]], *, sync: bool, floor: tuple[int, int] = NO_FLOOR
) -> RecoveredSegments:
    """Replay `segments` (consecutive, though the first may be later than 1) as a log after `floor`."""
    replay = LogReplay(floor)
    summaries: list[SegmentSummary] = []
    hard_state_sequence = 0
    truncated_tail_bytes = 0
    truncated_tail_path: Path | None = None
    for position, (sequence, path) in enumerate(segments):
        if position > 0 and sequence != segments[position - 1][0] + 1:
            raise WalCorruptionError(
                path, 0, f"segment {segments[position - 1][0] + 1} is missing before segment {sequence}"
            )
        is_last = position == len(segments) - 1
        data = path.read_bytes()
        replayed = _replay_segment(path, data, is_last, replay)
        if replayed.valid_bytes < len(data):
            assert is_last, "only the last segment may have its tail cut"
            _truncate_file(path, replayed.valid_bytes, sync=sync)
            truncated_tail_bytes = len(data) - replayed.valid_bytes
            truncated_tail_path = path
        if replayed.holds_hard_state:
            hard_state_sequence = sequence
        summaries.append(SegmentSummary(sequence, path, replayed.valid_bytes, replayed.highest_index))
    conflict_term = replay.finish()
    log = RecoveredLog(
        replay.entries, replay.rules.hard_state, truncated_tail_bytes, truncated_tail_path, conflict_term
    )
    return RecoveredSegments(log, replay.rules, summaries, hard_state_sequence)


class LogReplay:
    """Applies replayed records to the rules and to the entries after the floor (index S, term T).

    A record rewrites the log from its first index on (Raft truncation). One starting at or below S
    therefore also removes everything after S: only its part after S is kept, and the entry it writes
    at S (if any) is the one the log holds there until a later record rewrites it again. That entry's
    term, not T, is what the next entry must not go below, because an old segment may still hold a log
    that a later truncation replaced; only what the log holds at S at the end must agree with T.
    """

    def __init__(self, floor: tuple[int, int] = NO_FLOOR) -> None:
        self.rules = LogRules(floor)
        self.entries: list[Entry] = []
        self._floor_index, self._floor_term = floor
        self._floor_entry_term: int | None = None  # the replayed log's term at S; None: it holds no entry S

    def apply_entries(self, batch: list[Entry]) -> None:
        """Apply one decoded batch; ValueError when it breaks the log (the caller names the record)."""
        first_index = batch[0].index
        if first_index > self._floor_index:
            self._extend(batch)
            return
        kept = batch[self._floor_index - first_index + 1 :]
        if kept:
            self.rules.check_keeps_committed(kept)
        at_floor = self._floor_index - first_index
        self._floor_entry_term = batch[at_floor].term if at_floor < len(batch) else None
        predecessor_term = self._floor_term if self._floor_entry_term is None else self._floor_entry_term
        self.rules.reset_to_floor((self._floor_index, predecessor_term))
        self.entries.clear()
        if kept:
            self._extend(kept)

    def apply_hard_state(self, hard_state: HardState) -> None:
        self.rules.check_hard_state(hard_state)
        self.rules.apply_hard_state(hard_state)

    def finish(self) -> int | None:
        """End the replay; returns the conflicting term at the floor (and keeps nothing after it), or None."""
        conflict_term = self._floor_entry_term
        if conflict_term is None or conflict_term == self._floor_term:
            # The rules' floor term is T already: the log holds no entry S, or holds it with term T.
            assert len(self.entries) == self.rules.last_index - self._floor_index
            return None
        self.rules.reset_to_floor((self._floor_index, self._floor_term))
        self.entries.clear()
        return conflict_term

    def raise_floor(self, index: int) -> None:
        """Forget the entries through `index` (a reader applied them and they are committed): the replay
        then goes on as if it had started from a snapshot at `index`, holding only what came after."""
        if index <= self._floor_index:
            return
        self.rules.raise_floor(index)
        del self.entries[: index - self._floor_index]
        self._floor_index, self._floor_term = self.rules.floor
        self._floor_entry_term = None

    def _extend(self, batch: Sequence[Entry]) -> None:
        self.rules.check_entries(batch)
        self.rules.apply_entries(batch)
        del self.entries[batch[0].index - self._floor_index - 1 :]
        self.entries.extend(batch)


def record_source(sequence: int, offset: int) -> int:
    """One number for a record's place: its segment and its offset there (segments stay far below 4 GiB)."""
    return sequence << 32 | offset


def source_place(source: int) -> tuple[int, int]:
    """(segment sequence, offset) of a `record_source`."""
    return source >> 32, source & 0xFFFFFFFF


class _SourcedLogReplay(LogReplay):
    """A replay that also knows which record wrote each entry it holds, and the entry at its floor.

    Every entry after index X comes from the record that last wrote X or from a later one (a record
    replaces the log from its first index on, and any earlier record's entries after X were replaced
    by it), so a replay that must go on after X later, in another process, needs only the records
    from `floor_source` on."""

    def __init__(self, floor: tuple[int, int], floor_source: int) -> None:
        super().__init__(floor)
        self.source = 0  # the record being applied (record_source)
        self.floor_source = floor_source
        self._sources: array[int] = array("q")

    def apply_entries(self, batch: list[Entry]) -> None:
        first_index, floor_index = batch[0].index, self._floor_index
        super().apply_entries(batch)
        if first_index <= floor_index < first_index + len(batch):
            self.floor_source = self.source  # this record wrote the floor's entry again
        kept = max(0, first_index - floor_index - 1)
        del self._sources[kept:]
        self._sources.extend(repeat(self.source, len(self.entries) - kept))

    def raise_floor(self, index: int) -> None:
        floor_index = self._floor_index
        if index <= floor_index:
            return
        source = self._sources[index - floor_index - 1]
        super().raise_floor(index)
        del self._sources[: index - floor_index]
        self.floor_source = source


class SealedSegmentReplay:
    """Replays sealed segments (an archive's) one after another, parsing each only once.

    Every segment handed in must be whole: damage anywhere is corruption, never a torn tail.
    """

    def __init__(self, floor: tuple[int, int] = NO_FLOOR, floor_source: int = 0) -> None:
        """`floor`: the snapshot the archived log starts after (its entries are those after floor[0]);
        `floor_source`: the record that wrote the entry at the floor, when a reader resumes there."""
        self._replay = _SourcedLogReplay(floor, floor_source)
        self.last_sequence = 0

    @property
    def floor_source(self) -> int:
        """The record that wrote the entry at the floor (record_source; 0: none replayed, the floor is
        where the log starts): a replay resumed at the floor needs only the records from it on."""
        return self._replay.floor_source

    @property
    def rules(self) -> LogRules:
        return self._replay.rules

    @property
    def entries(self) -> list[Entry]:
        return self._replay.entries

    @property
    def floor_index(self) -> int:
        return self._replay.rules.floor_index

    def raise_floor(self, index: int) -> None:
        self._replay.raise_floor(index)

    def add(self, sequence: int, path: Path, start_offset: int = 0) -> None:
        """Replay segment `sequence` from the record at `start_offset` (a resumed replay's first)."""
        if self.last_sequence and sequence != self.last_sequence + 1:
            raise WalCorruptionError(path, 0, f"segment {self.last_sequence + 1} is missing before segment {sequence}")

        def on_record(offset: int) -> None:
            self._replay.source = record_source(sequence, offset)

        _replay_segment(path, path.read_bytes(), False, self._replay, start_offset, on_record)
        self.last_sequence = sequence


@dataclass(frozen=True)
class _SegmentReplayed:
    valid_bytes: int  # how many leading bytes hold valid records
    highest_index: int
    holds_hard_state: bool


def _replay_segment(
    path: Path,
    data: bytes,
    is_last: bool,
    replay: LogReplay,
    start_offset: int = 0,
    on_record: Callable[[int], None] | None = None,
) -> _SegmentReplayed:
    """Apply every valid record of one segment (from the record at `start_offset`); `on_record` hears
    each record's offset before it is applied."""
    offset = start_offset
    highest_index = 0
    holds_hard_state = False
    while offset < len(data):
        result = parse_record(data, offset)
        if isinstance(result, ParseFailure):
            if not is_last:
                raise WalCorruptionError(path, offset, f"{result.reason} in a sealed (not last) segment")
            _refuse_if_valid_record_follows(path, data, offset, result.reason)
            break
        if on_record is not None:
            on_record(offset)
        try:
            if result.record_type == RecordType.ENTRIES:
                batch = decode_entries(result.payload)
                replay.apply_entries(batch)
                highest_index = max(highest_index, batch[-1].index)
            else:
                replay.apply_hard_state(decode_hard_state(result.payload))
                holds_hard_state = True
        except (ValueError, UnicodeDecodeError) as error:
            # The checksum matched, so these bytes were written like this: not a torn write.
            raise WalCorruptionError(path, offset, f"checksummed record breaks the log: {error}") from error
        offset = result.end_offset
    return _SegmentReplayed(offset, highest_index, holds_hard_state)


def _refuse_if_valid_record_follows(path: Path, data: bytes, offset: int, reason: str) -> None:
    budget_bytes = max(_SCAN_BUDGET_FLOOR_BYTES, _SCAN_BUDGET_SEGMENT_MULTIPLE * len(data))
    try:
        following = find_next_valid_record(data, offset + 1, budget_bytes)
    except ScanBudgetExceeded as error:
        raise WalCorruptionError(
            path, offset, f"{reason}; could not prove the tail after it is garbage ({error})"
        ) from error
    if following is not None:
        raise WalCorruptionError(path, offset, f"{reason}; a valid record follows at offset {following}")


def _truncate_file(path: Path, size_bytes: int, *, sync: bool) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(descriptor, size_bytes)
        if sync:
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
