"""DynamoDB AttributeValues in wire format: validation, canonical numbers, item size, keys.

Items stay in the JSON shape DynamoDB speaks ({"name": {"S": "x"}}) from router to disk so
nothing is lost in translation; this module only checks them and puts numbers in the
canonical form DynamoDB itself returns, so equal numbers are equal strings on every replica.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cluster.api.errors import ValidationException

Item = dict[str, dict]

MAX_ITEM_SIZE_BYTES = 400 * 1024
MAX_HASH_KEY_SIZE_BYTES = 2048
MAX_RANGE_KEY_SIZE_BYTES = 1024
MAX_NESTING_DEPTH = 32
MAX_NUMBER_SIGNIFICANT_DIGITS = 38
# Positive range 1E-130 .. 9.99..9E+125 (and the mirror for negatives), from the
# DynamoDB developer guide's "Number" data type.
# In terms of Decimal.adjusted(), the exponent of the leading digit:
LARGEST_LEADING_EXPONENT = 125
SMALLEST_LEADING_EXPONENT = -130

SCALAR_TYPES = ("S", "N", "B")
SET_TYPES = ("SS", "NS", "BS")
ATTRIBUTE_TYPES = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")

# Java's BigDecimal grammar, which is what DynamoDB accepts: optional sign, digits with an
# optional point (either side may be empty but not both), optional exponent.
_NUMBER_PATTERN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# An integer already in DynamoDB's returned form, within its limits: most numbers a workload sends.
_CANONICAL_INTEGER = re.compile(r"-?[1-9][0-9]{0,37}|0")
# Enough precision that no canonical DynamoDB number is ever rounded by decimal arithmetic.
_EXACT_CONTEXT = decimal.Context(prec=200, Emax=999999, Emin=-999999)
_SET_NOUNS = {"SS": "string", "NS": "number", "BS": "binary"}


def _number_error(message: str) -> ValidationException:
    return ValidationException(message)


def parse_number(text: object) -> decimal.Decimal:
    """The exact decimal value of a DynamoDB number string, checked against its limits."""
    if not isinstance(text, str):
        raise ValidationException("NUMBER_VALUE must be a string in the AttributeValue N")
    if not _NUMBER_PATTERN.fullmatch(text):
        raise _number_error(f"The parameter cannot be converted to a numeric value: {text}")
    value = decimal.Decimal(text)
    if value.is_zero():
        return decimal.Decimal(0)
    # adjusted() needs no context, so absurd exponents are refused before any arithmetic.
    if value.adjusted() > LARGEST_LEADING_EXPONENT:
        raise _number_error(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if value.adjusted() < SMALLEST_LEADING_EXPONENT:
        raise _number_error(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    # Decimal already drops leading zeros of the coefficient; trailing ones are not significant.
    coefficient = "".join(str(digit) for digit in value.as_tuple().digits).rstrip("0")
    if len(coefficient) > MAX_NUMBER_SIGNIFICANT_DIGITS:
        raise _number_error("Attempting to store more than 38 significant digits in a Number")
    # At most 38 digits now, so normalising in a 200-digit context is exact.
    return value.normalize(_EXACT_CONTEXT)


def canonical_number(text: object) -> str:
    """DynamoDB's returned form: plain notation, no exponent, no redundant zeros, no '-0'."""
    if isinstance(text, str) and _CANONICAL_INTEGER.fullmatch(text):
        return text  # already that form; Decimal showed in the profiles of every write
    value = parse_number(text)
    if value.is_zero():
        return "0"
    return format(value, "f")


def numbers_equal(left: object, right: object) -> bool:
    """Equal by value, as DynamoDB compares numbers (ValidationException for a string that is no number)."""
    if (
        isinstance(left, str)
        and isinstance(right, str)
        and _CANONICAL_INTEGER.fullmatch(left)
        and _CANONICAL_INTEGER.fullmatch(right)
    ):
        return left == right  # one spelling per value in this form: a counter's update compares two of them
    return parse_number(left) == parse_number(right)


def add_numbers(left: str, right: str, operator: str = "+") -> str:
    """`left + right` (or `-`) exactly, in DynamoDB's form; ValidationException past its limits."""
    if (
        isinstance(left, str)
        and isinstance(right, str)
        and _CANONICAL_INTEGER.fullmatch(left)
        and _CANONICAL_INTEGER.fullmatch(right)
    ):
        total = str(int(left) + int(right) if operator == "+" else int(left) - int(right))
        if len(total) <= MAX_NUMBER_SIGNIFICANT_DIGITS:  # so within range and precision too
            return total
    exact_left, exact_right = parse_number(left), parse_number(right)
    if operator == "+":
        return canonical_number(str(_EXACT_CONTEXT.add(exact_left, exact_right)))
    return canonical_number(str(_EXACT_CONTEXT.subtract(exact_left, exact_right)))


