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
# The set's table has a range key: elements live in SET_BUCKETS item collections, read back by Query.
SET_SORT_KEY = "sk"
SET_BUCKETS = 8
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
    if function == "incr":
        return increment_counter(client, table, _key(operation), operation.value)
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


def increment_counter(client: Any, table: str, key: str, increment: int) -> int:
    """UpdateItem ADD: atomic on the store's side (creates the item at 0 first); returns the new count."""
    response = client.update_item(
        TableName=table,
        Key={PARTITION_KEY: {"S": key}},
        UpdateExpression="ADD #v :increment",
        ExpressionAttributeNames=VALUE_NAMES,
        ExpressionAttributeValues={":increment": {"N": str(increment)}},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"][REGISTER_ATTRIBUTE]["N"])


def add_element(client: Any, table: str, element: int) -> None:
    client.put_item(
        TableName=table,
        Item={
            PARTITION_KEY: {"S": set_bucket(element)},
            SET_SORT_KEY: {"N": str(element)},
            ELEMENT_ATTRIBUTE: {"N": str(element)},
        },
    )


def set_bucket(element: int) -> str:
    """The item collection (partition key) an element is stored in: the set spreads over every partition."""
    return f"{SET_ITEM_PREFIX}{element % SET_BUCKETS}"


def read_set(client: Any, table: str, page_limit: int = 10_000) -> list[int]:
    """Every element: one strongly consistent Query per bucket, each followed page by page to the end."""
    elements: list[int] = []
    pages = 0
    for bucket in range(SET_BUCKETS):
        request: dict[str, Any] = {
            "TableName": table,
            "ConsistentRead": True,
            "KeyConditionExpression": "#pk = :bucket",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":bucket": {"S": f"{SET_ITEM_PREFIX}{bucket}"}},
        }
        while True:
            pages += 1
            if pages > page_limit:  # bounded: a store that never ends pagination must not hang us
                raise RuntimeError(f"query of {table!r} did not finish within {page_limit} pages")
            response = client.query(**request)
            for item in response.get("Items", []):
                if ELEMENT_ATTRIBUTE in item:
                    elements.append(int(item[ELEMENT_ATTRIBUTE]["N"]))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                break
            request["ExclusiveStartKey"] = last_key
    return sorted(elements)
