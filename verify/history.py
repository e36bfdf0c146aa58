"""History files (DESIGN §4): one JSON event per line, read as a stream and validated as it goes.

The reader never holds the whole file: it yields one `HistoryEvent` per line and keeps only the
open operation of each process, so a million-event file costs memory for the events the caller
keeps, not for the file. The writer is the edge the load generator uses: it stamps index and time
under a lock and flushes every line, so a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TextIO

EVENT_TYPES = frozenset({"invoke", "ok", "fail", "info"})
COMPLETION_TYPES = frozenset({"ok", "fail", "info"})
CLIENT_FUNCTIONS = frozenset(
    {"read", "write", "cas", "add", "read-set", "incr", "txn", "transfer", "read-index", "add-index"}
)
NEMESIS_PROCESS = "nemesis"
# The store's own mechanisms (log replicas, scrub, splits) report what they did as events of this process.
STORE_PROCESS = "store"
# The load generator marks its own phases (e.g. the hot-key workload's hot phase) as events of this process.
WORKLOAD_PROCESS = "workload"
# Processes whose events are `info` records of what happened, not client operations: any `f`, no pairing.
SYSTEM_PROCESSES = frozenset({NEMESIS_PROCESS, STORE_PROCESS, WORKLOAD_PROCESS})


class HistoryError(ValueError):
    """A history line that cannot be accepted; carries what a person needs to find and fix it."""

    def __init__(self, reason: str, line_number: int, path: str | None = None) -> None:
        self.reason = reason
        self.line_number = line_number
        self.path = path
        super().__init__(str(self))

    def with_path(self, path: str) -> HistoryError:
        return HistoryError(self.reason, self.line_number, path)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line_number}" if self.path else f"line {self.line_number}"
        return f"{where}: {self.reason}"


class HistoryEvent(NamedTuple):
    """One line of a history. A NamedTuple because a million of them are built per run."""

    position: int  # 0-based order in the file: the real-time order the writer appended in
    line_number: int  # 1-based, for messages
    time_ns: int
    process: int | str
    type: str
    function: str
    key: Hashable | None
    value: Any  # frozen: JSON lists become tuples so values can be compared and hashed
    index: int | None

    @property
    def is_nemesis(self) -> bool:
        return self.process == NEMESIS_PROCESS

    @property
    def is_system(self) -> bool:
        return self.process in SYSTEM_PROCESSES


def freeze(value: Any) -> Hashable:
    """JSON value → hashable value (lists → tuples, objects → sorted item tuples)."""
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((name, freeze(item)) for name, item in value.items()))
    return value


def thaw(value: Any) -> Any:
    """Inverse of `freeze` for writing JSON (objects come back as lists of pairs)."""
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


def event_from_object(document: Any, line_number: int, position: int) -> HistoryEvent:
    """Check the shape of one decoded line; sequencing is `HistoryValidator`'s job."""
    if not isinstance(document, dict):
        raise HistoryError(f"event is not a JSON object but {type(document).__name__}", line_number)
    process = document.get("process")
    if process is None or isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryError(f"'process' must be an integer or a string, got {process!r}", line_number)
    event_type = document.get("type")
    if event_type not in EVENT_TYPES:
        raise HistoryError(
            f"unknown type {event_type!r} (expected one of {sorted(EVENT_TYPES)})", line_number
        )
    function = document.get("f")
    if process in SYSTEM_PROCESSES:
        if not isinstance(function, str):
            raise HistoryError(f"{process} 'f' must be a string, got {function!r}", line_number)
        if event_type != "info":
            raise HistoryError(f"{process} events are of type info, got {event_type!r}", line_number)
    elif function not in CLIENT_FUNCTIONS:
        raise HistoryError(
            f"unknown f {function!r} (expected one of {sorted(CLIENT_FUNCTIONS)})", line_number
        )
    time_ns = document.get("time")
    if isinstance(time_ns, bool) or not isinstance(time_ns, int) or time_ns < 0:
        raise HistoryError(
            f"'time' must be a non-negative integer of nanoseconds, got {time_ns!r}", line_number
        )
    index = document.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise HistoryError(f"'index' must be an integer, got {index!r}", line_number)
    value = document.get("value")
    if value is not None and type(value) in (list, dict):
        value = freeze(value)
    if function == "cas" and (event_type == "invoke" or event_type == "ok"):
        if not (isinstance(value, tuple) and len(value) == 2):
            raise HistoryError(
                f"cas value must be [expected, new], got {document.get('value')!r}", line_number
            )
    elif function == "read-set" and event_type == "ok" and not isinstance(value, tuple):
        raise HistoryError(f"ok read-set value must be a list of elements, got {value!r}", line_number)
    elif function == "add" and event_type == "invoke" and value is None:
        raise HistoryError("add must name the element it adds in 'value'", line_number)
    elif function == "incr" and event_type == "invoke" and value is None:
        raise HistoryError("incr must name its increment in 'value'", line_number)
    elif function == "transfer" and event_type == "invoke" and not isinstance(document.get("value"), dict):
        raise HistoryError(f"transfer value must be an object with from, to and amount, got {document.get('value')!r}", line_number)
    elif function == "txn" and event_type in ("invoke", "ok") and not isinstance(value, tuple):
        raise HistoryError(f"txn value must be a list of micro-operations, got {document.get('value')!r}", line_number)
    key = document.get("key")
    if key is not None and type(key) in (list, dict):
        key = freeze(key)
    return HistoryEvent(position, line_number, time_ns, process, event_type, function, key, value, index)


