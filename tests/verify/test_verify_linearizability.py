"""Register linearizability: classic traps with known verdicts, and simulated-register properties."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.verify.verify_history_builder import HistoryBuilder, arbitrary_history
from verify.history import parse_history_lines
from verify.linearizability import UNKNOWN, SearchBudget, check_register
from verify.operations import OK, Operation, pair_operations
from verify.simulated_history import simulate_register_history
from verify.witness import find_witness


def verdict(builder: HistoryBuilder) -> object:
    return check_register(builder.operations()).validity


def test_sequential_write_then_read_is_valid() -> None:
    h = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "read").ok(2, "read", 1)
    assert verdict(h) is True


def test_read_returning_a_value_before_its_write_was_invoked_is_invalid() -> None:
    h = HistoryBuilder().invoke(2, "read").ok(2, "read", 1).invoke(1, "write", 1).ok(1, "write", 1)
    assert verdict(h) is False


def test_read_concurrent_with_its_write_is_valid() -> None:
    h = HistoryBuilder().invoke(1, "write", 1).invoke(2, "read").ok(2, "read", 1).ok(1, "write", 1)
    assert verdict(h) is True


def test_two_readers_seeing_concurrent_writes_in_opposite_orders_is_invalid() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).invoke(2, "write", 2)
        .invoke(3, "read").invoke(4, "read").ok(3, "read", 1).ok(4, "read", 2)
        .invoke(3, "read").invoke(4, "read").ok(3, "read", 2).ok(4, "read", 1)
        .ok(1, "write", 1).ok(2, "write", 2)
    )  # fmt: skip
    assert verdict(h) is False


def test_two_readers_seeing_concurrent_writes_in_the_same_order_is_valid() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).invoke(2, "write", 2)
        .invoke(3, "read").invoke(4, "read").ok(3, "read", 1).ok(4, "read", 1)
        .invoke(3, "read").invoke(4, "read").ok(3, "read", 2).ok(4, "read", 2)
        .ok(1, "write", 1).ok(2, "write", 2)
    )  # fmt: skip
    assert verdict(h) is True


def test_cas_chain() -> None:
    valid = (
        HistoryBuilder()
        .invoke(1, "write", 0).ok(1, "write", 0)
        .invoke(1, "cas", [0, 1]).invoke(2, "cas", [1, 2]).ok(2, "cas", [1, 2]).ok(1, "cas", [0, 1])
        .invoke(3, "read").ok(3, "read", 2)
    )  # fmt: skip
    assert verdict(valid) is True
    # the second cas cannot succeed: nothing ever set the register to 5
    invalid = (
        HistoryBuilder()
        .invoke(1, "write", 0).ok(1, "write", 0)
        .invoke(1, "cas", [0, 1]).ok(1, "cas", [0, 1])
        .invoke(2, "cas", [5, 2]).ok(2, "cas", [5, 2])
    )  # fmt: skip
    assert verdict(invalid) is False


def test_failed_cas_did_not_take_effect() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 0).ok(1, "write", 0)
        .invoke(1, "cas", [0, 1]).fail(1, "cas", [0, 1])
        .invoke(2, "read").ok(2, "read", 1)
    )  # fmt: skip
    assert verdict(h) is False


def test_info_write_may_land_long_after_it_was_invoked() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1).info(1, "write", 1)
        .invoke(2, "write", 2).ok(2, "write", 2)
        .invoke(3, "read").ok(3, "read", 2)
        .invoke(3, "read").ok(3, "read", 1)  # the timed-out write landed after all
    )  # fmt: skip
    assert verdict(h) is True


def test_never_completed_write_may_or_may_not_happen() -> None:
    base = HistoryBuilder().invoke(1, "write", 1).invoke(2, "read").ok(2, "read", None)
    assert verdict(base) is True
    assert verdict(base.invoke(2, "read").ok(2, "read", 1)) is True


def test_failed_write_whose_value_is_read_later_is_invalid() -> None:
    h = HistoryBuilder().invoke(1, "write", 1).fail(1, "write", 1).invoke(2, "read").ok(2, "read", 1)
    assert verdict(h) is False


def test_read_of_null_after_a_write_completed_is_invalid() -> None:
    h = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "read").ok(2, "read", None)
    assert verdict(h) is False
    before = HistoryBuilder().invoke(2, "read").ok(2, "read", None).invoke(1, "write", 1).ok(1, "write", 1)
    assert verdict(before) is True


def test_info_and_unfinished_reads_carry_no_information() -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1)
        .ok(1, "write", 1)
        .invoke(2, "read")
        .info(2, "read")
        .invoke(3, "read")
    )
    assert verdict(h) is True


def with_repeated_values(events: list[dict], modulus: int) -> list[dict]:
    """The same history with values folded modulo `modulus`: still valid, but values repeat.

    Folding maps equal values to equal values, so every linearization of the original stays one;
    the repeated values take the history off the unique-value fast path onto the exact search.
    """

    def fold(value: object) -> object:
        if isinstance(value, list):
            return [fold(item) for item in value]
        return value % modulus if isinstance(value, int) else value

    return [event | {"value": fold(event["value"])} for event in events]


def test_exhausted_state_budget_gives_unknown_not_a_guess() -> None:
    events = simulate_register_history(random.Random(7), 400, 20, info_probability=0, open_probability=0)
    operations = operations_of(with_repeated_values(events, 3))
    result = check_register(operations, SearchBudget(max_states=10))
    assert result.validity == UNKNOWN and result.method == "search"
    assert "budget" in (result.unknown_reason or "")


def test_expired_deadline_gives_unknown() -> None:
    events = simulate_register_history(random.Random(7), 400, 20, info_probability=0, open_probability=0)
    operations = operations_of(with_repeated_values(events, 3))
    result = check_register(operations, SearchBudget(max_states=None, deadline=1.0, clock=lambda: 2.0))
    assert result.validity == UNKNOWN and result.method == "search"


def operations_of(events: list[dict]) -> list[Operation]:
    return list(pair_operations(parse_history_lines(json.dumps(event) for event in events)))


def stale_read_candidates(operations: list[Operation]) -> list[tuple[Operation, object]]:
    """(ok read, value) pairs where the value is certainly overwritten before the read began.

    Values are unique per write. A value s written by an ok write Ws is stale for read R when some
    other ok write or successful cas Wn began after Ws completed and completed before R began:
    every linearization puts Wn after Ws and before R, and nothing writes s again.
    """
    writers = [
        operation
        for operation in operations
        if operation.outcome == OK and operation.function in ("write", "cas")
    ]
    candidates = []
    for read in operations:
        if read.function != "read" or read.outcome != OK:
            continue
        for newer in writers:
            if newer.complete_position >= read.invoke_position:  # type: ignore[operator]
                continue
            newer_value = newer.input_value if newer.function == "write" else newer.input_value[1]
            candidates.extend(
                (read, older.input_value)
                for older in writers
                if older.function == "write"
                and older.complete_position < newer.invoke_position  # type: ignore[operator]
                and older.input_value not in (newer_value, read.output_value)
            )
            if newer.function == "write" and read.output_value is not None:
                candidates.append((read, None))  # null after a completed write
    return candidates


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    operation_count=st.integers(1, 60),
    process_count=st.integers(1, 5),
    key_count=st.integers(1, 2),
)
def test_simulated_atomic_register_histories_are_linearizable(
    seed: int, operation_count: int, process_count: int, key_count: int
) -> None:
    keys = [f"k{index}" for index in range(key_count)]
    events = simulate_register_history(random.Random(seed), operation_count, process_count, keys=keys)
    operations = operations_of(events)
    for key in keys:
        assert check_register([op for op in operations if op.key == key]).validity is True


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    operation_count=st.integers(8, 60),
    process_count=st.integers(1, 4),
    pick=st.randoms(),
)
def test_one_stale_read_makes_a_simulated_history_invalid_with_a_sound_witness(
    seed: int, operation_count: int, process_count: int, pick: random.Random
) -> None:
    events = simulate_register_history(
        random.Random(seed), operation_count, process_count, info_probability=0.05
    )
    candidates = stale_read_candidates(operations_of(events))
    assume(candidates)
    read, stale_value = pick.choice(candidates)
    events[read.complete_line_number - 1]["value"] = stale_value  # type: ignore[operator]
    operations = operations_of(events)
    assert check_register(operations).validity is False
    witness = find_witness(operations)
    assert witness is not None
    # The witness is a proof on its own: those operations alone cannot be linearized,
    # and it is no larger than the history it came from.
    assert check_register(witness.operations).validity is False
    assert len(witness.operations) <= len(operations)
    assert witness.unplaceable


def brute_force_linearizable(operations: list[Operation]) -> bool:
    """Try every order of the required operations plus any subset of the unknown writes/cas."""
    import itertools

    relevant = [
        op for op in operations if op.outcome != "fail" and not (op.function == "read" and op.outcome != OK)
    ]
    required = [op for op in relevant if op.outcome == OK]
    optional = [op for op in relevant if op.outcome != OK]
    for size in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, size):
            for order in itertools.permutations(required + list(chosen)):
                if _legal_order(order):
                    return True
    return False


def _legal_order(order: tuple[Operation, ...]) -> bool:
    for earlier_index, earlier in enumerate(order):
        for later in order[earlier_index + 1 :]:
            if later.complete_position is not None and later.complete_position < earlier.invoke_position:
                return False  # real time: `later` finished before `earlier` began
    state = None
    for op in order:
        if op.function == "read":
            if state != op.output_value:
                return False
        elif op.function == "write":
            state = op.input_value
        else:
            if state != op.input_value[0]:
                return False
            state = op.input_value[1]
    return True


@settings(max_examples=300, deadline=None)
@given(pick=st.randoms(), operation_count=st.integers(1, 6), process_count=st.integers(1, 3))
def test_search_agrees_with_brute_force_on_arbitrary_small_histories(
    pick: random.Random, operation_count: int, process_count: int
) -> None:
    """Random (mostly non-linearizable) histories: the pruned search must match exhaustive search."""
    builder = arbitrary_history(
        pick,
        operation_count,
        process_count,
        write_value=lambda: pick.randrange(3),
        cas_value=lambda: [pick.choice([None, 0, 1, 2]), pick.randrange(3)],
        read_value=lambda: pick.choice([None, 0, 1, 2]),
    )
    operations = builder.operations()
    assert check_register(operations).validity is brute_force_linearizable(operations)
