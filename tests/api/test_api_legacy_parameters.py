"""Legacy parameters become the expressions they mean; what they select is what DynamoDB's
legacy semantics say."""

from __future__ import annotations

import pytest

from cluster.api.errors import ValidationException
from cluster.api.item_writes import apply_update
from cluster.api.requests import PutItemRequest, QueryRequest, ScanRequest, UpdateItemRequest, parse_request

ITEM = {"id": {"S": "a"}, "n": {"N": "5"}, "s": {"S": "hello"}, "tags": {"SS": ["x", "y"]}, "lst": {"L": [{"N": "1"}]}}


def _put(expected: dict, operator: str | None = None) -> PutItemRequest:
    body = {"TableName": "things", "Item": {"id": {"S": "a"}}, "Expected": expected}
    if operator:
        body["ConditionalOperator"] = operator
    request = parse_request("PutItem", body)
    assert isinstance(request, PutItemRequest) and request.condition is not None
    return request


@pytest.mark.parametrize(
    ("expected", "operator", "holds"),
    [
        ({"n": {"Value": {"N": "5"}}}, None, True),
        ({"n": {"Value": {"N": "6"}}}, None, False),
        ({"n": {"Exists": True, "Value": {"N": "5.0"}}}, None, True),
        ({"absent": {"Exists": False}}, None, True),
        ({"n": {"Exists": False}}, None, False),
        ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}, None, True),
        ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}, None, True),
        ({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}, None, True),
        ({"tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]}}, None, True),
        ({"absent": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "x"}]}}, None, True),
        ({"absent": {"ComparisonOperator": "NE", "Value": {"S": "x"}}}, None, True),
        ({"n": {"ComparisonOperator": "NOT_NULL"}, "absent": {"ComparisonOperator": "NULL"}}, None, True),
        ({"n": {"ComparisonOperator": "GT", "Value": {"N": "9"}}, "s": {"Value": {"S": "hello"}}}, "AND", False),
        ({"n": {"ComparisonOperator": "GT", "Value": {"N": "9"}}, "s": {"Value": {"S": "hello"}}}, "OR", True),
    ],
)
def test_expected_means_what_it_says(expected: dict, operator: str | None, holds: bool) -> None:
    assert _put(expected, operator).condition.parse().evaluate(ITEM) is holds


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({"n": {}}, "One or more parameter values were invalid: Value must be provided when Exists is null for Attribute: n"),
        ({"n": {"Exists": False, "Value": {"N": "1"}}}, "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: n"),
        ({"n": {"ComparisonOperator": "EQ", "Exists": True}}, "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: n"),
        ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}}, "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
        ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "1"}]}}, "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
        ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "5"}, {"S": "1"}]}}, "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type"),
        ({"n": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "5"}]}}, "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
        ({"n": {"AttributeValueList": [{"N": "5"}]}}, "One or more parameter values were invalid: AttributeValueList can only be used with a ComparisonOperator for Attribute: n"),
    ],
)
def test_expected_errors(expected: dict, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        _put(expected)
    assert caught.value.message == message


def test_attribute_updates_become_an_update_expression() -> None:
    request = parse_request("UpdateItem", {
        "TableName": "things", "Key": {"id": {"S": "a"}}, "ReturnValues": "UPDATED_NEW",
        "AttributeUpdates": {
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "s": {"Action": "DELETE"},
            "tags": {"Action": "DELETE", "Value": {"SS": ["x"]}},
            "lst": {"Action": "ADD", "Value": {"L": [{"N": "2"}]}},
            "fresh": {"Value": {"BOOL": True}},
        },
        "Expected": {"n": {"Value": {"N": "5"}}},
    })
    assert isinstance(request, UpdateItemRequest) and request.update is not None
    outcome = apply_update(request.update, request.condition, ITEM, {"id": {"S": "a"}})
    assert outcome.new_item == {
        "id": {"S": "a"}, "n": {"N": "7"}, "tags": {"SS": ["y"]}, "lst": {"L": [{"N": "1"}, {"N": "2"}]},
        "fresh": {"BOOL": True},
    }
    with pytest.raises(ValidationException, match="Only DELETE action is allowed when no attribute value is specified"):
        parse_request("UpdateItem", {"TableName": "things", "Key": {"id": {"S": "a"}}, "AttributeUpdates": {"n": {"Action": "PUT"}}})
    with pytest.raises(ValidationException, match="ADD action is not supported for the type S"):
        parse_request("UpdateItem", {"TableName": "things", "Key": {"id": {"S": "a"}},
                                     "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"S": "x"}}}})


def test_query_and_scan_legacy_conditions() -> None:
    query = parse_request("Query", {
        "TableName": "things",
        "KeyConditions": {"id": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
        "QueryFilter": {"n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "5"}]}},
        "AttributesToGet": ["n"],
    })
    assert isinstance(query, QueryRequest) and query.projection == (("n",),)
    assert query.key_condition.parse().evaluate(ITEM) and query.filter is not None and query.filter.parse().evaluate(ITEM)
    with pytest.raises(ValidationException, match="Attempted conditional constraint is not an indexable operation"):
        parse_request("Query", {"TableName": "things", "KeyConditions": {"id": {"ComparisonOperator": "NOT_NULL"}}})
    scan = parse_request("Scan", {
        "TableName": "things", "ConditionalOperator": "OR",
        "ScanFilter": {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "0"}]},
                       "s": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "hello"}]}},
    })
    assert isinstance(scan, ScanRequest) and scan.filter is not None and scan.filter.parse().evaluate(ITEM)
    with pytest.raises(ValidationException) as caught:
        parse_request("Scan", {"TableName": "things", "ScanFilter": {}, "FilterExpression": "a = :a",
                               "ExpressionAttributeValues": {":a": {"S": "x"}}})
    assert caught.value.message == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}"
    )


@pytest.mark.parametrize("operator", ["EQ", "NE"])
@pytest.mark.parametrize("value", [{"BOOL": True}, {"L": [{"N": "1"}]}, {"M": {"x": {"S": "y"}}}, {"NULL": True}])
def test_eq_and_ne_take_values_of_every_type(operator: str, value: dict) -> None:
    # API_Condition: "EQ is supported for all data types, including lists and maps" (NE alike). Found by
    # the dynalite differential: ours refused a BOOL or a list as "not valid for ... AttributeValue type".
    condition = _put({"v": {"ComparisonOperator": operator, "AttributeValueList": [value]}}).condition
    assert condition is not None
    assert condition.parse().evaluate({**ITEM, "v": value}) is (operator == "EQ")
    assert condition.parse().evaluate({**ITEM, "v": {"S": "other"}}) is (operator == "NE")
