"""How a secondary index's entries are keyed. Pure.

A global secondary index's entry lives in the index partition of its index key's hash, under the index key's
encoding followed by the base item's own key encoding. Both encodings are prefix-free
(cluster/api/attribute_values.py), so the entries of one index hash key sort by the index sort key, then by
the table key, and two items that share an index key stay two entries, as in DynamoDB.

A local secondary index shares the table's hash key, so its entries are the base partition's own items,
ordered by the same entry key (local_entry_key), which SQLite computes from each item it stores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cluster.api.attribute_values import Item, KeySchema, encode_key, partition_hash
from cluster.api.key_conditions import StoreBounds
from cluster.api.secondary_indexes import LOCAL, IndexSpec


@dataclass(frozen=True)
class IndexedTable:
    """What a base partition must know to maintain its table's GSIs."""

    table_schema: KeySchema
    specs: tuple[IndexSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return {"table_key_schema": self.table_schema.to_json(), "specs": [spec.to_json() for spec in self.specs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexedTable:
        specs = tuple(IndexSpec.from_json(spec) for spec in data["specs"])
        return cls(KeySchema.from_json(data["table_key_schema"]), specs)

    def fingerprint(self) -> str:
        """Equal for equal settings: how the catalogue tells a partition that has its table's GSIs."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# Above every byte that can follow an encoded key attribute (a table key's type tag is 0x01..0x03): the
# end of all entries whose index key encodes to a given prefix.
_PAST_SUFFIXES = b"\xff"


def entry_key(index_key: Item, index_schema: KeySchema, base_key_bytes: bytes) -> bytes:
    return encode_key(index_key, index_schema) + base_key_bytes


def local_index_code(schema: KeySchema) -> str:
    """A local secondary index's key schema as the text its entry-key function takes inside SQLite
    (hex, so that no attribute name needs quoting in SQL)."""
    return json.dumps(schema.to_json(), sort_keys=True, separators=(",", ":")).encode().hex()


@lru_cache(maxsize=256)
def _local_index_of(code: str) -> IndexSpec:
    return IndexSpec("", LOCAL, KeySchema.from_json(json.loads(bytes.fromhex(code))), "KEYS_ONLY")


def local_entry_key(item_json: str, base_key: bytes, code: str) -> bytes | None:
    """An item's entry key in a local secondary index of its own partition (`code`: local_index_code), or
    None when the index leaves it out (its sort key attribute is missing: LSIs are sparse too). SQLite calls
    this for its expression index: deterministic, and an item it cannot read is left out rather than
    failing the write that stores it."""
    try:
        spec = _local_index_of(code)
        index_key = spec.index_key(json.loads(item_json))
        return entry_key(index_key, spec.key_schema, base_key) if index_key is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def entry_hash(index_key: Item, index_schema: KeySchema) -> int:
    return partition_hash(index_key, index_schema)


def entry_start_key(start_key: Item, index_schema: KeySchema, table_schema: KeySchema) -> tuple[int, bytes]:
    """(hash, key bytes) of the entry an ExclusiveStartKey (index key + table key attributes) names."""
    index_key = {name: start_key[name] for name in index_schema.key_names}
    table_key = {name: start_key[name] for name in table_schema.key_names}
    return entry_hash(index_key, index_schema), entry_key(index_key, index_schema, encode_key(table_key, table_schema))


def entry_bounds(bounds: StoreBounds) -> StoreBounds:
    """Bounds on index keys (store_bounds of the index schema) made bounds on entry keys, which carry the
    table key after the index key: an entry whose index key equals a bound lies just above it."""
    lower = bounds.lower
    if lower is not None and not lower[1]:
        lower = (lower[0] + _PAST_SUFFIXES, True)  # > X: past every X + table key
    upper = bounds.upper
    if upper is not None and upper[1]:
        upper = (upper[0] + _PAST_SUFFIXES, False)  # <= X: up to every X + table key
    return StoreBounds(bounds.prefix, lower, upper)


def last_evaluated_key(entry: Item, index_schema: KeySchema, table_schema: KeySchema) -> Item:
    """An index Query's or Scan's LastEvaluatedKey: the index key and the table key of the last entry."""
    names = dict.fromkeys([*index_schema.key_names, *table_schema.key_names])
    return {name: entry[name] for name in names}
