"""Digests of a replica's applied state: one checksum per key range, one digest per item. Pure.

A key range is a bucket of the partition hash (hash mod RANGE_COUNT): the hash is a uniform blake2b,
so every range gets its share of a group's keys, and a mismatch names a range small enough to repair
item by item. The range checksum folds items in (hash, key) order, which every replica scans alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
    if item_json is None:
        return None
    return hashlib.blake2b(item_json.encode(), digest_size=DIGEST_BYTES).hexdigest()


@dataclass
class StateDigest:
    """What one replica holds at one log index: a checksum per range and a digest per item."""

    index: int
    range_checksums: list[str]
    item_digests: dict[KeyId, str] = field(default_factory=dict)

    def keys_in_range(self, range_index: int) -> dict[KeyId, str]:
        return {key: digest for key, digest in self.item_digests.items() if range_of(key[0]) == range_index}


def digest_state(index: int, items: Iterable[tuple[int, bytes, str]]) -> StateDigest:
    """Digests of every (hash, key, item_json), given in (hash, key) order as ItemStore.scan yields them."""
    hashers = [hashlib.blake2b(digest_size=16) for _ in range(RANGE_COUNT)]
    item_digests: dict[KeyId, str] = {}
    for partition_hash, key, item_json in items:
        digest = item_digest(item_json)
        assert digest is not None
        item_digests[(partition_hash, key)] = digest
        hasher = hashers[range_of(partition_hash)]
        # Length-prefixed fields, so no two different item sequences feed the same bytes.
        hasher.update(partition_hash.to_bytes(8, "big"))
        hasher.update(len(key).to_bytes(4, "big") + key)
        hasher.update(bytes.fromhex(digest))
    return StateDigest(index, [hasher.hexdigest() for hasher in hashers], item_digests)
