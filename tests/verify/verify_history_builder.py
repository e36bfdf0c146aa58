"""Build small histories by hand for the verifier tests: `h.invoke(1, "write", 3)` etc."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Hashable
from typing import Any

from verify.history import HistoryEvent, parse_history_lines
from verify.operations import Operation, pair_operations


class HistoryBuilder:
    """Appends events in the order they happen; time is the event's position times 10 ns."""

    def __init__(self, key: Hashable | None = "k") -> None:
        self.key = key
        self.documents: list[dict[str, Any]] = []

    def _append(
        self, process: int | str, event_type: str, function: str, value: Any, key: Any
    ) -> HistoryBuilder:
        document: dict[str, Any] = {
            "index": len(self.documents),
            "time": len(self.documents) * 10,
            "process": process,
            "type": event_type,
            "f": function,
            "value": value,
        }
        key = self.key if key is ... else key
        if key is not None:
            document["key"] = key
        self.documents.append(document)
        return self

    def invoke(self, process: int, function: str, value: Any = None, key: Any = ...) -> HistoryBuilder:
        return self._append(process, "invoke", function, value, key)

    def ok(self, process: int, function: str, value: Any = None, key: Any = ...) -> HistoryBuilder:
        return self._append(process, "ok", function, value, key)

    def fail(self, process: int, function: str, value: Any = None, key: Any = ...) -> HistoryBuilder:
        return self._append(process, "fail", function, value, key)

    def info(self, process: int, function: str, value: Any = None, key: Any = ...) -> HistoryBuilder:
        return self._append(process, "info", function, value, key)

    def nemesis(self, function: str, value: Any = None) -> HistoryBuilder:
        self.documents.append(
            {"index": len(self.documents), "time": len(self.documents) * 10, "process": "nemesis",
             "type": "info", "f": function, "value": value}
        )  # fmt: skip
        return self

    def lines(self) -> list[str]:
        return [json.dumps(document) for document in self.documents]

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines())

    def events(self) -> list[HistoryEvent]:
        return list(parse_history_lines(self.lines()))

    def operations(self) -> list[Operation]:
        return list(pair_operations(self.events()))


def arbitrary_history(
    pick: random.Random,
    operation_count: int,
    process_count: int,
    write_value: Callable[[], object],
    cas_value: Callable[[], list[object]],
    read_value: Callable[[], object],
) -> HistoryBuilder:
    """Random invokes and completions (ok, fail, info, never completed) of reads, writes and cas, with
    the values the caller draws: mostly non-linearizable histories for comparing checkers. A process
    that saw info (or never completed) issues no more; a fresh process takes its place."""
    builder = HistoryBuilder()
    pending: dict[int, tuple[str, object]] = {}
    next_process = process_count
    idle = list(range(process_count))
    invoked = 0
    while invoked < operation_count or pending:
        if invoked < operation_count and idle and (not pending or pick.random() < 0.5):
            process = idle.pop(pick.randrange(len(idle)))
            function = pick.choice(["read", "write", "cas"])
            value = None if function == "read" else write_value() if function == "write" else cas_value()
            builder.invoke(process, function, value)
            pending[process] = (function, value)
            invoked += 1
            continue
        process = pick.choice(list(pending))
        function, value = pending.pop(process)
        outcome = pick.choice(["ok", "ok", "ok", "fail", "info", "open"])
        if outcome in ("open", "info"):
            if outcome == "info":
                builder.info(process, function, value)
            idle.append(next_process)
            next_process += 1
            continue
        if function == "read" and outcome == "ok":
            value = read_value()
        getattr(builder, outcome)(process, function, value)
        idle.append(process)
    return builder
