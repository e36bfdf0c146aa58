"""Parse and validate DynamoDB request bodies into typed requests.

Everything here is checkable without the table's schema: shapes, enums, limits, items
(normalised) and expressions (parsed once, so a bad expression is refused at the router).
Checks that need the key schema (`extract_key`, `validate_key`) are the router's next step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import (
    MAX_ITEM_SIZE_BYTES,
    SCALAR_TYPES,
    Item,
    KeySchema,
    item_size_bytes,
    normalize_item,
)
from cluster.api.errors import (
    UnknownOperationException,
    ValidationException,
    validation_errors_detected,
)
from cluster.api.expression_placeholders import (
    check_all_placeholders_used,
    normalize_expression_names,
    normalize_expression_values,
)
from cluster.api.expressions import parse_condition, parse_projection
from cluster.api.legacy_parameters import (
    LegacyExpression,
    attribute_updates_expression,
    conditions_expression,
    expected_condition,
)
from cluster.api.projection import DocumentPath
from cluster.api.request_types import (  # noqa: F401 - the request types are imported from here too
    BatchGetItemRequest,
    BatchGetTable,
    BatchWrite,
    BatchWriteItemRequest,
    ConditionSource,
    CreateTableRequest,
    DeleteItemRequest,
    DeleteTableRequest,
    DescribeTableRequest,
    DescribeTimeToLiveRequest,
    GetItemRequest,
    ListTablesRequest,
    PutItemRequest,
    QueryRequest,
    Request,
    ScanRequest,
    UpdateItemRequest,
    UpdateSource,
    UpdateTimeToLiveRequest,
)
from cluster.api.secondary_indexes import (
    check_attribute_definitions,
    check_index_lists_not_empty,
    index_name_problems,
    key_names_of_indexes,
    parse_secondary_indexes,
    secondary_index_problems,
)
from cluster.api.table_names import table_name_problems as _table_name_problems
from cluster.api.update_expressions import parse_update
from cluster.api.update_table_request import UpdateTableRequest, parse_update_table  # noqa: F401 - the request types are imported from here too

MAX_LIST_TABLES_LIMIT = 100
# Our extension: CreateTable may carry this tag to choose how many partitions (replication
# groups) the table starts with. Tags are part of DynamoDB's API, so unmodified SDKs can send it.
PARTITION_COUNT_TAG = "gameday:partition-count"
MAX_PARTITION_COUNT = 256

Body = dict[str, Any]



# ---------------------------------------------------------------------------- field readers


def _member_name(field_name: str) -> str:
    """DynamoDB names members in lowerCamelCase in its validation messages ('tableName')."""
    return field_name[:1].lower() + field_name[1:]


def _not_null_error(field_name: str) -> ValidationException:
    return validation_errors_detected(
        [f"Value null at '{_member_name(field_name)}' failed to satisfy constraint: Member must not be null"]
    )


def _enum_error(field_name: str, value: str, allowed: tuple[str, ...]) -> ValidationException:
    return validation_errors_detected(
        [
            f"Value '{value}' at '{_member_name(field_name)}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        ]
    )


def _typed(body: Body, field_name: str, expected: type, type_name: str) -> Any:
    value = body.get(field_name)
    # bool is a subclass of int in Python; a JSON true is not an integer to DynamoDB.
    if value is not None and (
        not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    ):
        raise ValidationException(f"Expected {type_name} for {field_name}, got {type(value).__name__}")
    return value


def _optional_string(body: Body, field_name: str) -> str | None:
    return _typed(body, field_name, str, "a string")


def _required_string(body: Body, field_name: str, parent: str = "") -> str:
    """`parent` names the structure holding the field in messages, as for _optional_integer."""
    value = _optional_string(body, field_name)
    if value is None:
        raise _not_null_error(parent + _member_name(field_name))
    return value


def _optional_boolean(body: Body, field_name: str) -> bool:
    return bool(_typed(body, field_name, bool, "a boolean"))


def _optional_integer(
    body: Body, field_name: str, minimum: int, maximum: int | None = None, parent: str = ""
) -> int | None:
    """`parent` names the structure holding the field in messages ('provisionedThroughput.')."""
    value = _typed(body, field_name, int, "an integer")
    if value is None:
        return None
    member = parent + _member_name(field_name)
    if value < minimum:
        raise validation_errors_detected(
            [
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {minimum}"
            ]
        )
    if maximum is not None and value > maximum:
        raise validation_errors_detected(
            [
                f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {maximum}"
            ]
        )
    return int(value)


def _optional_enum(
    body: Body, field_name: str, allowed: tuple[str, ...], default: str, parent: str = ""
) -> str:
    value = _optional_string(body, field_name)
    if value is None:
        return default
    if value not in allowed:
        raise _enum_error(parent + _member_name(field_name), value, allowed)
    return value


def _table_name(body: Body, field_name: str = "TableName", parent: str = "") -> str:
    value = _required_string(body, field_name, parent)
    problems = _table_name_problems(value, parent + _member_name(field_name))
    if problems:
        raise validation_errors_detected(problems)
    return value


def _reject_names_and_values_without_expressions(body: Body) -> None:
    if body.get("ExpressionAttributeNames") is not None:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if body.get("ExpressionAttributeValues") is not None:
        raise ValidationException("ExpressionAttributeValues can only be specified when using expressions")


def _condition_source(body: Body, field_name: str, kind: str) -> ConditionSource | None:
    """The request's condition, parsed once here so that a bad one is refused before replication."""
    expression = _optional_string(body, field_name)
    if expression is None:
        _reject_names_and_values_without_expressions(body)
        return None
    source = ConditionSource(
        expression=expression,
        names=normalize_expression_names(body.get("ExpressionAttributeNames")),
        values=normalize_expression_values(body.get("ExpressionAttributeValues")),
        kind=kind,
    )
    source.parse()
    return source


