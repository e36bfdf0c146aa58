"""Segment files of the write-ahead log: their names, their order and fsync of the directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cluster.storage.wal_errors import WalCorruptionError

# Named by a sequence number, not the first index: with Raft truncation a segment may start with
# an index lower than its predecessor's last, so a "first index" name would mislead the archive.
_SEGMENT_NAME = re.compile(r"^(\d{16})\.wal$")
LOCK_FILE_NAME = "LOCK"
# Present only while a reset (a follower installing a leader's snapshot) deletes the old log: names the
# first segment of the new log, so every older segment is void even if a crash leaves some of them.
RESET_MARKER_FILE_NAME = "RESET"
_RESET_MARKER = re.compile(rb"^(\d{16})\n$")


def reset_marker_text(first_sequence: int) -> bytes:
    return f"{first_sequence:016d}\n".encode()


def segment_path(directory: Path, sequence: int) -> Path:
    assert 1 <= sequence < 10**16, f"segment sequence {sequence} out of range"
    return directory / f"{sequence:016d}.wal"


def segment_sequence(name: str) -> int | None:
    """The sequence number in a segment file's name, None for any other name."""
    match = _SEGMENT_NAME.match(name)
    return int(match.group(1)) if match is not None else None


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(sequence, path) of every segment file in the directory, oldest first; other files are ignored."""
    found: list[tuple[int, Path]] = []
    for name in os.listdir(directory):
        match = _SEGMENT_NAME.match(name)
        if match is not None:
            found.append((int(match.group(1)), directory / name))
    found.sort()
    return found


def fsync_directory(directory: Path) -> None:
    """Make a created or removed directory entry durable; fsync of the file alone does not."""
    _fsync_opened(directory, os.O_RDONLY | os.O_DIRECTORY)


def fsync_file(path: Path) -> None:
    """Make a file written (and closed) elsewhere durable."""
    _fsync_opened(path, os.O_RDONLY | os.O_CLOEXEC)


def _fsync_opened(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_reset_marker(directory: Path) -> int | None:
    """The first segment of the log a reset left behind, or None when no reset was interrupted."""
    path = directory / RESET_MARKER_FILE_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    match = _RESET_MARKER.match(data)
    if match is None:
        # Renamed into place whole, so garbage here is not a torn write: guessing could revive a void log.
        raise WalCorruptionError(path, 0, f"unreadable reset marker {data[:40]!r}")
    return int(match.group(1))


def remove_reset_marker(directory: Path, *, sync_directory: bool) -> None:
    os.unlink(directory / RESET_MARKER_FILE_NAME)
    if sync_directory:
        fsync_directory(directory)
