"""The durable mark: how much of the log a real fsync has made durable, for the simulated power loss.

A process kill (SIGKILL) keeps the page cache, so it never shows what a missing fsync costs. A power
loss does: everything written since the last fsync is gone. The log records, after every real sync,
"segment S is durable up to L bytes" in a small file beside the segments; the `cluster-power-off`
fault (chaos/faults/power_loss.py) cuts each log back to that mark while the node is down, as lazyfs
does for Jepsen. With fsync disabled the mark is never moved, which is exactly what that loses.

Segments older than the mark's segment are whole (the writer fsyncs a segment before starting the next
one and moves the mark then; once the next one's directory entry is durable, the mark moves on to it at
length 0, so a sealed segment stays sealed); segments newer than it were never synced and are removed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cluster.storage.wal_segments import list_segments

DURABLE_MARK_FILE_NAME = "DURABLE"
# Fixed width, overwritten in place with one pwrite(2): a reader never sees half of an old and a new mark.
_MARK_FORMAT = "{sequence:016d} {length:020d}\n"
_MARK_PATTERN = re.compile(rb"^(\d{16}) (\d{20})\n$")
_MARK_FILE_MODE = 0o644


class DurableMarkError(Exception):
    """The mark file exists but cannot be read: cutting the log by a guess would lie about durability."""


def open_durable_mark(directory: Path) -> int:
    """The descriptor the writer moves the mark through (created empty: no mark yet)."""
    return os.open(directory / DURABLE_MARK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _MARK_FILE_MODE)


def write_durable_mark(descriptor: int, sequence: int, length_bytes: int) -> None:
    """Record that segment `sequence` is durable through `length_bytes` (and every older segment whole).

    Not fsynced: the mark only serves the simulated power loss, which kills the process and keeps the
    page cache (so it reads the mark back as written), and an fsync here would double every commit's.
    """
    data = _MARK_FORMAT.format(sequence=sequence, length=length_bytes).encode()
    written = os.pwrite(descriptor, data, 0)
    assert written == len(data), (written, len(data))


def read_durable_mark(directory: Path) -> tuple[int, int] | None:
    """(sequence, durable length) of the mark, or None when no sync ever happened in this log."""
    try:
        data = (directory / DURABLE_MARK_FILE_NAME).read_bytes()
    except FileNotFoundError:
        return None
    if not data:
        return None
    match = _MARK_PATTERN.match(data)
    if match is None:
        raise DurableMarkError(f"{directory / DURABLE_MARK_FILE_NAME}: unreadable durable mark {data[:80]!r}")
    return int(match.group(1)), int(match.group(2))


def cut_to_durable_mark(directory: Path) -> dict[str, int]:
    """Lose what a power loss would: cut the log in `directory` back to its durable mark.

    Only for a log whose process is down. Returns how many bytes were dropped, per segment file name.
    """
    mark = read_durable_mark(directory)
    lost: dict[str, int] = {}
    for sequence, path in list_segments(directory):
        size_bytes = path.stat().st_size
        if mark is None or sequence > mark[0]:
            # Never synced: neither its bytes nor its directory entry survive the power loss.
            path.unlink()
            lost[path.name] = size_bytes
        elif sequence == mark[0] and size_bytes > mark[1]:
            os.truncate(path, mark[1])
            lost[path.name] = size_bytes - mark[1]
    return lost
