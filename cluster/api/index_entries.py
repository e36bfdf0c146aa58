"""How a secondary index's entries are keyed. Pure.

A global secondary index's entry lives in the index partition of its index key's hash, under the index key's
encoding followed by the base item's own key encoding. Both encodings are prefix-free
(cluster/api/attribute_values.py), so the entries of one index hash key sort by the index sort key, then by
the table key, and two items that share an index key stay two entries, as in DynamoDB.

A local secondary index shares the table's hash key, so its entries are the base partition's own items: a
read orders them by the same entry key (local_entry_key), computed from the item where it is stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import Item, KeySchema, encode_key, partition_hash
from cluster.api.key_conditions import StoreBounds
from cluster.api.secondary_indexes import IndexSpec


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


def local_entry_key(spec: IndexSpec, item: Item, base_key: bytes) -> bytes | None:
    """An item's entry key in a local secondary index of its own partition, or None when the index leaves
    it out (the index's sort key attribute is missing, as LSIs are sparse too)."""
    index_key = spec.index_key(item)
    return entry_key(index_key, spec.key_schema, base_key) if index_key is not None else None


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