class HistoryValidator:
    """Sequencing rules of DESIGN §4, checked one event at a time (reader and writer share it)."""

    def __init__(self) -> None:
        self.open_invokes: dict[int | str, HistoryEvent] = {}
        self._info_line_by_process: dict[int | str, int] = {}
        self._last_time_ns = -1

    def accept(self, event: HistoryEvent) -> None:
        line_number = event.line_number
        if event.time_ns < self._last_time_ns:
            raise HistoryError(
                f"time goes backwards: {event.time_ns} after {self._last_time_ns}", line_number
            )
        self._last_time_ns = event.time_ns
        process = event.process
        if process in SYSTEM_PROCESSES:
            return
        if event.type == "invoke":
            if process in self._info_line_by_process:
                raise HistoryError(
                    f"process {process!r} invokes again after its info completion on line "
                    f"{self._info_line_by_process[process]} (a process that saw info must never issue again)",
                    line_number,
                )
            open_invoke = self.open_invokes.get(process)
            if open_invoke is not None:
                raise HistoryError(
                    f"process {process!r} invokes while its {open_invoke.function} from line "
                    f"{open_invoke.line_number} is still open",
                    line_number,
                )
            self.open_invokes[process] = event
            return
        open_invoke = self.open_invokes.pop(process, None)
        if open_invoke is None:
            raise HistoryError(
                f"{event.type} completion for process {process!r} with no open invoke", line_number
            )
        if open_invoke.function != event.function:
            raise HistoryError(
                f"completion f {event.function!r} does not match the open invoke's f "
                f"{open_invoke.function!r} (line {open_invoke.line_number})",
                line_number,
            )
        if open_invoke.key != event.key:
            raise HistoryError(
                f"completion key {event.key!r} does not match the open invoke's key "
                f"{open_invoke.key!r} (line {open_invoke.line_number})",
                line_number,
            )
        if event.type == "info":
            self._info_line_by_process[process] = line_number


def parse_history_lines(lines: Iterable[str]) -> Iterator[HistoryEvent]:
    """Decode and validate lines (pure: any iterable of strings). Blank lines are skipped."""
    validator = HistoryValidator()
    accept = validator.accept
    loads = json.loads
    position = 0
    for line_number, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        try:
            document = loads(line)
        except json.JSONDecodeError as error:
            raise HistoryError(f"malformed JSON: {error.msg} at column {error.colno}", line_number) from None
        except RecursionError:
            raise HistoryError("malformed JSON: nested too deeply", line_number) from None
        event = event_from_object(document, line_number, position)
        accept(event)
        position += 1
        yield event


def read_history(path: str | Path) -> Iterator[HistoryEvent]:
    """Stream the events of a history file; errors name the file, the line and the reason."""
    name = str(path)
    try:
        with open(path, encoding="utf-8") as lines:
            yield from parse_history_lines(lines)
    except HistoryError as error:
        raise error.with_path(name) from None
    except UnicodeDecodeError as error:
        raise HistoryError(f"not UTF-8 text ({error.reason})", 0, name) from None


class HistoryWriter:
    """Thread-safe appender of history events: index and time are stamped under one lock.

    Every event passes the same validation as the reader before it is written, so a buggy
    client fails loudly at the call instead of producing a file the checker rejects later.
    """

    def __init__(self, path: str | Path, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._file: TextIO = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._clock = clock
        self._lock = threading.Lock()
        self._validator = HistoryValidator()
        self._next_index = 0

    def invoke(
        self, process: int | str, function: str, key: Hashable | None = None, value: Any = None
    ) -> int:
        return self.write({"process": process, "type": "invoke", "f": function, "key": key, "value": value})

    def complete(
        self,
        process: int | str,
        event_type: str,
        function: str,
        key: Hashable | None = None,
        value: Any = None,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Record `ok`, `fail` or `info` for the process's open operation; `extra` fields (readers ignore
        them) ride along, e.g. a failed request's error code."""
        if event_type not in COMPLETION_TYPES:
            raise ValueError(f"completion type must be one of {sorted(COMPLETION_TYPES)}, got {event_type!r}")
        event = {**(extra or {}), "process": process, "type": event_type, "f": function, "key": key, "value": value}
        return self.write(event)

    def nemesis(self, function: str, value: Any = None) -> int:
        return self.write({"process": NEMESIS_PROCESS, "type": "info", "f": function, "value": value})

    def write(self, event: Mapping[str, Any]) -> int:
        """Append one event; `index` and `time` are assigned here. Returns the index."""
        with self._lock:
            index = self._next_index
            document: dict[str, Any] = {"index": index, "time": self._clock()}
            document.update((name, item) for name, item in event.items() if name not in ("index", "time"))
            if document.get("key", 0) is None:
                del document["key"]
            parsed = event_from_object(json.loads(json.dumps(document)), index + 1, index)
            self._validator.accept(parsed)
            self._file.write(json.dumps(document, separators=(", ", ": ")) + "\n")
            self._file.flush()
            self._next_index = index + 1
            return index

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
