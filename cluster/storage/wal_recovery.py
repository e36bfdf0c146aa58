"""Replay of the write-ahead log on open: rebuild Raft's view, repair a torn tail, refuse corruption.

Why a torn tail can only be in the last segment: the writer makes a segment (and the directory
entry naming it) durable before it creates the next one. So damage in any earlier segment, or
damage followed by a valid record, is not a crash artefact but lost data, and is raised loudly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cluster.core.types import Entry, HardState
from cluster.storage.wal_errors import WalCorruptionError
from cluster.storage.wal_log_rules import LogRules
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
    entries: list[Entry]  # the log as Raft sees it, after applying every truncation
    hard_state: HardState | None  # the latest one written
    truncated_tail_bytes: int  # bytes cut from a torn or corrupt tail of the last segment (0 when clean)
    truncated_tail_path: Path | None  # the segment that was cut, None when clean


@dataclass(frozen=True)
class RecoveredSegments:
    """What the writer needs to continue: the rules state and every segment with its size."""

    log: RecoveredLog
    rules: LogRules
    segments: list[tuple[int, Path, int]]  # (sequence, path, size_bytes), oldest first


def recover(directory: Path, segments: list[tuple[int, Path]], *, sync: bool) -> RecoveredSegments:
    rules = LogRules()
    entries: list[Entry] = []
    sized_segments: list[tuple[int, Path, int]] = []
    truncated_tail_bytes = 0
    truncated_tail_path: Path | None = None
    for position, (sequence, path) in enumerate(segments):
        if position > 0 and sequence != segments[position - 1][0] + 1:
            raise WalCorruptionError(
                path, 0, f"segment {segments[position - 1][0] + 1} is missing before segment {sequence}"
            )
        is_last = position == len(segments) - 1
        data = path.read_bytes()
        valid_bytes = _replay_segment(path, data, is_last, rules, entries)
        if valid_bytes < len(data):
            assert is_last, "only the last segment may have its tail cut"
            _truncate_file(path, valid_bytes, sync=sync)
            truncated_tail_bytes = len(data) - valid_bytes
            truncated_tail_path = path
        sized_segments.append((sequence, path, valid_bytes))
    assert len(entries) == rules.last_index
    log = RecoveredLog(entries, rules.hard_state, truncated_tail_bytes, truncated_tail_path)
    return RecoveredSegments(log, rules, sized_segments)


class SealedSegmentReplay:
    """Replays sealed segments (an archive's) one after another, parsing each only once.

    Every segment handed in must be whole: damage anywhere is corruption, never a torn tail.
    """

    def __init__(self) -> None:
        self.rules = LogRules()
        self.entries: list[Entry] = []
        self.last_sequence = 0

    def add(self, sequence: int, path: Path) -> None:
        if self.last_sequence and sequence != self.last_sequence + 1:
            raise WalCorruptionError(path, 0, f"segment {self.last_sequence + 1} is missing before segment {sequence}")
        _replay_segment(path, path.read_bytes(), False, self.rules, self.entries)
        self.last_sequence = sequence


def _replay_segment(path: Path, data: bytes, is_last: bool, rules: LogRules, entries: list[Entry]) -> int:
    """Apply every valid record of one segment; return how many leading bytes are valid."""
    offset = 0
    while offset < len(data):
        result = parse_record(data, offset)
        if isinstance(result, ParseFailure):
            if not is_last:
                raise WalCorruptionError(path, offset, f"{result.reason} in a sealed (not last) segment")
            _refuse_if_valid_record_follows(path, data, offset, result.reason)
            return offset
        try:
            if result.record_type == RecordType.ENTRIES:
                batch = decode_entries(result.payload)
                rules.check_entries(batch)
                rules.apply_entries(batch)
                del entries[batch[0].index - 1 :]
                entries.extend(batch)
            else:
                hard_state = decode_hard_state(result.payload)
                rules.check_hard_state(hard_state)
                rules.apply_hard_state(hard_state)
        except (ValueError, UnicodeDecodeError) as error:
            # The checksum matched, so these bytes were written like this: not a torn write.
            raise WalCorruptionError(path, offset, f"checksummed record breaks the log: {error}") from error
        offset = result.end_offset
    return offset


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
