from __future__ import annotations

from typing import Any

import pytest

from cluster.api.attribute_values import KeySchema
from cluster.api.errors import (
    ApiError,
    UnknownOperationException,
    ValidationException,
)
from cluster.api.requests import (
    ConditionSource,
    CreateTableRequest,
    DeleteItemRequest,
    DeleteTableRequest,
    DescribeTableRequest,
    GetItemRequest,
    ListTablesRequest,
    PutItemRequest,
    ScanRequest,
    parse_request,
)

DEFINITIONS = [{"AttributeName": "id", "AttributeType": "S"}]
HASH_ONLY = [{"AttributeName": "id", "KeyType": "HASH"}]
THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def create_body(**changes: Any) -> dict[str, Any]:
    body = {
        "TableName": "things",
        "AttributeDefinitions": DEFINITIONS,
        "KeySchema": HASH_ONLY,
        "ProvisionedThroughput": THROUGHPUT,
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def rejects(operation: str, body: object, error: type[ApiError] = ValidationException) -> str:
    with pytest.raises(error) as raised:
        parse_request(operation, body)
    assert type(raised.value) is error
    return raised.value.message


# ---------------------------------------------------------------------------- dispatch


def test_api_unknown_and_unsupported_operations() -> None:
    message = rejects("Frobnicate", {}, UnknownOperationException)
    assert "Frobnicate" in message and "TransactWriteItems" in message  # the supported ones are listed
    assert "UpdateTable" in message
    assert "RestoreTableFromBackup" in rejects("RestoreTableFromBackup", {}, UnknownOperationException)


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_api_body_must_be_an_object(body: object) -> None:
    rejects("GetItem", body, ValidationException)


# ---------------------------------------------------------------------------- tables


def test_api_create_table_defaults_to_provisioned() -> None:
    request = parse_request("CreateTable", create_body())
    assert request == CreateTableRequest("things", KeySchema("id", "S"), "PROVISIONED", 5, 5, None)


def test_api_create_table_with_range_key_and_partition_tag() -> None:
    request = parse_request(
        "CreateTable",
        create_body(
            AttributeDefinitions=[
                {"AttributeName": "at", "AttributeType": "N"},
                {"AttributeName": "id", "AttributeType": "B"},
            ],
            KeySchema=[
                {"AttributeName": "id", "KeyType": "HASH"},
                {"AttributeName": "at", "KeyType": "RANGE"},
            ],
            Tags=[{"Key": "owner", "Value": "me"}, {"Key": "gameday:partition-count", "Value": "3"}],
        ),
    )
    assert isinstance(request, CreateTableRequest)
    assert request.key_schema == KeySchema("id", "B", "at", "N")
    assert request.partition_count == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"TableName": None},
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"TableName": "ab"},
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
        ),
        (
            {"TableName": "a b"},
            "1 validation error detected: Value 'a b' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        ({"TableName": "!"}, "2 validation errors detected: "),
        (
            {"KeySchema": [{"AttributeName": "id", "KeyType": "RANGE"}]},
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            {"KeySchema": HASH_ONLY * 2},
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ),
        (
            {"KeySchema": HASH_ONLY + [{"AttributeName": "id", "KeyType": "RANGE"}]},
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ),
        ({"KeySchema": HASH_ONLY * 3}, "Member must have length less than or equal to 2"),
        (
            {"KeySchema": [{"AttributeName": "id", "KeyType": "SIDEWAYS"}]},
            "Member must satisfy enum value set: [HASH, RANGE]",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "BOOL"}]},
            "Member must satisfy enum value set: [B, N, S]",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]},
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [id], AttributeDefinitions: [other]",
        ),
        (
            {"AttributeDefinitions": DEFINITIONS + [{"AttributeName": "x", "AttributeType": "S"}]},
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ),
        (
            {"ProvisionedThroughput": None},
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ),
        (
            {"BillingMode": "PAY_PER_REQUEST"},
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        ({"BillingMode": "FREE"}, "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"),
        (
            {"ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}},
            "Member must have value greater than or equal to 1",
        ),
        (
            {"GlobalSecondaryIndexes": [{"IndexName": "gsi"}]},
            "2 validation errors detected: Value null at 'globalSecondaryIndexes.1.member.keySchema' failed to "
            "satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexes.1.member.projection' "
            "failed to satisfy constraint: Member must not be null",
        ),
        (
            {"Tags": [{"Key": "gameday:partition-count", "Value": "0"}]},
            "gameday:partition-count must be an integer between 1 and 256",
        ),
    ],
)
def test_api_create_table_validation(changes: dict[str, Any], message: str) -> None:
    assert message in rejects("CreateTable", create_body(**changes))


