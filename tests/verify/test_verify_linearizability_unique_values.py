"""The unique-value decision agrees with the exact search and with brute force, and decides hot keys.

`decide_with_unique_values` replaces the exponential search whenever every written value is
unique, so every verdict it gives is cross-checked here against an independent one: exhaustive
enumeration on tiny arbitrary histories, and the exact search on simulated histories, valid and
corrupted (a stale read, a read of a value from the future, a moved completion, a random read).
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.verify.test_verify_linearizability import brute_force_linearizable, stale_read_candidates
from tests.verify.verify_history_builder import HistoryBuilder, arbitrary_history
from verify.history import parse_history_lines
from verify.linearizability import (
    UNKNOWN,
    SearchBudget,
    check_register,
    relevant_register_operations,
    search_register,
)
from verify.operations import OK, Operation, pair_operations
from verify.simulated_history import simulate_register_history
from verify.unique_value_register import decide_with_unique_values
from verify.witness import find_witness


def operations_of(events: list[dict[str, Any]]) -> list[Operation]:
    return list(pair_operations(parse_history_lines(json.dumps(event) for event in events)))


def fast_verdict(operations: list[Operation]) -> bool | None:
    return decide_with_unique_values(relevant_register_operations(operations))


def exact_verdict(operations: list[Operation]) -> object:
    return search_register(
        relevant_register_operations(operations), SearchBudget(max_states=2_000_000)
    ).validity


# Hand-made cases, each with its verdict checked by brute force as well.


def assert_decided(builder: HistoryBuilder, expected: bool) -> None:
    operations = builder.operations()
    assert fast_verdict(operations) is expected
    assert brute_force_linearizable(operations) is expected


def test_two_cas_swapping_away_the_same_value_is_invalid() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).ok(1, "write", 1)
        .invoke(1, "cas", [1, 2]).invoke(2, "cas", [1, 3]).ok(1, "cas", [1, 2]).ok(2, "cas", [1, 3])
    )  # fmt: skip
    assert_decided(h, False)


def test_cas_chain_must_be_contiguous() -> None:
    # cas 1->2 directly follows the cluster of 1, so the read of 1 cannot come after the read of 2.
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).ok(1, "write", 1)
        .invoke(1, "cas", [1, 2])
        .invoke(2, "read").ok(2, "read", 2)
        .invoke(2, "read").ok(2, "read", 1)
        .ok(1, "cas", [1, 2])
    )  # fmt: skip
    assert_decided(h, False)


def test_unknown_cas_whose_value_is_read_must_have_taken_effect() -> None:
    took_effect = (
        HistoryBuilder()
        .invoke(1, "write", 1).ok(1, "write", 1)
        .invoke(1, "cas", [1, 2]).info(1, "cas", [1, 2])
        .invoke(2, "read").ok(2, "read", 2)
    )  # fmt: skip
    assert_decided(took_effect, True)
    # ...so it must also have seen its expected value, which nothing ever wrote here.
    impossible = (
        HistoryBuilder()
        .invoke(1, "write", 1).ok(1, "write", 1)
        .invoke(1, "cas", [7, 2]).info(1, "cas", [7, 2])
        .invoke(2, "read").ok(2, "read", 2)
    )  # fmt: skip
    assert_decided(impossible, False)


def test_unknown_write_may_be_read_then_overwritten_but_never_read_again() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).info(1, "write", 1)
        .invoke(2, "read").ok(2, "read", 1)
        .invoke(2, "write", 2).ok(2, "write", 2)
        .invoke(3, "read").ok(3, "read", 1)
    )  # fmt: skip
    assert_decided(h, False)


def test_null_is_only_the_initial_state() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).info(1, "write", 1)
        .invoke(2, "read").ok(2, "read", 1)
        .invoke(2, "read").ok(2, "read", None)
    )  # fmt: skip
    assert_decided(h, False)


def test_cycle_of_cas_is_invalid() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "cas", [1, 2]).invoke(2, "cas", [2, 1]).ok(1, "cas", [1, 2]).ok(2, "cas", [2, 1])
    )  # fmt: skip
    assert_decided(h, False)


def test_preconditions_that_do_not_hold_fall_back_to_the_exact_search() -> None:
    repeated = (
        HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "write", 1).ok(2, "write", 1)
    )
    writes_null = HistoryBuilder().invoke(1, "write", None).ok(1, "write", None)
    not_a_number = HistoryBuilder().invoke(1, "write", float("nan")).ok(1, "write", float("nan"))
    for builder in (repeated, writes_null, not_a_number):
        assert fast_verdict(builder.operations()) is None
        result = check_register(builder.operations())
        assert result.method == "search" and result.validity is True
    # A repeated value only in a failed write does not matter: it never took effect.
    failed_repeat = (
        HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "write", 1).fail(2, "write", 1)
    )
    assert check_register(failed_repeat.operations()).method == "unique-values"


# Tiny arbitrary histories: every verdict against exhaustive enumeration.


def arbitrary_unique_value_history(
    pick: random.Random, operation_count: int, process_count: int
) -> HistoryBuilder:
    """Unique written values; reads and cas expectations drawn from past, future and never-written values."""
    written = itertools.count(1)

    def any_value() -> object:
        # 0 stands for null; operation_count + 1 is never written.
        drawn = pick.randrange(operation_count + 2)
        return None if drawn == 0 else drawn

    return arbitrary_history(
        pick,
        operation_count,
        process_count,
        write_value=lambda: next(written),
        cas_value=lambda: [any_value(), next(written)],
        read_value=any_value,
    )


@settings(max_examples=400, deadline=None)
@given(pick=st.randoms(), operation_count=st.integers(1, 7), process_count=st.integers(1, 4))
def test_unique_value_decision_agrees_with_brute_force(
    pick: random.Random, operation_count: int, process_count: int
) -> None:
    operations = arbitrary_unique_value_history(pick, operation_count, process_count).operations()
    fast = fast_verdict(operations)
    assert fast is not None  # the generator writes unique values: the preconditions hold
    assert fast is brute_force_linearizable(operations)
    assert fast is exact_verdict(operations)


# Simulated histories, valid and corrupted: every verdict against the exact search.


def renumbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event | {"index": position, "time": position * 1000} for position, event in enumerate(events)]


def produced_values(events: list[dict[str, Any]]) -> list[object]:
    values: list[object] = []
    for event in events:
        if event["type"] == "invoke" and event["f"] == "write":
            values.append(event["value"])
        elif event["type"] == "invoke" and event["f"] == "cas":
            values.append(event["value"][1])
    return values


def ok_read_completions(events: list[dict[str, Any]]) -> list[int]:
    return [index for index, event in enumerate(events) if event["type"] == "ok" and event["f"] == "read"]


def corrupt_with_random_read(events: list[dict[str, Any]], pick: random.Random) -> list[dict[str, Any]]:
    reads = ok_read_completions(events)
    assume(reads)
    events = [dict(event) for event in events]
    events[pick.choice(reads)]["value"] = pick.choice([None, *produced_values(events)])
    return events


def corrupt_with_moved_completion(events: list[dict[str, Any]], pick: random.Random) -> list[dict[str, Any]]:
    """Move one ok completion anywhere between its invoke and the process's next event."""
    completions = [index for index, event in enumerate(events) if event["type"] == "ok"]
    assume(completions)
    index = pick.choice(completions)
    process = events[index]["process"]
    earliest = max(position for position in range(index) if events[position]["process"] == process) + 1
    latest = next(
        (position for position in range(index + 1, len(events)) if events[position]["process"] == process),
        len(events),
    )
    events = list(events)
    moved = events.pop(index)
    events.insert(pick.randrange(earliest, latest), moved)
    return renumbered(events)


