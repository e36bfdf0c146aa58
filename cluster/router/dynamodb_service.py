"""DynamoDB's JSON API on top of the cluster: parse, route to the right partition, shape the answer."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from cluster.admission.capacity_units import read_units, read_units_up_front, write_units
from cluster.api.attribute_values import (
    MAX_ITEM_SIZE_BYTES,
    Item,
    encode_key,
    extract_key,
    item_size_bytes,
    partition_hash,
    validate_key,
)
from cluster.api.consumed_capacity import CONSUMED_UNITS, consumed_capacity
from cluster.api.errors import (
    ApiError,
    ConditionalCheckFailedException,
    InternalServerError,
    ItemCollectionSizeLimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    SerializationException,
    TransactionConflictException,
    UnknownOperationException,
    ValidationException,
    table_not_found,
)
from cluster.api.item_collections import COLLECTION_SIZES, item_collection_metrics, written_collection
from cluster.api.item_commands import DeleteCommand, PutCommand, UpdateCommand, encode_command
from cluster.api.key_conditions import (
    check_filter_avoids_keys,
    check_query_start_key,
    key_range,
)
from cluster.api.projection import project
from cluster.api.request_types import TransactGetItemsRequest, TransactWriteItemsRequest
from cluster.api.requests import (
    OPERATIONS,
    BatchGetItemRequest,
    BatchWriteItemRequest,
    CreateTableRequest,
    DeleteItemRequest,
    DeleteTableRequest,
    DescribeTableRequest,
    DescribeTimeToLiveRequest,
    GetItemRequest,
    ListTablesRequest,
    PutItemRequest,
    QueryRequest,
    ScanRequest,
    UpdateItemRequest,
    UpdateTimeToLiveRequest,
    parse_request,
)
from cluster.api.secondary_indexes import GLOBAL, check_index_keys
from cluster.api.tables import TableInfo, describe_table_json
from cluster.api.time_to_live import describe_ttl
from cluster.api.update_expressions import check_key_unchanged
from cluster.api.update_table_request import (
    UpdateTableRequest,
    create_index_specs,
    table_throughput_change_problem,
)
from cluster.metadata.catalogue import HASH_SPACE, TableEntry
from cluster.router import partition_calls
from cluster.router.batch_operations import BatchOperations
from cluster.router.cluster_client import ClusterClient, PartitionMoved
from cluster.router.http_server import HttpRequest, HttpResponse
from cluster.router.index_reads import read_target
from cluster.router.moved_retry import MovedRetry
from cluster.router.transactions import TransactionCoordinator

log = logging.getLogger(__name__)

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
SCAN_PAGE_BYTES = 1 << 20
SCAN_BATCH_ITEMS = 500


@dataclass(frozen=True)
class EncodedItems:
    """A response's Items already in JSON text (a Query passes the stored items on undecoded)."""

    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _encode_payload(payload: dict[str, Any]) -> str:
    items = payload.get("Items")
    if not isinstance(items, EncodedItems):
        return json.dumps(payload, separators=(",", ":"))
    rest = json.dumps({name: value for name, value in payload.items() if name != "Items"}, separators=(",", ":"))
    spliced = '{"Items":[' + ",".join(items.texts) + "]"
    return spliced + ("}" if rest == "{}" else "," + rest[1:])


def json_response(status: int, payload: dict[str, Any]) -> HttpResponse:
    body = _encode_payload(payload).encode()
    return HttpResponse(
        status,
        body,
        {
            "Content-Type": CONTENT_TYPE,
            "x-amzn-RequestId": uuid.uuid4().hex,
            # boto3 checks this checksum when present; a mismatch makes it retry.
            "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF),
        },
    )


def error_response(error: ApiError) -> HttpResponse:
    return json_response(error.http_status, error.body())


def protocol_error_response(status: int, message: str) -> HttpResponse:
    if status >= 500:
        return error_response(InternalServerError(message))
    return error_response(SerializationException(message))


_COUNTED_MEMBERS = (
    ("ConsumedCapacity", "ReturnConsumedCapacity", CONSUMED_UNITS, consumed_capacity),
    ("ItemCollectionMetrics", "ReturnItemCollectionMetrics", COLLECTION_SIZES, item_collection_metrics),
)


