"""Index entries' keys against the real store: an index Query's bounds select exactly the entries whose
index key meets the key condition, every entry of an index key shared by several items included, in
index-key order and then table-key order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.api.attribute_values import KeySchema, encode_key
from cluster.api.expressions import parse_condition
from cluster.api.index_entries import entry_bounds, entry_hash, entry_key, entry_start_key, last_evaluated_key
from cluster.api.key_conditions import key_range, store_bounds
from cluster.storage.item_store import ItemStore

TABLE = KeySchema("id", "S", "version", "N")
INDEX = KeySchema("gpk", "S", "gsk", "S")
RANKS = ["", "a", "a\x00", "ab", "b", "b\xff", "ba"]
TABLE_KEYS = [("x", "1"), ("x", "2"), ("\x00", "-5"), ("zz", "0")]  # several items share each index key
OWNER = {"S": "ann"}


def _entry(rank: str, table_key: tuple[str, str]) -> tuple[int, bytes]:
    index_key = {"gpk": OWNER, "gsk": {"S": rank}}
    base = encode_key({"id": {"S": table_key[0]}, "version": {"N": table_key[1]}}, TABLE)
    return entry_hash(index_key, INDEX), entry_key(index_key, INDEX, base)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ItemStore:
    store = ItemStore(tmp_path_factory.mktemp("entries") / "items.sqlite")
    with store.transaction(1):
        for owner in ("amy", "ann", "bob"):
            for rank in RANKS:
                for table_key in TABLE_KEYS:
                    index_key = {"gpk": {"S": owner}, "gsk": {"S": rank}}
                    base = encode_key({"id": {"S": table_key[0]}, "version": {"N": table_key[1]}}, TABLE)
                    store.put(entry_hash(index_key, INDEX), entry_key(index_key, INDEX, base), f"{owner}|{rank}|{table_key}")
    return store


OPERATORS = {
    "=": lambda rank, a: rank.encode() == a.encode(),
    "<": lambda rank, a: rank.encode() < a.encode(),
    "<=": lambda rank, a: rank.encode() <= a.encode(),
    ">": lambda rank, a: rank.encode() > a.encode(),
    ">=": lambda rank, a: rank.encode() >= a.encode(),
    "begins_with": lambda rank, a: rank.encode().startswith(a.encode()),
}


def _selected(store: ItemStore, expression: str, values: dict, forward: bool = True) -> list[str]:
    condition = parse_condition(expression, None, {":o": OWNER, **values}, kind="KeyConditionExpression")
    bounds = entry_bounds(store_bounds(key_range(condition, INDEX), INDEX))
    index_hash = entry_hash({"gpk": OWNER}, KeySchema("gpk", "S"))
    return [item for _, item, _ in store.query(index_hash, bounds.prefix, bounds.lower, bounds.upper, None, forward, 1000)]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(OPERATORS)), st.sampled_from(RANKS[1:]), st.booleans())
def test_an_index_key_condition_selects_every_entry_it_means(store: ItemStore, operator: str, value: str, forward: bool) -> None:
    expression = "begins_with(gsk, :a)" if operator == "begins_with" else f"gsk {operator} :a"
    found = _selected(store, f"gpk = :o AND {expression}", {":a": {"S": value}}, forward)
    ranks = sorted((rank for rank in RANKS if OPERATORS[operator](rank, value)), key=str.encode)
    expected = [f"ann|{rank}|{table_key}" for rank in ranks
                for table_key in sorted(TABLE_KEYS, key=lambda k: encode_key({"id": {"S": k[0]}, "version": {"N": k[1]}}, TABLE))]
    assert found == (expected if forward else expected[::-1])


def test_between_and_a_hash_only_condition_keep_every_entry_of_their_ends(store: ItemStore) -> None:
    found = _selected(store, "gpk = :o AND gsk BETWEEN :a AND :b", {":a": {"S": "a"}, ":b": {"S": "b"}})
    assert {entry.split("|")[1] for entry in found} == {"a", "a\x00", "ab", "b"}
    assert len(found) == 4 * len(TABLE_KEYS)
    assert len(_selected(store, "gpk = :o", {})) == len(RANKS) * len(TABLE_KEYS)


def test_a_start_key_names_its_entry_and_a_last_key_holds_both_keys() -> None:
    item = {"gpk": OWNER, "gsk": {"S": "ab"}, "id": {"S": "x"}, "version": {"N": "2"}, "other": {"S": "no"}}
    last = last_evaluated_key(item, INDEX, TABLE)
    assert last == {"gpk": OWNER, "gsk": {"S": "ab"}, "id": {"S": "x"}, "version": {"N": "2"}}
    assert entry_start_key(last, INDEX, TABLE) == _entry("ab", ("x", "2"))
    # A GSI keyed by the table's own range key: the shared attribute appears once.
    assert last_evaluated_key(item, KeySchema("version", "N"), TABLE) == {"version": {"N": "2"}, "id": {"S": "x"}}
