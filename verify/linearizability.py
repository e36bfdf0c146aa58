"""Linearizability of one register (one key), by Wing & Gong / Lowe's just-in-time search.

This is Porcupine's `checkSingle`: a doubly-linked list of call and return entries in real-time
order; at each step try to linearize a pending call whose model step is legal, memoising
(set of linearized operations, state) so no configuration is explored twice; meeting a return
entry means the operation must already have been linearized, so backtrack.

Outcomes (DESIGN §4): `ok` must take effect between invoke and completion; `fail` did not take
effect and is dropped; `info` and never-completed writes and cas may take effect at any point
after their invoke or never, so they have no return entry and the search succeeds as soon as
every required operation is placed. `info` reads tell nothing and are dropped.

Pure: the budget's clock is passed in, and exhausting the budget gives "unknown", never a guess.

The search is exponential in the number of concurrent operations (a single key hammered by 20
processes exhausts any budget), so `check_register` first tries the exact polynomial decision of
`verify.unique_value_register`, which holds whenever every written value is unique (our load
generator's histories), and searches only when that precondition fails.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from verify.operations import OK, Operation
from verify.unique_value_register import decide_with_unique_values

UNKNOWN: Final = "unknown"
Validity = bool | Literal["unknown"]

READ, WRITE, CAS = 0, 1, 2
_KIND_BY_FUNCTION = {"read": READ, "write": WRITE, "cas": CAS}
_BUDGET_CHECK_INTERVAL_STEPS = 1024
_END = -1
_HEAD = 0


class ModelMismatchError(ValueError):
    """The history holds an operation the register model does not know (e.g. a set `add`)."""


@dataclass(frozen=True)
class SearchBudget:
    """Bounds of one search. `deadline` is in the units of `clock` (seconds from time.monotonic)."""

    max_states: int | None = 2_000_000
    deadline: float | None = None
    clock: Callable[[], float] | None = None

    def time_is_up(self) -> bool:
        return self.deadline is not None and self.clock is not None and self.clock() >= self.deadline


@dataclass(frozen=True)
class SearchResult:
    validity: Validity
    states_explored: int
    unknown_reason: str | None = None
    # Filled only when the search was asked to track them (small histories: the witness).
    partial_linearization: tuple[Operation, ...] = ()
    state_after_partial: Any = None
    unplaceable: tuple[Operation, ...] = ()  # the operation whose completion blocked the search
    pending_at_block: tuple[Operation, ...] = field(default=())  # none of these could go next
    method: str = "search"  # "search", or "unique-values" when decided by the polynomial check


def relevant_register_operations(operations: Sequence[Operation]) -> list[Operation]:
    """Drop what cannot constrain the search: failed operations and reads without an ok."""
    relevant = []
    for operation in operations:
        if operation.function not in _KIND_BY_FUNCTION:
            raise ModelMismatchError(
                f"line {operation.invoke_line_number}: f {operation.function!r} is not a register operation "
                "(read, write, cas); use the set model for add/read-set"
            )
        if not operation.can_constrain:
            continue
        relevant.append(operation)
    relevant.sort(key=lambda operation: operation.invoke_position)
    return relevant


def check_register(
    operations: Sequence[Operation],
    budget: SearchBudget | None = None,
    initial_state: Hashable = None,
    track_deepest: bool = False,
) -> SearchResult:
    """Decide whether the operations of one key are linearizable as a single register.

    When every written value is unique (what our load generator produces) the polynomial check of
    `verify.unique_value_register` decides; otherwise, or when the caller wants the deepest partial
    linearization to explain an invalid key (`track_deepest`), the exact search below does.
    """
    budget = budget or SearchBudget()
    relevant = relevant_register_operations(operations)
    if not track_deepest:
        decided = decide_with_unique_values(relevant, initial_state)
        if decided is not None:
            return SearchResult(decided, 0, method="unique-values")
    return search_register(relevant, budget, initial_state, track_deepest)


def search_register(
    relevant: Sequence[Operation],
    budget: SearchBudget | None = None,
    initial_state: Hashable = None,
    track_deepest: bool = False,
) -> SearchResult:
    """The exact search, whatever the values are.

    `relevant` must come from `relevant_register_operations` (no fail operations, only ok reads,
    sorted by invoke position).
    """
    budget = budget or SearchBudget()
    count = len(relevant)
    if count == 0:
        return SearchResult(True, 0)

    kinds = [_KIND_BY_FUNCTION[operation.function] for operation in relevant]
    # For a read the value it must see; for a write the new value; for cas the expected value.
    first_values: list[Any] = []
    second_values: list[Any] = []
    for operation, kind in zip(relevant, kinds, strict=True):
        if kind == READ:
            first_values.append(operation.output_value)
            second_values.append(None)
        elif kind == WRITE:
            first_values.append(operation.input_value)
            second_values.append(None)
        else:
            first_values.append(operation.input_value[0])
            second_values.append(operation.input_value[1])

    # Entries 1..m in real-time order; 0 is the head sentinel. Unknown outcomes have no return.
    timeline: list[tuple[int, int, bool]] = []
    for operation_index, operation in enumerate(relevant):
        timeline.append((operation.invoke_position, operation_index, True))
        if operation.outcome == OK:
            timeline.append((operation.complete_position, operation_index, False))  # type: ignore[arg-type]
    timeline.sort()
    entry_count = len(timeline)
    entry_operation = [0] * (entry_count + 1)
    entry_is_call = [False] * (entry_count + 1)
    matching_return = [0] * (entry_count + 1)
    call_entry_of_operation = [0] * count
    # Required and optional operations get separate bit spaces: an info write that is never
    # linearized would otherwise pin the compact encoding below and make every key history-sized.
    is_optional = [operation.outcome != OK for operation in relevant]
    bit_of_operation = []
    optional_count = required_count = 0
    for optional in is_optional:
        if optional:
            bit_of_operation.append(1 << optional_count)
            optional_count += 1
        else:
            bit_of_operation.append(1 << required_count)
            required_count += 1
    for entry, (_, operation_index, is_call) in enumerate(timeline, start=1):
        entry_operation[entry] = operation_index
        entry_is_call[entry] = is_call
        if is_call:
            call_entry_of_operation[operation_index] = entry
        else:
            matching_return[call_entry_of_operation[operation_index]] = entry
    next_entry = list(range(1, entry_count + 1)) + [_END]
    previous_entry = [_END] + list(range(0, entry_count))

    cache: set[tuple[int, int, int, Any]] = set()
    calls: list[tuple[int, Any]] = []  # stack of (call entry linearized, state before it)
    linearized = 0  # bits of required operations placed
    linearized_optional = 0  # bits of info / never-completed operations placed
    state = initial_state
    entry = next_entry[_HEAD]
    steps = 0
    max_states = budget.max_states
    deepest_depth = -1
    deepest: tuple[tuple[int, ...], Any, int, tuple[int, ...]] | None = None

    while True:
        if entry == _END:
            # Scans start at the head or just after a call reached from the head, so reaching the
            # end means no return entry is left: every required operation is linearized.
            return SearchResult(True, len(cache))
        steps += 1
        if steps % _BUDGET_CHECK_INTERVAL_STEPS == 0:
            if max_states is not None and len(cache) > max_states:
                return SearchResult(UNKNOWN, len(cache), f"state budget of {max_states} exhausted")
            if budget.time_is_up():
                return SearchResult(UNKNOWN, len(cache), "time limit reached")
        if entry_is_call[entry]:
            operation_index = entry_operation[entry]
            kind = kinds[operation_index]
            if kind == READ:
                legal = state == first_values[operation_index]
                new_state = state
            elif kind == WRITE:
                legal = True
                new_state = first_values[operation_index]
            else:
                legal = state == first_values[operation_index]
                new_state = second_values[operation_index]
            if legal:
                if is_optional[operation_index]:
                    new_linearized = linearized
                    new_optional = linearized_optional | bit_of_operation[operation_index]
                else:
                    new_linearized = linearized | bit_of_operation[operation_index]
                    new_optional = linearized_optional
                # Canonical compact key: the run of low set bits is stored as its length, so the
                # memo holds window-sized integers, not history-sized ones.
                low = (~new_linearized & (new_linearized + 1)).bit_length() - 1
                memo_key = (low, new_linearized >> low, new_optional, new_state)
                if memo_key not in cache:
                    cache.add(memo_key)
                    calls.append((entry, state))
                    state = new_state
                    linearized = new_linearized
                    linearized_optional = new_optional
                    # lift the call and its return out of the list
                    before, after = previous_entry[entry], next_entry[entry]
                    next_entry[before] = after
                    if after != _END:
                        previous_entry[after] = before
                    return_entry = matching_return[entry]
                    if return_entry:
                        before, after = previous_entry[return_entry], next_entry[return_entry]
                        next_entry[before] = after
                        if after != _END:
                            previous_entry[after] = before
                    entry = next_entry[_HEAD]
                    continue
            entry = next_entry[entry]
            continue
        # A return entry: its operation had to be linearized before here. Backtrack.
        if track_deepest and len(calls) > deepest_depth:
            deepest_depth = len(calls)
            deepest = (
                tuple(entry_operation[call] for call, _ in calls),
                state,
                entry_operation[entry],
                _pending_calls(next_entry, entry_is_call, entry_operation, entry),
            )
        # A read linearized the moment it was legal never needs an alternative: any completion
        # that placed it later also works with it placed there (it changes no state, and every
        # operation that had to precede it already did). So a dead end below a read is a dead
        # end for the configuration before it too: keep popping until a write or cas.
        popped_kind = READ
        while popped_kind == READ and calls:
            entry, state = calls.pop()
            operation_index = entry_operation[entry]
            popped_kind = kinds[operation_index]
            if is_optional[operation_index]:
                linearized_optional &= ~bit_of_operation[operation_index]
            else:
                linearized &= ~bit_of_operation[operation_index]
            # unlift in reverse order of lifting
            return_entry = matching_return[entry]
            if return_entry:
                before, after = previous_entry[return_entry], next_entry[return_entry]
                next_entry[before] = return_entry
                if after != _END:
                    previous_entry[after] = return_entry
            before, after = previous_entry[entry], next_entry[entry]
            next_entry[before] = entry
            if after != _END:
                previous_entry[after] = entry
        if popped_kind == READ:
            break  # popped everything: no linearization exists
        entry = next_entry[entry]

    if deepest is None:
        return SearchResult(False, len(cache))
    order, state_after, blocked, pending = deepest
    return SearchResult(
        False,
        len(cache),
        partial_linearization=tuple(relevant[index] for index in order),
        state_after_partial=state_after,
        unplaceable=(relevant[blocked],),
        pending_at_block=tuple(relevant[index] for index in pending),
    )


def _pending_calls(
    next_entry: list[int], entry_is_call: list[bool], entry_operation: list[int], stop_entry: int
) -> tuple[int, ...]:
    """Operations whose calls are still in the list before `stop_entry` (the candidates that failed)."""
    pending = []
    entry = next_entry[_HEAD]
    while entry != _END and entry != stop_entry:
        if entry_is_call[entry]:
            pending.append(entry_operation[entry])
        entry = next_entry[entry]
    return tuple(pending)
