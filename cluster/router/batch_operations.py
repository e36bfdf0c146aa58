"""BatchGetItem and BatchWriteItem: split by partition, one call per partition, in parallel.

What a partition could not take (no reachable leader, throttled, outcome unknown) comes back in
UnprocessedKeys / UnprocessedItems, shaped as the client sent it, so the SDK's retry loop resends
exactly that. When nothing at all could be done the error itself is raised, as DynamoDB does for
throttling ("none of the items can be processed").

A write whose outcome is unknown is also returned as unprocessed: batch writes are unconditional
puts and deletes, so sending one again leaves the item as the request says. A partition's share that
a split moved (certainly not done) is regrouped by the refreshed table map and sent again.
"""

from __future__ import annotations

import asyncio
import base64
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cluster.admission.capacity_units import read_units, read_units_up_front, write_units
from cluster.api.attribute_values import (
    Item,
    KeySchema,
    encode_key,
    extract_key,
    item_size_bytes,
    partition_hash,
    validate_key,
)
from cluster.api.consumed_capacity import CONSUMED_UNITS
from cluster.api.errors import (
    ApiError,
    InternalServerError,
    ItemCollectionSizeLimitExceededException,
    TransactionConflictException,
    ValidationException,
)
from cluster.api.item_collections import COLLECTION_SIZES, written_collection
from cluster.api.item_commands import BatchCommand, LocatedWrite, encode_command
from cluster.api.projection import project
from cluster.api.requests import BatchGetItemRequest, BatchWrite, BatchWriteItemRequest
from cluster.api.secondary_indexes import check_index_keys
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router import partition_calls
from cluster.router.cluster_client import ClusterClient, PartitionMoved
from cluster.router.moved_retry import MovedRetry

# DynamoDB answers at most 16 MB of items per BatchGetItem; the rest are unprocessed keys.
MAX_BATCH_GET_RESPONSE_BYTES = 16 << 20


@dataclass(frozen=True)
class _Located:
    """A key (or write) with where it goes: its table, its partition hash and encoded key."""

    table: str
    item_hash: int
    encoded_key: bytes
    position: int  # in the request's list for its table



def _by_partition(entry: TableEntry, located: list[_Located]) -> list[tuple[PartitionInfo, list[_Located]]]:
    groups: dict[str, tuple[PartitionInfo, list[_Located]]] = {}
    for each in located:
        partition = entry.partition_for_hash(each.item_hash)
        groups.setdefault(partition.group_id, (partition, []))[1].append(each)
    return list(groups.values())


CallOnce = Callable[[PartitionInfo, list[_Located]], Awaitable[Any]]
Outcomes = tuple[list[tuple[list[_Located], Any]], list[tuple[list[_Located], ApiError]]]