def _check_expression_mix(body: Body, expressions: tuple[str, ...], non_expressions: tuple[str, ...]) -> None:
    """A request uses expressions or the legacy parameters, never both (DynamoDB's wording)."""
    if "ConditionalOperator" in non_expressions:
        _optional_enum(body, "ConditionalOperator", ("OR", "AND"), "AND")
    used_expressions = [name for name in expressions if body.get(name) is not None]
    used_legacy = [name for name in non_expressions if body.get(name) is not None]
    if used_expressions and used_legacy:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(used_legacy)}}} "
            f"Expression parameters: {{{', '.join(used_expressions)}}}"
        )


def _legacy_condition(converted: tuple[str, LegacyExpression] | None, kind: str) -> ConditionSource | None:
    if converted is None:
        return None
    text, built = converted
    source = ConditionSource(text, built.names or None, built.values or None, kind)
    source.parse()
    return source


def _legacy_attribute_names(body: Body, field_name: str) -> list[str] | None:
    value = body.get(field_name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationException(f"Expected a list of strings for {field_name}")
    if not value:
        raise validation_errors_detected(
            [
                f"Value '[]' at '{_member_name(field_name)}' failed to satisfy constraint: Member must have length greater than or equal to 1"
            ]
        )
    duplicates = [name for position, name in enumerate(value) if name in value[:position]]
    if duplicates:
        raise ValidationException(
            f"One or more parameter values were invalid: Duplicate value in attribute name: {duplicates[0]}"
        )
    return list(value)


def _legacy_paths(attributes: list[str] | None) -> tuple[DocumentPath, ...] | None:
    return tuple((name,) for name in attributes) if attributes is not None else None


def _read_projection_and_conditions(
    body: Body, condition_fields: tuple[str, ...]
) -> tuple[tuple[DocumentPath, ...] | None, dict[str, ConditionSource]]:
    """ProjectionExpression (or AttributesToGet) and the condition-like expressions of a read
    (FilterExpression; KeyConditionExpression for Query), which share one set of placeholders:
    every placeholder must be used by one of them."""
    if not condition_fields:
        # GetItem and BatchGetItem have no ExpressionAttributeValues member: like any member an
        # operation does not have, it is ignored (as dynalite does), not refused as unused.
        body = {name: value for name, value in body.items() if name != "ExpressionAttributeValues"}
    projection_expression = _optional_string(body, "ProjectionExpression")
    attributes_to_get = _legacy_attribute_names(body, "AttributesToGet")
    expressions = {field: _optional_string(body, field) for field in condition_fields}
    present = {field: text for field, text in expressions.items() if text is not None}
    if attributes_to_get is not None and (projection_expression is not None or present):
        expression_parameters = [
            name for name in ("ProjectionExpression", *condition_fields) if body.get(name)
        ]
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{AttributesToGet}} Expression parameters: {{{', '.join(expression_parameters)}}}"
        )
    if projection_expression is None and not present:
        _reject_names_and_values_without_expressions(body)
        return _legacy_paths(attributes_to_get), {}
    names = normalize_expression_names(body.get("ExpressionAttributeNames"))
    values = normalize_expression_values(body.get("ExpressionAttributeValues"))
    names_used: set[str] = set()
    values_used: set[str] = set()
    projection = _legacy_paths(attributes_to_get)
    if projection_expression is not None:
        parsed = parse_projection(projection_expression, names)
        projection = tuple(path.elements for path in parsed.paths)
        names_used |= parsed.names_used
    sources: dict[str, ConditionSource] = {}
    for field, expression in present.items():
        condition = parse_condition(expression, names, values, kind=field, check_unused=False)
        names_used |= condition.names_used
        values_used |= condition.values_used
        # Each carries only its own placeholders so that re-parsing it alone (on a replica, or
        # via ConditionSource.parse) does not see the others' as unused.
        sources[field] = ConditionSource(expression, *_own_placeholders(names, values, condition), field)
    if not present and values is not None:
        raise ValidationException(
            f"ExpressionAttributeValues can only be specified when using expressions: {condition_fields[-1]} is null"
            if condition_fields
            else "ExpressionAttributeValues can only be specified when using expressions"
        )
    check_all_placeholders_used(names, values, names_used, values_used)
    return projection, sources


