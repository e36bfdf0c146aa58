"""Parse and validate TransactWriteItems and TransactGetItems bodies into typed requests.

Like cluster/api/requests.py, everything here is checkable without the tables' key schemas. What needs
them is the coordinator's next step: a Put's key (extract_key), the other actions' keys (validate_key),
and refusing two actions on one item (`duplicate_item_error`, for writes and gets alike).

Each action is read through the members its DynamoDB shape has, and any other member is ignored, as
DynamoDB ignores members an operation does not have: so the legacy parameters (Expected,
AttributeUpdates, AttributesToGet...) and ReturnValues never act inside a transaction.
Messages name members by their path, as DynamoDB does: 'transactItems.2.member.update.tableName'.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cluster.api.errors import DYNAMODB_PREFIX, ValidationException, validation_errors_detected
from cluster.api.request_types import (
    ConditionSource,
    TransactGet,
    TransactGetItemsRequest,
    TransactWrite,
    TransactWriteItemsRequest,
)
from cluster.api.requests import (
    _common_write_options,
    _condition_source,
    _item_to_put,
    _member_name,
    _not_null_error,
    _optional_enum,
    _optional_string,
    _read_projection_and_conditions,
    _required_item,
    _required_string,
    _table_name,
    _typed,
    _update_and_condition,
)

Body = dict[str, Any]

MAX_TRANSACT_ITEMS = 100
MAX_CLIENT_REQUEST_TOKEN_LENGTH = 36
WRITE_KINDS = ("ConditionCheck", "Put", "Delete", "Update")

# The members of each action's shape (botocore's dynamodb model: Put, Update, Delete, ConditionCheck, Get).
_CONDITION_MEMBERS = (
    "TableName",
    "ConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "ReturnValuesOnConditionCheckFailure",
)
_WRITE_MEMBERS = {
    "Put": (*_CONDITION_MEMBERS, "Item"),
    "Update": (*_CONDITION_MEMBERS, "Key", "UpdateExpression"),
    "Delete": (*_CONDITION_MEMBERS, "Key"),
    "ConditionCheck": (*_CONDITION_MEMBERS, "Key"),
}
_GET_MEMBERS = ("TableName", "Key", "ProjectionExpression", "ExpressionAttributeNames")

TOO_MANY_KINDS_MESSAGE = "TransactItems can only contain one of Check, Put, Update or Delete"
NO_KIND_MESSAGE = "Invalid Request: TransactWriteRequest should contain Delete or Put or Update request"
DUPLICATE_ITEM_MESSAGE = "Transaction request cannot include multiple operations on one item"


def duplicate_item_error() -> ValidationException:
    """Two actions of one transaction on the same item (same table, same key). Only the coordinator
    can see it, once it knows each table's key schema; DynamoDB refuses it before running anything."""
    return ValidationException(DUPLICATE_ITEM_MESSAGE)


def parse_transact_write_items(body: Body) -> TransactWriteItemsRequest:
    token = _client_request_token(body)
    _common_write_options(body)
    writes = tuple(
        _parse_write(entry, position)
        for position, entry in enumerate(_transact_items(body, "TransactWriteItem"), start=1)
    )
    return TransactWriteItemsRequest(writes=writes, client_request_token=token)


def parse_transact_get_items(body: Body) -> TransactGetItemsRequest:
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    gets = tuple(
        _parse_get(entry, position)
        for position, entry in enumerate(_transact_items(body, "TransactGetItem"), start=1)
    )
    return TransactGetItemsRequest(gets=gets)


# ---------------------------------------------------------------------------- request members


def _client_request_token(body: Body) -> str | None:
    token = _optional_string(body, "ClientRequestToken")
    if token is None:
        return None
    if not 1 <= len(token) <= MAX_CLIENT_REQUEST_TOKEN_LENGTH:
        bound = (
            "greater than or equal to 1"
            if not token
            else f"less than or equal to {MAX_CLIENT_REQUEST_TOKEN_LENGTH}"
        )
        raise validation_errors_detected(
            [
                f"Value '{token}' at 'clientRequestToken' failed to satisfy constraint: Member must have length {bound}"
            ]
        )
    return token


