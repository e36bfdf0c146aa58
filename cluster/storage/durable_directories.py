"""Directories and small files whose names survive a power loss (POSIX: only an fsync of the parent
directory makes a created entry durable; ext4's journal usually hides a missing one, lazyfs does not)."""

from __future__ import annotations

import os
from pathlib import Path

from cluster.storage.wal_segments import fsync_directory


def make_durable_directories(path: Path) -> None:
    """`mkdir -p path`, fsyncing the parent of every directory it creates (outermost first)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue  # made meanwhile by another thread of this process, which syncs it
        fsync_directory(directory.parent)


def write_durably(path: Path, data: bytes, *, sync_file: bool = True, sync_directory: bool = True) -> None:
    """Replace `path` atomically and durably: temporary file, fsync, rename, fsync of the directory.
    The switches skip the fsyncs (a log opened without fsync, or a planted bug), never the rename."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        if sync_file:
            os.fsync(file.fileno())
    temporary.replace(path)
    if sync_directory:
        fsync_directory(path.parent)
