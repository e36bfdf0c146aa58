"""DynamoDB's legacy (pre-expression) parameters, rewritten as the expressions they mean.

Expected, KeyConditions, QueryFilter, ScanFilter (each with ConditionalOperator) become condition
text, and AttributeUpdates an update expression, with placeholders of their own (#legacy0,
:legacy0, ...). Everything after parsing (replication, evaluation on every replica) then runs the
one expression code path. The checks and messages are DynamoDB's, as dynalite reproduces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.api.attribute_comparison import compare_values
from cluster.api.attribute_values import normalize_attribute_value
from cluster.api.errors import ValidationException

# How many values each ComparisonOperator takes (IN: one or more).
_ARGUMENT_COUNTS = {
    "NULL": 0, "NOT_NULL": 0, "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
    "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "BETWEEN": 2,
}
# The value types each operator accepts. EQ and NE take any ("EQ is supported for all data types,
# including lists and maps", API_Condition), so they are not listed.
_VALUE_TYPES = {
    "LE": ("S", "N", "B"), "LT": ("S", "N", "B"), "GE": ("S", "N", "B"), "GT": ("S", "N", "B"),
    "CONTAINS": ("S", "N", "B"), "NOT_CONTAINS": ("S", "N", "B"), "BEGINS_WITH": ("S", "B"),
    "IN": ("S", "N", "B"), "BETWEEN": ("S", "N", "B"),
}
COMPARISON_OPERATORS = (*_ARGUMENT_COUNTS, "IN")
_NOT_INDEXABLE = ("NULL", "NOT_NULL", "NE", "CONTAINS", "NOT_CONTAINS", "IN")
_INVALID = "One or more parameter values were invalid: "


@dataclass
class LegacyExpression:
    """Expression text under construction, with the placeholders it needs."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        placeholder = f"#legacy{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: dict) -> str:
        placeholder = f":legacy{len(self.values)}"
        self.values[placeholder] = value
        return placeholder


def _conditional_operator(body: dict[str, Any]) -> str:
    operator = body.get("ConditionalOperator")
    if operator is None:
        return "AND"
    if operator not in ("AND", "OR"):
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'conditionalOperator' failed to satisfy "
            "constraint: Member must satisfy enum value set: [OR, AND]"
        )
    return str(operator)


def _values(condition: dict[str, Any], attribute: str) -> list[dict]:
    raw = condition.get("AttributeValueList")
    if raw is None:
        raw = [condition["Value"]] if condition.get("Value") is not None else []
    if not isinstance(raw, list):
        raise ValidationException(f"Expected a list for AttributeValueList of {attribute}")
    return [normalize_attribute_value(value, attribute) for value in raw]


def _check_operator(operator: object, values: list[dict]) -> str:
    if operator not in COMPARISON_OPERATORS:
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'comparisonOperator' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(COMPARISON_OPERATORS)}]"
        )
    assert isinstance(operator, str)
    wanted = _ARGUMENT_COUNTS.get(operator)
    if (wanted is not None and len(values) != wanted) or (operator == "IN" and not values):
        raise ValidationException(f"{_INVALID}Invalid number of argument(s) for the {operator} ComparisonOperator")
    if values and any(next(iter(value)) != next(iter(values[0])) for value in values):
        raise ValidationException(f"{_INVALID}AttributeValues inside AttributeValueList must be of same type")
    for value in values:
        if operator in _VALUE_TYPES and next(iter(value)) not in _VALUE_TYPES[operator]:
            raise ValidationException(
                f"{_INVALID}ComparisonOperator {operator} is not valid for {next(iter(value))} AttributeValue type"
            )
    if operator == "BETWEEN" and compare_values(">", values[0], values[1]):
        raise ValidationException(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        )
    return operator


def _predicate(built: LegacyExpression, attribute: str, operator: str, values: list[dict]) -> str:
    name = built.name(attribute)
    placeholders = [built.value(value) for value in values]
    simple = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
    if operator in simple:
        return f"{name} {simple[operator]} {placeholders[0]}"
    if operator == "NOT_NULL":
        return f"attribute_exists({name})"
    if operator == "NULL":
        return f"attribute_not_exists({name})"
    if operator == "CONTAINS":
        return f"contains({name}, {placeholders[0]})"
    if operator == "NOT_CONTAINS":
        return f"NOT contains({name}, {placeholders[0]})"
    if operator == "BEGINS_WITH":
        return f"begins_with({name}, {placeholders[0]})"
    if operator == "IN":
        return f"{name} IN ({', '.join(placeholders)})"
    return f"{name} BETWEEN {placeholders[0]} AND {placeholders[1]}"


def _joined(predicates: list[str], operator: str) -> str:
    return f" {operator} ".join(f"({predicate})" for predicate in predicates)


