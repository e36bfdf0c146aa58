"""What a Query or Scan reads: the table itself, or one of its global secondary indexes (IndexName).

An index read routes to the index's own partitions, selects by the index's key, and pages by the index key
and the table key together (cluster/api/index_entries.py), as DynamoDB does.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.api.attribute_values import (
    Item,
    KeySchema,
    encode_key,
    extract_key,
    partition_hash,
    validate_key,
)
from cluster.api.errors import ValidationException
from cluster.api.index_entries import entry_bounds, entry_start_key, last_evaluated_key
from cluster.api.key_conditions import KeyRange, StoreBounds, store_bounds
from cluster.api.secondary_indexes import GLOBAL, IndexSpec
from cluster.metadata.catalogue import TableEntry


@dataclass(frozen=True)
class ReadTarget:
    entry: TableEntry  # what the read routes by: the table's partitions or the index's
    table_schema: KeySchema
    index: IndexSpec | None = None

    @property
    def key_schema(self) -> KeySchema:
        """The key a key condition, a filter's key rule and the hash of a read name."""
        return self.index.key_schema if self.index is not None else self.table_schema

    def start_key_names(self) -> set[str]:
        return set(self.key_schema.key_names) | set(self.table_schema.key_names)

    def start_position(self, start_key: Item) -> tuple[int, bytes]:
        """(hash, key bytes) of the item or entry an ExclusiveStartKey names; it was validated against
        the read's key (validated_start_key)."""
        if self.index is None:
            return partition_hash(start_key, self.table_schema), encode_key(start_key, self.table_schema)
        return entry_start_key(start_key, self.index.key_schema, self.table_schema)

    def validated_start_key(self, start_key: dict) -> Item:
        """An ExclusiveStartKey: exactly the read's key attributes (an index's: its key and the table's)."""
        if self.index is None:
            return validate_key(start_key, self.table_schema)
        if set(start_key) != self.start_key_names():
            raise ValidationException("The provided starting key is invalid")
        table_key = validate_key({name: start_key[name] for name in self.table_schema.key_names}, self.table_schema)
        index_key = validate_key({name: start_key[name] for name in self.index.key_schema.key_names},
                                 self.index.key_schema)  # fmt: skip
        return {**index_key, **table_key}

    def bounds(self, selected: KeyRange) -> StoreBounds:
        bounds = store_bounds(selected, self.key_schema)
        return entry_bounds(bounds) if self.index is not None else bounds

    def last_key(self, item: Item) -> Item:
        if self.index is None:
            return extract_key(item, self.table_schema)
        return last_evaluated_key(item, self.index.key_schema, self.table_schema)


def read_target(entry: TableEntry, index_name: str | None, consistent_read: bool, select: str) -> ReadTarget:
    """The table or the named index, with DynamoDB's refusals (dynalite's messages)."""
    if index_name is None:
        return ReadTarget(entry, entry.key_schema)
    index = next((spec for spec in entry.index_specs if spec.name == index_name), None)
    if index is None:
        raise ValidationException(f"The table does not have the specified index: {index_name}")
    if index.kind != GLOBAL:
        raise ValidationException(
            f"Index {index_name} is a local secondary index: this store does not keep local secondary indexes yet"
        )
    if consistent_read:
        raise ValidationException("Consistent reads are not supported on global secondary indexes")
    if index_name in entry.creating_indexes:  # AWS's words (aws/aws-cli#4845)
        raise ValidationException(f"Cannot read from backfilling global secondary index: {index_name}")
    if select == "ALL_ATTRIBUTES" and index.projection_type != "ALL":
        raise ValidationException(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global "
            f"secondary index {index_name} because its projection type is not ALL"
        )
    return ReadTarget(entry.index_view(index_name), entry.key_schema, index)
