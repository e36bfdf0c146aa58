"""History I/O: streaming reader, validation with line numbers, thread-safe writer."""

from __future__ import annotations

import json
import threading
import tracemalloc
from pathlib import Path

import pytest

from verify.history import HistoryError, HistoryWriter, parse_history_lines, read_history
from verify.operations import INFO, OK, OPEN, pair_operations


def event(process: object, event_type: str, function: str, value: object = None, time_ns: int = 0) -> str:
    return json.dumps(
        {"time": time_ns, "process": process, "type": event_type, "f": function, "key": "k", "value": value}
    )


@pytest.mark.parametrize(
    ("lines", "bad_line", "reason"),
    [
        ([event(1, "invoke", "read"), "{not json"], 2, "malformed JSON"),
        ([event(1, "invoke", "read"), event(1, "done", "read")], 2, "unknown type 'done'"),
        ([event(1, "invoke", "increment")], 1, "unknown f 'increment'"),
        ([event(1, "ok", "read", 3)], 1, "no open invoke"),
        ([event(1, "invoke", "read"), event(1, "invoke", "write", 2)], 2, "still open"),
        (
            [event(1, "invoke", "write", 1), event(1, "info", "write", 1), event(1, "invoke", "read")],
            3,
            "after its info",
        ),
        ([event(1, "invoke", "write", 1), event(1, "ok", "read", 1)], 2, "does not match"),
        ([event(1, "invoke", "cas", 3)], 1, "[expected, new]"),
        (["[1, 2]"], 1, "not a JSON object"),
        ([event(1, "invoke", "read", time_ns=5), event(1, "ok", "read", time_ns=4)], 2, "backwards"),
    ],
)
def test_bad_lines_are_rejected_with_line_number_and_reason(
    lines: list[str], bad_line: int, reason: str
) -> None:
    with pytest.raises(HistoryError) as raised:
        list(parse_history_lines(lines))
    assert raised.value.line_number == bad_line
    assert reason in raised.value.reason


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(event(1, "invoke", "read") + "\n\n" + "oops\n")
    with pytest.raises(HistoryError) as raised:
        list(read_history(path))
    assert str(raised.value).startswith(f"{path}:3: malformed JSON")


def test_nemesis_events_pass_through_and_operations_pair() -> None:
    lines = [
        event(1, "invoke", "write", 1),
        json.dumps(
            {"time": 0, "process": "nemesis", "type": "info", "f": "start-partition", "value": {"a": [1]}}
        ),
        event(1, "ok", "write", 1),
        event(2, "invoke", "write", 2),
        event(2, "info", "write", 2),
        event(3, "invoke", "read"),
    ]
    nemesis: list = []
    operations = list(pair_operations(parse_history_lines(lines), nemesis))
    assert [(op.process, op.outcome) for op in operations] == [(1, OK), (2, INFO), (3, OPEN)]
    assert nemesis[0].function == "start-partition" and nemesis[0].line_number == 2
    assert operations[1].complete_position is None  # info may take effect at any later time


def test_writer_round_trips_and_is_safe_under_threads(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    ticks = iter(range(10**9))
    with HistoryWriter(path, clock=lambda: next(ticks)) as writer:

        def client(process: int) -> None:
            for value in range(50):
                writer.invoke(process, "write", "k", value)
                writer.complete(process, "ok", "write", "k", value)

        threads = [threading.Thread(target=client, args=(process,)) for process in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        writer.nemesis("kill", {"node": "n1"})
    events = list(read_history(path))
    assert len(events) == 8 * 50 * 2 + 1
    assert [item.index for item in events] == list(range(len(events)))
    assert [item.time_ns for item in events] == sorted(item.time_ns for item in events)


def test_writer_refuses_events_the_reader_would_reject(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "history.jsonl") as writer:
        writer.invoke(1, "read", "k")
        with pytest.raises(HistoryError, match="still open"):
            writer.invoke(1, "read", "k")
        writer.complete(1, "ok", "read", "k", None)
    assert len(list(read_history(tmp_path / "history.jsonl"))) == 2


def test_reader_streams_without_holding_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with open(path, "w") as file:
        for index in range(50_000):
            file.write(event(index % 7, "invoke", "read", time_ns=2 * index) + "\n")
            file.write(event(index % 7, "ok", "read", 1, time_ns=2 * index + 1) + "\n")
    tracemalloc.start()
    count = sum(1 for _ in read_history(path))
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100_000
    assert peak_bytes < 5_000_000  # the whole file as events would be tens of megabytes
