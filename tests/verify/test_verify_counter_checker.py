"""The counter model: increments of 1 returning the new count, and reads (the register workload's incr).

Hand-written histories for each way a counter goes wrong (a lost increment, a doubled one, an info
increment that did or did not apply), then random small histories judged against brute force: every
order of every subset of the unknown increments.
"""

from __future__ import annotations

import itertools
import random

import pytest

from tests.verify.verify_history_builder import HistoryBuilder
from verify.counter_checker import CounterModelMismatchError, check_counter
from verify.linearizability import SearchBudget
from verify.operations import OK, Operation
from verify.register_checker import check_register_keys
from verify.verdict import register_verdict


def test_sequential_increments_and_reads_are_valid() -> None:
    h = HistoryBuilder()
    h.invoke(1, "read").ok(1, "read", None)  # never incremented: 0
    h.invoke(1, "incr", 1).ok(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 2)
    h.invoke(1, "read").ok(1, "read", 2)
    result = check_counter(h.operations())
    assert result.validity is True and result.final_value == 2


def test_concurrent_increments_may_return_in_either_order() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).invoke(2, "incr", 1).ok(2, "incr", 1).ok(1, "incr", 2)
    assert check_counter(h.operations()).validity is True


def test_two_increments_returning_the_same_count_is_a_lost_increment() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).invoke(2, "incr", 1).ok(1, "incr", 1).ok(2, "incr", 1)
    result = check_counter(h.operations())
    assert result.validity is False
    assert "both returned 1" in (result.explanation or "") and len(result.culprits) == 2


def test_a_read_after_an_acknowledged_increment_that_misses_it_is_a_lost_increment() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).ok(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 2)
    h.invoke(1, "read").ok(1, "read", 1)  # begun after the count reached 2
    result = check_counter(h.operations())
    assert result.validity is False and "read returned 1" in (result.explanation or "")
    assert [operation.function for operation in result.culprits] == ["incr", "read"]


def test_a_count_no_increment_accounts_for_is_a_doubled_increment() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).ok(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 3)  # the store applied something twice: 2 was skipped
    result = check_counter(h.operations())
    assert result.validity is False and "applied twice" in (result.explanation or "")


def test_an_info_increment_may_have_applied() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).info(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 2)  # 1 is the info increment's
    assert check_counter(h.operations()).validity is True


def test_an_info_increment_may_also_not_have_applied() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).info(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 1)
    h.invoke(2, "read").ok(2, "read", 1)
    assert check_counter(h.operations()).validity is True


def test_one_info_increment_cannot_fill_two_gaps() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).info(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 3)
    assert check_counter(h.operations()).validity is False


def test_an_info_increment_cannot_apply_before_it_was_invoked() -> None:
    h = HistoryBuilder()
    h.invoke(2, "read").ok(2, "read", 1)  # the count is 1 before anyone incremented
    h.invoke(1, "incr", 1).info(1, "incr", 1)
    assert check_counter(h.operations()).validity is False


def test_failed_increments_did_not_happen() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).fail(1, "incr", 1)
    h.invoke(2, "incr", 1).ok(2, "incr", 2)
    assert check_counter(h.operations()).validity is False


def test_a_write_on_a_counter_key_is_refused() -> None:
    h = HistoryBuilder()
    h.invoke(1, "incr", 1).ok(1, "incr", 1).invoke(1, "write", 7).ok(1, "write", 7)
    with pytest.raises(CounterModelMismatchError):
        check_counter(h.operations())


def test_the_register_checker_judges_counter_keys_with_the_counter_model() -> None:
    h = HistoryBuilder()
    h.invoke(1, "write", 5, key="r0").ok(1, "write", 5, key="r0")
    h.invoke(2, "incr", 1, key="c0").invoke(3, "incr", 1, key="c0")
    h.ok(2, "incr", 1, key="c0").ok(3, "incr", 1, key="c0")
    groups: dict = {}
    for operation in h.operations():
        groups.setdefault(operation.key, []).append(operation)
    verdict = register_verdict(check_register_keys(groups, SearchBudget()), 0)
    assert verdict["valid"] is False and verdict["invalid_keys"] == ["c0"]
    assert verdict["keys"]["c0"]["model"] == "counter" and verdict["keys"]["r0"]["valid"] is True
    assert len(verdict["keys"]["c0"]["witness"]["operations"]) == 2


# ---- against brute force -------------------------------------------------------------------------


def brute_force_counter(operations: list[Operation]) -> bool:
    """Some order of the ok operations plus some subset of the unknown increments that respects real time
    and the counter's sequential behaviour."""
    ok = [op for op in operations if op.outcome == OK]
    unknown = [op for op in operations if op.function == "incr" and op.outcome in ("info", "open")]
    for size in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, size):
            for order in itertools.permutations(ok + list(chosen)):
                if _respects_real_time(order) and _sequentially_valid(order):
                    return True
    return False


def _respects_real_time(order: tuple[Operation, ...]) -> bool:
    for earlier_index, earlier in enumerate(order):
        for later in order[earlier_index + 1 :]:
            if later.complete_position is not None and later.complete_position < earlier.invoke_position:
                return False
    return True


def _sequentially_valid(order: tuple[Operation, ...]) -> bool:
    count = 0
    for op in order:
        if op.function == "incr":
            count += 1
            if op.outcome == OK and op.output_value != count:
                return False
        elif (op.output_value or 0) != count:
            return False
    return True


def random_counter_history(pick: random.Random, operation_count: int) -> HistoryBuilder:
    """Up to 3 concurrent processes; values drawn near the truth so valid and invalid histories both occur."""
    h = HistoryBuilder()
    open_ops: dict[int, str] = {}
    next_process = 0
    issued = 0
    true_count = 0
    while issued < operation_count or open_ops:
        if issued < operation_count and len(open_ops) < 3 and (not open_ops or pick.random() < 0.5):
            function = pick.choice(("incr", "incr", "read"))
            h.invoke(next_process, function, 1 if function == "incr" else None)
            open_ops[next_process] = function
            next_process += 1
            issued += 1
            continue
        process = pick.choice(sorted(open_ops))
        function = open_ops.pop(process)
        if function == "incr":
            true_count += 1
            roll = pick.random()
            if roll < 0.2:
                h.info(process, "incr", 1)
            elif roll < 0.3:
                h.fail(process, "incr", 1)
            else:
                h.ok(process, "incr", max(1, true_count + pick.choice((0, 0, 0, -1, 1))))
        else:
            h.ok(process, "read", max(0, true_count + pick.choice((0, 0, -1, 1))))
    return h


def test_agrees_with_brute_force_on_random_small_histories() -> None:
    pick = random.Random(14)
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        operations = random_counter_history(pick, pick.randint(1, 6)).operations()
        expected = brute_force_counter(operations)
        assert check_counter(operations).validity is expected, [op.describe() for op in operations]
        verdicts[expected] += 1
    assert min(verdicts.values()) > 50  # both kinds were exercised