async def _each_partition(cluster: ClusterClient, entry: TableEntry, located: list[_Located], call_once: CallOnce) -> Outcomes:
    """Sends every partition's share of one table at once; splits the answers into done and failed.
    A share that met a split goes again, regrouped by the refreshed map, within MovedRetry's budget."""
    moved = MovedRetry(cluster, entry.name)
    done: list[tuple[list[_Located], Any]] = []
    failed: list[tuple[list[_Located], ApiError]] = []
    pending = located
    while pending:
        groups = _by_partition(entry, pending)
        outcomes = await asyncio.gather(*(call_once(partition, group) for partition, group in groups),
                                        return_exceptions=True)
        pending = []
        last_moved: PartitionMoved | None = None
        for (_, group), outcome in zip(groups, outcomes, strict=True):
            if isinstance(outcome, PartitionMoved):
                pending += group
                last_moved = outcome
            elif isinstance(outcome, ValidationException):
                raise outcome
            elif isinstance(outcome, ApiError):
                failed.append((group, outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                done.append((group, outcome))
        if last_moved is not None:
            try:
                entry = await moved.refreshed(last_moved)
            except ApiError as error:  # still splitting after the budget: the client sends these again
                failed.append((pending, error))
                break
    return done, failed


TableCalls = list[tuple[TableEntry, list[_Located], CallOnce]]


async def _every_table(cluster: ClusterClient, calls: TableCalls) -> Outcomes:
    """Every table's partitions at once (started only once every table's keys were checked)."""
    done: list[tuple[list[_Located], Any]] = []
    failed: list[tuple[list[_Located], ApiError]] = []
    shares = await asyncio.gather(*(_each_partition(cluster, entry, located, call) for entry, located, call in calls))
    for table_done, table_failed in shares:
        done += table_done
        failed += table_failed
    return done, failed


class BatchOperations:
    def __init__(self, cluster: ClusterClient) -> None:
        self.cluster = cluster

    async def batch_get_item(self, request: BatchGetItemRequest) -> dict[str, Any]:
        calls: TableCalls = []
        for table_name, table in request.tables.items():
            entry = await self.cluster.table(table_name)
            schema = entry.key_schema
            located = []
            for position, key in enumerate(table.keys):
                valid = validate_key(key, schema)
                located.append(_Located(table_name, partition_hash(valid, schema), encode_key(valid, schema), position))
            calls.append((entry, located, self._get_call(entry, table.consistent_read)))
        done, failed = await _every_table(self.cluster, calls)
        if failed and not done:
            raise failed[0][1]
        responses: dict[str, list[Item]] = {table_name: [] for table_name in request.tables}
        unprocessed: dict[str, list[int]] = defaultdict(list)
        for located, _ in failed:
            for each in located:
                unprocessed[each.table].append(each.position)
        response_bytes = 0
        units: dict[str, float] = defaultdict(float)
        for located, result in done:
            for each, item in zip(located, result["items"], strict=True):
                consistent = request.tables[each.table].consistent_read
                units[each.table] += read_units(item_size_bytes(item) if item is not None else 0, consistent)
                if item is None:
                    continue
                size = item_size_bytes(item)
                if response_bytes + size > MAX_BATCH_GET_RESPONSE_BYTES:
                    unprocessed[each.table].append(each.position)
                    continue
                response_bytes += size
                responses[each.table].append(project(item, request.tables[each.table].projection))
        return {
            "Responses": responses,
            "UnprocessedKeys": {
                table_name: {
                    **request.tables[table_name].options,
                    "Keys": [request.tables[table_name].keys[position] for position in sorted(positions)],
                }
                for table_name, positions in unprocessed.items()
            },
            CONSUMED_UNITS: dict(units),
        }

    def _get_call(self, entry: TableEntry, consistent: bool) -> CallOnce:
        async def call(partition: PartitionInfo, located: list[_Located]) -> Any:
            self.cluster.admission.charge(entry, "read", read_units_up_front(consistent) * len(located))
            params = {
                "keys": [[each.item_hash, base64.b64encode(each.encoded_key).decode()] for each in located],
                "consistent": consistent,
            }
            return await partition_calls.read_once(self.cluster, partition, "node.get_many", params, consistent)

        return call

    async def batch_write_item(self, request: BatchWriteItemRequest) -> dict[str, Any]:
        calls: TableCalls = []
        hash_names: dict[str, str] = {}
        for table_name, writes in request.tables.items():
            entry = await self.cluster.table(table_name)
            schema = entry.key_schema
            hash_names[table_name] = schema.hash_name
            located = [
                _Located(table_name, *_write_key(write, schema), position) for position, write in enumerate(writes)
            ]
            if len({each.encoded_key for each in located}) != len(located):
                raise ValidationException("Provided list of item keys contains duplicates")
            indexes = entry.index_specs
            for write in writes:
                if write.item is not None and indexes:
                    check_index_keys(write.item, indexes)
            calls.append((entry, located, self._write_call(entry, writes)))
        done, failed = await _every_table(self.cluster, calls)
        # A partition whose share touched an item a transaction holds applied none of it: unprocessed. So
        # is one whose share would grow an item collection past its limit, unless nothing else was written:
        # then the request fails as a whole, and a 400 means, as always, that nothing was written.
        failed += [(located, TransactionConflictException()) for located, result in done if _conflicted(result)]
        failed += [(located, ItemCollectionSizeLimitExceededException()) for located, result in done
                   if _too_large(result)]  # fmt: skip
        done = [(located, result) for located, result in done if not _conflicted(result) and not _too_large(result)]
        refusals = [error for _, error in failed if not isinstance(error, TransactionConflictException)]
        if refusals and not done:
            raise refusals[0]  # nothing written for a reason the client must see (throttled, unavailable)
        for _, result in done:
            if not isinstance(result, dict) or result.get("status") != "ok":
                raise InternalServerError(f"unexpected batch write result {result!r}")
        unprocessed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for located, _ in failed:
            for each in located:
                unprocessed[each.table].append(request.tables[each.table][each.position].to_json())
        units: dict[str, float] = defaultdict(float)
        for located, _ in done:
            for each in located:
                units[each.table] += write_units(item_size_bytes(request.tables[each.table][each.position].item or {}))
        return {
            "UnprocessedItems": dict(unprocessed), CONSUMED_UNITS: dict(units),
            COLLECTION_SIZES: _collection_sizes(request, hash_names, done),
        }  # fmt: skip

    def _write_call(self, entry: TableEntry, writes: tuple[BatchWrite, ...]) -> CallOnce:
        async def call(partition: PartitionInfo, located: list[_Located]) -> Any:
            units = sum(write_units(item_size_bytes(writes[each.position].item or {})) for each in located)
            self.cluster.admission.charge(entry, "write", units)
            command = encode_command(
                BatchCommand(
                    tuple(
                        LocatedWrite(each.item_hash, each.encoded_key, writes[each.position].item)
                        for each in located
                    ),
                    entry.local_indexes(),
                )
            )
            return await partition_calls.propose_once(self.cluster, partition, located[0].item_hash, command)

        return call


def _collection_sizes(
    request: BatchWriteItemRequest, hash_names: dict[str, str], done: list[tuple[list[_Located], Any]]
) -> dict[str, list[list[Any]]]:
    """The size of each item collection the batch wrote, by its partition key (tables with LSIs)."""
    sizes: dict[str, list[list[Any]]] = defaultdict(list)
    for located, result in done:
        written = {int(h): int(size) for h, size in result.get("collections") or ()}
        for each in located:
            size = written.pop(each.item_hash, None)
            if size is None:
                continue  # not a table with LSIs, or its collection reported already
            write = request.tables[each.table][each.position]
            item = write.item if write.item is not None else write.key or {}
            sizes[each.table].append(written_collection(item, hash_names[each.table], size))
    return dict(sizes)


def _too_large(result: Any) -> bool:
    return isinstance(result, dict) and result.get("status") == "collection_too_large"


def _conflicted(result: Any) -> bool:
    return isinstance(result, dict) and result.get("status") == "txn_conflict"


def _write_key(write: BatchWrite, schema: KeySchema) -> tuple[int, bytes]:
    try:
        key = extract_key(write.item, schema) if write.item is not None else validate_key(write.key, schema)
    except ValidationException as error:
        # DynamoDB words a put's missing or mistyped key like a delete's.
        if "Missing the key" in error.message or "Type mismatch for key" in error.message:
            raise ValidationException("The provided key element does not match the schema") from None
        raise
    return partition_hash(key, schema), encode_key(key, schema)
