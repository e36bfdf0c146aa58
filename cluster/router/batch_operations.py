"""BatchGetItem and BatchWriteItem: split by partition, one call per partition, in parallel.

What a partition could not take (no reachable leader, throttled, outcome unknown) comes back in
UnprocessedKeys / UnprocessedItems, shaped as the client sent it, so the SDK's retry loop resends
exactly that. When nothing at all could be done the error itself is raised, as DynamoDB does for
throttling ("none of the items can be processed").

A write whose outcome is unknown is also returned as unprocessed: batch writes are unconditional
puts and deletes, so sending one again leaves the item as the request says.
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
from cluster.api.errors import ApiError, InternalServerError, ValidationException
from cluster.api.projection import project
from cluster.api.requests import BatchGetItemRequest, BatchWrite, BatchWriteItemRequest
from cluster.api.tables import TableInfo
from cluster.metadata.catalogue import TableEntry
from cluster.node.partition_state_machine import encode_batch_command
from cluster.router import partition_calls
from cluster.router.cluster_client import ClusterClient

# DynamoDB answers at most 16 MB of items per BatchGetItem; the rest are unprocessed keys.
MAX_BATCH_GET_RESPONSE_BYTES = 16 << 20


@dataclass(frozen=True)
class _Located:
    """A key (or write) with where it goes: its table, its partition hash and encoded key."""

    table: str
    item_hash: int
    encoded_key: bytes
    position: int  # in the request's list for its table


def _schema(entry: TableEntry) -> KeySchema:
    return TableInfo.from_json(entry.table).key_schema


def _by_partition(entry: TableEntry, located: list[_Located]) -> dict[str, list[_Located]]:
    groups: dict[str, list[_Located]] = defaultdict(list)
    for each in located:
        groups[entry.partition_for_hash(each.item_hash).group_id].append(each)
    return groups


async def _each_partition(
    calls: list[tuple[list[_Located], Callable[[], Awaitable[Any]]]],
) -> tuple[list[tuple[list[_Located], Any]], list[tuple[list[_Located], ApiError]]]:
    """Runs every partition's call at once; splits the answers into done and failed."""
    outcomes = await asyncio.gather(*(call() for _, call in calls), return_exceptions=True)
    done, failed = [], []
    for (located, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, ValidationException):
            raise outcome
        if isinstance(outcome, ApiError):
            failed.append((located, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            done.append((located, outcome))
    return done, failed


class BatchOperations:
    def __init__(self, cluster: ClusterClient) -> None:
        self.cluster = cluster

    async def batch_get_item(self, request: BatchGetItemRequest) -> dict[str, Any]:
        calls = []
        entries: dict[str, TableEntry] = {}
        for table_name, table in request.tables.items():
            entry = entries[table_name] = await self.cluster.table(table_name)
            schema = _schema(entry)
            located = []
            for position, key in enumerate(table.keys):
                valid = validate_key(key, schema)
                located.append(_Located(table_name, partition_hash(valid, schema), encode_key(valid, schema), position))
            for group in _by_partition(entry, located).values():
                calls.append((group, self._get_call(entry, group, table.consistent_read)))
        done, failed = await _each_partition(calls)
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

    def _get_call(self, entry: TableEntry, located: list[_Located], consistent: bool) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            self.cluster.admission.charge(entry, "read", read_units_up_front(consistent) * len(located))
            params = {
                "keys": [[each.item_hash, base64.b64encode(each.encoded_key).decode()] for each in located],
                "consistent": consistent,
            }
            return await partition_calls.read(
                self.cluster, entry, located[0].item_hash, "node.get_many", params, consistent
            )

        return call

    async def batch_write_item(self, request: BatchWriteItemRequest) -> dict[str, Any]:
        calls = []
        for table_name, writes in request.tables.items():
            entry = await self.cluster.table(table_name)
            schema = _schema(entry)
            located = [
                _Located(table_name, *_write_key(write, schema), position) for position, write in enumerate(writes)
            ]
            if len({each.encoded_key for each in located}) != len(located):
                raise ValidationException("Provided list of item keys contains duplicates")
            for group in _by_partition(entry, located).values():
                calls.append((group, self._write_call(entry, group, writes)))
        done, failed = await _each_partition(calls)
        if failed and not done:
            raise failed[0][1]
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
        return {"UnprocessedItems": dict(unprocessed), CONSUMED_UNITS: dict(units)}

    def _write_call(
        self, entry: TableEntry, located: list[_Located], writes: tuple[BatchWrite, ...]
    ) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            units = sum(write_units(item_size_bytes(writes[each.position].item or {})) for each in located)
            self.cluster.admission.charge(entry, "write", units)
            command = encode_batch_command(
                [(each.item_hash, each.encoded_key, writes[each.position].item) for each in located]
            )
            return await partition_calls.propose(self.cluster, entry, located[0].item_hash, command)

        return call


def _write_key(write: BatchWrite, schema: KeySchema) -> tuple[int, bytes]:
    try:
        key = extract_key(write.item, schema) if write.item is not None else validate_key(write.key, schema)
    except ValidationException as error:
        # DynamoDB words a put's missing or mistyped key like a delete's.
        if "Missing the key" in error.message or "Type mismatch for key" in error.message:
            raise ValidationException("The provided key element does not match the schema") from None
        raise
    return partition_hash(key, schema), encode_key(key, schema)
