"""Ports for the cluster's listening sockets, drawn below the kernel's ephemeral port range.

The kernel gives every outgoing connection a local port from its ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range). A process restarted by a fault binds its old port again; when
that port came from the ephemeral range, an outgoing connection may hold it by then, and the restart
fails with "address already in use" (seen: a metadata replica that never came back during a game day,
with another game day on the machine). Below that range no connection is ever given the port, and a
random draw keeps two clusters on one machine apart. Each port is checked free, and every probe stays
bound until all are chosen, so one call never returns a port twice.

A free port is not always an unused one: a cluster's process binds its port a second after the draw, and a
node powered off by a fault leaves its port unbound until it restarts on it. Another cluster drawing then
took it (seen: a test cluster started during a self-test's game day failed with "address already in use").
So every port handed out is also claimed machine-wide: a file per port in CLAIMS_DIR, made with O_EXCL,
that other draws skip until it is CLAIM_TTL_S old. A cluster refreshes the claims of a process it stops
and releases them all when it goes down.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import tempfile
import time
from collections.abc import Collection, Iterable
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# How far below the ephemeral range listening ports are drawn from (and never below 1024).
LISTEN_RANGE_SIZE = 12000
DRAWS_PER_PORT = 50
CLAIMS_DIR = Path(os.environ.get("GAMEDAY_PORT_CLAIMS_DIR") or Path(tempfile.gettempdir()) / "gameday-port-claims")
# Longer than any start-up and any fault that keeps a process down; a harness killed before `down` leaves
# its claims behind for this long.
CLAIM_TTL_S = 900.0


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    try:
        low, high = (int(value) for value in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def free_listen_ports(
    count: int, host: str = "127.0.0.1", avoid: Collection[int] = (), rng: random.Random | None = None,
    range_file: Path = EPHEMERAL_RANGE_FILE, claims_dir: Path | None = None,
) -> list[int]:
    """`count` distinct ports free on `host` now and claimed for the caller, below the ephemeral range when
    it leaves room (else any free port the kernel offers), none in `avoid`."""
    claims = claims_dir or CLAIMS_DIR
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
            if not claim_port(port, claims):
                continue  # free now, but another cluster's process is about to bind it
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


def claim_port(port: int, claims_dir: Path | None = None, owner: str = "", now_s: float | None = None) -> bool:
    """Claims `port` for `owner` (say, a cluster's data directory): False when someone else holds a claim
    younger than CLAIM_TTL_S. A claim that names `owner` is its own. Without a writable claims directory
    every port is claimable (what the kernel says free is all there is to go by)."""
    claims = claims_dir or CLAIMS_DIR
    path = claims / str(port)
    try:
        claims.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        pass
    except OSError:
        return True
    else:
        with os.fdopen(descriptor, "w") as claim:
            claim.write(owner)
        return True
    try:
        if owner and path.read_text() == owner:
            path.touch()
            return True
        age_s = (time.time() if now_s is None else now_s) - path.stat().st_mtime
    except FileNotFoundError:
        age_s = CLAIM_TTL_S
    except OSError:
        return True
    if age_s < CLAIM_TTL_S:
        return False
    # A stale claim: of several drawers only the one whose rename succeeds may claim it afresh.
    tomb = claims / f".stale-{port}-{os.getpid()}-{random.getrandbits(32)}"
    try:
        path.rename(tomb)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    tomb.unlink(missing_ok=True)
    return claim_port(port, claims, owner, now_s)


def own_claims(ports: Iterable[int], owner: str, claims_dir: Path | None = None) -> None:
    """Marks ports the caller drew (or holds) as `owner`'s, claimed from now for CLAIM_TTL_S: a cluster does
    this once its topology is written, and again for a process it stops, which will want its port back."""
    claims = claims_dir or CLAIMS_DIR
    with contextlib.suppress(OSError):
        claims.mkdir(parents=True, exist_ok=True)
        for port in ports:
            (claims / str(port)).write_text(owner)


def release_claims(ports: Iterable[int], owner: str, claims_dir: Path | None = None) -> None:
    """Drops `owner`'s claims on `ports` (another owner's claim on one of them is left as it is)."""
    claims = claims_dir or CLAIMS_DIR
    for port in ports:
        path = claims / str(port)
        with contextlib.suppress(OSError):
            if path.read_text() == owner:
                path.unlink()
