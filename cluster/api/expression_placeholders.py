"""ExpressionAttributeNames and ExpressionAttributeValues: their checks, the rule that every
placeholder given must be used, and the checks on an expression's text."""

from __future__ import annotations

import re

from cluster.api.attribute_values import normalize_attribute_value
from cluster.api.errors import ValidationException

MAX_EXPRESSION_LENGTH = 4096
_NAME_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")


def normalize_expression_names(names: object) -> dict[str, str] | None:
    if names is None:
        return None
    if not isinstance(names, dict) or not all(isinstance(value, str) for value in names.values()):
        raise ValidationException("ExpressionAttributeNames must map placeholders to attribute names")
    if not names:
        raise ValidationException("ExpressionAttributeNames must not be empty")
    for placeholder in names:
        if not _NAME_PLACEHOLDER.fullmatch(placeholder):
            raise ValidationException(
                f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{placeholder}"'
            )
    return dict(names)


def normalize_expression_values(values: object) -> dict[str, dict] | None:
    if values is None:
        return None
    if not isinstance(values, dict):
        raise ValidationException("ExpressionAttributeValues must map placeholders to AttributeValues")
    if not values:
        raise ValidationException("ExpressionAttributeValues must not be empty")
    normalized: dict[str, dict] = {}
    for placeholder, value in values.items():
        if not _VALUE_PLACEHOLDER.fullmatch(placeholder):
            raise ValidationException(
                f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{placeholder}"'
            )
        try:
            normalized[placeholder] = normalize_attribute_value(value, placeholder)
        except ValidationException as error:
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {placeholder}"
            ) from None
    return normalized


def check_all_placeholders_used(
    names: dict[str, str] | None, values: dict[str, dict] | None, names_used: set[str], values_used: set[str]
) -> None:
    """DynamoDB rejects placeholders that no expression of the request uses."""
    unused_names = sorted(set(names or {}) - names_used)
    if unused_names:
        raise ValidationException(
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {"
            + ", ".join(unused_names)
            + "}"
        )
    unused_values = sorted(set(values or {}) - values_used)
    if unused_values:
        raise ValidationException(
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {"
            + ", ".join(unused_values)
            + "}"
        )


def check_expression_text(expression: object, kind: str) -> str:
    if not isinstance(expression, str):
        raise ValidationException(f"Invalid {kind}: the expression must be a string")
    if not expression.strip():
        raise ValidationException(f"Invalid {kind}: The expression can not be empty;")
    if len(expression.encode("utf-8")) > MAX_EXPRESSION_LENGTH:
        raise ValidationException(
            f"Invalid {kind}: Expression size has exceeded the maximum allowed size; "
            f"expression size: {len(expression.encode('utf-8'))}"
        )
    return expression