class DynamoDbService:
    def __init__(self, cluster: ClusterClient, endpoint_name: str) -> None:
        self.cluster = cluster
        self.endpoint_name = endpoint_name
        # PLANTED BUG stale-consistent-read (harness self-tests only): ConsistentRead GetItem goes to
        # any replica, own AZ first, exactly like an eventually consistent read.
        self._stale_consistent_reads = "stale-consistent-read" in cluster.topology.faults_enabled
        self.batches = BatchOperations(cluster)
        self.transactions = TransactionCoordinator(cluster)
        # Every registered operation has its handler, or the router refuses to start.
        self.handlers = {name: getattr(self, operation.handler_name) for name, operation in OPERATIONS.items()}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path.split("?")[0] == "/":
            return HttpResponse(200, f"healthy: {self.endpoint_name}".encode(), {"Content-Type": "text/plain"})
        try:
            if request.method != "POST":
                raise UnknownOperationException(f"{request.method} is not supported; POST a JSON request")
            target = request.headers.get("x-amz-target", "")
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperationException(f"Unknown target {target!r}")
            operation = target[len(TARGET_PREFIX):]
            handler = self.handlers.get(operation)
            if handler is None:
                raise UnknownOperationException(f"Operation {operation} is not supported by this endpoint")
            try:
                body = json.loads(request.body or b"{}")
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ValidationException(f"Request body is not valid JSON: {error}") from error
            response = await handler(parse_request(operation, body))
            # What the handler counted, shaped as the request asked (or dropped): capacity, item collections.
            for member, option, counted, shape in _COUNTED_MEMBERS:
                value = shape(str(body.get(option) or "NONE"), response.pop(counted, {}), OPERATIONS[operation].batch)
                if value is not None:
                    response[member] = value
            return json_response(200, response)
        except ApiError as error:
            return error_response(error)
        except Exception as error:  # never a traceback to the client, never a crash
            log.exception("unexpected failure")
            return error_response(InternalServerError(f"internal error: {error!r}"))

    # ---- batches (BatchOperations splits them by partition) -----------------------------------

    async def batch_get_item(self, request: BatchGetItemRequest) -> dict[str, Any]:
        return await self.batches.batch_get_item(request)

    async def batch_write_item(self, request: BatchWriteItemRequest) -> dict[str, Any]:
        return await self.batches.batch_write_item(request)

    # ---- transactions (TransactionCoordinator: two-phase commit over the partitions) ------------

    async def transact_write_items(self, request: TransactWriteItemsRequest) -> dict[str, Any]:
        return await self.transactions.transact_write_items(request)

    async def transact_get_items(self, request: TransactGetItemsRequest) -> dict[str, Any]:
        return await self.transactions.transact_get_items(request)

    # ---- tables -------------------------------------------------------------------------------

    @staticmethod
    def _describe(entry_json: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        table = TableInfo.from_json(entry_json["table"])
        if status is not None:
            table.status = status
        return describe_table_json(table)

    async def create_table(self, request: CreateTableRequest) -> dict[str, Any]:
        result = await self.cluster.call_metadata(
            "meta.create_table",
            {
                "name": request.table_name,
                "key_schema": request.key_schema.to_json(),
                "billing_mode": request.billing_mode,
                "read_capacity_units": request.read_capacity_units,
                "write_capacity_units": request.write_capacity_units,
                "partition_count": request.partition_count,
                "indexes": [spec.to_json() for spec in request.indexes],
                "attribute_definitions": request.attribute_definitions,
                "created_at_s": time.time(),
            },
        )
        if result["status"] == "in_use":
            raise ResourceInUseException(f"Table already exists: {request.table_name}")
        if result["status"] != "ok":
            raise InternalServerError(f"create table failed: {result}")
        self.cluster.remember_table(TableEntry.from_json(result["table"]))
        return {"TableDescription": self._describe(result["table"])}

    async def update_table(self, request: UpdateTableRequest) -> dict[str, Any]:
        entry = (await self.cluster.refresh_catalogue()).get(request.table_name)
        if entry is None:
            raise table_not_found(request.table_name)
        table = TableInfo.from_json(entry.table)
        specs = table.index_specs()
        problem = table_throughput_change_problem(
            request, table.billing_mode, table.read_capacity_units, table.write_capacity_units,
            index_throughputs={s.name: (s.read_capacity_units, s.write_capacity_units) for s in specs if s.kind == GLOBAL},
        )  # fmt: skip
        if problem is not None:
            raise ValidationException(problem)
        defined = {**table.key_schema.key_types(), **(table.attribute_definitions or {})}
        created = create_index_specs(
            request, table.key_schema, defined, table.billing_mode, {spec.name for spec in specs},
            local_index_names={spec.name for spec in specs if spec.kind != GLOBAL},
        )  # fmt: skip
        # What AttributeDefinitions describes afterwards: the table's key and the indexes' that remain.
        remaining = [spec for spec in specs if spec.name not in request.delete_indexes] + list(created)
        types = {**defined, **(request.attribute_definitions or {})}
        kept = {**table.key_schema.key_types(), **{
            name: types[name] for spec in remaining for name in spec.key_schema.key_names
        }}  # fmt: skip
        command: dict[str, Any] = {
            "name": request.table_name,
            "table_id": table.table_id,
            "create": [spec.to_json() for spec in created],
            "delete": list(request.delete_indexes),
            "update": [[u.index_name, u.read_capacity_units, u.write_capacity_units] for u in request.update_indexes],
            "billing_mode": request.billing_mode,
            "read_capacity_units": request.read_capacity_units,
            "write_capacity_units": request.write_capacity_units,
            "attribute_definitions": kept,
        }
        result = await self.cluster.call_metadata("meta.update_table", command)
        status, message = result.get("status"), str(result.get("message"))
        if status == "not_found":
            raise table_not_found(request.table_name)
        if status == "index_not_found":
            raise ResourceNotFoundException(message)
        if status == "in_use":
            raise ResourceInUseException(message)
        if status == "invalid":
            raise ValidationException(message)
        if status != "ok":
            raise InternalServerError(f"update table failed: {result}")
        self.cluster.remember_table(TableEntry.from_json(result["table"]))
        return {"TableDescription": self._describe(result["table"])}

    async def describe_table(self, request: DescribeTableRequest) -> dict[str, Any]:
        entry = (await self.cluster.refresh_catalogue()).get(request.table_name)
        if entry is None:
            raise table_not_found(request.table_name)
        return {"Table": self._describe(entry.to_json())}

    async def list_tables(self, request: ListTablesRequest) -> dict[str, Any]:
        names = sorted(await self.cluster.refresh_catalogue())
        if request.exclusive_start_table_name:
            names = [name for name in names if name > request.exclusive_start_table_name]
        limit = request.limit or 100
        page = names[:limit]
        response: dict[str, Any] = {"TableNames": page}
        if len(names) > limit:
            response["LastEvaluatedTableName"] = page[-1]
        return response

    async def delete_table(self, request: DeleteTableRequest) -> dict[str, Any]:
        result = await self.cluster.call_metadata("meta.delete_table", {"name": request.table_name})
        if result["status"] == "not_found":
            raise table_not_found(request.table_name)
        self.cluster.forget_table(request.table_name)
        return {"TableDescription": self._describe(result["table"], status="DELETING")}

    async def update_time_to_live(self, request: UpdateTimeToLiveRequest) -> dict[str, Any]:
        result = await self.cluster.call_metadata(
            "meta.update_ttl",
            {"name": request.table_name, "enabled": request.enabled, "attribute": request.attribute_name},
        )
        if result["status"] == "not_found":
            raise table_not_found(request.table_name)
        if result["status"] == "invalid":
            raise ValidationException(str(result.get("message")))
        if result["status"] != "ok":
            raise InternalServerError(f"update time to live failed: {result}")
        return {"TimeToLiveSpecification": {"AttributeName": request.attribute_name, "Enabled": request.enabled}}

    async def describe_time_to_live(self, request: DescribeTimeToLiveRequest) -> dict[str, Any]:
        entry = (await self.cluster.refresh_catalogue()).get(request.table_name)
        if entry is None:
            raise table_not_found(request.table_name)
        return {"TimeToLiveDescription": describe_ttl(entry.ttl)}

    # ---- items --------------------------------------------------------------------------------

    async def _write(
        self,
        entry: TableEntry,
        key: Item,
        command_hash: int,
        command: bytes,
        return_old: bool,
        old_on_condition_failure: bool,
    ) -> dict[str, Any]:
        result = await partition_calls.propose(self.cluster, entry, command_hash, command)
        if not isinstance(result, dict):
            raise InternalServerError("replica returned no result")
        if result.get("status") == "condition_failed":
            old_item = result.get("old") if old_on_condition_failure else None
            raise ConditionalCheckFailedException(item=old_item or None)
        if result.get("status") == "txn_conflict":
            raise TransactionConflictException()
        if result.get("status") == "invalid":
            raise ValidationException(str(result.get("message")))
        if result.get("status") == "collection_too_large":
            raise ItemCollectionSizeLimitExceededException()
        if result.get("status") != "ok":
            raise InternalServerError(f"unexpected write result {result.get('status')!r}")
        # The replica knows the old item's size: a write costs by the larger of old and new.
        consumed: dict[str, Any] = {CONSUMED_UNITS: {entry.name: write_units(int(result.get("write_bytes") or 0))}}
        if "collection_bytes" in result:  # a table with LSIs: the item's collection, for ReturnItemCollectionMetrics
            written = written_collection(key, entry.key_schema.hash_name, int(result["collection_bytes"]))
            consumed[COLLECTION_SIZES] = {entry.name: [written]}
        if "attributes" in result:  # UpdateItem: the replica shaped them for its ReturnValues
            return {"Attributes": result["attributes"], **consumed} if result["attributes"] else consumed
        old = result.get("old")
        return {"Attributes": old, **consumed} if return_old and old else consumed

    async def put_item(self, request: PutItemRequest) -> dict[str, Any]:
        entry = await self.cluster.table(request.table_name)
        schema = entry.key_schema
        key = extract_key(request.item, schema)
        size = item_size_bytes(request.item)
        if size > MAX_ITEM_SIZE_BYTES:
            raise ValidationException("Item size has exceeded the maximum allowed size")
        check_index_keys(request.item, entry.local_indexes())  # a GSI's are checked where it is applied
        item_hash = partition_hash(key, schema)
        return_old = request.return_values == "ALL_OLD"
        command = encode_command(
            PutCommand(
                item_hash, encode_key(key, schema), request.item, request.condition, return_old, entry.local_indexes()
            )
        )
        self.cluster.admission.charge(entry, "write", write_units(size))  # PTEE before any work
        return await self._write(
            entry, key, item_hash, command, return_old, request.return_values_on_condition_check_failure == "ALL_OLD"
        )

    async def delete_item(self, request: DeleteItemRequest) -> dict[str, Any]:
        entry = await self.cluster.table(request.table_name)
        schema = entry.key_schema
        key = validate_key(request.key, schema)
        item_hash = partition_hash(key, schema)
        return_old = request.return_values == "ALL_OLD"
        command = encode_command(DeleteCommand(item_hash, encode_key(key, schema), request.condition, return_old))
        self.cluster.admission.charge(entry, "write", write_units(0))  # the deleted item's size is unknown here
        return await self._write(
            entry, key, item_hash, command, return_old, request.return_values_on_condition_check_failure == "ALL_OLD"
        )

    async def update_item(self, request: UpdateItemRequest) -> dict[str, Any]:
        entry = await self.cluster.table(request.table_name)
        schema = entry.key_schema
        key = validate_key(request.key, schema)
        if request.update is not None:
            check_key_unchanged(request.update.parse(), schema.key_names)
        item_hash = partition_hash(key, schema)
        command = encode_command(
            UpdateCommand(
                item_hash, encode_key(key, schema), key, request.update, request.condition, request.return_values,
                entry.local_indexes(),
            )
        )
        # The updated item's size is known only on the replicas; charge what the request carries.
        self.cluster.admission.charge(entry, "write", write_units(len(command)))
        return await self._write(
            entry, key, item_hash, command, False, request.return_values_on_condition_check_failure == "ALL_OLD"
        )

    async def get_item(self, request: GetItemRequest) -> dict[str, Any]:
        entry = await self.cluster.table(request.table_name)
        schema = entry.key_schema
        key = validate_key(request.key, schema)
        item_hash = partition_hash(key, schema)
        self.cluster.admission.charge(entry, "read", read_units_up_front(request.consistent_read))
        params = {
            "hash": item_hash,
            "key": base64.b64encode(encode_key(key, schema)).decode(),
            "consistent": request.consistent_read,
        }
        to_leader = request.consistent_read and not self._stale_consistent_reads
        result = await partition_calls.read(self.cluster, entry, item_hash, "node.get", params, to_leader)
        item = result.get("item") if isinstance(result, dict) else None
        if item is None:
            return {CONSUMED_UNITS: {entry.name: read_units(0, request.consistent_read)}}
        units = read_units(item_size_bytes(item), request.consistent_read)
        self.cluster.admission.settle(entry, "read", units - read_units_up_front(request.consistent_read))
        return {"Item": project(item, request.projection), CONSUMED_UNITS: {entry.name: units}}

    async def _read_entry(self, name: str, index_name: str | None) -> TableEntry:
        entry = await self.cluster.table(name)
        if index_name is not None and index_name in entry.creating_indexes:
            # The cache may not know yet that the backfill is over: the catalogue decides the refusal.
            entry = await self.cluster.refresh_table(name)
        return entry

    async def scan(self, request: ScanRequest) -> dict[str, Any]:
        table_entry = await self._read_entry(request.table_name, request.index_name)
        target = read_target(table_entry, request.index_name, request.consistent_read, request.select)
        entry = target.entry  # the index's partitions, for an index Scan
        # Only the up-front unit here: the nodes charge each batch by its size.
        self.cluster.admission.charge(table_entry, "read", read_units_up_front(request.consistent_read))
        # A parallel scan's segment is a slice of the hash space; a whole scan is segment 0 of 1.
        segment_start = HASH_SPACE * request.segment // request.total_segments
        segment_end = HASH_SPACE * (request.segment + 1) // request.total_segments
        # Encoded keys are never empty, so (segment_start, b"") is just before the segment's first item.
        position: tuple[int, bytes] | None = (segment_start, b"") if segment_start else None
        cursor_hash = segment_start  # partitions are visited in hash order from here (a split appends its child last)
        if request.exclusive_start_key is not None:
            start_hash, start_bytes = target.start_position(target.validated_start_key(request.exclusive_start_key))
            if not segment_start <= start_hash < segment_end:
                raise ValidationException(
                    "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey "
                    f"with correct Segment. TotalSegments: {request.total_segments} Segment: {request.segment}"
                )
            position = (start_hash, start_bytes)
            cursor_hash = start_hash
        moved = MovedRetry(self.cluster, entry.name)
        condition = request.filter.parse() if request.filter is not None else None
        limit = request.limit
        items: list[dict[str, Any]] = []
        scanned = 0
        page_bytes = 0
        last_key: dict[str, Any] | None = None

        def consumed() -> dict[str, float]:
            return {entry.name: read_units(page_bytes, request.consistent_read)}

        while cursor_hash < segment_end:
            partition = entry.partition_for_hash(position[0] if position else cursor_hash)
            exhausted = False
            while not exhausted:
                batch = SCAN_BATCH_ITEMS if limit is None else min(SCAN_BATCH_ITEMS, limit - scanned)
                params = {
                    "group": partition.group_id,
                    "after": [position[0], base64.b64encode(position[1]).decode()] if position else None,
                    "limit": batch,
                    "consistent": request.consistent_read,
                    "range": [partition.hash_start, partition.hash_end],
                    **target.node_params(),
                }
                try:
                    if request.consistent_read:
                        result = await self.cluster.call_leader(partition, "node.scan", params, is_write=False)
                    else:
                        result = await self.cluster.call_any_replica(partition, "node.scan", params)
                except PartitionMoved as error:  # resume from `position` in the table's new map
                    entry = await moved.refreshed(error)  # (an index's partitions never move)
                    break
                rows = result.get("items", []) if isinstance(result, dict) else []
                exhausted = len(rows) < batch
                for row_hash, row_key, item in rows:
                    if int(row_hash) >= segment_end:
                        return self._scan_response(items, scanned, request.select_count, None, consumed())
                    if int(row_hash) >= partition.hash_end:
                        exhausted = True  # a replica yet to apply its split's fence: the rest is the child's
                        break
                    position = (int(row_hash), base64.b64decode(row_key))
                    scanned += 1
                    page_bytes += item_size_bytes(item)
                    last_key = target.last_key(item)
                    if condition is None or condition.evaluate(item):
                        items.append(target.shaped(item, request.projection))
                    if (limit is not None and scanned >= limit) or page_bytes >= SCAN_PAGE_BYTES:
                        return self._scan_response(items, scanned, request.select_count, last_key, consumed())
            if exhausted:
                cursor_hash, position = partition.hash_end, None
        return self._scan_response(items, scanned, request.select_count, None, consumed())

    async def query(self, request: QueryRequest) -> dict[str, Any]:
        entry = await self._read_entry(request.table_name, request.index_name)
        target = read_target(entry, request.index_name, request.consistent_read, request.select)
        schema = target.key_schema  # the index's, for an index Query
        selected = key_range(request.key_condition.parse(), schema)
        condition = request.filter.parse() if request.filter is not None else None
        if condition is not None:
            assert request.filter is not None
            check_filter_avoids_keys(condition, schema, request.filter.kind)
        after: bytes | None = None
        if request.exclusive_start_key is not None:
            if set(request.exclusive_start_key) != target.start_key_names():
                raise ValidationException("The provided starting key is invalid")
            try:
                start_key = target.validated_start_key(request.exclusive_start_key)
            except ValidationException as error:
                raise ValidationException(f"The provided starting key is invalid: {error.message}") from None
            check_query_start_key(start_key, selected, schema)
            after = target.start_position(start_key)[1]
        self.cluster.admission.charge(entry, "read", read_units_up_front(request.consistent_read))
        item_hash = partition_hash({schema.hash_name: selected.hash_value}, schema)
        bounds = target.bounds(selected).to_json()
        projection = request.projection if request.select == "SPECIFIC_ATTRIBUTES" else None
        # Items stay the JSON text the node sent unless a filter or projection must look inside them.
        items = EncodedItems([])
        scanned = 0
        page_bytes = 0
        while True:
            batch = SCAN_BATCH_ITEMS if request.limit is None else min(SCAN_BATCH_ITEMS, request.limit - scanned)
            params = {
                "hash": item_hash,
                "bounds": bounds,
                "after": base64.b64encode(after).decode() if after is not None else None,
                "forward": request.scan_index_forward,
                "limit": batch,
                "consistent": request.consistent_read,
                **target.node_params(),
            }
            result = await partition_calls.read(
                self.cluster, target.entry, item_hash, "node.query", params, request.consistent_read
            )
            rows = result.get("items", []) if isinstance(result, dict) else []
            for row_key, item_json, size in rows:
                after = base64.b64decode(row_key)
                scanned += 1
                page_bytes += size
                # Limit counts items read, before the filter, as in DynamoDB.
                if condition is None and projection is None and not target.projects_local:
                    items.texts.append(item_json)
                else:
                    item = json.loads(item_json)
                    if condition is None or condition.evaluate(item):
                        items.texts.append(json.dumps(target.shaped(item, projection), separators=(",", ":")))
                if (request.limit is not None and scanned >= request.limit) or page_bytes >= SCAN_PAGE_BYTES:
                    return self._scan_response(
                        items, scanned, request.select == "COUNT", target.last_key(json.loads(item_json)),
                        {entry.name: read_units(page_bytes, request.consistent_read)},
                    )
            if len(rows) < batch:
                return self._scan_response(
                    items, scanned, request.select == "COUNT", None,
                    {entry.name: read_units(page_bytes, request.consistent_read)},
                )

    @staticmethod
    def _scan_response(
        items: list[dict[str, Any]] | EncodedItems,
        scanned: int,
        select_count: bool,
        last_key: dict[str, Any] | None,
        consumed: dict[str, float],
    ) -> dict[str, Any]:
        response: dict[str, Any] = {"Count": len(items), "ScannedCount": scanned, CONSUMED_UNITS: consumed}
        if not select_count:
            response["Items"] = items
        if last_key is not None:
            response["LastEvaluatedKey"] = last_key
        return response
