"""Set-full checker: lost, phantom and stale elements, and the add counts."""

from __future__ import annotations

from tests.verify.verify_history_builder import HistoryBuilder
from verify.linearizability import UNKNOWN
from verify.set_checker import check_sets


def test_every_acknowledged_add_read_back_is_valid() -> None:
    h = HistoryBuilder(key=None)
    for element in range(5):
        h.invoke(1, "add", element).ok(1, "add", element)
    h.invoke(2, "add", 9).fail(2, "add", 9).invoke(3, "add", 10).info(3, "add", 10)
    h.invoke(1, "read-set").ok(1, "read-set", [0, 1, 2, 3, 4, 10])
    result = check_sets(h.operations())[None]
    assert result.validity is True
    assert (result.ok_add_count, result.failed_add_count, result.unknown_add_count) == (5, 1, 1)
    assert result.recovered_count == 1


def test_lost_phantom_and_failed_add_read_back() -> None:
    h = HistoryBuilder(key="s")
    h.invoke(1, "add", 1).ok(1, "add", 1).invoke(1, "add", 2).ok(1, "add", 2)
    h.invoke(2, "add", 3).fail(2, "add", 3)
    h.invoke(1, "read-set").ok(1, "read-set", [1, 3, 99])
    result = check_sets(h.operations())["s"]
    assert result.validity is False
    assert result.lost == [2]
    assert result.phantom == [3, 99]


def test_element_missing_from_a_read_concurrent_with_its_add_is_not_lost() -> None:
    h = HistoryBuilder(key=None)
    h.invoke(1, "add", 1).invoke(2, "read-set").ok(1, "add", 1).ok(2, "read-set", [])
    assert check_sets(h.operations())[None].validity is True


def test_stale_then_present_is_stale_not_lost() -> None:
    h = HistoryBuilder(key=None)
    h.invoke(1, "add", 1).ok(1, "add", 1)
    h.invoke(2, "read-set").ok(2, "read-set", []).invoke(2, "read-set").ok(2, "read-set", [1])
    result = check_sets(h.operations())[None]
    assert (result.stale, result.lost, result.validity) == ([1], [], False)
    assert check_sets(h.operations(), stale_is_invalid=False)[None].validity is True


def test_keys_are_checked_apart_and_no_read_means_unknown() -> None:
    h = HistoryBuilder()
    h.invoke(1, "add", 1, key="a").ok(1, "add", 1, key="a").invoke(1, "read-set", key="a").ok(
        1, "read-set", [1], key="a"
    )
    h.invoke(1, "add", 1, key="b").ok(1, "add", 1, key="b")
    results = check_sets(h.operations())
    assert results["a"].validity is True
    assert results["b"].validity == UNKNOWN
