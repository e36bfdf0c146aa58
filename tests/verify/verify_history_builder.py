"""Build small histories by hand for the verifier tests: `h.invoke(1, "write", 3)` etc."""

from __future__ import annotations

import json
from collections.abc import Hashable
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
