"""Compare two DynamoDB answers to the same request: pure functions of (request, status, body).

What legitimately differs is normalised away: request ids, timestamps, ARNs, table ids, consumed
capacity, the order of set members, and the order of Scan and BatchGetItem results (DynamoDB
defines none; our Scan walks partitions in hash order, dynalite walks its own). What remains must be
equal: the HTTP status, the error code (the part of `__type` after '#'), and for a success the items,
attributes, counts and whether a page ended early.
"""

from __future__ import annotations

import decimal
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.differential_requests import Call

Body = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Body

    @property
    def error_code(self) -> str | None:
        if self.status == 200:
            return None
        return str(self.body.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP {self.status}"

    @property
    def message(self) -> str:
        return str(self.body.get("message") or self.body.get("Message") or "")

    def describe(self) -> str:
        return "200" if self.status == 200 else f"{self.status} {self.error_code}"


def _number_key(text: str) -> decimal.Decimal:
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        return decimal.Decimal(0)


def normalize_value(value: Any) -> Any:
    """An AttributeValue with set members in a fixed order (DynamoDB returns sets in any order)."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    type_name, raw = next(iter(value.items()))
    if type_name == "NS":
        return {"NS": sorted(raw, key=_number_key)}
    if type_name in ("SS", "BS"):
        return {type_name: sorted(raw)}
    if type_name == "L":
        return {"L": [normalize_value(element) for element in raw]}
    if type_name == "M":
        return {"M": {name: normalize_value(element) for name, element in sorted(raw.items())}}
    return value


def normalize_item(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {name: normalize_value(value) for name, value in sorted(item.items())}


def _sorted_items(items: Any) -> list[Any]:
    normalized = [normalize_item(item) for item in items or []]
    return sorted(normalized, key=lambda item: json.dumps(item, sort_keys=True))


def _table_description(table: Body) -> Body:
    throughput = table.get("ProvisionedThroughput") or {}
    return {
        "TableName": table.get("TableName"),
        "KeySchema": table.get("KeySchema"),
        "AttributeDefinitions": sorted(table.get("AttributeDefinitions") or [], key=lambda d: d.get("AttributeName")),
        "BillingMode": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "ReadCapacityUnits": throughput.get("ReadCapacityUnits"),
        "WriteCapacityUnits": throughput.get("WriteCapacityUnits"),
    }


def _page_shape(call: Call, body: Body) -> Body:
    """Query: the page as returned (order is defined). Scan: the set of items when both read the whole
    table; with a Limit, a start key or segments, which items come first is the store's own choice,
    so only how many were read and whether the page ended early are compared."""
    shape: Body = {"LastEvaluatedKey": "LastEvaluatedKey" in body, "ScannedCount": body.get("ScannedCount")}
    if call.operation == "Query":
        shape["Items"] = [normalize_item(item) for item in body.get("Items") or []] if "Items" in body else None
        shape["Count"] = body.get("Count")
        shape["LastEvaluatedKey"] = normalize_item(body.get("LastEvaluatedKey"))
        return shape
    partial_view = any(name in call.body for name in ("ExclusiveStartKey", "Segment")) or "LastEvaluatedKey" in body
    if not partial_view:
        shape["Items"] = _sorted_items(body.get("Items")) if "Items" in body else None
        shape["Count"] = body.get("Count")
    if "Segment" in call.body:
        # A segment is a slice of each store's own hash space: its items and their count differ.
        shape.pop("ScannedCount")
        shape.pop("LastEvaluatedKey")
    return shape


def success_shape(call: Call, body: Body) -> Any:
    """The part of a successful answer both stores must agree on."""
    operation = call.operation
    if operation in ("CreateTable", "DeleteTable"):
        return _table_description(body.get("TableDescription") or {})
    if operation == "DescribeTable":
        table = body.get("Table") or {}
        return {**_table_description(table), "TableStatus": table.get("TableStatus")}
    if operation == "ListTables":
        return {"TableNames": body.get("TableNames"), "LastEvaluatedTableName": body.get("LastEvaluatedTableName")}
    if operation in ("PutItem", "DeleteItem", "UpdateItem"):
        # dynalite answers "Attributes": {} when ReturnValues selects nothing; DynamoDB leaves the member
        # out (ScyllaDB's Alternator tests), as ours does: both mean no attributes.
        return {"Attributes": normalize_item(body.get("Attributes") or None)}
    if operation == "GetItem":
        return {"Item": normalize_item(body.get("Item"))}
    if operation in ("Query", "Scan"):
        return _page_shape(call, body)
    if operation == "BatchGetItem":
        responses = body.get("Responses") or {}
        return {
            "Responses": {table: _sorted_items(items) for table, items in sorted(responses.items())},
            "UnprocessedKeys": bool(body.get("UnprocessedKeys")),
        }
    return {"UnprocessedItems": bool(body.get("UnprocessedItems"))}


def _first_difference(ours: Any, theirs: Any, path: str = "") -> str:
    """The first field where two shapes differ, named like 'Items' or 'Attributes.num'."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for name in sorted(set(ours) | set(theirs)):
            if ours.get(name) != theirs.get(name):
                return _first_difference(ours.get(name), theirs.get(name), f"{path}.{name}" if path else name)
    return path or "value"


def mismatch(call: Call, ours: Answer, theirs: Answer) -> str | None:
    """None when both answers agree; else a short class of the disagreement, for grouping."""
    if ours.status != theirs.status or ours.error_code != theirs.error_code:
        return f"ours {ours.describe()} / dynalite {theirs.describe()}"
    if ours.status != 200:
        return None
    ours_shape, theirs_shape = success_shape(call, ours.body), success_shape(call, theirs.body)
    if ours_shape == theirs_shape:
        return None
    return f"200 but {_first_difference(ours_shape, theirs_shape)} differs"


# ---------------------------------------------------------------------------- dynalite is not AWS

VALIDATION_TYPE = "com.amazon.coral.validate#ValidationException"
# Mutations where dynalite (4.0) answers 200 but AWS refuses, with where AWS says so. These requests
# are judged against AWS's answer instead of dynalite's.
AWS_REFUSES: dict[tuple[str, str], str] = {
    # API_WriteRequest: "You can only request one of these operations, not both, in a single WriteRequest."
    ("BatchWriteItem", "two-requests-in-one"): "a WriteRequest holds exactly one of PutRequest and DeleteRequest",
    # API_Query/API_Scan, Select: "If you use the ProjectionExpression parameter, then the value for Select
    # can only be SPECIFIC_ATTRIBUTES. Any other value for Select will return an error."
    ("Query", "select-count-with-projection"): "Select COUNT with a ProjectionExpression",
    ("Scan", "select-count-with-projection"): "Select COUNT with a ProjectionExpression",
    # Select SPECIFIC_ATTRIBUTES returns "only the attributes listed in ProjectionExpression"; real DynamoDB
    # refuses it without one ("Must specify the AttributesToGet or ProjectionExpression when choosing to
    # get SPECIFIC_ATTRIBUTES", pinned against AWS by paritysuite/dynamodb-conformance).
    ("Query", "select-specific-without-projection"): "Select SPECIFIC_ATTRIBUTES without a projection",
    ("Scan", "select-specific-without-projection"): "Select SPECIFIC_ATTRIBUTES without a projection",
    # An order comparison (<, <=, >, >=, BETWEEN) with a constant that is not S, N or B: DynamoDB refuses
    # it (ScyllaDB's Alternator tests, run against DynamoDB); dynalite compares anything as text.
    **{(operation, "order-comparison-with-list"): "an order comparison with a list constant"
       for operation in ("PutItem", "DeleteItem", "UpdateItem", "Query", "Scan")},
    # API_DeleteItem, ReturnValues: "NONE" or "ALL_OLD" only; dynalite accepts any enum value there.
    ("DeleteItem", "return-values-all-new"): "DeleteItem ReturnValues other than NONE and ALL_OLD",
}


def aws_expectation(call: Call) -> Answer | None:
    """AWS's answer to a request dynalite is known to get wrong, or None (then dynalite is the oracle)."""
    reason = AWS_REFUSES.get((call.operation, call.mutation or ""))
    if reason is None:
        return None
    return Answer(400, {"__type": VALIDATION_TYPE, "message": f"(AWS refuses: {reason})"})


WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


def eventually_consistent_read(call: Call) -> bool:
    if call.operation == "BatchGetItem":
        tables = call.body.get("RequestItems")
        return isinstance(tables, dict) and not all(
            isinstance(entry, dict) and entry.get("ConsistentRead") is True for entry in tables.values()
        )
    return call.operation in ("GetItem", "Query", "Scan") and call.body.get("ConsistentRead") is not True


def written_items(call: Call) -> list[tuple[str, Body]]:
    """(table, item or key) for every item a write request names; the key attributes are among them."""
    body = call.body
    if call.operation == "PutItem":
        return [(body.get("TableName"), body.get("Item"))] if isinstance(body.get("Item"), dict) else []
    if call.operation in ("UpdateItem", "DeleteItem"):
        return [(body.get("TableName"), body.get("Key"))] if isinstance(body.get("Key"), dict) else []
    written = []
    tables = body.get("RequestItems")
    for table, writes in (tables.items() if isinstance(tables, dict) else ()):
        for write in writes if isinstance(writes, list) else ():
            if not isinstance(write, dict):
                continue
            item = (write.get("PutRequest") or {}).get("Item") or (write.get("DeleteRequest") or {}).get("Key")
            if isinstance(item, dict):
                written.append((table, item))
    return written


# ---------------------------------------------------------------------------- tallies


@dataclass
class Example:
    call: Call
    ours: Answer
    theirs: Answer


@dataclass
class Tally:
    """Agreement per operation, mismatch classes with a first example, and (when both refused a
    request with the same code) how often the messages were word for word the same."""

    total: Counter[str] = field(default_factory=Counter)
    agreed: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Example] = field(default_factory=dict)
    same_errors: Counter[str] = field(default_factory=Counter)
    same_messages: Counter[str] = field(default_factory=Counter)
    message_differences: dict[str, list[Example]] = field(default_factory=lambda: defaultdict(list))
    judged_by_docs: Counter[str] = field(default_factory=Counter)
    stale_read_retries: Counter[str] = field(default_factory=Counter)

    def add(self, call: Call, ours: Answer, theirs: Answer, judged_by_docs: bool = False) -> str | None:
        operation = call.operation
        self.total[operation] += 1
        self.judged_by_docs[operation] += judged_by_docs
        difference = mismatch(call, ours, theirs)
        if difference is None:
            self.agreed[operation] += 1
            if ours.status != 200 and not judged_by_docs:
                self.same_errors[operation] += 1
                if ours.message == theirs.message:
                    self.same_messages[operation] += 1
                else:
                    self.message_differences[operation].append(Example(call, ours, theirs))
            return None
        label = f"{operation} [{call.mutation or 'valid'}]: {difference}"
        self.classes[label] += 1
        self.examples.setdefault(label, Example(call, ours, theirs))
        return label

    def agreement(self, operation: str | None = None) -> float:
        total = self.total[operation] if operation else sum(self.total.values())
        agreed = self.agreed[operation] if operation else sum(self.agreed.values())
        return agreed / total if total else 1.0

    def mismatches(self) -> int:
        return sum(self.total.values()) - sum(self.agreed.values())


