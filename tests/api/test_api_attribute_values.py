from __future__ import annotations

import base64
import decimal
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.api.attribute_values import (
    MAX_ITEM_SIZE_BYTES,
    KeySchema,
    canonical_number,
    copy_value,
    encode_key,
    extract_key,
    item_size_bytes,
    normalize_attribute_value,
    normalize_item,
    parse_number,
    partition_hash,
    validate_key,
)
from cluster.api.errors import ApiError, ValidationException


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("given_text", "canonical"),
    [
        ("1.50", "1.5"),
        ("01", "1"),
        ("1E2", "100"),
        ("-0", "0"),
        ("0.000", "0"),
        ("+7", "7"),
        (".5", "0.5"),
        ("5.", "5"),
        ("-1.0e-5", "-0.00001"),
        ("1E-130", "0." + "0" * 129 + "1"),
        ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1230000000000000000000000000000000000000000000", "1230000000000000000000000000000000000000000000"),
    ],
)
def test_api_numbers_take_dynamodb_canonical_form(given_text: str, canonical: str) -> None:
    assert canonical_number(given_text) == canonical


@pytest.mark.parametrize(
    ("given_text", "message_start"),
    [
        ("123456789012345678901234567890123456789", "Attempting to store more than 38 significant digits"),
        ("1." + "0" * 250 + "1", "Attempting to store more than 38 significant digits"),
        ("1E126", "Number overflow."),
        ("-1E126", "Number overflow."),
        ("1E999999999", "Number overflow."),
        ("1E-131", "Number underflow."),
        ("abc", "The parameter cannot be converted to a numeric value"),
        ("NaN", "The parameter cannot be converted to a numeric value"),
        ("Infinity", "The parameter cannot be converted to a numeric value"),
        ("1e", "The parameter cannot be converted to a numeric value"),
        (" 1", "The parameter cannot be converted to a numeric value"),
        ("", "The parameter cannot be converted to a numeric value"),
    ],
)
def test_api_numbers_outside_dynamodb_limits_are_rejected(given_text: str, message_start: str) -> None:
    with pytest.raises(ValidationException) as raised:
        canonical_number(given_text)
    assert raised.value.message.startswith(message_start)


def test_api_number_must_be_a_json_string() -> None:
    with pytest.raises(ValidationException):
        normalize_attribute_value({"N": 5}, "x")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**37), max_value=10**37), st.integers(min_value=-60, max_value=60))
def test_api_canonical_number_is_idempotent_and_keeps_the_value(coefficient: int, exponent: int) -> None:
    text = f"{coefficient}E{exponent}"
    canonical = canonical_number(text)
    assert canonical_number(canonical) == canonical
    assert decimal.Decimal(canonical) == decimal.Decimal(text)
    assert "E" not in canonical and "e" not in canonical
    if "." in canonical:
        assert not canonical.endswith("0")


# ---------------------------------------------------------------------------- types


ROUND_TRIPS = [
    {"S": "text"},
    {"S": ""},
    {"N": "42"},
    {"B": b64(b"\x00\xffbytes")},
    {"B": ""},
    {"BOOL": False},
    {"BOOL": True},
    {"NULL": True},
    {"SS": ["a", "b"]},
    {"NS": ["1", "2.5"]},
    {"BS": [b64(b"x"), b64(b"y")]},
    {"L": [{"S": "a"}, {"N": "1"}, {"L": []}]},
    {"M": {"inner": {"M": {"deep": {"BOOL": True}}}, "empty": {"M": {}}}},
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda value: next(iter(value)))
def test_api_every_type_round_trips_through_normalize(value: dict) -> None:
    assert normalize_attribute_value(value, "a") == value
    assert normalize_item({"a": value}) == {"a": value}


def test_api_normalize_canonicalises_numbers_inside_containers() -> None:
    value = {"M": {"n": {"N": "1.50"}, "l": {"L": [{"NS": ["01", "2E1"]}]}}}
    assert normalize_attribute_value(value, "a") == {
        "M": {"n": {"N": "1.5"}, "l": {"L": [{"NS": ["1", "20"]}]}}
    }


@pytest.mark.parametrize(
    ("value", "message_part"),
    [
        ({"SS": ["a", "a"]}, "contains duplicates"),
        ({"NS": ["1", "1.0"]}, "contains duplicates"),
        ({"BS": [b64(b"x"), b64(b"x")]}, "contains duplicates"),
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"BS": []}, "An binary set  may not be empty"),
        ({"NULL": False}, "Null attribute value types must have the value of true"),
        ({}, "Supplied AttributeValue is empty"),
        ({"S": "a", "N": "1"}, "more than one datatypes"),
        ({"Q": "a"}, "unsupported datatypes"),
        ({"B": "not base64!"}, "base64"),
        ({"M": {"x": {"NS": ["1", "01"]}}}, "contains duplicates"),
    ],
)
def test_api_invalid_attribute_values_are_rejected(value: dict, message_part: str) -> None:
    with pytest.raises(ValidationException) as raised:
        normalize_attribute_value(value, "a")
    assert message_part in raised.value.message


