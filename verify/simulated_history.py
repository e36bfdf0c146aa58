"""Histories of a simulated atomic register, for tests and benchmarks of the checkers.

Each operation takes effect atomically at one random moment between its invoke and completion,
so every history produced here is linearizable by construction. Randomness comes only from the
`random.Random` passed in: a seed replays the same history.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class _Pending:
    function: str
    key: Hashable
    value: Any
    applied: bool = False
    result: Any = None
    swapped: bool = True


def simulate_register_history(
    rng: random.Random,
    operation_count: int,
    process_count: int,
    keys: Sequence[Hashable] = ("k",),
    read_fraction: float = 0.5,
    cas_fraction: float = 0.15,
    info_probability: float = 0.01,
    fail_probability: float = 0.03,
    open_probability: float = 0.3,
) -> list[dict[str, Any]]:
    """JSON-ready events (DESIGN §4) in the order they happen; `time` is the step number × 1000."""
    states: dict[Hashable, Any] = {key: None for key in keys}
    next_value = 1
    idle = list(range(process_count))
    next_process = process_count
    pending: dict[int, _Pending] = {}
    events: list[dict[str, Any]] = []
    invoked = 0

    def emit(process: int, event_type: str, function: str, key: Hashable, value: Any) -> None:
        events.append(
            {"index": len(events), "time": len(events) * 1000, "process": process, "type": event_type,
             "f": function, "key": key, "value": value}
        )  # fmt: skip

    while invoked < operation_count or pending:
        can_invoke = invoked < operation_count and bool(idle)
        if can_invoke and (not pending or rng.random() < 0.5):
            process = idle.pop(rng.randrange(len(idle)))
            key = keys[rng.randrange(len(keys))]
            roll = rng.random()
            if roll < read_fraction:
                operation = _Pending("read", key, None)
            elif roll < read_fraction + cas_fraction:
                expected = states[key] if rng.random() < 0.7 else rng.randrange(max(1, next_value))
                operation = _Pending("cas", key, [expected, next_value])
                next_value += 1
            else:
                operation = _Pending("write", key, next_value)
                next_value += 1
            pending[process] = operation
            emit(process, "invoke", operation.function, key, operation.value)
            invoked += 1
            continue
        process = rng.choice(list(pending))
        operation = pending[process]
        if not operation.applied:
            roll = rng.random()
            if roll < fail_probability:
                emit(process, "fail", operation.function, operation.key, operation.value)
                del pending[process]
                idle.append(process)
            elif roll < fail_probability + info_probability:
                emit(process, "info", operation.function, operation.key, operation.value)
                del pending[process]
                idle.append(next_process)  # a process that saw info never issues again
                next_process += 1
            else:
                _apply(operation, states)
            continue
        if invoked >= operation_count and rng.random() < open_probability / max(1, len(pending)):
            del pending[process]  # left open: the run ended before it completed
            continue
        del pending[process]
        if rng.random() < info_probability:
            emit(process, "info", operation.function, operation.key, operation.value)
            idle.append(next_process)
            next_process += 1
        elif operation.function == "read":
            emit(process, "ok", "read", operation.key, operation.result)
            idle.append(process)
        else:
            emit(
                process,
                "ok" if operation.swapped else "fail",
                operation.function,
                operation.key,
                operation.value,
            )
            idle.append(process)
    return events


def _apply(operation: _Pending, states: dict[Hashable, Any]) -> None:
    operation.applied = True
    if operation.function == "read":
        operation.result = states[operation.key]
    elif operation.function == "write":
        states[operation.key] = operation.value
    else:
        expected, new = operation.value
        operation.swapped = states[operation.key] == expected
        if operation.swapped:
            states[operation.key] = new


def simulate_list_append_history(
    rng: random.Random, transaction_count: int, key_count: int, process_count: int = 8
) -> list[dict[str, Any]]:
    """Events of list-append transactions (DESIGN §4) on a serializable store: each applies atomically at
    one commit point inside its interval, and intervals overlap at random. Some fail (nothing applied),
    some end info (applied or not); a process that saw info issues no more. Valid by construction."""
    events: list[dict[str, Any]] = []

    def emit(process: int, event_type: str, value: Any) -> None:
        events.append({"index": len(events), "time": len(events) * 10, "process": process, "type": event_type,
                       "f": "txn", "value": value})  # fmt: skip

    lists: dict[str, list[int]] = {}
    # process -> (micro-operations as invoked, their results once applied, the outcome it will have)
    pending: dict[int, tuple[list[list[Any]], list[list[Any]] | None, str]] = {}
    next_element = 0
    started = 0
    idle = list(range(process_count))
    next_process = process_count
    while started < transaction_count or pending:
        if started < transaction_count and idle and (not pending or rng.random() < 0.5):
            process = idle.pop(rng.randrange(len(idle)))
            micro: list[list[Any]] = []
            for _ in range(rng.randint(1, 4)):
                key = f"k{rng.randrange(key_count)}"
                if rng.random() < 0.5:
                    next_element += 1
                    micro.append(["append", key, next_element])
                else:
                    micro.append(["r", key, None])
            emit(process, "invoke", micro)
            pending[process] = (micro, None, rng.choice(["ok"] * 8 + ["fail", "info"]))
            started += 1
            continue
        process = rng.choice(list(pending))
        micro, applied, outcome = pending[process]
        if applied is None and outcome != "fail" and rng.random() < 0.6:
            # The commit point: the whole transaction applies now, atomically.
            results: list[list[Any]] = []
            for function, key, value in micro:
                if function == "append":
                    lists.setdefault(key, []).append(value)
                    results.append([function, key, value])
                else:
                    results.append([function, key, list(lists.get(key, []))])
            pending[process] = (micro, results, outcome)
            continue
        if outcome == "ok" and applied is None:
            continue  # an ok transaction completes only after its commit point
        del pending[process]
        emit(process, outcome, applied if outcome == "ok" else micro)
        if outcome == "info":
            idle.append(next_process)
            next_process += 1
        else:
            idle.append(process)
    return events
