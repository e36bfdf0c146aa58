"""The typed requests a DynamoDB request body parses into (cluster/api/requests.py parses them), and the
condition and update sources that travel inside replicated commands."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import Item, KeySchema
from cluster.api.expressions import Condition, parse_condition
from cluster.api.projection import DocumentPath
from cluster.api.secondary_indexes import IndexSpec
from cluster.api.update_expressions import UpdateExpression, parse_update
from cluster.api.update_table_request import UpdateTableRequest

# ---------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class ConditionSource:
    """The text of a condition as the client sent it (placeholders not yet substituted).

    This is what travels in replicated commands: every replica calls parse() and gets the
    same Condition, because parsing is a pure function of these fields."""

    expression: str
    names: dict | None
    values: dict | None
    kind: str = "ConditionExpression"

    def parse(self) -> Condition:
        return parse_condition(self.expression, self.names, self.values, kind=self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "names": self.names, "values": self.values, "kind": self.kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConditionSource:
        return cls(
            expression=data["expression"],
            names=data.get("names"),
            values=data.get("values"),
            kind=data.get("kind", "ConditionExpression"),
        )


@dataclass(frozen=True)
class UpdateSource:
    """An UpdateExpression as the client sent it, with only the placeholders it uses, so that
    every replica re-parses it alone (like ConditionSource) and gets the same update."""

    expression: str
    names: dict | None
    values: dict | None
    # The parse, once made: the router checks the request and then reads the paths it writes.
    parsed: UpdateExpression | None = dataclasses.field(default=None, compare=False, repr=False)

    def parse(self) -> UpdateExpression:
        if self.parsed is None:
            object.__setattr__(self, "parsed", parse_update(self.expression, self.names, self.values))
        assert self.parsed is not None
        return self.parsed

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "names": self.names, "values": self.values}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpdateSource:
        return cls(expression=data["expression"], names=data.get("names"), values=data.get("values"))


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class CreateTableRequest:
    table_name: str
    key_schema: KeySchema
    billing_mode: str
    read_capacity_units: int | None
    write_capacity_units: int | None
    partition_count: int | None
    indexes: tuple[IndexSpec, ...] = ()  # GSIs, then LSIs, each in request order
    # Every defined attribute's type (the table's and the indexes' keys) when the table has indexes; None
    # without: then they are the table key's (key_schema.key_types()).
    attribute_definitions: dict[str, str] | None = None


@dataclass(frozen=True)
class DescribeTableRequest:
    table_name: str


@dataclass(frozen=True)
class ListTablesRequest:
    exclusive_start_table_name: str | None
    limit: int | None


@dataclass(frozen=True)
class DeleteTableRequest:
    table_name: str


@dataclass(frozen=True)
class UpdateTimeToLiveRequest:
    table_name: str
    enabled: bool
    attribute_name: str


@dataclass(frozen=True)
class DescribeTimeToLiveRequest:
    table_name: str


@dataclass(frozen=True)
class PutItemRequest:
    table_name: str
    item: Item
    condition: ConditionSource | None
    return_values: str
    return_values_on_condition_check_failure: str = "NONE"


@dataclass(frozen=True)
class GetItemRequest:
    table_name: str
    key: dict
    consistent_read: bool
    projection: tuple[DocumentPath, ...] | None


@dataclass(frozen=True)
class DeleteItemRequest:
    table_name: str
    key: dict
    condition: ConditionSource | None
    return_values: str
    return_values_on_condition_check_failure: str = "NONE"


@dataclass(frozen=True)
class UpdateItemRequest:
    table_name: str
    key: dict
    update: UpdateSource | None  # None: the item is only created (with its key) if absent
    condition: ConditionSource | None
    return_values: str
    return_values_on_condition_check_failure: str = "NONE"


@dataclass(frozen=True)
class ScanRequest:
    table_name: str
    consistent_read: bool
    limit: int | None
    exclusive_start_key: dict | None
    filter: ConditionSource | None
    projection: tuple[DocumentPath, ...] | None
    select_count: bool
    segment: int = 0
    total_segments: int = 1
    select: str = "ALL_ATTRIBUTES"  # select_count is select == "COUNT"
    index_name: str | None = None


@dataclass(frozen=True)
class QueryRequest:
    table_name: str
    key_condition: ConditionSource
    consistent_read: bool
    scan_index_forward: bool
    limit: int | None
    exclusive_start_key: dict | None
    filter: ConditionSource | None
    projection: tuple[DocumentPath, ...] | None
    select: str
    index_name: str | None = None


@dataclass(frozen=True)
class BatchGetTable:
    keys: tuple[dict, ...]
    consistent_read: bool
    projection: tuple[DocumentPath, ...] | None
    # What the client sent besides Keys, echoed beside the keys in UnprocessedKeys.
    options: dict[str, Any]


@dataclass(frozen=True)
class BatchGetItemRequest:
    tables: dict[str, BatchGetTable]


@dataclass(frozen=True)
class BatchWrite:
    """One PutRequest (item set) or DeleteRequest (key set), as sent."""

    item: Item | None
    key: Item | None

    def to_json(self) -> dict[str, Any]:
        if self.item is not None:
            return {"PutRequest": {"Item": self.item}}
        return {"DeleteRequest": {"Key": self.key}}


@dataclass(frozen=True)
class BatchWriteItemRequest:
    tables: dict[str, tuple[BatchWrite, ...]]


@dataclass(frozen=True)
class TransactWrite:
    """One action of TransactWriteItems, checked as far as it can be without the table's key schema."""

    kind: str  # "Put" | "Update" | "Delete" | "ConditionCheck"
    table_name: str
    key: dict | None  # Update, Delete, ConditionCheck; a Put's key comes from its item and the schema
    item: dict | None  # Put only
    update: UpdateSource | None  # Update only, and always given there: UpdateExpression is required
    condition: ConditionSource | None  # required for ConditionCheck, optional for the others
    return_on_failure: str  # ReturnValuesOnConditionCheckFailure: "ALL_OLD" | "NONE"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table_name": self.table_name,
            "key": self.key,
            "item": self.item,
            "update": self.update.to_json() if self.update is not None else None,
            "condition": self.condition.to_json() if self.condition is not None else None,
            "return_on_failure": self.return_on_failure,
        }


@dataclass(frozen=True)
class TransactWriteItemsRequest:
    writes: tuple[TransactWrite, ...]
    client_request_token: str | None

    def digest(self) -> str:
        """What a ClientRequestToken is bound to: a retry with the same token must carry the same
        writes (else IdempotentParameterMismatchException). The token itself, ReturnConsumedCapacity
        and ReturnItemCollectionMetrics are left out: they change the answer, not what is written."""
        canonical = json.dumps([write.to_json() for write in self.writes], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class TransactGet:
    table_name: str
    key: dict
    projection: tuple[DocumentPath, ...] | None


@dataclass(frozen=True)
class TransactGetItemsRequest:
    gets: tuple[TransactGet, ...]


Request = (
    CreateTableRequest
    | DescribeTableRequest
    | ListTablesRequest
    | DeleteTableRequest
    | UpdateTimeToLiveRequest
    | DescribeTimeToLiveRequest
    | PutItemRequest
    | GetItemRequest
    | DeleteItemRequest
    | UpdateItemRequest
    | ScanRequest
    | QueryRequest
    | BatchGetItemRequest
    | BatchWriteItemRequest
    | TransactWriteItemsRequest
    | TransactGetItemsRequest
    | UpdateTableRequest
)
