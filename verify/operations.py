"""Pair each invoke with its completion into one `Operation`, the unit every checker reasons about."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any, NamedTuple

from verify.history import SYSTEM_PROCESSES, HistoryEvent

# Outcomes of an operation. "open" is an invoke the history never completed: unknown, like "info".
OK = "ok"
FAIL = "fail"
INFO = "info"
OPEN = "open"
UNKNOWN_OUTCOMES = frozenset({INFO, OPEN})


class Operation(NamedTuple):
    process: int | str
    function: str
    key: Hashable | None
    input_value: Any  # the invoke's value: written value, [expected, new] for cas, element for add, 1 for incr
    output_value: Any  # the completion's value: what a read returned, the new count of an incr; None when not completed
    outcome: str  # OK, FAIL, INFO or OPEN
    invoke_position: int
    complete_position: int | None  # None for info and open: they may take effect at any later time
    invoke_time_ns: int
    complete_time_ns: int | None
    invoke_line_number: int
    complete_line_number: int | None

    @property
    def is_unknown(self) -> bool:
        return self.outcome in UNKNOWN_OUTCOMES

    @property
    def can_constrain(self) -> bool:
        """False for what a check may drop: an operation that certainly did not happen (fail) and a read
        without an ok (it saw nothing)."""
        return not (self.outcome == FAIL or (self.function == "read" and self.outcome != OK))

    def describe(self) -> str:
        """`p3 write 4 ok` style summary a person can scan."""
        if self.function == "read":
            shown = "null" if self.output_value is None else _show(self.output_value)
            if self.outcome != OK:
                shown = "?"
        elif self.function == "incr":
            # An ok increment shows the count it returned: that is what the counter model checks.
            shown = f"+{_show(self.input_value)}" + (f"={_show(self.output_value)}" if self.outcome == OK else "")
        elif self.function == "cas":
            expected, new = self.input_value
            shown = f"{_show(expected)}->{_show(new)}"
        else:
            shown = _show(self.input_value)
        return f"p{self.process} {self.function} {shown} {self.outcome}"

    def to_json_object(self) -> dict[str, Any]:
        from verify.history import thaw

        return {
            "process": self.process,
            "f": self.function,
            "key": thaw(self.key),
            "value": thaw(self.output_value if self.function in ("read", "read-set") else self.input_value),
            "outcome": self.outcome,
            "invoke_time": self.invoke_time_ns,
            "complete_time": self.complete_time_ns,
            "invoke_line": self.invoke_line_number,
            "complete_line": self.complete_line_number,
        }


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def pair_operations(
    events: Iterable[HistoryEvent], nemesis_events: list[HistoryEvent] | None = None
) -> Iterator[Operation]:
    """Yield operations in completion order, then the never-completed ones in invoke order.

    The events must already have passed `HistoryValidator` (as `read_history` does): this only
    pairs. System events (nemesis faults, the store's own events) are appended to `nemesis_events`
    when a list is given, else dropped.
    """
    open_invokes: dict[int | str, HistoryEvent] = {}
    for event in events:
        process = event.process
        if process in SYSTEM_PROCESSES:
            if nemesis_events is not None:
                nemesis_events.append(event)
            continue
        if event.type == "invoke":
            open_invokes[process] = event
            continue
        invoke = open_invokes.pop(process)
        if event.type == OK:
            yield Operation(
                process, invoke.function, invoke.key, invoke.value, event.value, OK,
                invoke.position, event.position, invoke.time_ns, event.time_ns,
                invoke.line_number, event.line_number,
            )  # fmt: skip
        else:
            # info: when the operation took effect (if it did) is unknown, so it stays open-ended.
            is_info = event.type == INFO
            yield Operation(
                process, invoke.function, invoke.key, invoke.value, None, event.type,
                invoke.position, None if is_info else event.position, invoke.time_ns,
                None if is_info else event.time_ns, invoke.line_number, event.line_number,
            )  # fmt: skip
    for invoke in sorted(open_invokes.values(), key=lambda invoke: invoke.position):
        yield Operation(
            invoke.process, invoke.function, invoke.key, invoke.value, None, OPEN,
            invoke.position, None, invoke.time_ns, None, invoke.line_number, None,
        )  # fmt: skip


def operations_by_key(operations: Iterable[Operation]) -> dict[Hashable | None, list[Operation]]:
    """Group by key (P-compositionality) and sort each group by invoke position."""
    groups: dict[Hashable | None, list[Operation]] = {}
    for operation in operations:
        group = groups.get(operation.key)
        if group is None:
            groups[operation.key] = group = []
        group.append(operation)
    for group in groups.values():
        group.sort(key=lambda operation: operation.invoke_position)
    return groups
