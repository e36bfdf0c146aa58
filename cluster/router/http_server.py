"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length bodies, bounded sizes.

DynamoDB clients send one JSON request per POST and reuse connections; that is all this needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 << 10
MAX_BODY_BYTES = 16 << 20
IDLE_TIMEOUT_S = 120.0


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str]


RequestHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpProtocolError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _serialize(response: HttpResponse, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    for name, value in response.headers.items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise HttpProtocolError(400, "truncated request head") from error
        return None
    except asyncio.LimitOverrunError as error:
        raise HttpProtocolError(431, "request head too large") from error
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, path, version = request_line.split(" ", 2)
    except ValueError as error:
        raise HttpProtocolError(400, "malformed request line") from error
    if not version.startswith("HTTP/1."):
        raise HttpProtocolError(505, "only HTTP/1.x")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, separator, value = line.partition(":")
        if not separator:
            raise HttpProtocolError(400, f"malformed header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpProtocolError(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as error:
        raise HttpProtocolError(400, "bad Content-Length") from error
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpProtocolError(413, f"body of {length} bytes exceeds {MAX_BODY_BYTES}")
    if version == "HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower():
        headers["connection"] = "close"
    body = await reader.readexactly(length) if length else b""
    return HttpRequest(method, path, headers, body)


class HttpServer:
    def __init__(self, handler: RequestHandler, error_response: Callable[[int, str], HttpResponse]) -> None:
        self._handler = handler
        self._error_response = error_response
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEADER_BYTES)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await asyncio.wait_for(_read_request(reader), IDLE_TIMEOUT_S)
                except HttpProtocolError as error:
                    writer.write(_serialize(self._error_response(error.status, str(error)), keep_alive=False))
                    await writer.drain()
                    return
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                if request is None:
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                try:
                    response = await self._handler(request)
                except Exception:
                    log.exception("request handler failed")
                    response = self._error_response(500, "internal error")
                writer.write(_serialize(response, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except ConnectionError:
            return
        finally:
            self._writers.discard(writer)
            writer.close()