def decode_binary(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValidationException("Binary values must be base64-encoded strings")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationException(f"Invalid base64 in a binary AttributeValue: {error}") from None


def _require_string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationException(f"Expected a string for the AttributeValue at {path}")
    return value


def _set_duplicates_error(members: list[Any]) -> ValidationException:
    shown = ", ".join(str(member) for member in members)
    return ValidationException(
        f"One or more parameter values were invalid: Input collection [{shown}] contains duplicates."
    )


def _normalize_set(type_name: str, members: object, path: str) -> list[str]:
    if not isinstance(members, list):
        raise ValidationException(f"Expected a list for the {type_name} AttributeValue at {path}")
    if not members:
        # The double space is DynamoDB's own wording.
        raise ValidationException(
            f"One or more parameter values were invalid: An {_SET_NOUNS[type_name]} set  may not be empty"
        )
    normalized: list[str] = []
    identities: set[object] = set()
    for member in members:
        identity: object
        if type_name == "SS":
            text = _require_string(member, path)
            normalized.append(text)
            identity = text
        elif type_name == "NS":
            text = canonical_number(member)
            normalized.append(text)
            identity = parse_number(text)
        else:
            identity = decode_binary(member)
            normalized.append(_require_string(member, path))
        if identity in identities:
            raise _set_duplicates_error(list(members))
        identities.add(identity)
    return normalized


def _normalize(value: object, path: str, depth: int) -> dict:
    if depth > MAX_NESTING_DEPTH:
        raise ValidationException("Nesting Levels have exceeded supported limits")
    if not isinstance(value, dict):
        raise ValidationException(f"Expected an AttributeValue object at {path}")
    if len(value) == 1:  # the common scalars first, with the same outcome as the general checks below
        ((type_name, raw),) = value.items()
        if type_name == "S" and isinstance(raw, str):
            return {"S": raw}
        if type_name == "N" and isinstance(raw, str):
            return {"N": canonical_number(raw)}
    unknown = sorted(key for key in value if key not in ATTRIBUTE_TYPES)
    if unknown:
        raise ValidationException(f"Supplied AttributeValue at {path} has unsupported datatypes: {unknown}")
    present = [key for key in ATTRIBUTE_TYPES if key in value and value[key] is not None]
    if not present:
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    if len(present) > 1:
        raise ValidationException(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
        )
    type_name = present[0]
    raw = value[type_name]
    if type_name == "S":
        return {"S": _require_string(raw, path)}
    if type_name == "N":
        return {"N": canonical_number(raw)}
    if type_name == "B":
        decode_binary(raw)
        return {"B": raw}
    if type_name == "BOOL":
        if not isinstance(raw, bool):
            raise ValidationException(f"Expected a boolean for BOOL at {path}")
        return {"BOOL": raw}
    if type_name == "NULL":
        if raw is not True:
            raise ValidationException(
                "One or more parameter values were invalid: Null attribute value types must have the value of true"
            )
        return {"NULL": True}
    if type_name in SET_TYPES:
        return {type_name: _normalize_set(type_name, raw, path)}
    if type_name == "L":
        if not isinstance(raw, list):
            raise ValidationException(f"Expected a list for L at {path}")
        return {
            "L": [_normalize(element, f"{path}[{index}]", depth + 1) for index, element in enumerate(raw)]
        }
    if not isinstance(raw, dict):
        raise ValidationException(f"Expected an object for M at {path}")
    return {
        "M": {
            _require_string(name, path): _normalize(element, f"{path}.{name}", depth + 1)
            for name, element in raw.items()
        }
    }


def normalize_attribute_value(value: object, path: str) -> dict:
    """Validate one AttributeValue and return it with numbers in canonical form.

    `path` names the value in error messages (e.g. "Item.price")."""
    return _normalize(value, path, depth=1)


def normalize_item(item: object) -> Item:
    if not isinstance(item, dict):
        raise ValidationException("Expected an object mapping attribute names to AttributeValues")
    normalized: Item = {}
    for name, value in item.items():
        if not isinstance(name, str):
            raise ValidationException("Attribute names must be strings")
        if name == "":
            raise ValidationException(
                "One or more parameter values were invalid: An attribute name may not be an empty string"
            )
        normalized[name] = normalize_attribute_value(value, name)
    return normalized


def _significant_digits_of_plain_number(text: str) -> int | None:
    """Without an exponent and in at most 38 ASCII characters a valid number is in range and has at
    most 38 digits, so counting them needs no Decimal (a Query sizes every item twice: the cost showed
    in profiles). None: not such a number; parse_number decides."""
    if len(text) > MAX_NUMBER_SIGNIFICANT_DIGITS or not text.isascii() or "e" in text or "E" in text:
        return None
    if not _NUMBER_PATTERN.fullmatch(text):
        return None
    return len(text.lstrip("+-").replace(".", "").strip("0"))


def _number_size_bytes(text: str) -> int:
    significant_digits = _significant_digits_of_plain_number(text) if isinstance(text, str) else None
    if significant_digits is None:
        value = parse_number(text)
        significant_digits = 0 if value.is_zero() else len(value.as_tuple().digits)
    # The developer guide's rule: one byte per two significant digits, plus one byte.
    return (significant_digits + 1) // 2 + 1


def attribute_value_size_bytes(value: dict) -> int:
    """Size of a value without its name, per the developer guide's "Item sizes and formats"."""
    type_name, raw = next(iter(value.items()))
    if type_name == "S":
        return len(raw.encode("utf-8"))
    if type_name == "N":
        return _number_size_bytes(raw)
    if type_name == "B":
        return len(decode_binary(raw))
    if type_name in ("BOOL", "NULL"):
        return 1
    if type_name == "SS":
        return sum(len(member.encode("utf-8")) for member in raw)
    if type_name == "NS":
        return sum(_number_size_bytes(member) for member in raw)
    if type_name == "BS":
        return sum(len(decode_binary(member)) for member in raw)
    # Lists and maps: 3 bytes of overhead, plus 1 byte per element.
    if type_name == "L":
        return 3 + sum(1 + attribute_value_size_bytes(element) for element in raw)
    return 3 + sum(
        1 + len(name.encode("utf-8")) + attribute_value_size_bytes(element) for name, element in raw.items()
    )


def copy_value(value: Any) -> Any:
    """A copy of an item or attribute value that shares no dict or list with it: the wire format holds
    only dicts, lists and immutable scalars, so this is deepcopy's result at a third of its cost."""
    if isinstance(value, dict):
        return {name: copy_value(member) for name, member in value.items()}
    if isinstance(value, list):
        return [copy_value(member) for member in value]
    return value


def named_attribute_size_bytes(name: str, value: dict) -> int:
    """An attribute's share of its item's size: its name's UTF-8 bytes and its value's size."""
    return len(name.encode("utf-8")) + attribute_value_size_bytes(value)


def item_size_bytes(item: Item) -> int:
    return sum(named_attribute_size_bytes(name, value) for name, value in item.items())


def attribute_type(value: dict) -> str:
    return next(iter(value))


@dataclass(frozen=True)
class KeySchema:
    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None

    def __post_init__(self) -> None:
        assert self.hash_type in SCALAR_TYPES, self.hash_type
        assert (self.range_name is None) == (self.range_type is None)
        assert self.range_type is None or self.range_type in SCALAR_TYPES, self.range_type

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_name,) if self.range_name is None else (self.hash_name, self.range_name)

    def key_types(self) -> dict[str, str]:
        types = {self.hash_name: self.hash_type}
        if self.range_name is not None and self.range_type is not None:
            types[self.range_name] = self.range_type
        return types

    def to_json(self) -> dict[str, Any]:
        return {
            "hash_name": self.hash_name,
            "hash_type": self.hash_type,
            "range_name": self.range_name,
            "range_type": self.range_type,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeySchema:
        return cls(
            hash_name=data["hash_name"],
            hash_type=data["hash_type"],
            range_name=data.get("range_name"),
            range_type=data.get("range_type"),
        )


def _check_key_value_not_empty(name: str, value: dict) -> None:
    type_name, raw = next(iter(value.items()))
    if type_name == "S" and raw == "":
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
            f"an empty string value. Key: {name}"
        )
    if type_name == "B" and raw == "":
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
            f"an empty binary value. Key: {name}"
        )