def _own_placeholders(names: dict | None, values: dict | None, parsed: Any) -> tuple[dict | None, dict | None]:
    """The names and values one parsed expression uses (`parsed` has names_used and values_used)."""
    return _placeholders_subset(names, parsed.names_used), _placeholders_subset(values, parsed.values_used)


def _placeholders_subset(placeholders: dict | None, used: frozenset[str]) -> dict | None:
    return {name: placeholders[name] for name in sorted(used)} or None if placeholders else None


def _return_values(body: Body) -> str:
    allowed = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
    value = _optional_enum(body, "ReturnValues", allowed, "NONE")
    if value not in ("NONE", "ALL_OLD"):
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
    return value


def _common_write_options(body: Body) -> None:
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    _optional_enum(body, "ReturnItemCollectionMetrics", ("SIZE", "NONE"), "NONE")


# ---------------------------------------------------------------------------- operations


def _parse_key_schema(body: Body) -> tuple[KeySchema, dict[str, str]]:
    """The table's key schema and the type of every defined attribute. As DynamoDB does, the indexes' member
    constraints are reported together with the table's, and AttributeDefinitions must define exactly the
    table's and the indexes' key attributes (cluster/api/secondary_indexes.py)."""
    definitions = body.get("AttributeDefinitions")
    elements = body.get("KeySchema")
    if definitions is None:
        raise _not_null_error("AttributeDefinitions")
    if elements is None:
        raise _not_null_error("KeySchema")
    if not isinstance(definitions, list) or not all(isinstance(entry, dict) for entry in definitions):
        raise ValidationException("Expected a list of objects for AttributeDefinitions")
    if not isinstance(elements, list) or not all(isinstance(entry, dict) for entry in elements):
        raise ValidationException("Expected a list of objects for KeySchema")
    problems = []
    if not 1 <= len(elements) <= 2:
        bound = "greater than or equal to 1" if not elements else "less than or equal to 2"
        problems.append(
            f"Value '{elements}' at 'keySchema' failed to satisfy constraint: Member must have length {bound}"
        )
    defined: list[str] = []
    attribute_types: dict[str, str] = {}
    for position, definition in enumerate(definitions, start=1):
        name = _required_string(definition, "AttributeName")
        type_name = _required_string(definition, "AttributeType")
        if type_name not in SCALAR_TYPES:
            problems.append(
                f"Value '{type_name}' at 'attributeDefinitions.{position}.member.attributeType' failed to satisfy "
                "constraint: Member must satisfy enum value set: [B, N, S]"
            )
        defined.append(name)
        attribute_types[name] = type_name
    key_names: list[str] = []
    for position, element in enumerate(elements, start=1):
        key_names.append(_required_string(element, "AttributeName"))
        key_type = _required_string(element, "KeyType")
        if key_type not in ("HASH", "RANGE"):
            problems.append(
                f"Value '{key_type}' at 'keySchema.{position}.member.keyType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [HASH, RANGE]"
            )
    problems += secondary_index_problems(body)
    if problems:
        raise validation_errors_detected(problems)
    if elements[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(elements) == 2:
        if elements[1]["KeyType"] != "RANGE":
            raise ValidationException(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
            )
        if key_names[0] == key_names[1]:
            # DynamoDB's wording has no "Invalid KeySchema:" here (dynalite's too).
            raise ValidationException(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name"
            )
    check_index_lists_not_empty(body)
    check_attribute_definitions(defined, key_names, key_names_of_indexes(body))
    schema = KeySchema(
        hash_name=key_names[0],
        hash_type=attribute_types[key_names[0]],
        range_name=key_names[1] if len(key_names) == 2 else None,
        range_type=attribute_types[key_names[1]] if len(key_names) == 2 else None,
    )
    return schema, attribute_types


def _parse_partition_count(body: Body) -> int | None:
    tags = body.get("Tags")
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
        raise ValidationException("Expected a list of objects for Tags")
    partition_count = None
    for tag in tags:
        key, value = _required_string(tag, "Key"), _required_string(tag, "Value")
        if key != PARTITION_COUNT_TAG:
            continue
        if not value.isdigit() or not 1 <= int(value) <= MAX_PARTITION_COUNT:
            raise ValidationException(
                f"Tag {PARTITION_COUNT_TAG} must be an integer between 1 and {MAX_PARTITION_COUNT}; got: {value}"
            )
        partition_count = int(value)
    return partition_count


def _parse_create_table(body: Body) -> CreateTableRequest:
    table_name = _table_name(body)
    key_schema, attribute_types = _parse_key_schema(body)
    stream = body.get("StreamSpecification")
    if isinstance(stream, dict) and stream.get("StreamEnabled"):
        raise ValidationException(
            "Parameter StreamSpecification is not supported by this store; streams do not exist"
        )
    if body.get("DeletionProtectionEnabled"):
        raise ValidationException("Parameter DeletionProtectionEnabled is not supported by this store")
    billing_mode = _optional_enum(body, "BillingMode", ("PROVISIONED", "PAY_PER_REQUEST"), "PROVISIONED")
    throughput = body.get("ProvisionedThroughput")
    if throughput is not None and not isinstance(throughput, dict):
        raise ValidationException("Expected an object for ProvisionedThroughput")
    read_capacity_units = write_capacity_units = None
    if billing_mode == "PROVISIONED":
        if throughput is None:
            raise ValidationException(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
                "specified when BillingMode is PROVISIONED"
            )
        read_capacity_units = _optional_integer(throughput, "ReadCapacityUnits", 1, parent="provisionedThroughput.")
        write_capacity_units = _optional_integer(throughput, "WriteCapacityUnits", 1, parent="provisionedThroughput.")
        if read_capacity_units is None:
            raise _not_null_error("provisionedThroughput.readCapacityUnits")
        if write_capacity_units is None:
            raise _not_null_error("provisionedThroughput.writeCapacityUnits")
    elif throughput is not None:
        raise ValidationException(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be "
            "specified when BillingMode is PAY_PER_REQUEST"
        )
    indexes = parse_secondary_indexes(body, key_schema, attribute_types, billing_mode)
    return CreateTableRequest(
        table_name=table_name,
        key_schema=key_schema,
        billing_mode=billing_mode,
        read_capacity_units=read_capacity_units,
        write_capacity_units=write_capacity_units,
        partition_count=_parse_partition_count(body),
        indexes=indexes,
        attribute_definitions=dict(attribute_types) if indexes else None,
    )


def _parse_describe_table(body: Body) -> DescribeTableRequest:
    return DescribeTableRequest(_table_name(body))


def _parse_delete_table(body: Body) -> DeleteTableRequest:
    return DeleteTableRequest(_table_name(body))


MAX_TTL_ATTRIBUTE_NAME_LENGTH = 255


def _parse_update_time_to_live(body: Body) -> UpdateTimeToLiveRequest:
    table_name = _table_name(body)
    specification = _typed(body, "TimeToLiveSpecification", dict, "a map")
    if specification is None:
        raise _not_null_error("TimeToLiveSpecification")
    enabled = _typed(specification, "Enabled", bool, "a boolean")
    attribute = _typed(specification, "AttributeName", str, "a string")
    problems = []
    if enabled is None:
        problems.append("Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null")
    if attribute is None:
        problems.append(
            "Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null"
        )
    elif not 1 <= len(attribute) <= MAX_TTL_ATTRIBUTE_NAME_LENGTH:
        problems.append(
            f"Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: "
            f"Member must have length between 1 and {MAX_TTL_ATTRIBUTE_NAME_LENGTH}"
        )
    if problems:
        raise validation_errors_detected(problems)
    return UpdateTimeToLiveRequest(table_name, bool(enabled), str(attribute))


def _parse_describe_time_to_live(body: Body) -> DescribeTimeToLiveRequest:
    return DescribeTimeToLiveRequest(_table_name(body))


def _parse_list_tables(body: Body) -> ListTablesRequest:
    start = _optional_string(body, "ExclusiveStartTableName")
    if start is not None:
        problems = _table_name_problems(start, "exclusiveStartTableName")
        if problems:
            raise validation_errors_detected(problems)
    limit = _optional_integer(body, "Limit", minimum=1, maximum=MAX_LIST_TABLES_LIMIT)
    return ListTablesRequest(exclusive_start_table_name=start, limit=limit)


def _required_item(body: Body, field_name: str, parent: str = "") -> Item:
    if body.get(field_name) is None:
        raise _not_null_error(parent + _member_name(field_name))
    return normalize_item(body[field_name])


def _item_to_put(body: Body, parent: str = "") -> Item:
    """The Item of a put (PutItem, BatchWriteItem, TransactWriteItems): normalised, within 400 KB."""
    item = _required_item(body, "Item", parent)
    if item_size_bytes(item) > MAX_ITEM_SIZE_BYTES:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    return item


def _conditional_write_options(body: Body) -> dict[str, Any]:
    """What PutItem and DeleteItem share: the condition and what to return, validated alike."""
    _check_expression_mix(body, ("ConditionExpression",), ("Expected", "ConditionalOperator"))
    _common_write_options(body)
    legacy = _legacy_condition(expected_condition(body), "ConditionExpression")
    # Read even beside Expected: placeholders without a ConditionExpression are refused either way.
    condition = _condition_source(body, "ConditionExpression", "ConditionExpression")
    return {
        "condition": legacy or condition,
        "return_values": _return_values(body),
        "return_values_on_condition_check_failure": _optional_enum(
            body, "ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE"
        ),
    }


def _parse_put_item(body: Body) -> PutItemRequest:
    table_name = _table_name(body)
    item = _item_to_put(body)
    return PutItemRequest(table_name=table_name, item=item, **_conditional_write_options(body))


def _parse_delete_item(body: Body) -> DeleteItemRequest:
    table_name = _table_name(body)
    key = _required_item(body, "Key")
    return DeleteItemRequest(table_name=table_name, key=key, **_conditional_write_options(body))


def _parse_update_item(body: Body) -> UpdateItemRequest:
    """UpdateExpression and ConditionExpression share one set of placeholders; each is shipped
    with only the placeholders it uses, and every one given must be used by one of them."""
    table_name = _table_name(body)
    key = _required_item(body, "Key")
    _check_expression_mix(
        body, ("UpdateExpression", "ConditionExpression"), ("AttributeUpdates", "Expected", "ConditionalOperator")
    )
    _common_write_options(body)
    return_values = _optional_enum(
        body, "ReturnValues", ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"), "NONE"
    )
    on_failure = _optional_enum(body, "ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
    update_expression = _optional_string(body, "UpdateExpression")
    condition_expression = _optional_string(body, "ConditionExpression")
    if update_expression is None and condition_expression is None:
        _reject_names_and_values_without_expressions(body)
        legacy_update = attribute_updates_expression(body)
        update = None
        if legacy_update is not None:
            text, built = legacy_update
            update = UpdateSource(text, built.names or None, built.values or None)
            update.parse()
        condition = _legacy_condition(expected_condition(body), "ConditionExpression")
        return UpdateItemRequest(table_name, key, update, condition, return_values, on_failure)
    update, condition = _update_and_condition(body, update_expression, condition_expression)
    return UpdateItemRequest(table_name, key, update, condition, return_values, on_failure)


def _update_and_condition(
    body: Body, update_expression: str | None, condition_expression: str | None
) -> tuple[UpdateSource | None, ConditionSource | None]:
    """An update's UpdateExpression and ConditionExpression (UpdateItem, a transaction's Update): they
    share one set of placeholders, every one given must be used by one of them, and each is shipped
    with only the placeholders it uses."""
    names = normalize_expression_names(body.get("ExpressionAttributeNames"))
    values = normalize_expression_values(body.get("ExpressionAttributeValues"))
    names_used: set[str] = set()
    values_used: set[str] = set()
    update = condition = None
    if update_expression is not None:
        parsed = parse_update(update_expression, names, values, check_unused=False)
        names_used |= parsed.names_used
        values_used |= parsed.values_used
        # The same parse as of its own placeholders alone: the placeholders it does not use change nothing.
        update = UpdateSource(update_expression, *_own_placeholders(names, values, parsed), parsed=parsed)
    if condition_expression is not None:
        parsed_condition = parse_condition(condition_expression, names, values, check_unused=False)
        names_used |= parsed_condition.names_used
        values_used |= parsed_condition.values_used
        condition = ConditionSource(condition_expression, *_own_placeholders(names, values, parsed_condition))
    check_all_placeholders_used(names, values, names_used, values_used)
    return update, condition


def _parse_get_item(body: Body) -> GetItemRequest:
    table_name = _table_name(body)
    key = _required_item(body, "Key")
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    projection, _ = _read_projection_and_conditions(body, ())
    return GetItemRequest(
        table_name=table_name,
        key=key,
        consistent_read=_optional_boolean(body, "ConsistentRead"),
        projection=projection,
    )


# The order DynamoDB lists them in its enum error (AWS-verified, dynalite's too).
SELECT_VALUES = ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")


def _select(body: Body, projection: tuple[DocumentPath, ...] | None, index_name: str | None, operation: str) -> str:
    """Select, checked against the projection and IndexName as DynamoDB does. The wording is AWS's (moto's
    aws_verified tests: dynalite checks none of this): a Query's messages start with '1 validation error
    detected: ', a Scan's do not, and a conflict with the projection names the parameter that was used and
    is reported before ALL_PROJECTED_ATTRIBUTES' missing IndexName."""
    select = _optional_string(body, "Select")
    if select is not None and select not in SELECT_VALUES:
        raise _enum_error("Select", select, SELECT_VALUES)
    prefix = "1 validation error detected: " if operation == "Query" else ""
    if projection is not None and select in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT"):
        parameter = "ProjectionExpression" if body.get("ProjectionExpression") is not None else "AttributesToGet"
        wanted = "only the Count" if select == "COUNT" else select
        raise ValidationException(f"{prefix}Cannot specify the {parameter} when choosing to get {wanted}")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index_name is None:
        raise ValidationException(f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise ValidationException(
            f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
        )
    if select is not None:
        return select
    if projection is not None:
        return "SPECIFIC_ATTRIBUTES"
    # Without Select nor a projection, an index read returns what the index projects.
    return "ALL_PROJECTED_ATTRIBUTES" if index_name is not None else "ALL_ATTRIBUTES"


def _index_name(body: Body) -> str | None:
    """Query's and Scan's IndexName, checked like dynalite (whether the table has it is the router's check)."""
    index_name = _optional_string(body, "IndexName")
    if index_name is not None:
        problems = index_name_problems(index_name, "indexName")
        if problems:
            raise validation_errors_detected(problems)
    return index_name


def _parse_scan(body: Body) -> ScanRequest:
    table_name = _table_name(body)
    _check_expression_mix(
        body, ("ProjectionExpression", "FilterExpression"), ("AttributesToGet", "ScanFilter", "ConditionalOperator")
    )
    index_name = _index_name(body)
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    limit = _optional_integer(body, "Limit", minimum=1)
    start_key = body.get("ExclusiveStartKey")
    exclusive_start_key = normalize_item(start_key) if start_key is not None else None
    projection, sources = _read_projection_and_conditions(body, ("FilterExpression",))
    select = _select(body, projection, index_name, "Scan")
    segment, total_segments = _segments(body)
    return ScanRequest(
        table_name=table_name,
        consistent_read=_optional_boolean(body, "ConsistentRead"),
        limit=limit,
        exclusive_start_key=exclusive_start_key,
        filter=sources.get("FilterExpression")
        or _legacy_condition(conditions_expression(body, "ScanFilter"), "ScanFilter"),
        projection=projection,
        select_count=select == "COUNT",
        segment=segment,
        total_segments=total_segments,
        select=select,
        index_name=index_name,
    )


MAX_TOTAL_SEGMENTS = 1000000


def _segments(body: Body) -> tuple[int, int]:
    """A parallel scan's Segment and TotalSegments; a whole scan is segment 0 of 1."""
    total_segments = _optional_integer(body, "TotalSegments", minimum=1, maximum=MAX_TOTAL_SEGMENTS)
    segment = _optional_integer(body, "Segment", minimum=0, maximum=MAX_TOTAL_SEGMENTS - 1)
    if segment is not None and total_segments is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
        )
    if total_segments is not None and segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
        )
    if segment is None or total_segments is None:
        return 0, 1
    if segment >= total_segments:
        raise ValidationException(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total_segments}"
        )
    return segment, total_segments


