"""Comparing AttributeValues as DynamoDB does: equality by type and value (numbers by value,
sets ignoring order), and ordering within the scalar types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster.api.attribute_values import decode_binary, numbers_equal, parse_number


def binary_bytes(value: dict) -> bytes:
    return decode_binary(value["B"])


def values_equal(left: dict, right: dict) -> bool:
    """DynamoDB equality: same type and same value; numbers by value, sets ignoring order."""
    (left_type, left_raw), (right_type, right_raw) = next(iter(left.items())), next(iter(right.items()))
    if left_type != right_type:
        return False
    if left_type == "N":
        return numbers_equal(left_raw, right_raw)
    if left_type == "B":
        return binary_bytes(left) == binary_bytes(right)
    if left_type == "NS":
        return {parse_number(member) for member in left_raw} == {parse_number(member) for member in right_raw}
    if left_type == "BS":
        return {decode_binary(member) for member in left_raw} == {
            decode_binary(member) for member in right_raw
        }
    if left_type == "SS":
        return set(left_raw) == set(right_raw)
    if left_type == "L":
        return len(left_raw) == len(right_raw) and all(
            values_equal(left_element, right_element)
            for left_element, right_element in zip(left_raw, right_raw, strict=True)
        )
    if left_type == "M":
        return left_raw.keys() == right_raw.keys() and all(
            values_equal(element, right_raw[name]) for name, element in left_raw.items()
        )
    return bool(left_raw == right_raw)


def ordering_key(value: dict) -> tuple[str, Any] | None:
    """A key comparable within one type, or None for types that have no order."""
    type_name, raw = next(iter(value.items()))
    if type_name == "N":
        return ("N", parse_number(raw))
    if type_name == "S":
        # DynamoDB orders strings by their UTF-8 bytes.
        return ("S", raw.encode("utf-8"))
    if type_name == "B":
        return ("B", decode_binary(raw))
    return None


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda left, right: left < right,
    "<=": lambda left, right: left <= right,
    ">": lambda left, right: left > right,
    ">=": lambda left, right: left >= right,
}


def compare_values(operator: str, left: dict | None, right: dict | None) -> bool:
    if operator == "<>":
        # A missing attribute is "not equal" to anything (DynamoDB evaluates `a <> :v` to
        # true when a is absent), and values of different types are never equal.
        return left is None or right is None or not values_equal(left, right)
    if left is None or right is None:
        return False
    if operator == "=":
        return values_equal(left, right)
    left_key, right_key = ordering_key(left), ordering_key(right)
    if left_key is None or right_key is None or left_key[0] != right_key[0]:
        return False
    return _ORDERINGS[operator](left_key[1], right_key[1])