def test_api_create_table_wrong_json_types_are_validation_errors() -> None:
    rejects("CreateTable", create_body(TableName=5), ValidationException)
    rejects("CreateTable", create_body(KeySchema="id"), ValidationException)
    rejects(
        "CreateTable",
        create_body(ProvisionedThroughput={"ReadCapacityUnits": True, "WriteCapacityUnits": 1}),
        ValidationException,
    )


def test_api_describe_delete_and_list_tables() -> None:
    assert parse_request("DescribeTable", {"TableName": "things"}) == DescribeTableRequest("things")
    assert parse_request("DeleteTable", {"TableName": "things"}) == DeleteTableRequest("things")
    assert parse_request("ListTables", {}) == ListTablesRequest(None, None)
    assert "Member must not be null" in rejects("DescribeTable", {})
    assert "less than or equal to 100" in rejects("ListTables", {"Limit": 101})
    assert "greater than or equal to 1" in rejects("ListTables", {"Limit": 0})
    assert "exclusiveStartTableName" in rejects("ListTables", {"ExclusiveStartTableName": "x"})


# ---------------------------------------------------------------------------- items


def test_api_put_item_normalizes_and_keeps_its_condition() -> None:
    request = parse_request(
        "PutItem",
        {
            "TableName": "things",
            "Item": {"id": {"S": "a"}, "n": {"N": "01.10"}},
            "ConditionExpression": "n < :max",
            "ExpressionAttributeValues": {":max": {"N": "5.0"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    assert request == PutItemRequest(
        "things",
        {"id": {"S": "a"}, "n": {"N": "1.1"}},
        ConditionSource("n < :max", None, {":max": {"N": "5"}}),
        "NONE",
        "ALL_OLD",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Item": None}, "Value null at 'item' failed to satisfy constraint: Member must not be null"),
        ({"Item": {"id": {"SS": []}}}, "may not be empty"),
        ({"ReturnValues": "ALL_NEW"}, "ReturnValues can only be ALL_OLD or NONE"),
        ({"ReturnValues": "SOME"}, "Member must satisfy enum value set"),
        (
            {"Expected": {"id": {"Exists": False}}, "ConditionExpression": "attribute_not_exists(id)"},
            "Can not use both expression and non-expression parameters in the same request: "
            "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        ),
        ({"ConditionExpression": "id = "}, "Invalid ConditionExpression: Syntax error"),
        (
            {"ExpressionAttributeValues": {":v": {"S": "x"}}},
            "ExpressionAttributeValues can only be specified when using expressions",
        ),
        (
            {"ExpressionAttributeNames": {"#v": "x"}},
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            {"Item": {"id": {"S": "a"}, "big": {"S": "x" * (400 * 1024)}}},
            "Item size has exceeded the maximum allowed size",
        ),
        (
            {"ReturnValuesOnConditionCheckFailure": "ALL_NEW"},
            "Member must satisfy enum value set: [ALL_OLD, NONE]",
        ),
    ],
)
def test_api_put_item_validation(changes: dict[str, Any], message: str) -> None:
    body = {"TableName": "things", "Item": {"id": {"S": "a"}}, **changes}
    assert message in rejects("PutItem", {key: value for key, value in body.items() if value is not None})


def test_api_item_just_under_the_size_limit_is_accepted() -> None:
    item = {"id": {"S": "a"}, "big": {"S": "x" * (400 * 1024 - len("id") - 1 - len("big"))}}
    assert isinstance(parse_request("PutItem", {"TableName": "things", "Item": item}), PutItemRequest)


def test_api_delete_item() -> None:
    request = parse_request(
        "DeleteItem",
        {
            "TableName": "things",
            "Key": {"id": {"N": "1.0"}},
            "ConditionExpression": "attribute_exists(#i)",
            "ExpressionAttributeNames": {"#i": "id"},
            "ReturnValues": "ALL_OLD",
        },
    )
    assert request == DeleteItemRequest(
        "things", {"id": {"N": "1"}}, ConditionSource("attribute_exists(#i)", {"#i": "id"}, None), "ALL_OLD"
    )
    assert "Member must not be null" in rejects("DeleteItem", {"TableName": "things"})
    assert "at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]" in rejects(
        "DeleteItem", {"TableName": "things", "Key": {}, "ConditionalOperator": "XOR"}
    )


def test_api_get_item_projection_forms() -> None:
    base = {"TableName": "things", "Key": {"id": {"S": "a"}}}
    assert parse_request("GetItem", base) == GetItemRequest("things", {"id": {"S": "a"}}, False, None)
    legacy = parse_request("GetItem", {**base, "AttributesToGet": ["a", "b"]})
    assert isinstance(legacy, GetItemRequest) and legacy.projection == (("a",), ("b",))
    message = rejects("GetItem", {**base, "AttributesToGet": ["a"], "ProjectionExpression": "a"})
    assert message.startswith("Can not use both expression and non-expression parameters in the same request")
    assert "unused in expressions: keys: {#x}" in rejects(
        "GetItem", {**base, "ProjectionExpression": "a", "ExpressionAttributeNames": {"#x": "x"}}
    )
    nested = parse_request("GetItem", {**base, "ProjectionExpression": "a.b[2], c"})
    assert isinstance(nested, GetItemRequest) and nested.projection == (("a", "b", 2), ("c",))
    rejects("GetItem", {**base, "ConsistentRead": "yes"}, ValidationException)


def test_api_scan_shares_placeholders_between_filter_and_projection() -> None:
    request = parse_request(
        "Scan",
        {
            "TableName": "things",
            "FilterExpression": "#s > :min",
            "ProjectionExpression": "#p, #s",
            "ExpressionAttributeNames": {"#s": "score", "#p": "player"},
            "ExpressionAttributeValues": {":min": {"N": "10"}},
            "ConsistentRead": True,
        },
    )
    assert isinstance(request, ScanRequest)
    assert request.projection == (("player",), ("score",))
    assert request.consistent_read and not request.select_count
    # The filter carries only its own names, so it re-parses alone on any replica.
    assert request.filter == ConditionSource(
        "#s > :min", {"#s": "score"}, {":min": {"N": "10"}}, "FilterExpression"
    )
    assert request.filter.parse().evaluate({"score": {"N": "11"}})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Limit": 0}, "Member must have value greater than or equal to 1"),
        ({"ScanFilter": {"a": {"ComparisonOperator": "EQ"}}}, "Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"Segment": 1}, "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"),
        ({"TotalSegments": 2}, "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"),
        ({"Segment": 2, "TotalSegments": 2}, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"),
        ({"Segment": 0, "TotalSegments": 1000001}, "Member must have value less than or equal to 1000000"),
        ({"IndexName": "by"}, "Value 'by' at 'indexName' failed to satisfy constraint: Member must have length greater"),
        ({"Select": "EVERYTHING"}, "Member must satisfy enum value set"),
        ({"Select": "COUNT", "ProjectionExpression": "a"}, "when choosing to get only the Count"),
        ({"Select": "SPECIFIC_ATTRIBUTES"}, "Must specify the AttributesToGet or ProjectionExpression"),
        ({"FilterExpression": "a = :v"}, "An expression attribute value used in expression is not defined"),
        (
            {"FilterExpression": "a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}, ":w": {"S": "y"}}},
            "unused in expressions: keys: {:w}",
        ),
        (
            {"ProjectionExpression": "a", "ExpressionAttributeValues": {":v": {"S": "x"}}},
            "ExpressionAttributeValues can only be specified when using expressions",
        ),
        ({"FilterExpression": "a ="}, "Invalid FilterExpression: Syntax error"),
        ({"ExclusiveStartKey": {"id": {"N": "x"}}}, "cannot be converted to a numeric value"),
    ],
)
def test_api_scan_validation(changes: dict[str, Any], message: str) -> None:
    assert message in rejects("Scan", {"TableName": "things", **changes})


def test_api_scan_count_and_start_key() -> None:
    request = parse_request(
        "Scan",
        {"TableName": "things", "Select": "COUNT", "Limit": 3, "ExclusiveStartKey": {"id": {"N": "2.0"}}},
    )
    assert request == ScanRequest("things", False, 3, {"id": {"N": "2"}}, None, None, True, select="COUNT")


def test_api_duplicate_attributes_to_get_names_the_duplicate() -> None:
    message = rejects("GetItem", {"TableName": "things", "Key": {"id": {"S": "a"}}, "AttributesToGet": ["n", "m", "n"]})
    assert message == "One or more parameter values were invalid: Duplicate value in attribute name: n"


def test_api_placeholders_beside_legacy_expected_are_refused() -> None:
    # Found by the dynalite differential: Expected went through and the names were silently ignored.
    body = {"TableName": "ttt", "Item": {"pk": {"S": "a"}}, "Expected": {"b": {"Exists": False}}}
    for field, value in (("ExpressionAttributeNames", {}), ("ExpressionAttributeNames", {"#b": "b"}),
                         ("ExpressionAttributeValues", {":b": {"S": "b"}})):
        for operation in ("PutItem", "DeleteItem"):
            request = {**body, field: value} if operation == "PutItem" else {
                "TableName": "ttt", "Key": {"pk": {"S": "a"}}, "Expected": body["Expected"], field: value}
            with pytest.raises(ValidationException, match=f"{field} can only be specified when using expressions"):
                parse_request(operation, request)


def test_api_get_item_ignores_expression_attribute_values_it_has_no_member_for() -> None:
    # GetItem and BatchGetItem's KeysAndAttributes have no ExpressionAttributeValues member: ignored, not
    # refused as unused (dynalite agrees); the names they do have must still all be used.
    values = {":unused": {"S": "u"}}
    request = parse_request("GetItem", {"TableName": "ttt", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#a",
                                        "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": values})
    assert request.projection == (("a",),)
    batch = parse_request("BatchGetItem", {"RequestItems": {"ttt": {"Keys": [{"pk": {"S": "a"}}],
                                                                    "ExpressionAttributeValues": values}}})
    assert batch.tables["ttt"].projection is None
    with pytest.raises(ValidationException, match="unused in expressions"):
        parse_request("GetItem", {"TableName": "ttt", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "a",
                                  "ExpressionAttributeNames": {"#a": "a"}})


def test_api_capacity_units_below_one_are_named_by_their_full_member_path() -> None:
    # DynamoDB (and dynalite) name a nested member by its path; found by the dynalite differential.
    body = {"TableName": "ttt", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 0}}
    with pytest.raises(ValidationException) as refused:
        parse_request("CreateTable", body)
    assert refused.value.message == (
        "1 validation error detected: Value '0' at 'provisionedThroughput.writeCapacityUnits' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"
    )
