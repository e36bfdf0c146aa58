"""Digests of a replica's applied state: one checksum per key range, one digest per item. Pure.

A key range is a bucket of the partition hash (hash mod RANGE_COUNT): the hash is a uniform blake2b,
so every range gets its share of a group's keys, and a mismatch names a range small enough to repair
item by item. The range checksum folds items in (hash, key) order, which every replica scans alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

RANGE_COUNT = 16
DIGEST_BYTES = 8

KeyId = tuple[int, bytes]  # (partition hash, key bytes)


def range_of(partition_hash: int) -> int:
    return partition_hash % RANGE_COUNT


def describe_range(range_index: int) -> str:
    return f"hash % {RANGE_COUNT} == {range_index}"


def item_digest(item_json: str | None) -> str | None:
    """A short digest of an item's stored text; None for an absent item."""
    return None if item_json is None else _item_digest_bytes(item_json).hex()


def _item_digest_bytes(item_json: str) -> bytes:
    return hashlib.blake2b(item_json.encode(), digest_size=DIGEST_BYTES).digest()


@dataclass
class StateDigest:
    """What one replica holds at one log index: a checksum per range and a digest per item.

    Each range's item digests are one packed bytes record list (see `_pack`), not a dict: a replica keeps
    several digests of every group it hosts, and a dict entry per item (tuple, int, bytes, str) cost
    ~220 bytes, so a node's memory grew with its item count times the digests kept (issue 15's soak)."""

    index: int
    range_checksums: list[str]
    # Per range; None for a digest kept without them. Not compared: the checksums already cover every item.
    range_items: list[bytes] | None = field(default=None, compare=False)
    item_count: int = field(default=0, compare=False)  # what digesting it scanned: the scrub's cost

    @property
    def has_items(self) -> bool:
        return self.range_items is not None

    def keys_in_range(self, range_index: int) -> dict[KeyId, str]:
        if self.range_items is None:
            raise ValueError(f"the digest at {self.index} was kept without its item digests")
        return dict(_unpack(self.range_items[range_index]))

    @property
    def item_digests(self) -> dict[KeyId, str]:
        """Every item's digest, decoded (repairs read one range: `keys_in_range`)."""
        return {key: digest for range_index in range(RANGE_COUNT) for key, digest in self.keys_in_range(range_index).items()}


def _pack(partition_hash: int, key: bytes, digest: bytes) -> bytes:
    """One item's record: the hash (8 bytes), the key's length (4) and the key, the item digest (8)."""
    return partition_hash.to_bytes(8, "big") + len(key).to_bytes(4, "big") + key + digest


def _unpack(records: bytes) -> Iterator[tuple[KeyId, str]]:
    at = 0
    while at < len(records):
        partition_hash = int.from_bytes(records[at : at + 8], "big")
        length = int.from_bytes(records[at + 8 : at + 12], "big")
        key = records[at + 12 : at + 12 + length]
        at += 12 + length + DIGEST_BYTES
        yield (partition_hash, key), records[at - DIGEST_BYTES : at].hex()


def digest_state(index: int, items: Iterable[tuple[int, bytes, str]], keep_items: bool = True) -> StateDigest:
    """Digests of every (hash, key, item_json), given in (hash, key) order as ItemStore.scan yields them.
    `keep_items=False` keeps only the range checksums (a digest only compared, never repaired from)."""
    hashers = [hashlib.blake2b(digest_size=16) for _ in range(RANGE_COUNT)]
    records = [bytearray() for _ in range(RANGE_COUNT)] if keep_items else None
    count = 0
    for partition_hash, key, item_json in items:
        count += 1
        record = _pack(partition_hash, key, _item_digest_bytes(item_json))
        range_index = range_of(partition_hash)
        # Length-prefixed fields (the record), so no two different item sequences feed the same bytes.
        hashers[range_index].update(record)
        if records is not None:
            records[range_index] += record
    return StateDigest(
        index, [hasher.hexdigest() for hasher in hashers], None if records is None else [bytes(r) for r in records],
        count,
    )  # fmt: skip
