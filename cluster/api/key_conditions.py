"""KeyConditionExpression: which parsed conditions Query accepts, and the key range they select.

A key condition is parsed like any condition (expressions.py), then checked here: at most one
condition per key attribute joined by AND; equality on the partition key; =, <, <=, >, >=,
BETWEEN or begins_with on the sort key. The messages are DynamoDB's (checked against dynalite).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass

from cluster.api.attribute_values import (
    KeySchema,
    attribute_type,
    encode_begins_with,
    encode_hash_key,
    encode_key,
)
from cluster.api.document_paths import PathOperand
from cluster.api.errors import ValidationException
from cluster.api.expressions import (
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    ConditionNode,
    Contains,
    In,
    Not,
    Or,
    SizeOperand,
    ValueOperand,
)

# The operator seen from the attribute's side when the value is written first (`:v < sk`).
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_FUNCTION_NAMES = {
    AttributeExists: "attribute_exists",
    AttributeNotExists: "attribute_not_exists",
    AttributeType: "attribute_type",
    Contains: "contains",
}


@dataclass(frozen=True)
class KeyCondition:
    """One attribute's condition: operator is one of = < <= > >= BETWEEN BEGINS_WITH."""

    attribute: str
    operator: str
    values: tuple[dict, ...]

    def holds(self, value: dict | None) -> bool:
        """Whether a key value satisfies the condition (for ExclusiveStartKey checks)."""
        if value is None:
            return False
        if self.operator == "BETWEEN":
            node: ConditionNode = Between(ValueOperand("", value), ValueOperand("", self.values[0]),
                                          ValueOperand("", self.values[1]))
        elif self.operator == "BEGINS_WITH":
            return _begins_with(value, self.values[0])
        else:
            node = Comparison(self.operator, ValueOperand("", value), ValueOperand("", self.values[0]))
        return node.evaluate({})


def _begins_with(value: dict, prefix: dict) -> bool:
    return BeginsWith(PathOperand(("v",)), ValueOperand("", prefix)).evaluate({"v": value})


def _error(message: str) -> ValidationException:
    return ValidationException(message)


def _attribute_of(operands: list) -> tuple[str, int]:
    """The one key attribute a condition names, and its operand position."""
    found: tuple[str, int] | None = None
    for position, operand in enumerate(operands):
        if isinstance(operand, SizeOperand):
            raise _error("KeyConditionExpressions cannot contain nested operations")
        if isinstance(operand, PathOperand):
            if found is not None:
                raise _error("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")
            if len(operand.elements) > 1:
                raise _error("KeyConditionExpressions cannot have conditions on nested attributes")
            found = (str(operand.elements[0]), position)
    if found is None:
        raise _error("Invalid condition in KeyConditionExpression: No key attribute specified")
    return found


def _collect(node: ConditionNode, conditions: dict[str, KeyCondition]) -> None:
    if isinstance(node, And):
        _collect(node.left, conditions)
        _collect(node.right, conditions)
        return
    if isinstance(node, Or | Not | In):
        raise _error(f"Invalid operator used in KeyConditionExpression: {type(node).__name__.upper()}")
    if type(node) in _FUNCTION_NAMES:
        raise _error(f"Invalid operator used in KeyConditionExpression: {_FUNCTION_NAMES[type(node)]}")
    if isinstance(node, Comparison):
        if node.operator == "<>":
            raise _error("Invalid operator used in KeyConditionExpression: <>")
        attribute, position = _attribute_of([node.left, node.right])
        operator = node.operator if position == 0 else _FLIPPED[node.operator]
        other = node.right if position == 0 else node.left
        condition = KeyCondition(attribute, operator, (_value_of(other),))
    elif isinstance(node, Between):
        if not isinstance(node.operand, PathOperand):
            raise _error(
                "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"
            )
        attribute, _ = _attribute_of([node.operand, node.low, node.high])
        condition = KeyCondition(attribute, "BETWEEN", (_value_of(node.low), _value_of(node.high)))
    else:
        assert isinstance(node, BeginsWith)
        attribute, _ = _attribute_of([node.path, node.prefix])
        condition = KeyCondition(attribute, "BEGINS_WITH", (_value_of(node.prefix),))
    if attribute in conditions:
        raise _error("KeyConditionExpressions must only contain one condition per key")
    conditions[attribute] = condition


def _value_of(operand: object) -> dict:
    assert isinstance(operand, ValueOperand), operand  # _attribute_of allowed one path only
    return operand.value


@dataclass(frozen=True)
class KeyRange:
    """What a Query reads: one partition key value, and optionally a sort-key condition."""

    hash_value: dict
    range_condition: KeyCondition | None


