"""One-change mutations that turn a valid request body into one DynamoDB must refuse.

Each mutation takes (generator, body, table) and returns the mutated body, or None when it does
not apply to this body (then the call stays valid). The generator passes a private copy of the body.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.differential_values import TableSpec, key_value

if TYPE_CHECKING:
    from bench.differential_requests import RequestGenerator

Body = dict[str, Any]
Mutation = Callable[["RequestGenerator", Body, TableSpec], Body | None]
EXPRESSION_FIELDS = (
    "ConditionExpression", "UpdateExpression", "KeyConditionExpression", "FilterExpression", "ProjectionExpression",
)


def _set(field: str, value: Any) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
        body[field] = value
        return body

    return mutate


def _without(field: str) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
        return body if body.pop(field, None) is not None else None

    return mutate


def _unknown_table(generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    body["TableName"] = f"{generator.prefix}-missing-{generator.rng.randint(0, 99)}"
    return body


TABLE_NAME_MUTATIONS: list[tuple[str, Mutation]] = [
    ("table-name-too-short", _set("TableName", "ab")),
    ("table-name-bad-characters", _set("TableName", "bad name!")),
    ("table-name-missing", _without("TableName")),
    ("unknown-table", _unknown_table),
    ("bad-return-consumed-capacity", _set("ReturnConsumedCapacity", "ALL")),
]


# ---------------------------------------------------------------------------- keys and values


def _key_holder(body: Body) -> Body:
    return body["Item"] if "Item" in body else body["Key"]


def _drop_key_attribute(generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    del _key_holder(body)[generator.rng.choice(list(table.key_types()))]
    return body


def _wrong_key_type(generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    name, type_name = generator.rng.choice(list(table.key_types().items()))
    _key_holder(body)[name] = {"N": "7"} if type_name != "N" else {"S": "seven"}
    return body


def _extra_key_attribute(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
    if "Key" not in body:
        return None
    body["Key"]["a"] = {"S": "extra"}
    return body


def _empty_key_value(generator: RequestGenerator, body: Body, table: TableSpec) -> Body | None:
    candidates = [(name, type_name) for name, type_name in table.key_types().items() if type_name != "N"]
    if not candidates:
        return None
    name, type_name = generator.rng.choice(candidates)
    _key_holder(body)[name] = {type_name: ""}
    return body


def _oversize_key(range_key: bool) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body | None:
        name, type_name = (table.range_name, table.range_type) if range_key else (table.hash_name, table.hash_type)
        if name is None or type_name == "N":
            return None
        size = 1025 if range_key else 2049
        value = "k" * size if type_name == "S" else base64.b64encode(b"\x01" * size).decode()
        _key_holder(body)[name] = {type_name: value}
        return body

    return mutate


def _bad_attribute(value: Body) -> Mutation:
    """A malformed AttributeValue in the item (PutItem) or, for key-only requests, in the key."""

    def mutate(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
        if "Item" in body:
            body["Item"]["a"] = value
        else:
            body["Key"][table.hash_name] = value
        return body

    return mutate


KEY_MUTATIONS: list[tuple[str, Mutation]] = [
    ("key-missing-attribute", _drop_key_attribute),
    ("key-wrong-type", _wrong_key_type),
    ("key-extra-attribute", _extra_key_attribute),
    ("key-empty-value", _empty_key_value),
    ("hash-key-too-large", _oversize_key(range_key=False)),
    ("range-key-too-large", _oversize_key(range_key=True)),
    ("number-not-numeric", _bad_attribute({"N": "12abc"})),
    ("number-too-precise", _bad_attribute({"N": "1" * 39})),
    ("number-overflow", _bad_attribute({"N": "1e126"})),
    ("empty-string-set", _bad_attribute({"SS": []})),
    ("duplicate-string-set", _bad_attribute({"SS": ["a", "a"]})),
    ("duplicate-number-set", _bad_attribute({"NS": ["1", "1.0"]})),
    ("null-false", _bad_attribute({"NULL": False})),
    ("two-types", _bad_attribute({"S": "a", "N": "1"})),
    ("empty-attribute-value", _bad_attribute({})),
]


# ---------------------------------------------------------------------------- expressions


def _first_expression(body: Body) -> str | None:
    return next((field for field in EXPRESSION_FIELDS if field in body), None)


def _add_placeholder(kind: str) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
        if _first_expression(body) is None:
            return None
        if kind == "name":
            body.setdefault("ExpressionAttributeNames", {})["#unused"] = "a"
        else:
            body.setdefault("ExpressionAttributeValues", {})[":unused"] = {"S": "u"}
        return body

    return mutate


def _append_to_expression(suffix: str, fields: tuple[str, ...] = EXPRESSION_FIELDS) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
        field = next((name for name in fields if name in body), None)
        if field is None:
            return None
        body[field] += suffix
        return body

    return mutate


def _placeholders_without_expression(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
    field = _first_expression(body)
    if field is None:
        body["ExpressionAttributeNames"] = {"#a": "a"}
        return body
    for name in EXPRESSION_FIELDS:
        body.pop(name, None)
    if "ExpressionAttributeNames" not in body and "ExpressionAttributeValues" not in body:
        body["ExpressionAttributeValues"] = {":a": {"S": "a"}}
    return body


def _reserved_word(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
    field = next((name for name in ("ConditionExpression", "FilterExpression", "ProjectionExpression") if name in body), None)
    if field is None:
        return None
    body[field] = f"({body[field]}) AND attribute_exists(name)" if field != "ProjectionExpression" else "name"
    if field == "ProjectionExpression":
        body.pop("ExpressionAttributeNames", None)
    return body


def _order_comparison_with_list(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
    field = next((name for name in ("ConditionExpression", "FilterExpression") if name in body), None)
    if field is None:
        return None
    body[field] = f"({body[field]}) OR a < :list"
    body.setdefault("ExpressionAttributeValues", {})[":list"] = {"L": [{"N": "1"}]}
    return body


EXPRESSION_MUTATIONS: list[tuple[str, Mutation]] = [
    ("unused-value", _add_placeholder("value")),
    ("unused-name", _add_placeholder("name")),
    ("undefined-value", _append_to_expression(" AND a = :undefined", ("ConditionExpression", "FilterExpression"))),
    ("undefined-name", _append_to_expression(", #undefined", ("ProjectionExpression",))),
    ("undefined-name-in-condition", _append_to_expression(" OR attribute_exists(#undefined)", ("ConditionExpression",))),
    ("syntax-error", _append_to_expression(" AND")),
    ("order-comparison-with-list", _order_comparison_with_list),
    ("placeholders-without-expression", _placeholders_without_expression),
    ("reserved-word", _reserved_word),
    ("empty-names-map", _set("ExpressionAttributeNames", {})),
]


def _condition_and_expected(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    body["ConditionExpression"] = body.get("ConditionExpression") or "attribute_exists(a)"
    body["Expected"] = {"b": {"Exists": False}}
    return body


def _update_key(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    for field in ("AttributeUpdates", "UpdateExpression", "ConditionExpression"):
        body.pop(field, None)
    body["UpdateExpression"] = "SET #key = :key"
    body["ExpressionAttributeNames"] = {"#key": table.hash_name}
    body["ExpressionAttributeValues"] = {":key": body["Key"][table.hash_name]}
    return body


def _update_expression(text: str, values: Body) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
        for field in ("AttributeUpdates", "UpdateExpression", "ConditionExpression",
                      "ExpressionAttributeNames", "ExpressionAttributeValues"):
            body.pop(field, None)
        body["UpdateExpression"] = text
        if values:
            body["ExpressionAttributeValues"] = values
        return body

    return mutate


def _update_and_legacy(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    body["AttributeUpdates"] = {"b": {"Action": "PUT", "Value": {"S": "x"}}}
    if "UpdateExpression" not in body:
        body["UpdateExpression"] = "REMOVE a"
    return body


UPDATE_MUTATIONS: list[tuple[str, Mutation]] = [
    ("update-key-attribute", _update_key),
    ("overlapping-paths", _update_expression("SET a = :x REMOVE a", {":x": {"S": "x"}})),
    ("parent-and-child-paths", _update_expression("SET doc = :x, doc.x = :x", {":x": {"S": "x"}})),
    ("add-string", _update_expression("ADD a :x", {":x": {"S": "x"}})),
    ("delete-number", _update_expression("DELETE num :x", {":x": {"N": "1"}})),
    ("add-to-existing-mismatch", _update_expression("ADD tags :x", {":x": {"NS": ["1"]}})),
    ("set-empty", _update_expression("SET", {})),
    ("duplicate-clause", _update_expression("SET a = :x SET b = :x", {":x": {"S": "x"}})),
    ("list-append-non-list", _update_expression("SET items = list_append(items, :x)", {":x": {"S": "x"}})),
    ("arithmetic-on-string", _update_expression("SET num = :x + :y", {":x": {"S": "x"}, ":y": {"N": "1"}})),
    ("update-and-legacy", _update_and_legacy),
    ("bad-return-values", _set("ReturnValues", "EVERYTHING")),
]


# ---------------------------------------------------------------------------- per operation


def _existing_table(generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    body["TableName"] = generator.rng.choice(sorted(generator.state.tables))
    return body


def _edit_key_schema(edit: Callable[[Body], None]) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body | None:
        edit(body)
        return body

    return mutate


def _set_first(field: str, member: str, value: Any) -> Callable[[Body], None]:
    def edit(body: Body) -> None:
        body[field][0][member] = value

    return edit


def _first_key_range(body: Body) -> None:
    body["KeySchema"][0]["KeyType"] = "RANGE"


def _same_key_names(body: Body) -> None:
    if len(body["KeySchema"]) == 1:
        body["KeySchema"].append({"AttributeName": body["KeySchema"][0]["AttributeName"], "KeyType": "RANGE"})
    else:
        body["KeySchema"][1]["AttributeName"] = body["KeySchema"][0]["AttributeName"]


def _undefined_key(body: Body) -> None:
    body["KeySchema"][0]["AttributeName"] = "undefined"


def _extra_definition(body: Body) -> None:
    body["AttributeDefinitions"].append({"AttributeName": "extra", "AttributeType": "S"})


def _three_keys(body: Body) -> None:
    body["KeySchema"] += [{"AttributeName": "x", "KeyType": "RANGE"}] * (3 - len(body["KeySchema"]))


def _billing(mode: str | None, throughput: Body | None) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
        body.pop("BillingMode", None)
        body.pop("ProvisionedThroughput", None)
        if mode is not None:
            body["BillingMode"] = mode
        if throughput is not None:
            body["ProvisionedThroughput"] = throughput
        return body

    return mutate


CREATE_TABLE_MUTATIONS: list[tuple[str, Mutation]] = [
    ("existing-table", _existing_table),
    ("table-name-too-short", _set("TableName", "ab")),
    ("table-name-bad-characters", _set("TableName", "bad/name")),
    ("bad-attribute-type", _edit_key_schema(_set_first("AttributeDefinitions", "AttributeType", "BOOL"))),
    ("bad-key-type", _edit_key_schema(_set_first("KeySchema", "KeyType", "PRIMARY"))),
    ("first-key-range", _edit_key_schema(_first_key_range)),
    ("same-key-names", _edit_key_schema(_same_key_names)),
    ("undefined-key-attribute", _edit_key_schema(_undefined_key)),
    ("extra-definition", _edit_key_schema(_extra_definition)),
    ("three-keys", _edit_key_schema(_three_keys)),
    ("missing-key-schema", _without("KeySchema")),
    ("missing-definitions", _without("AttributeDefinitions")),
    ("no-throughput", _billing(None, None)),
    ("throughput-on-demand", _billing("PAY_PER_REQUEST", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})),
    ("zero-capacity", _billing("PROVISIONED", {"ReadCapacityUnits": 0, "WriteCapacityUnits": 5})),
    ("missing-write-capacity", _billing(None, {"ReadCapacityUnits": 5})),
    ("bad-billing-mode", _billing("FREE", None)),
]

LIST_TABLES_MUTATIONS: list[tuple[str, Mutation]] = [
    ("limit-zero", _set("Limit", 0)),
    ("limit-too-large", _set("Limit", 101)),
    ("start-name-too-short", _set("ExclusiveStartTableName", "ab")),
]

PUT_ITEM_MUTATIONS: list[tuple[str, Mutation]] = [
    ("return-values-all-new", _set("ReturnValues", "ALL_NEW")),
    ("bad-return-values", _set("ReturnValues", "EVERYTHING")),
    ("condition-and-expected", _condition_and_expected),
    ("item-missing", _without("Item")),
    ("item-too-large", lambda _g, body, _t: {**body, "Item": {**body["Item"], "big": {"S": "x" * (400 * 1024)}}}),
]


def _query_expression(text: str) -> Mutation:
    """Replace the key condition with `text`, where #h/#r name the table's keys and :h/:r are values."""

    def mutate(generator: RequestGenerator, body: Body, table: TableSpec) -> Body | None:
        if "KeyConditionExpression" not in body:
            return None
        if "#r" in text and table.range_name is None:
            return None
        for field in ("KeyConditionExpression", "FilterExpression", "ProjectionExpression", "Select",
                      "ExpressionAttributeNames", "ExpressionAttributeValues"):
            body.pop(field, None)
        if "begins_with" in text and table.range_type != "N":
            return None
        names = {"#h": table.hash_name, "#r": table.range_name}
        # :r is of the range key's type (begins_with on a number is the error being tested).
        values = {":h": generator._key(table)[table.hash_name], ":r": key_value(generator.rng, table.range_type or "S")}
        body["KeyConditionExpression"] = text
        body["ExpressionAttributeNames"] = {name: value for name, value in names.items() if name in text}
        body["ExpressionAttributeValues"] = {name: value for name, value in values.items() if name in text}
        return body

    return mutate


