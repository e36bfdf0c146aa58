"""A pure, seeded generator of DynamoDB request sequences for differential testing.

Every request is built from a `random.Random` passed in and from the generator's own record of
what it asked for (tables it created, keys it wrote), never from a server's answers: one seed
gives one sequence, whoever answers it. Most requests are meant to be valid; a share are valid
requests with one mutation that DynamoDB must refuse (the mutation's name travels with the call,
so a mismatch report can group by it).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.differential_mutations import COMMON_MUTATIONS, MUTATIONS
from bench.differential_values import (
    ATTRIBUTE_NAMES,
    KEY_TYPES,
    Placeholders,
    TableSpec,
    condition,
    item_attributes,
    key_value,
    legacy_conditions,
    legacy_key_conditions,
    projection,
    typed_value_for,
    update_expression,
)

OPERATIONS = (
    "CreateTable", "DescribeTable", "ListTables", "DeleteTable", "PutItem", "GetItem", "DeleteItem",
    "UpdateItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
)
# How often each operation is drawn: data-plane operations dominate, as in any real workload.
OPERATION_WEIGHTS = {
    "CreateTable": 3, "DescribeTable": 3, "ListTables": 2, "DeleteTable": 1, "PutItem": 16, "GetItem": 10,
    "DeleteItem": 6, "UpdateItem": 16, "Query": 12, "Scan": 8, "BatchGetItem": 6, "BatchWriteItem": 7,
}
INVALID_SHARE = 0.35
MAX_LIVE_TABLES = 4
Body = dict[str, Any]


@dataclass(frozen=True)
class Call:
    operation: str
    body: Body
    mutation: str | None  # None: meant to be valid (it may still fail, e.g. a condition that is false)


@dataclass
class GeneratorState:
    """What the generator asked for so far: live tables and the keys it wrote to each."""

    tables: dict[str, TableSpec] = field(default_factory=dict)
    keys: dict[str, list[Body]] = field(default_factory=dict)
    tables_created: int = 0


# ---------------------------------------------------------------------------- the generator


class RequestGenerator:
    """Draws calls one at a time; `table_prefix` keeps one run's tables apart from another's."""

    def __init__(self, rng: random.Random, table_prefix: str = "diff") -> None:
        self.rng = rng
        self.prefix = table_prefix
        self.state = GeneratorState()

    # ---- state ------------------------------------------------------------------------------

    def _table(self) -> TableSpec | None:
        if not self.state.tables:
            return None
        return self.state.tables[self.rng.choice(sorted(self.state.tables))]

    def _new_key(self, table: TableSpec) -> Body:
        return {name: key_value(self.rng, type_name) for name, type_name in table.key_types().items()}

    def _key(self, table: TableSpec) -> Body:
        written = self.state.keys.get(table.name, [])
        if written and self.rng.random() < 0.7:
            return copy.deepcopy(self.rng.choice(written))
        return self._new_key(table)

    def _remember_key(self, table: TableSpec, key: Body) -> None:
        written = self.state.keys.setdefault(table.name, [])
        if key not in written:
            written.append(copy.deepcopy(key))

    def _unknown_table_name(self) -> str:
        return f"{self.prefix}-missing-{self.rng.randint(0, 99)}"

    # ---- drawing ----------------------------------------------------------------------------

    def next_call(self) -> Call:
        if not self.state.tables:
            return self._finish("CreateTable", self._create_table_body(), None)
        operations = list(OPERATION_WEIGHTS)
        operation = self.rng.choices(operations, [OPERATION_WEIGHTS[name] for name in operations])[0]
        # With enough tables live, a CreateTable is drawn only to be refused.
        must_fail = operation == "CreateTable" and len(self.state.tables) >= MAX_LIVE_TABLES
        if operation == "DeleteTable" and len(self.state.tables) < 2:
            operation = "ListTables"
        table = self._table()
        assert table is not None
        body = BUILDERS[operation](self, table)
        mutation = None
        for _ in range(10 if must_fail else 1):
            if must_fail or self.rng.random() < INVALID_SHARE:
                name, mutate = self.rng.choice(MUTATIONS[operation] + COMMON_MUTATIONS.get(operation, []))
                mutated = mutate(self, copy.deepcopy(body), table)
                if mutated is not None:
                    body, mutation = mutated, name
                    break
        if must_fail and mutation is None:
            body, mutation = {**body, "TableName": table.name}, "existing-table"
        return self._finish(operation, body, mutation)

    def _finish(self, operation: str, body: Body, mutation: str | None) -> Call:
        """Record what a valid call would change, so later calls find its tables and keys."""
        if mutation is None:
            self._account(operation, body)
        return Call(operation, body, mutation)

    def _account(self, operation: str, body: Body) -> None:
        state = self.state
        if operation == "CreateTable":
            name = body["TableName"]
            if name in state.tables:
                return
            schema = {element["KeyType"]: element["AttributeName"] for element in body["KeySchema"]}
            types = {d["AttributeName"]: d["AttributeType"] for d in body["AttributeDefinitions"]}
            range_name = schema.get("RANGE")
            state.tables[name] = TableSpec(
                name, schema["HASH"], types[schema["HASH"]], range_name, types.get(range_name) if range_name else None
            )
        elif operation == "DeleteTable":
            state.tables.pop(body["TableName"], None)
            state.keys.pop(body["TableName"], None)
        elif operation == "PutItem" and body["TableName"] in state.tables:
            table = state.tables[body["TableName"]]
            self._remember_key(table, {name: body["Item"][name] for name in table.key_types()})
        elif operation in ("UpdateItem",) and body["TableName"] in state.tables:
            self._remember_key(state.tables[body["TableName"]], body["Key"])
        elif operation == "BatchWriteItem":
            for name, writes in body["RequestItems"].items():
                table = state.tables.get(name)
                for write in writes if table else ():
                    if "PutRequest" in write:
                        self._remember_key(table, {k: write["PutRequest"]["Item"][k] for k in table.key_types()})

    # ---- valid bodies -----------------------------------------------------------------------

    def _create_table_body(self, _table: TableSpec | None = None) -> Body:
        rng = self.rng
        self.state.tables_created += 1
        name = f"{self.prefix}-t{self.state.tables_created}"
        hash_name = rng.choice(("pk", "id", "user"))
        definitions = [{"AttributeName": hash_name, "AttributeType": rng.choice(KEY_TYPES)}]
        key_schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
        if rng.random() < 0.6:
            range_name = rng.choice(("sk", "ts", "rank"))
            definitions.append({"AttributeName": range_name, "AttributeType": rng.choice(KEY_TYPES)})
            key_schema.append({"AttributeName": range_name, "KeyType": "RANGE"})
        body: Body = {"TableName": name, "KeySchema": key_schema, "AttributeDefinitions": definitions}
        if rng.random() < 0.5:
            body["BillingMode"] = "PAY_PER_REQUEST"
        else:
            # Generous capacity: throttling is our admission control's business, not this comparison's.
            body["ProvisionedThroughput"] = {"ReadCapacityUnits": 1000, "WriteCapacityUnits": 1000}
        return body

    def _describe_table_body(self, table: TableSpec) -> Body:
        return {"TableName": table.name if self.rng.random() < 0.8 else self._unknown_table_name()}

    def _list_tables_body(self, table: TableSpec) -> Body:
        body: Body = {}
        if self.rng.random() < 0.5:
            body["Limit"] = self.rng.randint(1, 5)
        if self.rng.random() < 0.3:
            body["ExclusiveStartTableName"] = table.name
        return body

    def _delete_table_body(self, table: TableSpec) -> Body:
        return {"TableName": table.name if self.rng.random() < 0.7 else self._unknown_table_name()}

    def _put_item_body(self, table: TableSpec) -> Body:
        rng = self.rng
        body: Body = {"TableName": table.name, "Item": {**item_attributes(rng), **self._key(table)}}
        # PutItem's most common condition: create only if absent.
        created_only = rng.random() < 0.15
        if created_only:
            placeholders = Placeholders(rng)
            body["ConditionExpression"] = f"attribute_not_exists({placeholders.name(table.hash_name)})"
            placeholders.attach(body)
        self._write_options(body, conditioned=created_only)
        return body

    def _write_options(self, body: Body, conditioned: bool = False) -> None:
        """What PutItem and DeleteItem share: a condition (expression or legacy Expected), ReturnValues."""
        rng = self.rng
        roll = rng.random()
        if not conditioned and roll < 0.3:
            placeholders = Placeholders(rng)
            body["ConditionExpression"] = condition(rng, placeholders)
            placeholders.attach(body)
        elif not conditioned and roll < 0.4:
            legacy_conditions(rng, body, "Expected")
        if rng.random() < 0.4:
            body["ReturnValues"] = rng.choice(("NONE", "ALL_OLD"))

    def _get_item_body(self, table: TableSpec) -> Body:
        rng = self.rng
        body: Body = {"TableName": table.name, "Key": self._key(table)}
        if rng.random() < 0.4:
            placeholders = Placeholders(rng)
            body["ProjectionExpression"] = projection(rng, placeholders, table)
            placeholders.attach(body)
        elif rng.random() < 0.1:
            body["AttributesToGet"] = rng.sample(ATTRIBUTE_NAMES, 2)
        if rng.random() < 0.5:
            body["ConsistentRead"] = rng.random() < 0.5
        return body

    def _delete_item_body(self, table: TableSpec) -> Body:
        body: Body = {"TableName": table.name, "Key": self._key(table)}
        self._write_options(body)
        return body

    def _update_item_body(self, table: TableSpec) -> Body:
        rng = self.rng
        body: Body = {"TableName": table.name, "Key": self._key(table)}
        roll = rng.random()
        if roll < 0.1:
            name = rng.choice(ATTRIBUTE_NAMES)
            # No DELETE-only update: like a REMOVE-only expression, dynalite would create an absent item.
            body["AttributeUpdates"] = {name: {"Action": rng.choice(("PUT", "ADD")), "Value": typed_value_for(rng, name)}}
            if rng.random() < 0.4:
                legacy_conditions(rng, body, "Expected")
        else:
            placeholders = Placeholders(rng)
            body["UpdateExpression"] = update_expression(rng, placeholders)
            if rng.random() < 0.3:
                body["ConditionExpression"] = condition(rng, placeholders)
            placeholders.attach(body)
        if rng.random() < 0.5:
            body["ReturnValues"] = rng.choice(("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
        return body

    def _key_condition(self, table: TableSpec, placeholders: Placeholders) -> str:
        rng = self.rng
        hash_value = self._key(table)[table.hash_name]
        text = f"{placeholders.name(table.hash_name)} = {placeholders.value(hash_value)}"
        if table.range_name is None or table.range_type is None or rng.random() < 0.4:
            return text
        range_path = placeholders.name(table.range_name)
        roll = rng.random()
        if roll < 0.5:
            operator = rng.choice(("=", "<", "<=", ">", ">="))
            return f"{text} AND {range_path} {operator} {placeholders.value(key_value(rng, table.range_type))}"
        if roll < 0.8 or table.range_type == "N":
            low, high = key_value(rng, table.range_type), key_value(rng, table.range_type)
            return f"{text} AND {range_path} BETWEEN {placeholders.value(low)} AND {placeholders.value(high)}"
        prefix = key_value(rng, table.range_type)
        return f"{text} AND begins_with({range_path}, {placeholders.value(prefix)})"

    def _read_options(self, body: Body, table: TableSpec, placeholders: Placeholders) -> None:
        """Limit, FilterExpression, ProjectionExpression and Select: what Query and Scan share."""
        rng = self.rng
        if rng.random() < 0.3:
            body["Limit"] = rng.randint(1, 6)
        if rng.random() < 0.3:
            body["FilterExpression"] = condition(rng, placeholders, avoid=tuple(table.key_types()))
        roll = rng.random()
        if roll < 0.25:
            body["ProjectionExpression"] = projection(rng, placeholders, table)
        elif roll < 0.35:
            body["Select"] = "COUNT"
        if rng.random() < 0.3:
            body["ConsistentRead"] = rng.random() < 0.5

    def _query_body(self, table: TableSpec) -> Body:
        rng = self.rng
        body: Body = {"TableName": table.name}
        if rng.random() < 0.15:
            body["KeyConditions"] = legacy_key_conditions(rng, table, self._key(table)[table.hash_name])
            if rng.random() < 0.4:
                legacy_conditions(rng, body, "QueryFilter", avoid=tuple(table.key_types()))
            if rng.random() < 0.3:
                body["Limit"] = rng.randint(1, 6)
            if rng.random() < 0.3:
                body["ScanIndexForward"] = rng.random() < 0.5
            return body
        placeholders = Placeholders(rng)
        body["KeyConditionExpression"] = self._key_condition(table, placeholders)
        self._read_options(body, table, placeholders)
        if rng.random() < 0.3:
            body["ScanIndexForward"] = rng.random() < 0.5
        if rng.random() < 0.1 and table.name in self.state.keys:
            body["ExclusiveStartKey"] = self._key(table)
        placeholders.attach(body)
        return body

    def _scan_body(self, table: TableSpec) -> Body:
        rng = self.rng
        body: Body = {"TableName": table.name}
        placeholders = Placeholders(rng)
        self._read_options(body, table, placeholders)
        if rng.random() < 0.1:
            total = rng.randint(1, 4)
            body["TotalSegments"], body["Segment"] = total, rng.randrange(total)
        if "FilterExpression" not in body and "ProjectionExpression" not in body and rng.random() < 0.15:
            legacy_conditions(rng, body, "ScanFilter")
        placeholders.attach(body)
        return body

    def _distinct_keys(self, table: TableSpec, count: int) -> list[Body]:
        keys: list[Body] = []
        for _ in range(count * 3):
            key = self._key(table)
            if key not in keys:
                keys.append(key)
            if len(keys) == count:
                break
        return keys

    def _batch_get_body(self, table: TableSpec) -> Body:
        rng = self.rng
        tables = rng.sample(sorted(self.state.tables), rng.randint(1, min(2, len(self.state.tables))))
        request_items: Body = {}
        for name in tables:
            entry: Body = {"Keys": self._distinct_keys(self.state.tables[name], rng.randint(1, 5))}
            if rng.random() < 0.3:
                placeholders = Placeholders(rng)
                entry["ProjectionExpression"] = projection(rng, placeholders, self.state.tables[name])
                if placeholders.names:
                    entry["ExpressionAttributeNames"] = placeholders.names
            if rng.random() < 0.3:
                entry["ConsistentRead"] = True
            request_items[name] = entry
        return {"RequestItems": request_items}

    def _batch_write_body(self, table: TableSpec) -> Body:
        rng = self.rng
        writes = []
        for key in self._distinct_keys(table, rng.randint(1, 6)):
            if rng.random() < 0.7:
                writes.append({"PutRequest": {"Item": {**item_attributes(rng), **key}}})
            else:
                writes.append({"DeleteRequest": {"Key": key}})
        return {"RequestItems": {table.name: writes}}


BUILDERS: dict[str, Callable[[RequestGenerator, TableSpec], Body]] = {
    "CreateTable": RequestGenerator._create_table_body,
    "DescribeTable": RequestGenerator._describe_table_body,
    "ListTables": RequestGenerator._list_tables_body,
    "DeleteTable": RequestGenerator._delete_table_body,
    "PutItem": RequestGenerator._put_item_body,
    "GetItem": RequestGenerator._get_item_body,
    "DeleteItem": RequestGenerator._delete_item_body,
    "UpdateItem": RequestGenerator._update_item_body,
    "Query": RequestGenerator._query_body,
    "Scan": RequestGenerator._scan_body,
    "BatchGetItem": RequestGenerator._batch_get_body,
    "BatchWriteItem": RequestGenerator._batch_write_body,
}


def generate(seed: int, count: int, table_prefix: str = "diff") -> list[Call]:
    """The sequence of `count` calls of `seed`: the same list for the same arguments, always."""
    generator = RequestGenerator(random.Random(seed), table_prefix)
    return [generator.next_call() for _ in range(count)]

