"""The list-append checker (Elle's inference): a hand-made history per anomaly class is caught with its
witness, and histories valid by construction (a serial execution, its transactions overlapping in time
at random, some failed, some of unknown outcome) are never judged invalid."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.verify.verify_history_builder import HistoryBuilder
from verify.history import parse_history_lines
from verify.list_append_checker import (
    ListAppendModelMismatchError,
    ListAppendResult,
    check_list_append,
)
from verify.operations import pair_operations
from verify.simulated_history import simulate_list_append_history

Micro = list[Any]


class Txns:
    """Transactions one after the other: each is invoked and completed before the next."""

    def __init__(self) -> None:
        self.builder = HistoryBuilder(key=None)
        self.process = 0

    def txn(self, *micro: Micro, outcome: str = "ok") -> Txns:
        self.process += 1
        invoked = [[f, k, None if f == "r" else v] for f, k, v in micro]
        self.builder.invoke(self.process, "txn", invoked)
        if outcome == "ok":
            self.builder.ok(self.process, "txn", [list(m) for m in micro])
        elif outcome == "fail":
            self.builder.fail(self.process, "txn", invoked)
        elif outcome == "info":
            self.builder.info(self.process, "txn", invoked)
        return self

    def check(self) -> ListAppendResult:
        return check_list_append(self.builder.operations())


def _only(result: ListAppendResult, kind: str) -> str:
    assert result.validity is False
    assert set(result.anomalies) == {kind}, result.anomalies
    return result.anomalies[kind][0].explanation


def test_g0_write_cycle() -> None:
    # T1 and T2 each append to x and y; x says T1 came first, y says T2 did.
    h = Txns().txn(["append", "x", 1], ["append", "y", 1]).txn(["append", "x", 2], ["append", "y", 2])
    result = h.txn(["r", "x", [1, 2]], ["r", "y", [2, 1]]).check()
    explanation = _only(result, "G0")
    assert "ww on 'x'" in explanation and "ww on 'y'" in explanation
    assert sorted(result.anomalies["G0"][0].transactions) == [0, 1]


def test_g1a_aborted_read() -> None:
    result = Txns().txn(["append", "x", 1], outcome="fail").txn(["r", "x", [1]]).check()
    assert "appended by T0, which failed" in _only(result, "G1a")


def test_g1b_intermediate_read() -> None:
    result = Txns().txn(["append", "x", 1], ["append", "x", 2]).txn(["r", "x", [1]]).check()
    assert "went on to append 2" in _only(result, "G1b")


def test_g1c_circular_information_flow() -> None:
    # Each read the other's write.
    h = Txns().txn(["append", "x", 1], ["r", "y", [1]]).txn(["append", "y", 1], ["r", "x", [1]])
    result = h.check()
    cycle = result.anomalies["G1c"][0].cycle
    assert {edge.kind for edge in cycle} == {"wr"} and len(cycle) == 2
    _only(result, "G1c")


def test_g_single_read_skew() -> None:
    # T1 appends to x and y; T2 misses the x append but sees the y one.
    h = Txns().txn(["append", "x", 1], ["append", "y", 1]).txn(["r", "x", []], ["r", "y", [1]])
    result = h.txn(["r", "x", [1]]).check()
    cycle = result.anomalies["G-single"][0].cycle
    assert sorted(edge.kind for edge in cycle) == ["rw", "wr"]
    _only(result, "G-single")


def test_g2_write_skew() -> None:
    h = Txns().txn(["r", "x", []], ["append", "y", 1]).txn(["r", "y", []], ["append", "x", 1])
    result = h.txn(["r", "x", [1]], ["r", "y", [1]]).check()
    cycle = result.anomalies["G2"][0].cycle
    assert [edge.kind for edge in cycle] == ["rw", "rw"]
    _only(result, "G2")


def test_incompatible_orders_duplicates_and_unknown_elements() -> None:
    h = Txns().txn(["append", "x", 1]).txn(["append", "x", 2]).txn(["r", "x", [1]]).txn(["r", "x", [2]])
    assert "neither is a prefix" in _only(h.check(), "incompatible-order")
    assert "twice" in _only(Txns().txn(["append", "x", 1]).txn(["r", "x", [1, 1]]).check(), "duplicate-elements")
    assert "no transaction appended" in _only(Txns().txn(["r", "x", [7]]).check(), "unknown-element")


def test_an_unknown_outcome_that_a_read_saw_committed_and_one_nobody_saw_constrains_nothing() -> None:
    h = Txns().txn(["append", "x", 1], outcome="info").txn(["append", "x", 2], outcome="info")
    result = h.txn(["r", "x", [1]]).check()
    assert result.validity is True and result.committed_count == 2  # the read and T0, which it saw


def test_own_appends_read_back_in_a_transaction_are_no_dependency() -> None:
    h = Txns().txn(["append", "x", 1]).txn(["append", "x", 2], ["r", "x", [1, 2]]).txn(["r", "x", [1, 2]])
    assert h.check().validity is True


def test_a_transaction_that_misses_its_own_append_is_internally_inconsistent() -> None:
    h = Txns().txn(["append", "x", 1]).txn(["append", "x", 2], ["r", "x", [1]]).txn(["r", "x", [1, 2]])
    assert "after appending [2] itself" in _only(h.check(), "internal")


def test_a_malformed_transaction_is_refused_naming_its_line() -> None:
    builder = HistoryBuilder(key=None).invoke(1, "txn", [["write", "x", 1]]).ok(1, "txn", [["write", "x", 1]])
    with pytest.raises(ListAppendModelMismatchError, match="line 1: micro-operation"):
        check_list_append(builder.operations())
    register = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1)
    with pytest.raises(ListAppendModelMismatchError, match="no list-append transaction"):
        check_list_append(register.operations())
    twice = Txns().txn(["append", "x", 1]).txn(["append", "y", 1]).txn(["append", "x", 1])
    with pytest.raises(ListAppendModelMismatchError, match="appended to 'x' twice"):
        twice.check()


@pytest.mark.parametrize("seed", range(40))
def test_histories_valid_by_construction_are_valid(seed: int) -> None:
    pick = random.Random(seed)
    events = simulate_list_append_history(pick, pick.randint(5, 120), pick.randint(1, 6))
    result = check_list_append(pair_operations(parse_history_lines(json.dumps(event) for event in events)))
    assert result.validity is True, (seed, {kind: [a.explanation for a in found] for kind, found in result.anomalies.items()})


def test_a_cycle_search_out_of_steps_still_reports_the_cycle_but_not_its_class() -> None:
    h = Txns().txn(["r", "x", []], ["append", "y", 1]).txn(["r", "y", []], ["append", "x", 1])
    result = check_list_append(h.txn(["r", "x", [1]], ["r", "y", [1]]).builder.operations(), max_steps=0)
    assert result.validity is False and set(result.anomalies) == {"cycle"}
    assert result.unknown_reason is not None and "steps" in result.unknown_reason