def _parse_query(body: Body) -> QueryRequest:
    table_name = _table_name(body)
    expressions = ("ProjectionExpression", "FilterExpression", "KeyConditionExpression")
    legacy = ("AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions")
    if body.get("KeyConditions") is not None and body.get("KeyConditionExpression") is None:
        legacy = legacy[:-1]  # KeyConditions may go with a FilterExpression, as in DynamoDB
    _check_expression_mix(body, expressions, legacy)
    index_name = _index_name(body)
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    limit = _optional_integer(body, "Limit", minimum=1)
    start_key = body.get("ExclusiveStartKey")
    exclusive_start_key = normalize_item(start_key) if start_key is not None else None
    if body.get("KeyConditionExpression") is None and body.get("KeyConditions") is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    projection, sources = _read_projection_and_conditions(body, ("KeyConditionExpression", "FilterExpression"))
    forward = _typed(body, "ScanIndexForward", bool, "a boolean")
    key_condition = sources.get("KeyConditionExpression") or _legacy_condition(
        conditions_expression(body, "KeyConditions", key_conditions=True), "KeyConditionExpression"
    )
    assert key_condition is not None
    return QueryRequest(
        table_name=table_name,
        key_condition=key_condition,
        consistent_read=_optional_boolean(body, "ConsistentRead"),
        scan_index_forward=forward is not False,
        limit=limit,
        exclusive_start_key=exclusive_start_key,
        filter=sources.get("FilterExpression")
        or _legacy_condition(conditions_expression(body, "QueryFilter"), "QueryFilter"),
        projection=projection,
        select=_select(body, projection, index_name, "Query"),
        index_name=index_name,
    )


