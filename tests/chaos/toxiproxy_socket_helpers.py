"""Blocking-socket helpers for the test_toxiproxy_* modules."""

from __future__ import annotations

import socket
import time

from toxiproxy.proxy import Proxy


def connect(proxy: Proxy, timeout_s: float = 5.0) -> socket.socket:
    host, port = proxy.listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        chunk = sock.recv(size - len(received))
        if not chunk:
            raise EOFError(f"connection closed after {len(received)} of {size} bytes")
        received += chunk
    return bytes(received)


def round_trip_s(sock: socket.socket, payload: bytes = b"ping") -> float:
    started_s = time.monotonic()
    sock.sendall(payload)
    assert receive_exactly(sock, len(payload)) == payload
    return time.monotonic() - started_s


def receive_until_closed(sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)