@pytest.mark.parametrize("value", [{"S": 1}, {"BOOL": "true"}, {"L": {}}, {"M": []}, "S", {"SS": "a"}])
def test_api_wrong_json_types_are_serialization_errors(value: object) -> None:
    with pytest.raises(ValidationException):
        normalize_attribute_value(value, "a")


def test_api_nesting_deeper_than_32_levels_is_rejected() -> None:
    value: dict = {"S": "leaf"}
    for _ in range(31):
        value = {"L": [value]}
    normalize_attribute_value(value, "a")
    with pytest.raises(ValidationException, match="Nesting Levels"):
        normalize_attribute_value({"L": [value]}, "a")


def test_api_normalize_item_rejects_non_objects_and_empty_names() -> None:
    with pytest.raises(ValidationException):
        normalize_item([])
    with pytest.raises(ValidationException):
        normalize_item({"": {"S": "x"}})


# ---------------------------------------------------------------------------- item size


def test_api_item_size_follows_the_developer_guide() -> None:
    assert item_size_bytes({"ab": {"S": "héllo"}}) == 2 + 6
    assert item_size_bytes({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert item_size_bytes({"n": {"N": "0"}}) == 1 + 1
    assert item_size_bytes({"b": {"B": b64(b"1234")}}) == 1 + 4
    assert item_size_bytes({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size_bytes({"s": {"SS": ["ab", "c"]}}) == 1 + 3
    assert item_size_bytes({"l": {"L": []}}) == 1 + 3
    assert item_size_bytes({"l": {"L": [{"S": "ab"}, {"BOOL": False}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size_bytes({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def _significant_digits_by_decimal(text: str) -> int:
    value = decimal.Decimal(text)
    return 0 if value.is_zero() else len(value.normalize(decimal.Context(prec=100)).as_tuple().digits)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "-", "+"]),
    st.text(alphabet="0123456789", max_size=22),
    st.sampled_from(["", "."]),
    st.text(alphabet="0123456789", max_size=22),
)
def test_api_number_size_counts_significant_digits_of_any_spelling(
    sign: str, integer_part: str, point: str, fraction_part: str
) -> None:
    # Plain spellings (counted on the string) and long ones (counted by Decimal) must agree with Decimal.
    text = sign + integer_part + (point + fraction_part if point else "")
    if not (integer_part or (point and fraction_part)):
        with pytest.raises(ValidationException):
            item_size_bytes({"n": {"N": text}})
        return
    expected = (_significant_digits_by_decimal(text) + 1) // 2 + 1
    if _significant_digits_by_decimal(text) > 38:
        with pytest.raises(ValidationException):
            item_size_bytes({"n": {"N": text}})
        return
    assert item_size_bytes({"n": {"N": text}}) == 1 + expected


def test_api_number_size_still_refuses_what_dynamodb_refuses() -> None:
    for text in ("1e126", "1e-131", "12a", "1" * 39, " 1"):
        with pytest.raises(ValidationException):
            item_size_bytes({"n": {"N": text}})
    assert item_size_bytes({"n": {"N": "1.50E+3"}}) == 1 + 2
    assert item_size_bytes({"n": {"N": "-000.0100"}}) == 1 + 2


def test_api_max_item_size_is_400_kib() -> None:
    assert MAX_ITEM_SIZE_BYTES == 409600


# ---------------------------------------------------------------------------- keys


SIMPLE = KeySchema("id", "S")
COMPOSITE = KeySchema("user", "S", "at", "N")


def test_api_key_schema_round_trips_through_json() -> None:
    assert KeySchema.from_json(COMPOSITE.to_json()) == COMPOSITE
    assert KeySchema.from_json(SIMPLE.to_json()) == SIMPLE


def test_api_extract_key_takes_only_key_attributes() -> None:
    item = normalize_item({"user": {"S": "u"}, "at": {"N": "5"}, "other": {"S": ""}})
    assert extract_key(item, COMPOSITE) == {"user": {"S": "u"}, "at": {"N": "5"}}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"other": {"S": "x"}}, "One or more parameter values were invalid: Missing the key id in the item"),
        (
            {"id": {"N": "1"}},
            "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N",
        ),
        (
            {"id": {"S": ""}},
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
            "an empty string value. Key: id",
        ),
        (
            {"id": {"S": "x" * 2049}},
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ),
    ],
)
def test_api_extract_key_errors_match_dynamodb(item: dict, message: str) -> None:
    with pytest.raises(ValidationException) as raised:
        extract_key(normalize_item(item), SIMPLE)
    assert raised.value.message == message


def test_api_empty_strings_allowed_outside_keys_only() -> None:
    item = normalize_item({"id": {"S": "k"}, "note": {"S": ""}})
    assert extract_key(item, SIMPLE) == {"id": {"S": "k"}}
    with pytest.raises(ValidationException):
        validate_key({"id": {"S": ""}}, SIMPLE)


@pytest.mark.parametrize(
    "key",
    [
        {"user": {"S": "u"}},
        {"user": {"S": "u"}, "at": {"N": "1"}, "extra": {"S": "x"}},
        {"user": {"S": "u"}, "at": {"S": "1"}},
        {"user": {"S": "u"}, "when": {"N": "1"}},
    ],
)
def test_api_validate_key_requires_exactly_the_schema(key: dict) -> None:
    with pytest.raises(ValidationException, match="The provided key element does not match the schema"):
        validate_key(key, COMPOSITE)


def test_api_validate_key_normalizes_numbers() -> None:
    assert validate_key({"at": {"N": "1.0"}, "user": {"S": "u"}}, COMPOSITE) == {
        "user": {"S": "u"},
        "at": {"N": "1"},
    }


def test_api_encode_key_is_canonical_for_equal_numbers() -> None:
    one = validate_key({"user": {"S": "u"}, "at": {"N": "1.0"}}, COMPOSITE)
    other = validate_key({"user": {"S": "u"}, "at": {"N": "01"}}, COMPOSITE)
    assert encode_key(one, COMPOSITE) == encode_key(other, COMPOSITE)


scalar_strings = st.text(max_size=20)
scalar_numbers = st.builds(
    lambda coefficient, exponent: canonical_number(f"{coefficient}E{exponent}"),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=-20, max_value=20),
)
scalar_binaries = st.binary(max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.tuples(scalar_strings, scalar_numbers), st.tuples(scalar_strings, scalar_numbers))
def test_api_encode_key_is_injective_and_orders_like_dynamodb(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    first_key = {"user": {"S": first[0]}, "at": {"N": first[1]}}
    second_key = {"user": {"S": second[0]}, "at": {"N": second[1]}}
    first_bytes, second_bytes = encode_key(first_key, COMPOSITE), encode_key(second_key, COMPOSITE)
    same = first[0] == second[0] and decimal.Decimal(first[1]) == decimal.Decimal(second[1])
    assert (first_bytes == second_bytes) == same
    if first[0] == second[0]:
        # Within one partition key, items sort by the numeric value of the sort key.
        assert (first_bytes < second_bytes) == (decimal.Decimal(first[1]) < decimal.Decimal(second[1]))
    else:
        assert (first_bytes < second_bytes) == (first[0].encode() < second[0].encode())


@settings(max_examples=200, deadline=None)
@given(scalar_binaries, scalar_binaries)
def test_api_binary_keys_encode_injectively_in_byte_order(first: bytes, second: bytes) -> None:
    schema = KeySchema("id", "B")
    first_bytes = encode_key({"id": {"B": b64(first)}}, schema)
    second_bytes = encode_key({"id": {"B": b64(second)}}, schema)
    assert (first_bytes == second_bytes) == (first == second)
    assert (first_bytes < second_bytes) == (first < second)


def test_api_partition_hash_uses_only_the_partition_key_and_is_stable() -> None:
    first = {"user": {"S": "u"}, "at": {"N": "1"}}
    second = {"user": {"S": "u"}, "at": {"N": "2"}}
    assert partition_hash(first, COMPOSITE) == partition_hash(second, COMPOSITE)
    assert partition_hash(first, COMPOSITE) != partition_hash(
        {"user": {"S": "v"}, "at": {"N": "1"}}, COMPOSITE
    )
    value = partition_hash(first, COMPOSITE)
    assert 0 <= value < 2**64
    # Pinned: a change here would move every existing item to another partition.
    assert value == partition_hash({"user": {"S": "u"}}, KeySchema("user", "S"))
    assert value == int.from_bytes(hashlib.blake2b(b"\x01u\x00", digest_size=8).digest(), "big")


def test_api_errors_are_api_errors() -> None:
    with pytest.raises(ApiError):
        parse_number("x")


def test_copy_value_shares_no_dict_or_list_with_the_original() -> None:
    item = {"m": {"M": {"l": {"L": [{"N": "1"}, {"SS": ["a", "b"]}]}}}, "s": {"S": "x"}}
    copied = copy_value(item)
    assert copied == item
    copied["m"]["M"]["l"]["L"][1]["SS"].append("c")
    copied["m"]["M"]["l"]["L"].append({"NULL": True})
    copied["s"]["S"] = "y"
    assert item == {"m": {"M": {"l": {"L": [{"N": "1"}, {"SS": ["a", "b"]}]}}}, "s": {"S": "x"}}