MAX_BATCH_GET_KEYS = 100
MAX_BATCH_WRITES = 25
_MAP_KEY_CONSTRAINTS = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 3, Member must satisfy regular expression pattern: "
    "[a-zA-Z0-9_.-]+]"
)


def _shown(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _request_items(body: Body, value_constraint: Callable[[object], str | None]) -> dict[str, Any]:
    """RequestItems of a batch: a map from table name to what to do there, checked as DynamoDB does."""
    request_items = body.get("RequestItems")
    if request_items is None:
        raise _not_null_error("RequestItems")
    if not isinstance(request_items, dict):
        raise ValidationException("Expected a map of table names for RequestItems")
    if not request_items:
        raise validation_errors_detected(
            ["Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"]
        )
    problems = []
    if any(_table_name_problems(name, "requestItems") for name in request_items):
        problems.append(f"Value '{_shown(request_items)}' at 'requestItems' failed to satisfy constraint: {_MAP_KEY_CONSTRAINTS}")
    for value in request_items.values():
        problem = value_constraint(value)
        if problem is not None:
            problems.append(problem.replace("{shown}", _shown(request_items)))
            break
    if problems:
        raise validation_errors_detected(problems)
    return request_items


def _check_no_duplicate_keys(keys: list[Item]) -> None:
    seen = set()
    for key in keys:
        identity = _shown(sorted((name, value) for name, value in key.items()))
        if identity in seen:
            raise ValidationException("Provided list of item keys contains duplicates")
        seen.add(identity)


def _parse_batch_get_item(body: Body) -> BatchGetItemRequest:
    def keys_constraint(value: object) -> str | None:
        keys = value.get("Keys") if isinstance(value, dict) else None
        if isinstance(keys, list) and len(keys) > MAX_BATCH_GET_KEYS:
            return (f"Value '[{', '.join(_shown(key) for key in keys)}]' at 'requestItems.{{table}}.member.keys' "
                    f"failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_GET_KEYS}")
        return None

    request_items = _request_items(body, lambda value: None)
    _optional_enum(body, "ReturnConsumedCapacity", ("INDEXES", "TOTAL", "NONE"), "NONE")
    tables: dict[str, BatchGetTable] = {}
    total = 0
    for table_name, table_body in request_items.items():
        if not isinstance(table_body, dict):
            raise ValidationException(f"Expected KeysAndAttributes for table {table_name}")
        problem = keys_constraint(table_body)
        if problem is not None:
            raise validation_errors_detected([problem.replace("{table}", table_name)])
        keys = table_body.get("Keys")
        if keys is None:
            raise _not_null_error(f"requestItems.{table_name}.member.keys")
        if not isinstance(keys, list) or not keys:
            raise validation_errors_detected(
                [f"Value '[]' at 'requestItems.{table_name}.member.keys' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1"]
            )
        normalized = [normalize_item(key) for key in keys]
        _check_no_duplicate_keys(normalized)
        total += len(normalized)
        if total > MAX_BATCH_GET_KEYS:
            raise ValidationException("Too many items requested for the BatchGetItem call")
        projection, _ = _read_projection_and_conditions(table_body, ())
        tables[table_name] = BatchGetTable(
            keys=tuple(normalized),
            consistent_read=_optional_boolean(table_body, "ConsistentRead"),
            projection=projection,
            options={name: value for name, value in table_body.items() if name != "Keys"},
        )
    return BatchGetItemRequest(tables)


def _parse_batch_write_item(body: Body) -> BatchWriteItemRequest:
    def writes_constraint(value: object) -> str | None:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_BATCH_WRITES:
            return ("Value '{shown}' at 'requestItems' failed to satisfy constraint: Map value must satisfy "
                    f"constraint: [Member must have length less than or equal to {MAX_BATCH_WRITES}, "
                    "Member must have length greater than or equal to 1]")
        return None

    request_items = _request_items(body, writes_constraint)
    _common_write_options(body)
    tables: dict[str, tuple[BatchWrite, ...]] = {}
    total = 0
    for table_name, requests in request_items.items():
        if not isinstance(requests, list):
            raise ValidationException(f"Expected a list of WriteRequests for table {table_name}")
        writes = []
        for request in requests:
            if not isinstance(request, dict) or len([name for name in request if request[name] is not None]) != 1:
                raise ValidationException(
                    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
                    "supported datatypes"
                )
            if request.get("PutRequest") is not None:
                writes.append(BatchWrite(item=_item_to_put(request["PutRequest"]), key=None))
            elif request.get("DeleteRequest") is not None:
                writes.append(BatchWrite(item=None, key=_required_item(request["DeleteRequest"], "Key")))
            else:
                raise ValidationException(f"Unknown WriteRequest member: {sorted(request)}")
        total += len(writes)
        if total > MAX_BATCH_WRITES:
            raise ValidationException("Too many items requested for the BatchWriteItem call")
        tables[table_name] = tuple(writes)
    return BatchWriteItemRequest(tables)


@dataclass(frozen=True)
class Operation:
    """One DynamoDB operation the store speaks. The router's handler for it is the method named after it
    (`PutItem` -> `put_item`), so this table is the one place an operation is registered."""

    name: str
    parse: Callable[[Body], Request]
    batch: bool = False  # ConsumedCapacity comes back as a list, one entry per table

    @property
    def handler_name(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


def _parse_transact_write_items(body: Body) -> Request:
    # Imported here: transact_requests builds on this module's field readers.
    from cluster.api.transact_requests import parse_transact_write_items

    return parse_transact_write_items(body)


def _parse_transact_get_items(body: Body) -> Request:
    from cluster.api.transact_requests import parse_transact_get_items

    return parse_transact_get_items(body)


OPERATIONS: dict[str, Operation] = {
    operation.name: operation
    for operation in (
        Operation("CreateTable", _parse_create_table),
        Operation("DescribeTable", _parse_describe_table),
        Operation("ListTables", _parse_list_tables),
        Operation("DeleteTable", _parse_delete_table),
        Operation("UpdateTimeToLive", _parse_update_time_to_live),
        Operation("DescribeTimeToLive", _parse_describe_time_to_live),
        Operation("PutItem", _parse_put_item),
        Operation("GetItem", _parse_get_item),
        Operation("DeleteItem", _parse_delete_item),
        Operation("UpdateItem", _parse_update_item),
        Operation("Scan", _parse_scan),
        Operation("Query", _parse_query),
        Operation("BatchGetItem", _parse_batch_get_item, batch=True),
        Operation("BatchWriteItem", _parse_batch_write_item, batch=True),
        Operation("TransactWriteItems", _parse_transact_write_items, batch=True),
        Operation("TransactGetItems", _parse_transact_get_items, batch=True),
        Operation("UpdateTable", parse_update_table),
    )
}
SUPPORTED_OPERATIONS = tuple(OPERATIONS)


def parse_request(operation: str, body: object) -> Request:
    """Validate a JSON-decoded request body for `operation` (the part after the dot of
    X-Amz-Target) and return its typed request."""
    registered = OPERATIONS.get(operation)
    if registered is None:
        raise UnknownOperationException(
            f"Unknown or unsupported operation: {operation}; supported: {', '.join(SUPPORTED_OPERATIONS)}"
        )
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object")
    return registered.parse(body)
