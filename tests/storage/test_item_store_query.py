"""Query's key ranges against the real store: what the bounds select equals what the key
condition means, for every operator, both directions, with strings holding NUL bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.api.attribute_values import KeySchema, encode_key, partition_hash
from cluster.api.errors import ValidationException
from cluster.api.expressions import parse_condition
from cluster.api.key_conditions import KeyRange, key_range, store_bounds
from cluster.storage.item_store import ItemStore

SCHEMA = KeySchema("pk", "S", "sk", "S")
SORT_KEYS = ["", "a", "a\x00", "a\x00b", "ab", "abc", "b", "b\xff", "ba", "\U0001f600"]
HASH_VALUE = {"S": "p"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ItemStore:
    store = ItemStore(tmp_path_factory.mktemp("query") / "items.sqlite")
    with store.transaction(1):
        for pk in ("o", "p", "q"):
            for sk in SORT_KEYS:
                key = {"pk": {"S": pk}, "sk": {"S": sk}}
                store.put(partition_hash(key, SCHEMA), encode_key(key, SCHEMA), sk)
    return store


def _select(store: ItemStore, selected: KeyRange, forward: bool = True) -> list[str]:
    bounds = store_bounds(selected, SCHEMA)
    item_hash = partition_hash({"pk": HASH_VALUE}, SCHEMA)
    return [item for _, item, _ in store.query(item_hash, bounds.prefix, bounds.lower, bounds.upper, None, forward, 100)]


def _parsed(expression: str, values: dict) -> KeyRange:
    return key_range(parse_condition(expression, None, {":p": HASH_VALUE, **values}, kind="KeyConditionExpression"), SCHEMA)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


OPERATORS = {
    "=": lambda sk, a: _utf8(sk) == _utf8(a),
    "<": lambda sk, a: _utf8(sk) < _utf8(a),
    "<=": lambda sk, a: _utf8(sk) <= _utf8(a),
    ">": lambda sk, a: _utf8(sk) > _utf8(a),
    ">=": lambda sk, a: _utf8(sk) >= _utf8(a),
}
in_utf8_order = sorted(SORT_KEYS, key=_utf8)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(OPERATORS)), st.sampled_from(SORT_KEYS[1:]), st.booleans())
def test_comparisons_select_what_they_mean(store: ItemStore, operator: str, value: str, forward: bool) -> None:
    selected = _parsed(f"pk = :p AND sk {operator} :a", {":a": {"S": value}})
    expected = [sk for sk in in_utf8_order if OPERATORS[operator](sk, value)]
    assert _select(store, selected, forward) == (expected if forward else expected[::-1])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["a", "a\x00", "ab", "b", "\U0001f600", "z"]))
def test_begins_with_selects_prefixes_only(store: ItemStore, prefix: str) -> None:
    selected = _parsed("pk = :p AND begins_with(sk, :a)", {":a": {"S": prefix}})
    assert _select(store, selected) == [sk for sk in in_utf8_order if sk.startswith(prefix)]


def test_between_and_partition_key_alone(store: ItemStore) -> None:
    assert _select(store, _parsed("pk = :p AND sk BETWEEN :a AND :b", {":a": {"S": "a\x00"}, ":b": {"S": "abc"}})) == [
        "a\x00", "a\x00b", "ab", "abc"
    ]
    assert _select(store, _parsed("pk = :p", {})) == in_utf8_order


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("pk = :p AND sk = :a AND sk = :a", "KeyConditionExpressions must only contain one condition per key"),
        ("pk = :p AND NOT sk = :a", "Invalid operator used in KeyConditionExpression: NOT"),
        ("pk = :p AND sk <> :a", "Invalid operator used in KeyConditionExpression: <>"),
        ("pk = :p AND contains(sk, :a)", "Invalid operator used in KeyConditionExpression: contains"),
        ("pk = :p AND sk.x = :a", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("pk = :p AND sk = pk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        ("pk < :p", "Query key condition not supported"),
        ("pk = :p AND colour = :a", "Query condition missed key schema element: sk"),
    ],
)
def test_key_condition_errors(expression: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        key_range(
            parse_condition(expression, None, {":p": HASH_VALUE, ":a": {"S": "a"}}, kind="KeyConditionExpression",
                            check_unused=False),
            SCHEMA,
        )
    assert caught.value.message == message
