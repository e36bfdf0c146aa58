"""The real boto3 client against misbehaving loopback servers: outcomes recorded honestly, no retries."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadgen.dynamodb_client import ClientSettings, make_client
from loadgen.dynamodb_operations import execute
from loadgen.operations import PlannedOperation
from loadgen.recording import run_recorded
from verify.history import HistoryWriter, read_history
from verify.operations import pair_operations

READ_TIMEOUT_S = 0.5
OPERATIONS = [
    PlannedOperation("write", "r0", 7),
    PlannedOperation("cas", "r0", [7, 8]),
    PlannedOperation("incr", "c0", 1),
    PlannedOperation("add", "set", 9),
    PlannedOperation("read", "r0", None),
    PlannedOperation("read-set", "set", None),
]
EXPECTED_WHEN_UNANSWERED = {"write": "info", "cas": "info", "incr": "info", "add": "info", "read": "fail", "read-set": "fail"}


class SilentServer:
    """Accepts connections, reads nothing, answers nothing: the request is sent, no reply comes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        # A close alone leaves accept() blocked on Linux (the join then waited its whole 5 s): shut it down.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the accepting thread outlived its listener"
        for connection in self.accepted:
            connection.close()


class AlwaysErrorServer(ThreadingHTTPServer):
    """Answers every request with one fixed DynamoDB error and counts the requests."""

    def __init__(self, status: int, code: str) -> None:
        self.status, self.code, self.request_count = status, code, 0
        self.count_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ErrorHandler)


class ErrorHandler(BaseHTTPRequestHandler):
    server: AlwaysErrorServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.count_lock:
            self.server.request_count += 1
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{self.server.code}", "message": "injected"}
        ).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def serve(status: int, code: str) -> Iterator[AlwaysErrorServer]:
    server = AlwaysErrorServer(status, code)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_all(endpoint: str, history_path: Path) -> dict[str, str]:
    """Run each operation once from its own process; return f -> recorded outcome (from the file)."""
    client = make_client(ClientSettings(endpoint, connect_timeout_s=0.5, read_timeout_s=READ_TIMEOUT_S))
    with HistoryWriter(history_path) as history:
        for process, operation in enumerate(OPERATIONS):
            run_recorded(history, process, operation, lambda operation=operation: execute(client, "t", operation))
    operations = list(pair_operations(read_history(history_path)))
    assert len(operations) == len(OPERATIONS)
    return {operation.function: operation.outcome for operation in operations}


def test_loadgen_unanswered_request_is_info_for_writes_fail_for_reads(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    outcomes = run_all(f"http://127.0.0.1:{silent_server.port}", tmp_path / "history.jsonl")
    assert outcomes == EXPECTED_WHEN_UNANSWERED
    # No retry after a read timeout: one connection per operation.
    assert len(silent_server.accepted) == len(OPERATIONS)


def test_loadgen_connection_refused_is_fail(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcomes = run_all(f"http://127.0.0.1:{port}", tmp_path / "history.jsonl")
    assert set(outcomes.values()) == {"fail"}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (500, "InternalServerError", EXPECTED_WHEN_UNANSWERED),
        (503, "ServiceUnavailable", EXPECTED_WHEN_UNANSWERED),
        (400, "ThrottlingException", dict.fromkeys(EXPECTED_WHEN_UNANSWERED, "fail")),
        (400, "ProvisionedThroughputExceededException", dict.fromkeys(EXPECTED_WHEN_UNANSWERED, "fail")),
    ],
)
def test_loadgen_error_answers_without_retries(status: int, code: str, expected: dict, tmp_path: Path) -> None:
    # botocore would normally retry all four of these; exactly one request each proves retries are off.
    for server in serve(status, code):
        outcomes = run_all(f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "history.jsonl")
        assert outcomes == expected
        assert server.request_count == len(OPERATIONS)
