"""The control channel of a lazyfs mount: a UNIX socket in Linux's abstract namespace, one JSON line each way.

Abstract (no file): nothing to clean up after a crash, and no 108-byte path limit for deep data directories.
Its name is derived from the mount point, so the harness needs only the mount point to reach it.

Requests: {"op": "lose-power", "torn_seed": int | null} -> the PowerLossReport;
          {"op": "status"} -> {"ok": true, "pid": ...};  {"op": "sync"} -> makes everything durable.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chaos.lazyfs.filesystem import LazyFilesystem

REQUEST_MAX_BYTES = 4096
CONTROL_TIMEOUT_S = 30.0


class LazyfsControlError(Exception):
    """The mount's control channel did not answer, or answered an error."""


def control_address(mountpoint: Path | str) -> str:
    digest = hashlib.sha256(str(Path(mountpoint).resolve()).encode()).hexdigest()[:32]
    return f"\0gameday-lazyfs-{digest}"


Invalidate = Callable[[Iterable[str]], None]


def handle_request(
    filesystem: LazyFilesystem, lock: threading.Lock, request: dict[str, Any], invalidate: Invalidate | None = None
) -> dict[str, Any]:
    op = request.get("op")
    if op == "lose-power":
        seed = request.get("torn_seed")
        with lock:
            paths = set(filesystem.paths())
            report = filesystem.lose_power(int(seed) if seed is not None else None)
            paths.update(filesystem.paths())
        if invalidate is not None:
            invalidate(sorted(paths, key=len, reverse=True))  # children before their directories
        return {"ok": True, **report.to_json()}
    with lock:
        if op == "sync":
            filesystem.sync_all()
            return {"ok": True}
        if op == "status":
            return {"ok": True, "pid": os.getpid()}
    return {"ok": False, "error": f"unknown op {op!r}"}


def serve_control(
    filesystem: LazyFilesystem, lock: threading.Lock, mountpoint: Path, invalidate: Invalidate | None = None
) -> socket.socket:
    """Binds the control socket (before mounting, so a second server for one mount point fails early)
    and answers requests on a daemon thread."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(control_address(mountpoint))
    server.listen(8)

    def answer(connection: socket.socket) -> None:
        with connection:
            try:
                request = json.loads(_read_line(connection))
                reply = handle_request(filesystem, lock, request, invalidate)
            except Exception as error:  # the harness must see why, not a closed socket
                reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            connection.sendall(json.dumps(reply).encode() + b"\n")

    def loop() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return  # closed at exit
            answer(connection)

    threading.Thread(target=loop, name="lazyfs-control", daemon=True).start()
    return server


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(REQUEST_MAX_BYTES)
        if not chunk:
            break
        data += chunk
        if len(data) > 16 * REQUEST_MAX_BYTES:
            raise LazyfsControlError("control message too long")
    return data


def request(mountpoint: Path | str, message: dict[str, Any], timeout_s: float = CONTROL_TIMEOUT_S) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            client.connect(control_address(mountpoint))
            client.sendall(json.dumps(message).encode() + b"\n")
            reply = json.loads(_read_line(client) or b"{}")
        except (OSError, ValueError) as error:
            raise LazyfsControlError(f"lazyfs at {mountpoint} did not answer {message.get('op')}: {error}") from error
    if not reply.get("ok"):
        raise LazyfsControlError(f"lazyfs at {mountpoint}: {reply.get('error', 'no answer')}")
    return reply


def lose_power(mountpoint: Path | str, torn_seed: int | None = None) -> dict[str, Any]:
    """Drops what the mount holds unsynced; returns what was lost (and torn)."""
    reply = request(mountpoint, {"op": "lose-power", "torn_seed": torn_seed})
    reply.pop("ok", None)
    return reply


def answering(mountpoint: Path | str) -> bool:
    try:
        request(mountpoint, {"op": "status"}, timeout_s=2.0)
    except LazyfsControlError:
        return False
    return True
