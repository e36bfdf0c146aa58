"""Values, keys and expressions for the differential request generator: pure functions of a
`random.Random`, drawing from small pools so that keys collide and conditions sometimes hold."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

KEY_TYPES = ("S", "N", "B")
# Non-key attribute names: some are reserved words, so expressions must name them through '#'.
ATTRIBUTE_NAMES = ("a", "b", "num", "tags", "nums", "doc", "items", "flag", "name", "count", "data")
RESERVED_NAMES = frozenset({"name", "count", "data", "items", "user", "rank"})
STRING_POOL = ("", "x", "alpha", "beta", "al", "gamma", "zeta", "ab c", "é")
NUMBER_POOL = (
    "0", "1", "-1", "2", "3.5", "-0.25", "10", "100", "1e2", "0.001", "12345678901234567890",
    "1E+2", "-0", "00.50", ".5", "5.", "-1e-3",  # odd spellings: both stores must canonicalise them alike
)

Body = dict[str, Any]


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None

    def key_types(self) -> dict[str, str]:
        types = {self.hash_name: self.hash_type}
        if self.range_name is not None and self.range_type is not None:
            types[self.range_name] = self.range_type
        return types


# ---------------------------------------------------------------------------- values


def _binary(rng: random.Random, size: int | None = None) -> str:
    length = size if size is not None else rng.randint(1, 6)
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(length))).decode()


def _scalar(rng: random.Random, type_name: str) -> Any:
    if type_name == "S":
        return rng.choice(STRING_POOL[1:]) + str(rng.randint(0, 3))
    if type_name == "N":
        return rng.choice(NUMBER_POOL)
    return _binary(rng)


def key_value(rng: random.Random, type_name: str) -> Body:
    """A key attribute from a small pool, so that keys collide and reads find what was written."""
    if type_name == "S":
        return {"S": f"k{rng.randint(0, 7)}"}
    if type_name == "N":
        return {"N": rng.choice(("-3", "0", "1", "2", "5", "8", "13", "1.5", "1.50", "2E0", "-0"))}
    return {"B": base64.b64encode(bytes([rng.randint(0, 5), rng.randint(0, 1)])).decode()}


def attribute_value(rng: random.Random, depth: int = 0) -> Body:
    choice = rng.randrange(11 if depth < 2 else 9)
    if choice == 0:
        return {"S": rng.choice(STRING_POOL)}
    if choice == 1:
        return {"N": rng.choice(NUMBER_POOL)}
    if choice == 2:
        return {"B": _binary(rng)}
    if choice == 3:
        return {"BOOL": rng.random() < 0.5}
    if choice == 4:
        return {"NULL": True}
    if choice == 5:
        return {"SS": sorted(set(rng.sample(STRING_POOL[1:], rng.randint(1, 3))))}
    if choice == 6:
        return {"NS": sorted({str(rng.randint(-5, 50)) for _ in range(rng.randint(1, 3))})}
    if choice in (7, 8):
        return {"S": _scalar(rng, "S")} if choice == 7 else {"N": str(rng.randint(-20, 20))}
    if choice == 9:
        return {"L": [attribute_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    return {"M": {name: attribute_value(rng, depth + 1) for name in rng.sample(("x", "y", "z", "deep"), rng.randint(0, 3))}}


def typed_value_for(rng: random.Random, attribute: str) -> Body:
    """A value of the type an attribute usually holds, so updates and conditions mostly make sense."""
    if attribute in ("num", "count"):
        return {"N": str(rng.randint(-5, 30))}
    if attribute == "tags":
        return {"SS": sorted(set(rng.sample(("red", "green", "blue", "x"), rng.randint(1, 3))))}
    if attribute == "nums":
        return {"NS": sorted({str(rng.randint(0, 9)) for _ in range(rng.randint(1, 3))})}
    if attribute == "doc":
        return {"M": {"x": {"N": str(rng.randint(0, 9))}, "deep": {"M": {"y": {"S": rng.choice(STRING_POOL)}}}}}
    if attribute == "items":
        return {"L": [{"N": str(rng.randint(0, 9))} for _ in range(rng.randint(1, 3))]}
    if attribute == "flag":
        return {"BOOL": rng.random() < 0.5}
    return attribute_value(rng)


def item_attributes(rng: random.Random) -> Body:
    names = rng.sample(ATTRIBUTE_NAMES, rng.randint(0, 5))
    return {name: typed_value_for(rng, name) for name in names}


# ---------------------------------------------------------------------------- expressions


class Placeholders:
    """Collects the #names and :values an expression uses (shared by every expression of a request)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: dict[str, str] = {}
        self.values: dict[str, Body] = {}

    def name(self, attribute: str) -> str:
        if attribute not in RESERVED_NAMES and self.rng.random() < 0.5:
            return attribute
        for placeholder, named in self.names.items():
            if named == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Body) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def path(self, attribute: str) -> str:
        head = self.name(attribute)
        if attribute == "doc" and self.rng.random() < 0.5:
            return head + self.rng.choice((".x", ".deep.y", ".gone"))
        if attribute == "items" and self.rng.random() < 0.5:
            return head + f"[{self.rng.randint(0, 3)}]"
        return head

    def attach(self, body: Body) -> Body:
        if self.names:
            body["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            body["ExpressionAttributeValues"] = dict(self.values)
        return body


def condition(rng: random.Random, placeholders: Placeholders, depth: int = 0, avoid: tuple[str, ...] = ()) -> str:
    attributes = [name for name in ATTRIBUTE_NAMES if name not in avoid]
    attribute = rng.choice(attributes)
    kind = rng.randrange(12 if depth < 2 else 9)
    path = placeholders.path(attribute)
    if kind == 0:
        value = typed_value_for(rng, attribute)
        # Order comparisons take S, N or B constants; others are refused (a mutation of their own).
        ordered = next(iter(value)) in ("S", "N", "B")
        operator = rng.choice(("=", "<>", "<", "<=", ">", ">=") if ordered else ("=", "<>"))
        return f"{path} {operator} {placeholders.value(value)}"
    if kind == 1:
        low, high = sorted(rng.sample(range(-5, 30), 2))
        return f"{path} BETWEEN {placeholders.value({'N': str(low)})} AND {placeholders.value({'N': str(high)})}"
    if kind == 2:
        options = [typed_value_for(rng, attribute) for _ in range(rng.randint(1, 3))]
        # No BOOL: dynalite's IN never matches an attribute holding false (it tests `!attrVal`).
        options = [value if "BOOL" not in value else {"N": "1"} for value in options]
        return f"{path} IN ({', '.join(placeholders.value(value) for value in options)})"
    if kind == 3:
        return f"attribute_exists({path})"
    if kind == 4:
        return f"attribute_not_exists({path})"
    if kind == 5:
        type_name = rng.choice(("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"))
        return f"attribute_type({path}, {placeholders.value({'S': type_name})})"
    if kind == 6:
        return f"begins_with({path}, {placeholders.value({'S': rng.choice(STRING_POOL[1:])[:2]})})"
    if kind == 7:
        member = {"S": rng.choice(("red", "x", "al"))} if rng.random() < 0.7 else {"N": str(rng.randint(0, 9))}
        return f"contains({path}, {placeholders.value(member)})"
    if kind == 8:
        return f"size({path}) {rng.choice(('<', '>=', '='))} {placeholders.value({'N': str(rng.randint(0, 4))})}"
    if kind == 9:
        # Parenthesised: dynalite's grammar refuses NOT NOT x, which AWS's (NOT condition) allows.
        return f"NOT ({condition(rng, placeholders, depth + 1, avoid)})"
    operator = "AND" if kind == 10 else "OR"
    left = condition(rng, placeholders, depth + 1, avoid)
    return f"({left} {operator} {condition(rng, placeholders, depth + 1, avoid)})"


def projection(rng: random.Random, placeholders: Placeholders, table: TableSpec) -> str:
    candidates = list(ATTRIBUTE_NAMES) + list(table.key_types())
    chosen = rng.sample(candidates, rng.randint(1, 3))
    # Overlapping paths (doc and doc.x) are refused; keep each attribute once, as one path.
    return ", ".join(placeholders.path(name) for name in chosen)


def update_expression(rng: random.Random, placeholders: Placeholders) -> str:
    """One to three clauses on distinct attributes (overlapping paths are a mutation, not the norm)."""
    attributes = rng.sample(ATTRIBUTE_NAMES, rng.randint(1, 4))
    clauses: dict[str, list[str]] = {}
    for attribute in attributes:
        path = placeholders.path(attribute)
        roll = rng.random()
        if attribute in ("num", "count") and roll < 0.5:
            if roll < 0.2:
                action = "ADD", f"{path} {placeholders.value({'N': str(rng.randint(-3, 9))})}"
            elif roll < 0.35:
                action = "SET", f"{path} = {path} {rng.choice('+-')} {placeholders.value({'N': str(rng.randint(1, 5))})}"
            else:
                action = "SET", f"{path} = if_not_exists({path}, {placeholders.value({'N': '0'})})"
        elif attribute in ("tags", "nums") and roll < 0.5:
            action = rng.choice(("ADD", "DELETE")), f"{path} {placeholders.value(typed_value_for(rng, attribute))}"
        elif attribute == "items" and roll < 0.4:
            action = "SET", f"{path} = list_append({path}, {placeholders.value(typed_value_for(rng, 'items'))})"
        elif roll < 0.75:
            action = "SET", f"{path} = {placeholders.value(typed_value_for(rng, attribute))}"
        else:
            action = "REMOVE", path
        clauses.setdefault(action[0], []).append(action[1])
    if not set(clauses) & {"SET", "ADD"}:
        # dynalite creates an absent item for an update that only takes attributes away; DynamoDB does
        # not (cluster/api/item_writes.py). Such updates would leave the two stores' contents apart.
        spare = next(name for name in ATTRIBUTE_NAMES if name not in attributes)
        clauses["SET"] = [f"{placeholders.name(spare)} = {placeholders.value(typed_value_for(rng, spare))}"]
    return " ".join(f"{verb} {', '.join(parts)}" for verb, parts in clauses.items())


# ---------------------------------------------------------------------------- legacy parameters

LEGACY_OPERATORS = (
    "EQ", "NE", "LE", "LT", "GE", "GT", "NULL", "NOT_NULL", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH", "IN", "BETWEEN",
)


def _legacy_scalar(rng: random.Random, attribute: str) -> Body:
    value = typed_value_for(rng, attribute)
    return value if next(iter(value)) in ("S", "N", "B") else {"N": str(rng.randint(-5, 30))}


def legacy_condition(rng: random.Random, attribute: str, any_type_equal: bool) -> Body:
    """One Condition (ComparisonOperator and its AttributeValueList) on an attribute. With
    `any_type_equal`, EQ and NE also get lists, maps, booleans and nulls."""
    operator = rng.choice(LEGACY_OPERATORS)
    if operator in ("NULL", "NOT_NULL"):
        return {"ComparisonOperator": operator}
    if operator in ("EQ", "NE"):
        value = typed_value_for(rng, attribute)
        values = [value if any_type_equal or next(iter(value)) in ("S", "N", "B", "SS", "NS", "BS")
                  else _legacy_scalar(rng, attribute)]
    elif operator == "BEGINS_WITH":
        values = [{"S": rng.choice(STRING_POOL[1:])[:2]}]
    elif operator == "IN":
        first = _legacy_scalar(rng, attribute)
        values = [first] + [{next(iter(first)): _scalar(rng, next(iter(first)))} for _ in range(rng.randint(0, 2))]
        values = [value for position, value in enumerate(values) if value not in values[:position]]
    elif operator == "BETWEEN":
        low, high = sorted(rng.sample(range(-5, 30), 2))
        values = [{"N": str(low)}, {"N": str(high)}]
    else:
        values = [_legacy_scalar(rng, attribute)]
    return {"ComparisonOperator": operator, "AttributeValueList": values}


def legacy_conditions(rng: random.Random, body: Body, field: str, avoid: tuple[str, ...] = ()) -> None:
    """Expected, ScanFilter or QueryFilter on one to three attributes, with a ConditionalOperator at times.
    Expected also takes its older forms: Exists false, or a Value that must be equal."""
    attributes = rng.sample([name for name in ATTRIBUTE_NAMES if name not in avoid], rng.randint(1, 3))
    conditions: Body = {}
    for attribute in attributes:
        roll = rng.random()
        if field == "Expected" and roll < 0.2:
            conditions[attribute] = {"Exists": False}
        elif field == "Expected" and roll < 0.35:
            conditions[attribute] = {"Value": _legacy_scalar(rng, attribute)}
        else:
            # "EQ is supported for all data types, including lists and maps" (API_Condition); dynalite agrees
            # for Expected but refuses a list, map, boolean or null in a ScanFilter or QueryFilter, so those
            # get only the types both accept.
            conditions[attribute] = legacy_condition(rng, attribute, any_type_equal=field == "Expected")
    body[field] = conditions
    if len(conditions) > 1 and rng.random() < 0.3:
        # AND only: dynalite's legacy OR stops at the first false condition (db/index.js matchesFilter).
        body["ConditionalOperator"] = "AND"


def legacy_key_conditions(rng: random.Random, table: TableSpec, hash_value: Body) -> Body:
    """KeyConditions: EQ on the partition key, and at times one condition on the sort key."""
    conditions: Body = {table.hash_name: {"ComparisonOperator": "EQ", "AttributeValueList": [hash_value]}}
    if table.range_name is not None and table.range_type is not None and rng.random() < 0.6:
        operators = ["EQ", "LE", "LT", "GE", "GT", "BETWEEN"] + (["BEGINS_WITH"] if table.range_type != "N" else [])
        operator = rng.choice(operators)
        if operator == "BETWEEN":
            values = sorted((_scalar(rng, table.range_type) for _ in range(2)), key=_sort_key(table.range_type))
            range_values = [{table.range_type: value} for value in values]
        else:
            range_values = [{table.range_type: _scalar(rng, table.range_type)}]
        conditions[table.range_name] = {"ComparisonOperator": operator, "AttributeValueList": range_values}
    return conditions


def _sort_key(type_name: str):  # noqa: ANN202 - a key function for sorted()
    if type_name == "N":
        return lambda text: float(text)
    if type_name == "B":
        return lambda text: base64.b64decode(text)
    return lambda text: text.encode()
