"""Segment files of the write-ahead log: their names, their order and fsync of the directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Named by a sequence number, not the first index: with Raft truncation a segment may start with
# an index lower than its predecessor's last, so a "first index" name would mislead the archive.
_SEGMENT_NAME = re.compile(r"^(\d{16})\.wal$")
LOCK_FILE_NAME = "LOCK"


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
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