def expected_condition(body: dict[str, Any]) -> tuple[str, LegacyExpression] | None:
    """Expected (+ ConditionalOperator) as a ConditionExpression, or None when absent."""
    expected = body.get("Expected")
    if expected is None:
        return None
    if not isinstance(expected, dict):
        raise ValidationException("Expected must map attribute names to ExpectedAttributeValues")
    built = LegacyExpression()
    predicates = []
    for attribute, condition in expected.items():
        if not isinstance(condition, dict):
            raise ValidationException(f"Expected an ExpectedAttributeValue for {attribute}")
        if "AttributeValueList" in condition and "Value" in condition:
            raise ValidationException(
                f"{_INVALID}Value and AttributeValueList cannot be used together for Attribute: {attribute}"
            )
        if "ComparisonOperator" in condition:
            if "Exists" in condition:
                raise ValidationException(
                    f"{_INVALID}Exists and ComparisonOperator cannot be used together for Attribute: {attribute}"
                )
            operator = condition["ComparisonOperator"]
            if operator not in ("NULL", "NOT_NULL") and "AttributeValueList" not in condition and "Value" not in condition:
                raise ValidationException(
                    f"{_INVALID}Value or AttributeValueList must be used with ComparisonOperator: {operator} "
                    f"for Attribute: {attribute}"
                )
            values = _values(condition, attribute)
            predicates.append(_predicate(built, attribute, _check_operator(operator, values), values))
            continue
        if "AttributeValueList" in condition:
            raise ValidationException(
                f"{_INVALID}AttributeValueList can only be used with a ComparisonOperator for Attribute: {attribute}"
            )
        exists = condition.get("Exists")
        if exists is None or exists:
            if condition.get("Value") is None:
                shown = "null" if exists is None else "true"
                raise ValidationException(f"{_INVALID}Value must be provided when Exists is {shown} for Attribute: {attribute}")
            predicates.append(_predicate(built, attribute, "EQ", _values(condition, attribute)))
        else:
            if condition.get("Value") is not None:
                raise ValidationException(f"{_INVALID}Value cannot be used when Exists is false for Attribute: {attribute}")
            predicates.append(_predicate(built, attribute, "NULL", []))
    if not predicates:
        return None
    return _joined(predicates, _conditional_operator(body)), built


def conditions_expression(
    body: dict[str, Any], field_name: str, *, key_conditions: bool = False
) -> tuple[str, LegacyExpression] | None:
    """ScanFilter, QueryFilter (+ ConditionalOperator) or KeyConditions as expression text."""
    conditions = body.get(field_name)
    if conditions is None:
        return None
    if not isinstance(conditions, dict):
        raise ValidationException(f"{field_name} must map attribute names to Conditions")
    built = LegacyExpression()
    predicates = []
    for attribute, condition in conditions.items():
        if not isinstance(condition, dict):
            raise ValidationException(f"Expected a Condition for {attribute}")
        values = _values(condition, attribute)
        operator = _check_operator(condition.get("ComparisonOperator"), values)
        if key_conditions and operator in _NOT_INDEXABLE:
            raise ValidationException("Attempted conditional constraint is not an indexable operation")
        predicates.append(_predicate(built, attribute, operator, values))
    if key_conditions and len(predicates) not in (1, 2):
        raise ValidationException("Conditions can be of length 1 or 2 only")
    if not predicates:
        return None
    operator = "AND" if key_conditions else _conditional_operator(body)
    return _joined(predicates, operator), built


def attribute_updates_expression(body: dict[str, Any]) -> tuple[str, LegacyExpression] | None:
    """AttributeUpdates as an UpdateExpression (PUT: SET, DELETE: REMOVE or DELETE, ADD: ADD, or
    list_append for lists, which only the legacy ADD accepts)."""
    updates = body.get("AttributeUpdates")
    if updates is None:
        return None
    if not isinstance(updates, dict):
        raise ValidationException("AttributeUpdates must map attribute names to AttributeValueUpdates")
    built = LegacyExpression()
    sections: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    for attribute, update in updates.items():
        if not isinstance(update, dict):
            raise ValidationException(f"Expected an AttributeValueUpdate for {attribute}")
        action = update.get("Action") or "PUT"
        if action not in ("PUT", "ADD", "DELETE"):
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{attribute}.member.action' "
                "failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )
        raw_value = update.get("Value")
        if raw_value is None:
            if action != "DELETE":
                raise ValidationException(f"{_INVALID}Only DELETE action is allowed when no attribute value is specified")
            sections["REMOVE"].append(built.name(attribute))
            continue
        value = normalize_attribute_value(raw_value, attribute)
        type_name = next(iter(value))
        if action == "DELETE" and type_name not in ("SS", "NS", "BS"):
            raise ValidationException(f"{_INVALID}DELETE action with value is not supported for the type {type_name}")
        if action == "ADD" and type_name not in ("L", "SS", "NS", "BS", "N"):
            raise ValidationException(f"{_INVALID}ADD action is not supported for the type {type_name}")
        name = built.name(attribute)
        if action == "PUT":
            sections["SET"].append(f"{name} = {built.value(value)}")
        elif action == "DELETE":
            sections["DELETE"].append(f"{name} {built.value(value)}")
        elif type_name == "L":
            empty = built.value({"L": []})
            sections["SET"].append(f"{name} = list_append(if_not_exists({name}, {empty}), {built.value(value)})")
        else:
            sections["ADD"].append(f"{name} {built.value(value)}")
    text = " ".join(f"{section} {', '.join(parts)}" for section, parts in sections.items() if parts)
    return (text, built) if text else None