def _short(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def format_report(tally: Tally, seed: int, requests: int, top: int = 15, messages: int = 0) -> str:
    lines = [f"dynalite differential, seed {seed}, {requests} requests", "",
             "| operation | requests | agreement | same error message |", "|---|---|---|---|"]
    for operation in sorted(tally.total):
        same_errors = tally.same_errors[operation]
        messages_cell = f"{tally.same_messages[operation]}/{same_errors}" if same_errors else "-"
        lines.append(f"| {operation} | {tally.total[operation]} | {tally.agreement(operation):.1%} | {messages_cell} |")
    lines.append(f"| all | {sum(tally.total.values())} | {tally.agreement():.2%} | "
                 f"{sum(tally.same_messages.values())}/{sum(tally.same_errors.values())} |")
    if tally.judged_by_docs or tally.stale_read_retries:
        lines += ["", f"judged against AWS's documented answer instead of dynalite's: {sum(tally.judged_by_docs.values())}; "
                  f"eventually consistent reads of ours repeated until they caught up: {sum(tally.stale_read_retries.values())}"]
    if tally.classes:
        lines += ["", f"top mismatch classes ({len(tally.classes)} classes, {tally.mismatches()} mismatches):"]
    for label, count in tally.classes.most_common(top):
        example = tally.examples[label]
        lines += [f"  {count:4d}  {label}", f"        request:  {example.call.operation} {_short(example.call.body)}",
                  f"        ours:     {example.ours.status} {_short(example.ours.body)}",
                  f"        dynalite: {example.theirs.status} {_short(example.theirs.body)}"]
    if messages:
        lines += ["", "same error code, different message (first of each operation):"]
        for operation, examples in sorted(tally.message_differences.items()):
            for example in examples[:messages]:
                lines += [f"  {operation} [{example.call.mutation or 'valid'}] {_short(example.call.body, 200)}",
                          f"        ours:     {example.ours.message}", f"        dynalite: {example.theirs.message}"]
    return "\n".join(lines)