def key_range(condition: Condition, schema: KeySchema) -> KeyRange:
    """The key range a parsed KeyConditionExpression selects on a table with `schema`."""
    conditions: dict[str, KeyCondition] = {}
    _collect(condition.root, conditions)
    if len(conditions) > 2:
        raise _error("Conditions can be of length 1 or 2 only")
    hash_condition = conditions.get(schema.hash_name)
    if schema.range_name is None and len(conditions) > 1:
        raise _error("Query key condition not supported")
    for name in schema.key_names:
        if name not in conditions and (name == schema.hash_name or len(conditions) > 1):
            raise _error(f"Query condition missed key schema element: {name}")
    for name, expected_type in schema.key_types().items():
        if name in conditions and any(attribute_type(value) != expected_type for value in conditions[name].values):
            raise _error(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )
    assert hash_condition is not None
    if hash_condition.operator != "=":
        raise _error("Query key condition not supported")
    range_condition = conditions.get(schema.range_name) if schema.range_name is not None else None
    return KeyRange(hash_condition.values[0], range_condition)


@dataclass(frozen=True)
class StoreBounds:
    """The key range in the store's key encoding (attribute_values.encode_key): keys starting
    with `prefix`, within `lower` and `upper` (bytes, inclusive)."""

    prefix: bytes
    lower: tuple[bytes, bool] | None
    upper: tuple[bytes, bool] | None

    def to_json(self) -> dict:
        def bound(value: tuple[bytes, bool] | None) -> list | None:
            return [value[0].hex(), value[1]] if value is not None else None

        return {"prefix": self.prefix.hex(), "lower": bound(self.lower), "upper": bound(self.upper)}

    @classmethod
    def from_json(cls, data: dict) -> StoreBounds:
        def bound(value: list | None) -> tuple[bytes, bool] | None:
            return (bytes.fromhex(value[0]), bool(value[1])) if value is not None else None

        return cls(bytes.fromhex(data["prefix"]), bound(data.get("lower")), bound(data.get("upper")))


def store_bounds(selected: KeyRange, schema: KeySchema) -> StoreBounds:
    condition = selected.range_condition
    if condition is None:
        return StoreBounds(encode_hash_key(selected.hash_value), None, None)
    if condition.operator == "BEGINS_WITH":
        return StoreBounds(encode_begins_with(selected.hash_value, condition.values[0]), None, None)
    assert schema.range_name is not None
    encoded = [encode_key({schema.hash_name: selected.hash_value, schema.range_name: value}, schema)
               for value in condition.values]
    prefix = encode_hash_key(selected.hash_value)
    operator = condition.operator
    if operator == "=":
        return StoreBounds(prefix, (encoded[0], True), (encoded[0], True))
    if operator == "BETWEEN":
        return StoreBounds(prefix, (encoded[0], True), (encoded[1], True))
    if operator in ("<", "<="):
        return StoreBounds(prefix, None, (encoded[0], operator == "<="))
    return StoreBounds(prefix, (encoded[0], operator == ">="), None)


def top_level_names(node: object) -> set[str]:
    """The attributes a parsed condition's document paths start with."""
    if isinstance(node, PathOperand):
        return {str(node.elements[0])}
    if isinstance(node, tuple):
        return set().union(*(top_level_names(element) for element in node)) if node else set()
    if not is_dataclass(node) or isinstance(node, ValueOperand):
        return set()
    return set().union(*(top_level_names(getattr(node, field.name)) for field in fields(node)))


def check_filter_avoids_keys(filter_condition: Condition, schema: KeySchema, kind: str) -> None:
    """Query filters may not name the key (kind: FilterExpression, or the legacy QueryFilter)."""
    label = "Filter Expression" if kind == "FilterExpression" else kind
    for name in schema.key_names:
        if name in top_level_names(filter_condition.root):
            raise ValidationException(
                f"{label} can only contain non-primary key attributes: Primary key attribute: {name}"
            )


def check_query_start_key(start_key: dict, selected: KeyRange, schema: KeySchema) -> None:
    """An ExclusiveStartKey must lie inside what the key condition selects."""
    same_hash = start_key[schema.hash_name] == selected.hash_value
    condition = selected.range_condition
    if condition is None:
        if not same_hash:
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        return
    assert schema.range_name is not None
    if not condition.holds(start_key[schema.range_name]):
        raise ValidationException("The provided starting key does not match the range key predicate")
    if not same_hash:
        raise ValidationException("The query can return at most one row and cannot be restarted")