def _filter_on_key(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    body["FilterExpression"] = "attribute_exists(#filterkey)"
    body.setdefault("ExpressionAttributeNames", {})["#filterkey"] = table.hash_name
    body.pop("KeyConditions", None)
    return body


def _bad_start_key(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    body["ExclusiveStartKey"] = {"a": {"S": "not-a-key"}}
    return body


READ_MUTATIONS: list[tuple[str, Mutation]] = [
    ("limit-zero", _set("Limit", 0)),
    ("bad-select", _set("Select", "SOME")),
    ("select-count-with-projection", lambda _g, body, _t: {**body, "Select": "COUNT", "ProjectionExpression": "a"}),
    ("select-specific-without-projection", lambda _g, body, _t: None if "ProjectionExpression" in body else {**body, "Select": "SPECIFIC_ATTRIBUTES"}),
    ("bad-start-key", _bad_start_key),
    ("index-name", _set("IndexName", "no-such-index")),
    ("attributes-to-get-and-projection", lambda _g, body, _t: {**body, "AttributesToGet": ["a"], "ProjectionExpression": "b"}),
]

QUERY_MUTATIONS: list[tuple[str, Mutation]] = [
    ("no-key-condition", lambda _g, body, _t: {k: v for k, v in body.items() if k not in ("KeyConditionExpression", "KeyConditions", "FilterExpression", "ExpressionAttributeNames", "ExpressionAttributeValues", "ProjectionExpression")}),
    ("key-condition-on-non-key", _query_expression("#h = :h AND a = :h")),
    ("hash-inequality", _query_expression("#h > :h")),
    ("range-only", _query_expression("#r = :r")),
    ("begins-with-on-number", _query_expression("#h = :h AND begins_with(#r, :r)")),
    ("hash-condition-twice", _query_expression("#h = :h AND #h = :h")),
    ("key-condition-or", _query_expression("#h = :h OR #r = :r")),
    ("filter-on-key", _filter_on_key),
]

SCAN_MUTATIONS: list[tuple[str, Mutation]] = [
    # Segment 1, not 0: dynalite tests `if (data.Segment && ...)`, so it lets Segment 0 through alone.
    ("segment-without-total", lambda _g, body, _t: {**{k: v for k, v in body.items() if k != "TotalSegments"}, "Segment": 1}),
    ("segment-not-below-total", lambda _g, body, _t: {**body, "Segment": 2, "TotalSegments": 2}),
    ("total-segments-zero", lambda _g, body, _t: {**body, "Segment": 0, "TotalSegments": 0}),
    ("filter-and-scan-filter", lambda _g, body, _t: {**body, "FilterExpression": body.get("FilterExpression", "attribute_exists(a)"), "ScanFilter": {"b": {"ComparisonOperator": "NULL"}}}),
]


# ---------------------------------------------------------------------------- batches


def _batch_table(body: Body) -> str:
    return next(iter(body["RequestItems"]))


def _too_many_get_keys(generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    keys = [{name: ({"S": f"many{i}"} if t == "S" else {"N": str(i)} if t == "N" else {"B": base64.b64encode(i.to_bytes(2, "big")).decode()})
             for name, t in table.key_types().items()} for i in range(101)]
    return {"RequestItems": {table.name: {"Keys": keys}}}


def _duplicate_get_keys(_generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    entry = body["RequestItems"][_batch_table(body)]
    entry["Keys"].append(dict(entry["Keys"][0]))
    return body


def _unknown_batch_table(generator: RequestGenerator, body: Body, _table: TableSpec) -> Body:
    name = _batch_table(body)
    body["RequestItems"][f"{generator.prefix}-missing-{generator.rng.randint(0, 99)}"] = body["RequestItems"].pop(name)
    return body


def _batch_wrong_key_type(generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    first = body["RequestItems"][_batch_table(body)]
    target = first["Keys"][0] if isinstance(first, dict) else next(iter(first[0].values()))
    holder = target.get("Item", target.get("Key", target))
    holder[table.hash_name] = {"N": "7"} if table.hash_type != "N" else {"S": "seven"}
    return body


BATCH_COMMON: list[tuple[str, Mutation]] = [
    ("unknown-table", _unknown_batch_table),
    ("empty-request-items", _set("RequestItems", {})),
    ("bad-table-name", lambda _g, body, _t: {"RequestItems": {"ab": body["RequestItems"][_batch_table(body)]}}),
    ("key-wrong-type", _batch_wrong_key_type),
    ("bad-return-consumed-capacity", _set("ReturnConsumedCapacity", "ALL")),
]

BATCH_GET_MUTATIONS: list[tuple[str, Mutation]] = [
    ("too-many-keys", _too_many_get_keys),
    ("duplicate-keys", _duplicate_get_keys),
    ("empty-keys", lambda _g, body, _t: {"RequestItems": {_batch_table(body): {"Keys": []}}}),
    ("projection-and-attributes-to-get", lambda _g, body, _t: {"RequestItems": {_batch_table(body): {**body["RequestItems"][_batch_table(body)], "AttributesToGet": ["a"], "ProjectionExpression": "b"}}}),
]


def _too_many_writes(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    writes = [{"DeleteRequest": {"Key": {name: ({"S": f"many{i}"} if t == "S" else {"N": str(i)} if t == "N" else {"B": base64.b64encode(i.to_bytes(2, "big")).decode()})
                                        for name, t in table.key_types().items()}}} for i in range(26)]
    return {"RequestItems": {table.name: writes}}


def _duplicate_write(as_delete: bool) -> Mutation:
    def mutate(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
        writes = body["RequestItems"][_batch_table(body)]
        first = writes[0]
        key_source = first["PutRequest"]["Item"] if "PutRequest" in first else first["DeleteRequest"]["Key"]
        key = {name: key_source[name] for name in table.key_types()}
        writes.append({"DeleteRequest": {"Key": key}} if as_delete else {"PutRequest": {"Item": dict(key)}})
        return body

    return mutate


def _two_requests_in_one(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    writes = body["RequestItems"][_batch_table(body)]
    first = writes[0]
    item = first["PutRequest"]["Item"] if "PutRequest" in first else first["DeleteRequest"]["Key"]
    key = {name: item[name] for name in table.key_types()}
    writes[0] = {"PutRequest": {"Item": dict(item)}, "DeleteRequest": {"Key": key}}
    return body


def _put_without_key(_generator: RequestGenerator, body: Body, table: TableSpec) -> Body:
    body["RequestItems"][_batch_table(body)].append({"PutRequest": {"Item": {"a": {"S": "no key"}}}})
    return body


BATCH_WRITE_MUTATIONS: list[tuple[str, Mutation]] = [
    ("too-many-writes", _too_many_writes),
    ("duplicate-put-or-delete", _duplicate_write(as_delete=False)),
    ("put-and-delete-same-key", _duplicate_write(as_delete=True)),
    ("empty-writes", lambda _g, body, _t: {"RequestItems": {_batch_table(body): []}}),
    ("two-requests-in-one", _two_requests_in_one),
    ("put-without-key", _put_without_key),
    ("empty-write-request", lambda _g, body, _t: {"RequestItems": {_batch_table(body): [{}]}}),
]

MUTATIONS: dict[str, list[tuple[str, Mutation]]] = {
    "CreateTable": CREATE_TABLE_MUTATIONS,
    "DescribeTable": TABLE_NAME_MUTATIONS[:4],
    "ListTables": LIST_TABLES_MUTATIONS,
    "DeleteTable": TABLE_NAME_MUTATIONS[:4],
    "PutItem": PUT_ITEM_MUTATIONS + KEY_MUTATIONS + EXPRESSION_MUTATIONS,
    "GetItem": KEY_MUTATIONS[:6] + EXPRESSION_MUTATIONS + READ_MUTATIONS[-1:],
    "DeleteItem": KEY_MUTATIONS[:8] + EXPRESSION_MUTATIONS + PUT_ITEM_MUTATIONS[:3],
    "UpdateItem": KEY_MUTATIONS[:8] + EXPRESSION_MUTATIONS + UPDATE_MUTATIONS,
    "Query": QUERY_MUTATIONS + READ_MUTATIONS + EXPRESSION_MUTATIONS,
    "Scan": SCAN_MUTATIONS + READ_MUTATIONS + EXPRESSION_MUTATIONS,
    "BatchGetItem": BATCH_GET_MUTATIONS + BATCH_COMMON,
    "BatchWriteItem": BATCH_WRITE_MUTATIONS + BATCH_COMMON,
}
# The table-name mutations apply to every single-table item operation.
COMMON_MUTATIONS: dict[str, list[tuple[str, Mutation]]] = {
    operation: TABLE_NAME_MUTATIONS for operation in ("PutItem", "GetItem", "DeleteItem", "UpdateItem", "Query", "Scan")
}
