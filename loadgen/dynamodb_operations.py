"""The client role: turn a planned operation into DynamoDB requests and return the completion value.

Errors propagate as botocore exceptions; `loadgen.outcomes` decides what they mean. Only
DynamoDB's public API is assumed, so the same code drives moto, dynalite or our routers.
"""

from __future__ import annotations

from typing import Any

from loadgen.dynamodb_client import PARTITION_KEY
from loadgen.operations import PlannedOperation

REGISTER_ATTRIBUTE = "val"
ELEMENT_ATTRIBUTE = "element"
SET_ITEM_PREFIX = "s-"
# Placeholders always: `value` and many other words are reserved in DynamoDB expressions.
VALUE_NAMES = {"#v": REGISTER_ATTRIBUTE}


def execute(client: Any, table: str, operation: PlannedOperation) -> Any:
    function = operation.function
    if function == "read":
        return read_register(client, table, _key(operation))
    if function == "write":
        write_register(client, table, _key(operation), operation.value)
        return operation.value
    if function == "cas":
        expected, new = operation.value
        cas_register(client, table, _key(operation), expected, new)
        return [expected, new]
    if function == "add":
        add_element(client, table, operation.value)
        return operation.value
    if function == "read-set":
        return read_set(client, table)
    raise ValueError(f"unknown function {function!r}")


def _key(operation: PlannedOperation) -> str:
    if operation.key is None:
        raise ValueError(f"{operation.function} needs a key")
    return operation.key


def read_register(client: Any, table: str, key: str) -> int | None:
    response = client.get_item(
        TableName=table,
        Key={PARTITION_KEY: {"S": key}},
        ConsistentRead=True,
        ProjectionExpression="#v",
        ExpressionAttributeNames=VALUE_NAMES,
    )
    item = response.get("Item")
    if not item or REGISTER_ATTRIBUTE not in item:
        return None
    return int(item[REGISTER_ATTRIBUTE]["N"])


def write_register(client: Any, table: str, key: str, value: int) -> None:
    client.put_item(
        TableName=table,
        Item={PARTITION_KEY: {"S": key}, REGISTER_ATTRIBUTE: {"N": str(value)}},
    )


def cas_register(client: Any, table: str, key: str, expected: int, new: int) -> None:
    """Raises ConditionalCheckFailedException (a ClientError) when the register is not `expected`."""
    client.put_item(
        TableName=table,
        Item={PARTITION_KEY: {"S": key}, REGISTER_ATTRIBUTE: {"N": str(new)}},
        ConditionExpression="#v = :expected",
        ExpressionAttributeNames=VALUE_NAMES,
        ExpressionAttributeValues={":expected": {"N": str(expected)}},
    )


def add_element(client: Any, table: str, element: int) -> None:
    client.put_item(
        TableName=table,
        Item={PARTITION_KEY: {"S": f"{SET_ITEM_PREFIX}{element}"}, ELEMENT_ATTRIBUTE: {"N": str(element)}},
    )


def read_set(client: Any, table: str, page_limit: int = 10_000) -> list[int]:
    """Every element, by a strongly consistent Scan followed page by page to the end."""
    elements: list[int] = []
    request: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "FilterExpression": "begins_with(#pk, :prefix)",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        "ExpressionAttributeValues": {":prefix": {"S": SET_ITEM_PREFIX}},
    }
    for _ in range(page_limit):  # bounded: a store that never ends pagination must not hang us
        response = client.scan(**request)
        for item in response.get("Items", []):
            if ELEMENT_ATTRIBUTE in item:
                elements.append(int(item[ELEMENT_ATTRIBUTE]["N"]))
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return sorted(elements)
        request["ExclusiveStartKey"] = last_key
    raise RuntimeError(f"scan of {table!r} did not finish within {page_limit} pages")
