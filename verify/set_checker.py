"""Jepsen's set-full checker for the set workload: unique `add`s, then `read-set`s of the whole set.

For each element the checker finds the first moment it is known to be present: its `add`
completed ok, or a read that contained it completed. A read that *began* after that moment must
contain it. Then, per element:

- lost: the last read that began after it was known present does not contain it;
- stale: some such read missed it but the last one has it (a strongly consistent read must not);
- phantom: a read contains an element that was never added, whose add failed, or that it
  returned before the add was even invoked.

It consumes operations as a stream and keeps one small tuple per element, so a million adds fit.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from verify.linearizability import UNKNOWN, Validity
from verify.operations import FAIL, OK, Operation


class SetModelMismatchError(ValueError):
    """The history holds an operation the set model does not know (e.g. a register write)."""


@dataclass
class SetKeyResult:
    key: Hashable | None
    validity: Validity
    ok_add_count: int
    failed_add_count: int
    unknown_add_count: int  # info or never completed
    read_count: int
    lost: list[Any] = field(default_factory=list)
    phantom: list[Any] = field(default_factory=list)
    stale: list[Any] = field(default_factory=list)
    recovered_count: int = 0  # unknown adds that a read shows did happen
    never_read_count: int = 0  # known present, but no read began afterwards: not checkable
    unknown_reason: str | None = None


@dataclass
class _KeyAccumulator:
    # element -> (outcome, invoke position, complete position or -1)
    adds: dict[Any, tuple[str, int, int]] = field(default_factory=dict)
    # (invoke position, complete position, elements) of each ok read-set
    reads: list[tuple[int, int, frozenset[Any]]] = field(default_factory=list)


def check_sets(
    operations: Iterable[Operation], stale_is_invalid: bool = True
) -> dict[Hashable | None, SetKeyResult]:
    """Per key (the `key` field, or None when absent), the set-full verdict."""
    accumulators: dict[Hashable | None, _KeyAccumulator] = {}
    for operation in operations:
        accumulator = accumulators.get(operation.key)
        if accumulator is None:
            accumulators[operation.key] = accumulator = _KeyAccumulator()
        function = operation.function
        if function == "add":
            complete_position = -1 if operation.complete_position is None else operation.complete_position
            accumulator.adds[operation.input_value] = (
                operation.outcome,
                operation.invoke_position,
                complete_position,
            )
        elif function == "read-set":
            if operation.outcome == OK:
                accumulator.reads.append(
                    (
                        operation.invoke_position,
                        operation.complete_position,
                        frozenset(operation.output_value),
                    )  # type: ignore[arg-type]
                )
        else:
            raise SetModelMismatchError(
                f"line {operation.invoke_line_number}: f {function!r} is not a set operation (add, read-set); "
                "use the register model for read/write/cas"
            )
    return {key: _check_key(key, accumulator, stale_is_invalid) for key, accumulator in accumulators.items()}


def _check_key(key: Hashable | None, accumulator: _KeyAccumulator, stale_is_invalid: bool) -> SetKeyResult:
    adds = accumulator.adds
    reads = sorted(accumulator.reads)
    ok_count = failed_count = unknown_count = 0
    for outcome, _, _ in adds.values():
        if outcome == OK:
            ok_count += 1
        elif outcome == FAIL:
            failed_count += 1
        else:
            unknown_count += 1
    result = SetKeyResult(key, True, ok_count, failed_count, unknown_count, len(reads))
    if not reads:
        result.validity = UNKNOWN
        result.unknown_reason = "no ok read-set: nothing can be checked"
        return result

    # The earliest completion of a read containing each element (for elements never acked ok).
    first_seen_position: dict[Any, int] = {}
    for _, complete_position, elements in reads:
        for element in elements:
            seen = first_seen_position.get(element)
            if seen is None or complete_position < seen:
                first_seen_position[element] = complete_position

    lost, stale, phantom = [], [], []
    never_read = recovered = 0
    read_invoke_positions = [invoke_position for invoke_position, _, _ in reads]
    for element in adds.keys() | first_seen_position.keys():
        add = adds.get(element)
        seen = first_seen_position.get(element)
        if add is None or add[0] == FAIL:
            if seen is not None:
                phantom.append(element)
            continue
        outcome, add_invoke_position, add_complete_position = add
        if seen is not None and seen < add_invoke_position:
            phantom.append(element)  # a read returned it before anyone tried to add it
            continue
        if outcome != OK and seen is not None:
            recovered += 1
        present_position = add_complete_position if outcome == OK else -1
        if seen is not None and (present_position < 0 or seen < present_position):
            present_position = seen
        if present_position < 0:
            continue  # unknown add never observed: may or may not have happened
        later_reads = [
            elements
            for invoke_position, _, elements in reads[_first_after(read_invoke_positions, present_position) :]
        ]
        if not later_reads:
            never_read += 1
        elif element not in later_reads[-1]:
            lost.append(element)
        elif any(element not in elements for elements in later_reads):
            stale.append(element)

    result.lost = _sorted(lost)
    result.phantom = _sorted(phantom)
    result.stale = _sorted(stale)
    result.recovered_count = recovered
    result.never_read_count = never_read
    if lost or phantom or (stale and stale_is_invalid):
        result.validity = False
    return result


def _first_after(sorted_positions: list[int], position: int) -> int:
    from bisect import bisect_right

    return bisect_right(sorted_positions, position)


def _sorted(elements: list[Any]) -> list[Any]:
    try:
        return sorted(elements)
    except TypeError:
        return sorted(elements, key=repr)
