"""What a Query or Scan reads: the table itself, or one of its secondary indexes (IndexName).

An index read selects by the index's key and pages by the index key and the table key together
(cluster/api/index_entries.py), as DynamoDB does. A global index's read routes to the index's own partitions;
a local index's to the table's, whose nodes order the items by the index (cluster/storage/item_store.py).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from cluster.api.projection import DocumentPath, project
from cluster.api.secondary_indexes import LOCAL, IndexSpec
from cluster.metadata.catalogue import TableEntry


@dataclass(frozen=True)
class ReadTarget:
    entry: TableEntry  # what the read routes by: the table's partitions or a global index's
    table_schema: KeySchema
    index: IndexSpec | None = None
    # A local index read that returns the index's projection (Select ALL_PROJECTED_ATTRIBUTES, the default);
    # its nodes answer with whole items, which a global index's entries are not.
    projects_local: bool = False

    @property
    def local_index(self) -> IndexSpec | None:
        return self.index if self.index is not None and self.index.kind == LOCAL else None

    def node_params(self) -> dict[str, object]:
        """What a node.query or node.scan adds to read a local index: its spec."""
        local = self.local_index
        return {"local_index": local.to_json()} if local is not None else {}

    def shaped(self, item: Item, projection: Sequence[DocumentPath] | None) -> Item:
        """A returned item: the ProjectionExpression's attributes (SPECIFIC_ATTRIBUTES), or a local index's
        projection, or as read."""
        if projection is not None:
            return project(item, projection)
        if self.projects_local:
            assert self.index is not None
            return self.index.project(item, self.table_schema)
        return item

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
    if index.kind == LOCAL:
        # In the table's own partitions, so consistent reads are allowed and every attribute can be read
        # (DynamoDB fetches the unprojected ones from the table).
        projects = select == "ALL_PROJECTED_ATTRIBUTES" and index.projection_type != "ALL"
        return ReadTarget(entry, entry.key_schema, index, projects_local=projects)
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
