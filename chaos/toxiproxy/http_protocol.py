"""A minimal HTTP/1.1 server connection loop on asyncio streams (keep-alive, Content-Length, chunked).

Enough for the Toxiproxy API and its clients (requests, Go's net/http, curl); not a general server.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

IDLE_TIMEOUT_S = 60.0
HEAD_LIMIT_BYTES = 64 * 1024
BODY_LIMIT_BYTES = 1024 * 1024

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # percent-decoded, without the query string
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: object) -> HttpResponse:
        return cls(status, json.dumps(document).encode() + b"\n")


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class MalformedRequest(Exception):
    pass


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as error:  # pragma: no cover - latin-1 decodes every byte
        raise MalformedRequest(str(error)) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedRequest(f"malformed request line {lines[0]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, separator, value = line.partition(":")
        if not separator or not name.strip():
            raise MalformedRequest(f"malformed header {line!r}")
        headers[name.strip().lower()] = value.strip()
    return method, unquote(target.split("?", 1)[0]), version, headers


async def read_chunked_body(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedRequest("malformed chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > BODY_LIMIT_BYTES:
            raise MalformedRequest("body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_request(reader: asyncio.StreamReader) -> tuple[HttpRequest, bool] | None:
    """The next request and whether the connection may be kept alive; None when the client left."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise MalformedRequest("request head too large") from None
    method, path, version, headers = parse_head(head[:-4])
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await read_chunked_body(reader)
    else:
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit() or int(length_text) > BODY_LIMIT_BYTES:
            raise MalformedRequest(f"bad content-length {length_text!r}")
        body = await reader.readexactly(int(length_text))
    connection_header = headers.get("connection", "").lower()
    keep_alive = connection_header == "keep-alive" if version == "HTTP/1.0" else connection_header != "close"
    return HttpRequest(method, path, headers, body), keep_alive


def encode_response(response: HttpResponse, keep_alive: bool) -> bytes:
    phrase = http.HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {phrase}"]
    if response.status != 204:
        lines.append(f"Content-Type: {response.content_type}")
        lines.append(f"Content-Length: {len(response.body)}")
    lines.extend(f"{name}: {value}" for name, value in response.headers.items())
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if response.status == 204 else head + response.body


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    try:
        while True:
            try:
                received = await read_request(reader)
            except (MalformedRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                reply = HttpResponse.json(400, {"error": f"bad request: {error}", "status": 400})
                writer.write(encode_response(reply, keep_alive=False))
                await writer.drain()
                return
            if received is None:
                return
            request, keep_alive = received
            try:
                response = await handler(request)
            except Exception as error:  # a bug in one handler must not take the server down
                logger.exception("toxiproxy API handler failed")
                response = HttpResponse.json(500, {"error": str(error), "status": 500})
            writer.write(encode_response(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, OSError):
        return
    finally:
        writer.close()
