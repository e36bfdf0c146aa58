"""Shrink a non-linearizable key to a small set of operations that is still non-linearizable.

Every shrinking step is sound — if the full history were linearizable, the smaller one would be
too — so the witness is a proof a person can check by hand, not a hint:

1. Cut at the earliest completion after which the history is already non-linearizable (binary
   search; linearizability of prefixes is monotone). Operations pending at the cut become open,
   which only widens what they may do.
2. Remove operations in shrinking chunks (delta debugging), keeping a removal only while the rest
   stays non-linearizable. Only removals that cannot hide a valid explanation are tried: reads
   (they constrain, never enable), and writes/cas whose new value no remaining operation observes
   (no read returns it and no cas expects it), so nothing can have depended on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verify.linearizability import SearchBudget, check_register, relevant_register_operations
from verify.operations import OK, OPEN, Operation


@dataclass(frozen=True)
class Witness:
    operations: tuple[Operation, ...]  # original records, in invoke order
    partial_linearization: tuple[Operation, ...]  # the longest order the search could build
    state_after_partial: Any
    unplaceable: tuple[Operation, ...]  # completed, but cannot be placed after the partial order
    pending_at_block: tuple[Operation, ...]  # candidates that were tried there and did not fit
    cut_line_number: int  # history line of the completion that makes the prefix non-linearizable
    is_minimal: bool  # False when the shrinking budget ran out first (still a valid witness)


def find_witness(operations: Sequence[Operation], budget: SearchBudget | None = None) -> Witness | None:
    """For a key already known non-linearizable; None if it cannot be shown within the budget."""
    budget = budget or SearchBudget(max_states=200_000)
    relevant = relevant_register_operations(operations)
    cut_positions = sorted(
        operation.complete_position  # type: ignore[misc]
        for operation in relevant
        if operation.outcome == OK
    )
    if not cut_positions:
        return None

    original_by_identity = {_identity(operation): operation for operation in relevant}

    def is_invalid(candidate: list[Operation]) -> bool:
        return check_register(candidate, budget).validity is False

    low, high = 0, len(cut_positions) - 1
    if not is_invalid(_prefix(relevant, cut_positions[high])):
        return None
    while low < high:
        middle = (low + high) // 2
        if is_invalid(_prefix(relevant, cut_positions[middle])):
            high = middle
        else:
            low = middle + 1
    cut_position = cut_positions[high]
    current = _prefix(relevant, cut_position)
    cut_line_number = next(
        operation.complete_line_number
        for operation in relevant
        if operation.outcome == OK and operation.complete_position == cut_position
    )

    is_minimal = True
    chunk_size = max(1, len(current) // 2)
    while True:
        start = 0
        while start < len(current):
            if budget.time_is_up():
                is_minimal = False
                break
            candidate = _remove_soundly(current, current[start : start + chunk_size])
            if len(candidate) < len(current) and is_invalid(candidate):
                current = candidate
            else:
                start += chunk_size
        if chunk_size == 1 or not is_minimal:
            break
        chunk_size = max(1, chunk_size // 2)

    final = check_register(current, budget, track_deepest=True)
    if final.validity is not False:
        return None

    def original(operation: Operation) -> Operation:
        return original_by_identity[_identity(operation)]

    return Witness(
        operations=tuple(original(operation) for operation in current),
        partial_linearization=tuple(original(operation) for operation in final.partial_linearization),
        state_after_partial=final.state_after_partial,
        unplaceable=tuple(original(operation) for operation in final.unplaceable),
        pending_at_block=tuple(original(operation) for operation in final.pending_at_block),
        cut_line_number=cut_line_number or 0,
        is_minimal=is_minimal,
    )


def _identity(operation: Operation) -> int:
    return operation.invoke_position


def _prefix(relevant: list[Operation], cut_position: int) -> list[Operation]:
    """Operations invoked up to the cut; those completing after it become open (reads vanish)."""
    prefix = []
    for operation in relevant:
        if operation.invoke_position > cut_position:
            break
        if operation.outcome == OK and operation.complete_position > cut_position:  # type: ignore[operator]
            if operation.function == "read":
                continue
            operation = operation._replace(outcome=OPEN, complete_position=None, output_value=None)
        prefix.append(operation)
    return prefix


def _remove_soundly(current: list[Operation], chunk: list[Operation]) -> list[Operation]:
    removed_positions = {operation.invoke_position for operation in chunk if operation.function == "read"}
    remaining = [operation for operation in current if operation.invoke_position not in removed_positions]
    observed = {operation.output_value for operation in remaining if operation.function == "read"}
    observed.update(operation.input_value[0] for operation in remaining if operation.function == "cas")
    for operation in chunk:
        if operation.function == "write":
            new_value = operation.input_value
        elif operation.function == "cas":
            new_value = operation.input_value[1]
        else:
            continue
        if new_value not in observed:
            removed_positions.add(operation.invoke_position)
    return [operation for operation in current if operation.invoke_position not in removed_positions]