def _transact_items(body: Body, shape: str) -> list[Any]:
    """TransactItems: 1 to 100 entries. Past 100 DynamoDB echoes the list as Java objects
    ('com.amazonaws.dynamodb.v20120810.TransactWriteItem@5e1b2c3d'); ours are named by a checksum
    of each entry, so the message is deterministic and short however large the items are."""
    entries = _typed(body, "TransactItems", list, "a list")
    if entries is None:
        raise _not_null_error("TransactItems")
    if not entries:
        raise validation_errors_detected(
            [
                "Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1"
            ]
        )
    if len(entries) > MAX_TRANSACT_ITEMS:
        shown = ", ".join(f"{DYNAMODB_PREFIX}.{shape}@{_checksum(entry)}" for entry in entries)
        raise validation_errors_detected(
            [
                f"Value '[{shown}]' at 'transactItems' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_TRANSACT_ITEMS}"
            ]
        )
    return entries


def _checksum(entry: object) -> str:
    """Eight hex digits, in the place of the Java object's identity hash."""
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=4).hexdigest()


def _entry_object(entry: object, shape: str) -> Body:
    if not isinstance(entry, dict):
        raise ValidationException(f"Expected a {shape} object in TransactItems, got {type(entry).__name__}")
    return entry


def _action(entry: Body, kind: str, members: tuple[str, ...]) -> Body:
    """The action's body with only the members its shape has."""
    action = entry[kind]
    if not isinstance(action, dict):
        raise ValidationException(f"Expected an object for {kind}, got {type(action).__name__}")
    return {name: value for name, value in action.items() if name in members}


# ---------------------------------------------------------------------------- actions


def _write_kind(entry: Body) -> str:
    kinds = [kind for kind in WRITE_KINDS if entry.get(kind) is not None]
    if not kinds:
        raise ValidationException(NO_KIND_MESSAGE)
    if len(kinds) > 1:
        raise ValidationException(TOO_MANY_KINDS_MESSAGE)
    return kinds[0]


def _parse_write(entry: object, position: int) -> TransactWrite:
    entry = _entry_object(entry, "TransactWriteItem")
    kind = _write_kind(entry)
    action = _action(entry, kind, _WRITE_MEMBERS[kind])
    parent = f"transactItems.{position}.member.{_member_name(kind)}."
    table_name = _table_name(action, parent=parent)
    item = _item_to_put(action, parent) if kind == "Put" else None
    key = None if kind == "Put" else _required_item(action, "Key", parent)
    return_on_failure = _optional_enum(
        action, "ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE", parent
    )
    update = None
    condition: ConditionSource | None
    if kind == "Update":
        update_expression = _required_string(action, "UpdateExpression", parent)
        update, condition = _update_and_condition(
            action, update_expression, _optional_string(action, "ConditionExpression")
        )
    else:
        if kind == "ConditionCheck":
            _required_string(action, "ConditionExpression", parent)
        condition = _condition_source(action, "ConditionExpression", "ConditionExpression")
    return TransactWrite(
        kind=kind,
        table_name=table_name,
        key=key,
        item=item,
        update=update,
        condition=condition,
        return_on_failure=return_on_failure,
    )


def _parse_get(entry: object, position: int) -> TransactGet:
    entry = _entry_object(entry, "TransactGetItem")
    if entry.get("Get") is None:
        raise _not_null_error(f"transactItems.{position}.member.get")
    action = _action(entry, "Get", _GET_MEMBERS)
    parent = f"transactItems.{position}.member.get."
    table_name = _table_name(action, parent=parent)
    key = _required_item(action, "Key", parent)
    # ProjectionExpression and its names, checked as GetItem's (every name given must be used).
    projection, _ = _read_projection_and_conditions(action, ())
    return TransactGet(table_name=table_name, key=key, projection=projection)
