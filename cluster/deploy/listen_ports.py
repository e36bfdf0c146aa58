"""Ports for the cluster's listening sockets, drawn below the kernel's ephemeral port range.

The kernel gives every outgoing connection a local port from its ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range). A process restarted by a fault binds its old port again; when
that port came from the ephemeral range, an outgoing connection may hold it by then, and the restart
fails with "address already in use" (seen: a metadata replica that never came back during a game day,
with another game day on the machine). Below that range no connection is ever given the port, and a
random draw keeps two clusters on one machine apart. Each port is checked free, and every probe stays
bound until all are chosen, so one call never returns a port twice.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Collection
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# How far below the ephemeral range listening ports are drawn from (and never below 1024).
LISTEN_RANGE_SIZE = 12000
DRAWS_PER_PORT = 50


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    try:
        low, high = (int(value) for value in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def free_listen_ports(
    count: int, host: str = "127.0.0.1", avoid: Collection[int] = (), rng: random.Random | None = None,
    range_file: Path = EPHEMERAL_RANGE_FILE,
) -> list[int]:
    """`count` distinct ports free on `host` now, below the ephemeral range when it leaves room (else any
    free port the kernel offers), none in `avoid`."""
    draw = rng or random.SystemRandom()
    low = ephemeral_range(range_file)[0]
    start = max(1024, low - LISTEN_RANGE_SIZE)
    chosen: list[int] = []
    with contextlib.ExitStack() as stack:
        for _ in range(count * DRAWS_PER_PORT if start < low else 0):
            if len(chosen) == count:
                break
            port = draw.randrange(start, low)
            if port in avoid or port in chosen:
                continue
            probe = stack.enter_context(socket.socket())
            try:
                probe.bind((host, port))
            except OSError:
                continue
            chosen.append(port)
        while len(chosen) < count:  # no room below the range (an unusual kernel setting): what the kernel gives
            probe = stack.enter_context(socket.socket())
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
            if port not in avoid:
                chosen.append(port)
    return chosen


def free_listen_port(host: str = "127.0.0.1", avoid: Collection[int] = ()) -> int:
    return free_listen_ports(1, host, avoid)[0]
