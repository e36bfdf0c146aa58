"""A lean closed-loop DynamoDB load generator: raw keep-alive HTTP, pre-built JSON, no SDK overhead.

boto3 spends more CPU per call than our router does; on a 2-core machine it would measure itself.
The same generator drives every target, so the comparison is fair.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Well-formed but unchecked credentials: moto and dynalite want the header present, our router ignores it.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def build_request(host: str, port: int, operation: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: DynamoDB_20120810.{operation}\r\nX-Amz-Date: 20260101T000000Z\r\n"
        f"Authorization: {AUTHORIZATION}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server keeps the connection open for the next request)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    body = await reader.readexactly(length) if length else b""
    return status, body, keep_alive


@dataclass
class LoadResult:
    operations: int
    errors: int
    duration_s: float
    latencies_s: list[float]
    error_types: dict[str, int] = field(default_factory=dict)  # DynamoDB's __type (or the status) -> count
    server_cpu_s: float | None = None  # CPU the target's processes spent meanwhile, when the bench reads it

    @property
    def throughput(self) -> float:
        return self.operations / self.duration_s

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_s) * 1000 if self.latencies_s else float("nan")


async def run_load(
    host: str,
    ports: Sequence[int],
    operation: str,
    make_body,  # noqa: ANN001
    clients: int,
    duration_s: float,
    on_response: Callable[[int, int, bytes], None] | None = None,
) -> LoadResult:
    """`clients` connections, each sending one request at a time for `duration_s`; client n talks to
    ports[n % len(ports)], as clients behind a load balancer spread over a fleet's endpoints.
    `on_response(client, status, body)` sees every answer before that client builds its next request
    (how a client follows LastEvaluatedKey)."""
    latencies: list[float] = []
    counters = {"ok": 0, "errors": 0}
    error_types: dict[str, int] = {}
    deadline = time.perf_counter() + duration_s

    async def client(number: int) -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        port = ports[number % len(ports)]
        sequence = 0
        try:
            while time.perf_counter() < deadline:
                request = build_request(host, port, operation, make_body(number, sequence))
                sequence += 1
                started = time.perf_counter()
                # A server that closes after each response (moto's) pays its reconnects in latency,
                # as it would with any client.
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                writer.write(request)
                status, body, keep_alive = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                if on_response is not None:
                    on_response(number, status, body)
                counters["ok" if status == 200 else "errors"] += 1
                if status != 200:
                    kind = error_type(status, body)
                    error_types[kind] = error_types.get(kind, 0) + 1
                if not keep_alive:
                    writer.close()
                    connection = None
        finally:
            if connection is not None:
                connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return LoadResult(counters["ok"], counters["errors"], time.perf_counter() - started, latencies, error_types)


def error_type(status: int, body: bytes) -> str:
    """What a failed answer was: its DynamoDB error type without the namespace, else its HTTP status."""
    try:
        kind = json.loads(body).get("__type")
    except (ValueError, AttributeError):
        kind = None
    return str(kind).rsplit("#", 1)[-1] if kind else f"HTTP {status}"


async def call(host: str, port: int, operation: str, body: dict, timeout_s: float = 10.0) -> tuple[int, dict]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(build_request(host, port, operation, body))
        status, raw, _ = await asyncio.wait_for(read_response(reader), timeout_s)
        return status, json.loads(raw or b"{}")
    finally:
        writer.close()