def _check_key_sizes(key: Item, schema: KeySchema) -> None:
    if attribute_value_size_bytes(key[schema.hash_name]) > MAX_HASH_KEY_SIZE_BYTES:
        # The missing space before the number is DynamoDB's own wording.
        raise ValidationException(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
            f"of{MAX_HASH_KEY_SIZE_BYTES} bytes"
        )
    if (
        schema.range_name is not None
        and attribute_value_size_bytes(key[schema.range_name]) > MAX_RANGE_KEY_SIZE_BYTES
    ):
        raise ValidationException(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size "
            f"limit of {MAX_RANGE_KEY_SIZE_BYTES} bytes"
        )


def extract_key(item: Item, schema: KeySchema) -> Item:
    """The key of an item being written (PutItem): every key attribute present and well typed."""
    key: Item = {}
    for name, expected_type in schema.key_types().items():
        value = item.get(name)
        if value is None:
            raise ValidationException(
                f"One or more parameter values were invalid: Missing the key {name} in the item"
            )
        actual_type = attribute_type(value)
        if actual_type != expected_type:
            raise ValidationException(
                f"One or more parameter values were invalid: Type mismatch for key {name} "
                f"expected: {expected_type} actual: {actual_type}"
            )
        _check_key_value_not_empty(name, value)
        key[name] = value
    _check_key_sizes(key, schema)
    return key