def corrupt_with_swapped_reads(events: list[dict[str, Any]], pick: random.Random) -> list[dict[str, Any]]:
    """Two reads return each other's values, as if their responses had crossed."""
    reads = ok_read_completions(events)
    assume(len(reads) >= 2)
    first, second = pick.sample(reads, 2)
    events = [dict(event) for event in events]
    events[first]["value"], events[second]["value"] = events[second]["value"], events[first]["value"]
    return events


def corrupt_with_future_read(events: list[dict[str, Any]], pick: random.Random) -> list[dict[str, Any]]:
    """A read returns a value whose only writer was invoked after the read completed: always invalid."""
    reads = ok_read_completions(events)
    choices = []
    for read in reads:
        later_values = produced_values(events[read + 1 :])
        choices.extend((read, value) for value in later_values)
    assume(choices)
    read, value = pick.choice(choices)
    events = [dict(event) for event in events]
    events[read]["value"] = value
    return events


def simulated_events(seed: int, operation_count: int, process_count: int) -> list[dict[str, Any]]:
    return simulate_register_history(
        random.Random(seed), operation_count, process_count, info_probability=0.05
    )


simulation_parameters = {
    "seed": st.integers(0, 2**32 - 1),
    "operation_count": st.integers(1, 30),
    "process_count": st.integers(1, 5),
    "pick": st.randoms(),
}


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    corruption=st.sampled_from(["none", "random read", "swapped reads", "moved completion"]),
    **simulation_parameters,
)
def test_unique_value_decision_agrees_with_exact_search_on_simulated_histories(
    corruption: str, seed: int, operation_count: int, process_count: int, pick: random.Random
) -> None:
    events = simulated_events(seed, operation_count, process_count)
    if corruption == "random read":
        events = corrupt_with_random_read(events, pick)
    elif corruption == "swapped reads":
        events = corrupt_with_swapped_reads(events, pick)
    elif corruption == "moved completion":
        events = corrupt_with_moved_completion(events, pick)
    operations = operations_of(events)
    fast = fast_verdict(operations)
    exact = exact_verdict(operations)
    assert fast is not None
    assert exact != UNKNOWN  # small histories: the exact search must decide, or nothing was compared
    assert fast is exact
    if corruption == "none":
        assert fast is True  # an atomic register's history is linearizable by construction


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(corruption=st.sampled_from(["stale read", "future read"]), **simulation_parameters)
def test_stale_and_future_reads_are_invalid_for_both(
    corruption: str, seed: int, operation_count: int, process_count: int, pick: random.Random
) -> None:
    events = simulated_events(seed, operation_count, process_count)
    if corruption == "future read":
        events = corrupt_with_future_read(events, pick)
    else:
        candidates = stale_read_candidates(operations_of(events))
        assume(candidates)
        read, stale_value = pick.choice(candidates)
        events = [dict(event) for event in events]
        events[read.complete_line_number - 1]["value"] = stale_value  # type: ignore[operator]
    operations = operations_of(events)
    assert fast_verdict(operations) is False
    assert exact_verdict(operations) is False


