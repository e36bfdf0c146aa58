"""A group replica's snapshots on disk: the state machine's copy at an index, and what the log knows of it.

Layout of `<group>/snapshot/`:
- `<index:020d>.snapshot`: a state machine's durable copy through `index` (a log replica's is empty);
- `current.json`: the snapshot the replica's log starts after (index, term, membership, data file). The
  WAL drops entries through it only once this file is durable, so a restart always finds the entries
  after it in the WAL;
- `<index:020d>.part`: a leader's snapshot being fetched, chunk by chunk, before it is installed.

A data file appears under its final name only whole and fsynced (written under `.tmp`, then renamed), so
a crash leaves either nothing or a complete copy. On open, the current snapshot's data file and the newest
one after it (the next compaction's point) stay; every other file goes.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cluster.core.types import SnapshotMeta
from cluster.storage.durable_directories import make_durable_directories, write_durably
from cluster.storage.wal_segments import fsync_directory, fsync_file

CURRENT_FILE = "current.json"
DATA_SUFFIX = ".snapshot"
PART_SUFFIX = ".part"
CHUNK_BYTES = 1 << 20  # one fetch answer: big enough to be quick, small enough not to hold up a peer's loop
# A data file a follower is fetching stays readable this long after its last chunk, even once a compaction
# deleted it (an open file outlives its name): a fetch slower than the writes still finishes.
READER_IDLE_S = 30.0


class SnapshotFileError(Exception):
    """current.json is unreadable or names a data file that is missing: the replica cannot start safely."""


@dataclass(frozen=True)
class StoredSnapshot:
    meta: SnapshotMeta
    data: Path


class SnapshotFiles:
    def __init__(self, directory: Path, *, sync: bool = True) -> None:
        self.directory = directory
        self._sync = sync
        make_durable_directories(directory)
        self.newest_uncompacted: int | None = None  # set by load(): a copy newer than the current snapshot
        self._current_index: int | None = None
        self._readers: dict[int, tuple[BinaryIO, float]] = {}  # index -> (open data file, last read)

    # ---- names --------------------------------------------------------------------------------

    def data_path(self, index: int) -> Path:
        return self.directory / f"{index:020d}{DATA_SUFFIX}"

    def part_path(self, index: int) -> Path:
        return self.directory / f"{index:020d}{PART_SUFFIX}"

    def new_data_temporary(self) -> Path:
        """Where a state machine writes a copy before its index is known (then `publish`)."""
        return self.directory / "taking.tmp"

    # ---- the current snapshot -----------------------------------------------------------------

    def load(self) -> StoredSnapshot | None:
        """The snapshot the log starts after, or None. Call `remove_leftovers` once the replica owns its
        directory (the WAL's lock): until then another process may still be writing here."""
        current = self.directory / CURRENT_FILE
        stored: StoredSnapshot | None = None
        if current.exists():
            try:
                raw = json.loads(current.read_text())
                meta = SnapshotMeta(int(raw["index"]), int(raw["term"]), base64.b64decode(raw["membership"]))
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise SnapshotFileError(f"{current} is unreadable: {error}") from error
            stored = StoredSnapshot(meta, self.data_path(meta.index))
            if not stored.data.exists():
                raise SnapshotFileError(f"{current} names snapshot {meta.index}, but {stored.data} is missing")
        floor = stored.meta.index if stored else 0
        self._current_index = stored.meta.index if stored else None
        self.newest_uncompacted = max((index for index in self._data_indexes() if index > floor), default=None)
        return stored

    def remove_leftovers(self) -> None:
        """Every file but the current snapshot's and the newest copy after it: copies a crash interrupted,
        partial fetches, and snapshots the log no longer needs."""
        self.remove_all_but(self._current_index, self.newest_uncompacted, temporaries=True)

    def _data_indexes(self) -> list[int]:
        indexes = []
        for path in self.directory.glob(f"*{DATA_SUFFIX}"):
            stem = path.name[: -len(DATA_SUFFIX)]
            if stem.isdigit():
                indexes.append(int(stem))
        return indexes

    def make_current(self, meta: SnapshotMeta) -> StoredSnapshot:
        """Record durably that the log starts after `meta` (its data file must be published already)."""
        data = self.data_path(meta.index)
        if not data.exists():
            raise SnapshotFileError(f"no data file {data} for snapshot {meta.index}")
        payload = {"index": meta.index, "term": meta.term, "membership": base64.b64encode(meta.membership).decode()}
        encoded = json.dumps(payload).encode()
        write_durably(self.directory / CURRENT_FILE, encoded, sync_file=self._sync, sync_directory=self._sync)
        return StoredSnapshot(meta, data)

    def remove_all_but(self, *indexes: int | None, temporaries: bool = False) -> None:
        """Delete the data files of snapshots other than `indexes`; with `temporaries`, also partial and
        temporary files (only when no copy is being taken or fetched: on open)."""
        keep = {self.data_path(index).name for index in indexes if index is not None}
        removed = False
        for path in self.directory.iterdir():
            if path.name == CURRENT_FILE or path.name in keep:
                continue
            if not temporaries and not path.name.endswith(DATA_SUFFIX):
                continue
            path.unlink(missing_ok=True)
            removed = True
        if removed and self._sync:
            fsync_directory(self.directory)

    # ---- writing a data file ------------------------------------------------------------------

    def publish(self, temporary: Path, index: int) -> Path:
        """Give a whole copy its final name, durably (fsync of the file, rename, fsync of the directory)."""
        if self._sync:
            fsync_file(temporary)
        final = self.data_path(index)
        temporary.replace(final)
        if self._sync:
            fsync_directory(self.directory)
        return final

    def read_chunk(self, index: int, offset: int, length: int = CHUNK_BYTES) -> tuple[bytes, int]:
        """Bytes of snapshot `index`'s data file from `offset`, and the file's size. FileNotFoundError when
        this replica no longer (or never) held that snapshot and no fetch of it is under way."""
        now = time.monotonic()
        for idle in [i for i, (_, last) in self._readers.items() if now - last > READER_IDLE_S]:
            self._readers.pop(idle)[0].close()
        reader = self._readers.get(index)
        file = reader[0] if reader is not None else open(self.data_path(index), "rb")  # noqa: SIM115
        self._readers[index] = (file, now)
        size = os.fstat(file.fileno()).st_size
        file.seek(offset)
        return file.read(min(length, max(0, size - offset))), size

    def close(self) -> None:
        for file, _ in self._readers.values():
            file.close()
        self._readers.clear()

    def write_chunk(self, index: int, offset: int, data: bytes) -> None:
        """Write a fetched chunk at `offset` of the partial file (a restarted fetch starts over at 0)."""
        part = self.part_path(index)
        mode = "r+b" if offset > 0 and part.exists() else "wb"
        with open(part, mode) as file:
            file.seek(offset)
            file.write(data)

    def finish_part(self, index: int) -> Path:
        return self.publish(self.part_path(index), index)

