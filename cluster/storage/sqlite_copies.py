"""Copies of a replica's SQLite state, as its snapshots: taken beside apply, and restored durably.

Both state machines that snapshot (a partition's item store, the metadata catalogue) keep their applied
index in a `meta` table row named `applied_index`, committed with the effects, so a copy says which
index it holds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from cluster.storage.wal_segments import fsync_directory


def copy_database(path: Path, destination: Path) -> int:
    """A consistent copy of the database at `path` in `destination` (not yet fsynced); returns the applied
    index it holds. Safe from another thread while the owner applies writes: the copy reads through its
    own connection in one step, which in WAL mode is one read transaction, a single point in time."""
    destination.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(str(destination))) as target,
    ):
        source.backup(target)  # all pages in one step
        row = target.execute("SELECT value FROM meta WHERE name = 'applied_index'").fetchone()
        # A copy that is one file (no -wal beside it) whatever the source's journal mode.
        target.execute("PRAGMA journal_mode=DELETE")
    return int(row[0]) if row else 0


def replace_database_file(path: Path, source: Path) -> None:
    """Make the database at `path` (closed) a copy of `source`, durably. A crash part way leaves either the
    old database or the new one, never the new main file beside the old one's write-ahead log."""
    temporary = path.with_name(path.name + ".restoring")
    with open(source, "rb") as reader, open(temporary, "wb") as writer:
        shutil.copyfileobj(reader, writer)
        writer.flush()
        os.fsync(writer.fileno())
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    fsync_directory(path.parent)
    temporary.replace(path)
    fsync_directory(path.parent)