# The hot key of the issue: one key, 20 processes, 5,000 operations.


def hot_key_events(operation_count: int) -> list[dict[str, Any]]:
    return simulate_register_history(random.Random(operation_count), operation_count, 20)


def test_hot_key_with_20_processes_and_5000_operations_is_decided() -> None:
    operations = operations_of(hot_key_events(5_000))
    result = check_register(operations, SearchBudget(max_states=2_000_000))
    assert result.validity is True and result.method == "unique-values"


def make_first_write_reappear(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last read returns the value of the first ok write, certainly overwritten before it began.

    A second ok write is invoked after the first one completed, and the read is invoked after that
    second one completed: every linearization orders them first, second, read, and the first value
    is never written again. Linear in the history, unlike `stale_read_candidates`.
    """
    first_complete = next(
        index for index, event in enumerate(events) if event["type"] == "ok" and event["f"] == "write"
    )
    first_value = events[first_complete]["value"]
    open_after_first: set[object] = set()
    second_complete = None
    for index in range(first_complete + 1, len(events)):
        event = events[index]
        if event["f"] != "write":
            continue
        if event["type"] == "invoke":
            open_after_first.add(event["process"])
        elif event["type"] == "ok" and event["process"] in open_after_first:
            second_complete = index
            break
    assert second_complete is not None
    invoked_after_second: set[object] = set()
    last_read = None
    for index in range(second_complete + 1, len(events)):
        event = events[index]
        if event["f"] == "read" and event["type"] == "invoke":
            invoked_after_second.add(event["process"])
        elif event["f"] == "read" and event["type"] == "ok" and event["process"] in invoked_after_second:
            last_read = index
    assert last_read is not None
    events = [dict(event) for event in events]
    events[last_read]["value"] = first_value
    return events


def test_hot_key_stale_read_is_invalid_and_explained_by_a_small_witness() -> None:
    operations = operations_of(make_first_write_reappear(hot_key_events(5_000)))
    result = check_register(operations)
    assert result.validity is False and result.method == "unique-values"
    witness = find_witness(operations)
    assert witness is not None and witness.unplaceable
    # The witness stands on its own, judged by the exact search, and is small enough to read.
    assert search_register(relevant_register_operations(list(witness.operations))).validity is False
    assert len(witness.operations) <= 10
    assert any(operation.outcome == OK and operation.function == "read" for operation in witness.operations)