def validate_key(key: object, schema: KeySchema) -> Item:
    """A key given by a client (GetItem, DeleteItem, ExclusiveStartKey): exactly the key attributes."""
    normalized = normalize_item(key)
    expected = schema.key_types()
    if set(normalized) != set(expected):
        raise ValidationException("The provided key element does not match the schema")
    for name, expected_type in expected.items():
        if attribute_type(normalized[name]) != expected_type:
            raise ValidationException("The provided key element does not match the schema")
        _check_key_value_not_empty(name, normalized[name])
    _check_key_sizes(normalized, schema)
    return {name: normalized[name] for name in schema.key_names}


# Type tags of the key encoding. Within one tag the encoding sorts like DynamoDB sorts
# that type: strings and binaries by bytes, numbers by value.
_TAG_STRING = 0x01
_TAG_NUMBER = 0x02
_TAG_BINARY = 0x03
_NUMBER_NEGATIVE = 0x01
_NUMBER_ZERO = 0x02
_NUMBER_POSITIVE = 0x03
_EXPONENT_BIAS = 256


def _encode_bytes_ordered(data: bytes) -> bytes:
    # 0x00 is escaped as 0x00 0xFF and the field ends with a bare 0x00, so the encoding is
    # prefix-free (two fields can be concatenated without ambiguity) and keeps byte order.
    return data.replace(b"\x00", b"\x00\xff") + b"\x00"


def _encode_number_ordered(text: str) -> bytes:
    value = parse_number(text)
    if value.is_zero():
        return bytes([_NUMBER_ZERO])
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # Position of the most significant digit: numbers with a larger one are larger in magnitude.
    leading_exponent = exponent + len(digits) - 1 + _EXPONENT_BIAS
    digit_text = bytes(ord("0") + digit for digit in digits)
    if sign == 0:
        return bytes([_NUMBER_POSITIVE]) + leading_exponent.to_bytes(2, "big") + digit_text + b"\x00"
    # Negative numbers: everything inverted so a larger magnitude sorts first.
    inverted_digits = bytes(ord("9") - byte + ord("0") for byte in digit_text)
    return (
        bytes([_NUMBER_NEGATIVE]) + (0xFFFF - leading_exponent).to_bytes(2, "big") + inverted_digits + b"\xff"
    )


def _encode_key_attribute(value: dict) -> bytes:
    type_name, raw = next(iter(value.items()))
    if type_name == "S":
        return bytes([_TAG_STRING]) + _encode_bytes_ordered(raw.encode("utf-8"))
    if type_name == "N":
        return bytes([_TAG_NUMBER]) + _encode_number_ordered(raw)
    if type_name == "B":
        return bytes([_TAG_BINARY]) + _encode_bytes_ordered(decode_binary(raw))
    raise ValueError(f"not a key type: {type_name}")


def encode_key(key: Item, schema: KeySchema) -> bytes:
    """Canonical bytes of a validated key: equal keys give equal bytes, and keys with the
    same partition key sort by their sort key the way DynamoDB orders them."""
    encoded = _encode_key_attribute(key[schema.hash_name])
    if schema.range_name is not None:
        encoded += _encode_key_attribute(key[schema.range_name])
    return encoded


def encode_hash_key(value: dict) -> bytes:
    """The leading bytes of every encoded key whose partition key is `value`."""
    return _encode_key_attribute(value)


def encode_begins_with(hash_value: dict, prefix: dict) -> bytes:
    """The leading bytes of every encoded key whose sort key (S or B) begins with `prefix`:
    the terminator is left off, and the escaping keeps prefixes prefixes."""
    type_name, raw = next(iter(prefix.items()))
    if type_name == "S":
        body = bytes([_TAG_STRING]) + _encode_bytes_ordered(raw.encode("utf-8"))[:-1]
    elif type_name == "B":
        body = bytes([_TAG_BINARY]) + _encode_bytes_ordered(decode_binary(raw))[:-1]
    else:
        raise ValueError(f"begins_with needs S or B, not {type_name}")
    return _encode_key_attribute(hash_value) + body


def partition_hash(key: Item, schema: KeySchema) -> int:
    """A 64-bit hash of the partition key alone, equal in every process (unlike hash())."""
    digest = hashlib.blake2b(_encode_key_attribute(key[schema.hash_name]), digest_size=8).digest()
    return int.from_bytes(digest, "big")
