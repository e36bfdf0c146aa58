"""Linearizability of one counter (one key): increments of 1 that return the new value, and reads.

The register workload's `incr` is DynamoDB's `UpdateItem ADD val :one` with `ReturnValues
UPDATED_NEW`: its invoke's value is the increment (1), its ok value the counter after it. A `read`
of the same key returns the counter (null for a counter never incremented: 0).

With increments of 1 every applied increment moves the counter from k-1 to k, so it is named by its
*label* k, and a linearization is the increments in label order 1..N with each read between the
increments labelled v and v+1 (v its value). That makes the decision exact and O(n log n):

1. Labels. An ok increment's label is the value it returned; two ok increments with one label is a
   lost increment. N is the largest label or read value anyone observed; every label in 1..N not
   taken by an ok increment must be filled by an increment of unknown outcome (info or open: it may
   have happened), else the counter skipped that value: an increment applied twice (or a value
   made up). Unknown increments not needed stay unapplied, which changes nothing anyone saw.
2. Time. The increment labelled k takes effect at a point t_k inside its [invoke, completion]
   (unknown ones: [invoke, forever)), with t_1 < t_2 < ... < t_N; a read of v must fit between t_v
   and t_{v+1}: t_v before the read completes and t_{v+1} after it is invoked.
3. Greedy. Place labels in order, each as early as its bounds allow (the earliest point leaves the
   most room for the rest). A gap label takes the unknown increment invoked earliest among those
   still free: all of them end at forever, so only the earliest start matters, and any one already
   invoked gives the same point. Placing a label later than an ok increment's completion or a
   read's bound is a proof that no linearization exists.

Positions (the events' places in the file) are the clock; a point is (position, tie) so "just after
p" is (p, n) for a small n, and positions of distinct events never tie.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from verify.operations import OK, Operation

INCREMENT = "incr"
COUNTER_FUNCTIONS = frozenset({INCREMENT, "read"})
UNKNOWN = "unknown"

_Point = tuple[int, int]  # (position, tie): lexicographic order
_BEFORE_ALL: _Point = (-1, 0)


class CounterModelMismatchError(ValueError):
    """The key holds an operation the counter model does not know (a register write or cas)."""


@dataclass(frozen=True)
class CounterResult:
    validity: bool | Literal["unknown"]
    increment_count: int  # ok and unknown ones that may have taken effect
    final_value: int  # N: the largest value anyone observed
    explanation: str | None = None  # why invalid (or unknown), in words a person can check
    culprits: tuple[Operation, ...] = ()  # the operations the explanation names


def is_counter_history(operations: Sequence[Operation]) -> bool:
    """A key is a counter when anything increments it (counter keys are never written or swapped)."""
    return any(operation.function == INCREMENT for operation in operations)


def check_counter(operations: Sequence[Operation]) -> CounterResult:
    increments: list[Operation] = []
    reads: list[Operation] = []
    for operation in operations:
        if operation.function not in COUNTER_FUNCTIONS:
            raise CounterModelMismatchError(
                f"line {operation.invoke_line_number}: f {operation.function!r} on a counter key "
                "(only incr and read are counter operations)"
            )
        if not operation.can_constrain:
            continue
        (increments if operation.function == INCREMENT else reads).append(operation)
    odd = [operation for operation in increments if operation.input_value != 1]
    if odd:
        return CounterResult(
            UNKNOWN, len(increments), 0, f"the counter model checks increments of 1 only; {odd[0].describe()}", (odd[0],)
        )

    # 1. Labels.
    ok_by_label: dict[int, Operation] = {}
    for operation in increments:
        if operation.outcome != OK:
            continue
        label = operation.output_value
        if not isinstance(label, int) or isinstance(label, bool) or label < 1:
            return CounterResult(
                False, len(increments), 0, f"an increment returned {label!r}, not a count of at least 1", (operation,)
            )
        other = ok_by_label.get(label)
        if other is not None:
            return CounterResult(
                False, len(increments), label,
                f"two increments both returned {label}: one of them was lost", (other, operation),
            )  # fmt: skip
        ok_by_label[label] = operation
    reads_by_value: dict[int, list[Operation]] = {}
    for operation in reads:
        value = 0 if operation.output_value is None else operation.output_value
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return CounterResult(False, len(increments), 0, f"a read returned {value!r}, not a count", (operation,))
        reads_by_value.setdefault(value, []).append(operation)
    final_value = max([*ok_by_label, *reads_by_value, 0])

    # Per label: reads of v-1 must have begun before t_v (release), reads of v end after it (deadline).
    release = {value + 1: max(read.invoke_position for read in group) for value, group in reads_by_value.items()}
    deadline = {value: min(_end(read) for read in group) for value, group in reads_by_value.items()}
    unknown = sorted((operation for operation in increments if operation.outcome != OK), key=lambda op: op.invoke_position)
    free: list[tuple[int, int]] = []  # heap of (invoke position, index in `unknown`) already invoked
    next_unknown = 0

    # 2 and 3. Place labels 1..N in order, each at its earliest point.
    point = _BEFORE_ALL
    for label in range(1, final_value + 1):
        earliest = _after(point)
        if label in release:
            earliest = max(earliest, _after((release[label], 0)))
        chosen = ok_by_label.get(label)
        if chosen is None:
            while next_unknown < len(unknown) and unknown[next_unknown].invoke_position <= earliest[0]:
                heapq.heappush(free, (unknown[next_unknown].invoke_position, next_unknown))
                next_unknown += 1
            if free:
                _, index = heapq.heappop(free)
            elif next_unknown < len(unknown):
                index = next_unknown  # none invoked yet: wait for the next one to be
                next_unknown += 1
            else:
                return CounterResult(
                    False, len(increments), final_value,
                    f"the counter reached {label} but no increment can account for it: "
                    f"{_who_saw(label, ok_by_label, reads_by_value)}; an increment was applied twice",
                    _seen_at_or_above(label, ok_by_label, reads_by_value),
                )  # fmt: skip
            chosen = unknown[index]
        point = max(earliest, (chosen.invoke_position, 0))
        if chosen.outcome == OK and point[0] >= _end(chosen):
            stale_reads = [read for read in reads_by_value.get(label - 1, []) if read.invoke_position > _end(chosen)]
            if stale_reads:
                return CounterResult(
                    False, len(increments), final_value,
                    f"a read returned {label - 1} although it began after the increment that returned {label}"
                    " had completed: it missed an acknowledged increment",
                    (chosen, stale_reads[0]),
                )  # fmt: skip
            return CounterResult(
                False, len(increments), final_value,
                f"the increment that returned {label} completed before the counter could reach {label - 1}:"
                " what came before it in the count was seen later in real time (a lost or reordered increment)",
                (chosen,),
            )  # fmt: skip
        if label in deadline and point[0] >= deadline[label]:
            late = min(reads_by_value[label], key=_end)
            return CounterResult(
                False, len(increments), final_value,
                f"a read returned {label} and completed before the counter could reach {label}",
                (late,),
            )  # fmt: skip
    return CounterResult(True, len(increments), final_value)


def _after(point: _Point) -> _Point:
    return (point[0], point[1] + 1)


def _end(operation: Operation) -> float:
    return float("inf") if operation.complete_position is None else operation.complete_position


def _seen_at_or_above(
    label: int, ok_by_label: dict[int, Operation], reads_by_value: dict[int, list[Operation]]
) -> tuple[Operation, ...]:
    above = [operation for value, operation in ok_by_label.items() if value >= label]
    above += [read for value, group in reads_by_value.items() if value >= label for read in group]
    return tuple(sorted(above, key=lambda operation: operation.invoke_position)[:3])


def _who_saw(label: int, ok_by_label: dict[int, Operation], reads_by_value: dict[int, list[Operation]]) -> str:
    seen = _seen_at_or_above(label, ok_by_label, reads_by_value)
    return "seen by " + ", ".join(operation.describe() for operation in seen) if seen else "nobody saw it"
