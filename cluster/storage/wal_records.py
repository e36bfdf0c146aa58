"""The on-disk record format of the write-ahead log: encoding, parsing and the forward scan.

Every record is a fixed 10-byte header followed by its payload:

    magic_version: u8   0xA1; never 0, so a tail of zeros is never mistaken for a header
    record_type:   u8   1 = entries batch, 2 = hard state
    payload_length: u32 little-endian
    crc32:         u32  zlib.crc32 over (record_type, payload_length, payload)

Entries batch payload: first_index u64, count u32, then per entry term u64, command_length u32,
command bytes. The indexes are implied (first_index + position) because a batch is contiguous.

Hard state payload: term u64, commit u64, has_vote u8, vote_length u8, vote bytes (UTF-8).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from cluster.core.types import Entry, HardState

MAGIC_VERSION = 0xA1
HEADER = struct.Struct("<BBII")
HEADER_BYTES = HEADER.size
# The CRC covers the type and length so a flipped length byte cannot make a short record look valid.
CRC_PREFIX = struct.Struct("<BI")
ENTRIES_PREFIX = struct.Struct("<QI")
ENTRY_PREFIX = struct.Struct("<QI")
HARD_STATE_PREFIX = struct.Struct("<QQBB")

# Bound on one record: lengths beyond it are treated as garbage, and appends beyond it are refused.
MAX_PAYLOAD_BYTES = 256 << 20
MAX_VOTE_BYTES = 255
MAX_U64 = (1 << 64) - 1


class RecordType(IntEnum):
    ENTRIES = 1
    HARD_STATE = 2


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    record_type: RecordType
    payload: bytes
    end_offset: int


@dataclass(frozen=True, slots=True)
class ParseFailure:
    reason: str


def _frame(record_type: RecordType, payload: bytes) -> bytes:
    length = len(payload)
    if length > MAX_PAYLOAD_BYTES:
        raise ValueError(f"record payload of {length} bytes exceeds the bound of {MAX_PAYLOAD_BYTES}")
    checksum = zlib.crc32(payload, zlib.crc32(CRC_PREFIX.pack(record_type, length)))
    return HEADER.pack(MAGIC_VERSION, record_type, length, checksum) + payload


def encode_entries(entries: Sequence[Entry]) -> bytes:
    """One record for a contiguous batch; the caller has checked contiguity."""
    assert entries, "an empty batch is not written"
    parts: list[bytes] = [ENTRIES_PREFIX.pack(entries[0].index, len(entries))]
    pack_entry = ENTRY_PREFIX.pack
    for entry in entries:
        parts.append(pack_entry(entry.term, len(entry.command)))
        parts.append(entry.command)
    return _frame(RecordType.ENTRIES, b"".join(parts))


def encode_hard_state(hard_state: HardState) -> bytes:
    vote = b"" if hard_state.voted_for is None else hard_state.voted_for.encode("utf-8")
    if len(vote) > MAX_VOTE_BYTES:
        raise ValueError(f"voted_for of {len(vote)} UTF-8 bytes exceeds the bound of {MAX_VOTE_BYTES}")
    has_vote = 0 if hard_state.voted_for is None else 1
    payload = HARD_STATE_PREFIX.pack(hard_state.term, hard_state.commit, has_vote, len(vote)) + vote
    return _frame(RecordType.HARD_STATE, payload)


def parse_record(data: bytes, offset: int) -> ParsedRecord | ParseFailure:
    """Parse the record starting at `offset`; never raises on bad bytes, says why instead."""
    available = len(data) - offset
    if available < HEADER_BYTES:
        return ParseFailure(f"partial header: {available} of {HEADER_BYTES} bytes")
    magic, record_type, length, checksum = HEADER.unpack_from(data, offset)
    if magic != MAGIC_VERSION:
        return ParseFailure(f"bad magic/version byte 0x{magic:02x}")
    if record_type not in (RecordType.ENTRIES, RecordType.HARD_STATE):
        return ParseFailure(f"unknown record type {record_type}")
    if length > MAX_PAYLOAD_BYTES:
        return ParseFailure(f"payload length {length} exceeds the bound of {MAX_PAYLOAD_BYTES}")
    payload_start = offset + HEADER_BYTES
    payload_end = payload_start + length
    if payload_end > len(data):
        return ParseFailure(f"partial payload: {len(data) - payload_start} of {length} bytes")
    payload = data[payload_start:payload_end]
    actual = zlib.crc32(payload, zlib.crc32(CRC_PREFIX.pack(record_type, length)))
    if actual != checksum:
        return ParseFailure(f"checksum mismatch: stored 0x{checksum:08x}, computed 0x{actual:08x}")
    return ParsedRecord(RecordType(record_type), payload, payload_end)


class ScanBudgetExceeded(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset
        super().__init__(f"forward scan budget exhausted at offset {offset}")


def find_next_valid_record(data: bytes, start: int, crc_budget_bytes: int) -> int | None:
    """Offset of the first plausible valid record at or after `start`, or None.

    Candidates are found by the magic byte and filtered by cheap header checks before the CRC.
    The CRC work is bounded; when the budget runs out we cannot prove the tail is only torn, so
    the caller must treat that as corruption rather than truncate possibly valid data.
    """
    position = data.find(MAGIC_VERSION.to_bytes(1, "little"), start)
    spent_bytes = 0
    while position != -1:
        if len(data) - position < HEADER_BYTES:
            return None
        _, record_type, length, _ = HEADER.unpack_from(data, position)
        plausible = (
            record_type in (RecordType.ENTRIES, RecordType.HARD_STATE)
            and length <= MAX_PAYLOAD_BYTES
            and position + HEADER_BYTES + length <= len(data)
        )
        if plausible:
            spent_bytes += length
            if spent_bytes > crc_budget_bytes:
                raise ScanBudgetExceeded(position)
            if isinstance(parse_record(data, position), ParsedRecord):
                return position
        position = data.find(MAGIC_VERSION.to_bytes(1, "little"), position + 1)
    return None


def decode_entries(payload: bytes) -> list[Entry]:
    """Decode a CRC-valid entries payload; raises ValueError when its structure is inconsistent."""
    if len(payload) < ENTRIES_PREFIX.size:
        raise ValueError("entries payload shorter than its prefix")
    first_index, count = ENTRIES_PREFIX.unpack_from(payload, 0)
    if first_index < 1:
        raise ValueError(f"entries batch starts at index {first_index}")
    if count < 1:
        raise ValueError("entries batch holds no entries")
    entries: list[Entry] = []
    offset = ENTRIES_PREFIX.size
    unpack_entry = ENTRY_PREFIX.unpack_from
    entry_prefix_bytes = ENTRY_PREFIX.size
    for position in range(count):
        if offset + entry_prefix_bytes > len(payload):
            raise ValueError(f"entry {position} of {count} runs past the payload")
        term, command_length = unpack_entry(payload, offset)
        offset += entry_prefix_bytes
        if offset + command_length > len(payload):
            raise ValueError(f"command of entry {position} of {count} runs past the payload")
        entries.append(Entry(term, first_index + position, payload[offset : offset + command_length]))
        offset += command_length
    if offset != len(payload):
        raise ValueError(f"{len(payload) - offset} unexplained bytes after the last entry")
    return entries


def decode_hard_state(payload: bytes) -> HardState:
    """Decode a CRC-valid hard state payload; raises ValueError when its structure is inconsistent."""
    if len(payload) < HARD_STATE_PREFIX.size:
        raise ValueError("hard state payload shorter than its prefix")
    term, commit, has_vote, vote_length = HARD_STATE_PREFIX.unpack_from(payload, 0)
    if has_vote not in (0, 1):
        raise ValueError(f"has_vote flag is {has_vote}")
    if len(payload) != HARD_STATE_PREFIX.size + vote_length:
        raise ValueError("hard state payload length disagrees with its vote length")
    if not has_vote and vote_length:
        raise ValueError("a vote length without a vote")
    vote = payload[HARD_STATE_PREFIX.size :].decode("utf-8") if has_vote else None
    return HardState(term=term, voted_for=vote, commit=commit)
