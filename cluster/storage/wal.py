"""The per-replica write-ahead log of a Raft replica: checksummed records in rotated segment files.

Use: `wal, recovered = WriteAheadLog.open(directory)`; then for each Ready, `append(entries,
hard_state)` (one write(2), no fsync) and `sync()` before sending messages. Only synced data is
durable; a crash may lose any suffix written after the last sync, never anything before it.

Not thread-safe: one replica owns one log, from one thread (the runtime's event loop).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cluster.core.types import Entry, HardState
from cluster.storage.wal_durable_mark import open_durable_mark, write_durable_mark
from cluster.storage.wal_errors import WalCorruptionError, WalFailedError, WalLockedError
from cluster.storage.wal_log_rules import LogRules
from cluster.storage.wal_records import encode_entries, encode_hard_state
from cluster.storage.wal_recovery import RecoveredLog, recover
from cluster.storage.wal_segments import LOCK_FILE_NAME, fsync_directory, list_segments, segment_path

__all__ = [
    "PlantedSyncBugs",
    "RecoveredLog",
    "WalCorruptionError",
    "WalFailedError",
    "WalLockedError",
    "WriteAheadLog",
]

_SEGMENT_FILE_MODE = 0o644


def _durable_data_sync(descriptor: int) -> None:
    # fdatasync also flushes the file size, which is all the metadata an appended record needs.
    os.fdatasync(descriptor)


@dataclass(frozen=True)
class PlantedSyncBugs:
    """PLANTED BUGS, for the harness's self-tests only (cluster/runtime/planted_bugs.py): syncs that do not
    make the log durable although the log believes they did (the durable mark still moves, so only a
    power-loss model below the store can tell). Passed as `sync=`; all False behaves like `sync=True`."""

    fsync_wrong_file: bool = False  # `fsync-wrong-file`: fdatasync the lock file, not the segment written
    no_directory_fsync: bool = False  # `no-dir-fsync`: never fsync a directory after creating an entry in it


# True: fsync as designed; False: never (tests only); PlantedSyncBugs: fsync, wrongly.
WalSync = bool | PlantedSyncBugs
_NO_PLANTED_SYNC_BUGS = PlantedSyncBugs()


class WriteAheadLog:
    def __init__(
        self,
        directory: Path,
        *,
        lock_descriptor: int,
        rules: LogRules,
        sealed_segments: list[tuple[Path, int]],
        current_sequence: int,
        current_descriptor: int,
        current_size_bytes: int,
        segment_max_bytes: int,
        sync: WalSync,
        directory_needs_sync: bool,
        durable_mark_descriptor: int,
    ) -> None:
        """Use `WriteAheadLog.open`; this only wires up what recovery produced."""
        self._directory = directory
        self._lock_descriptor = lock_descriptor
        self._durable_mark_descriptor = durable_mark_descriptor
        self._rules = rules
        self._sealed_segments = sealed_segments
        self._current_sequence = current_sequence
        self._current_descriptor = current_descriptor
        self._current_size_bytes = current_size_bytes
        self._segment_max_bytes = segment_max_bytes
        self._sync_enabled = sync is not False
        self._planted = sync if isinstance(sync, PlantedSyncBugs) else _NO_PLANTED_SYNC_BUGS
        self._directory_needs_sync = directory_needs_sync
        self._closed = False
        self._failure: BaseException | None = None

    @classmethod
    def open(
        cls, directory: Path, *, segment_max_bytes: int = 64 << 20, sync: WalSync = True
    ) -> tuple[WriteAheadLog, RecoveredLog]:
        """Open (creating if needed) the log in `directory`, replay it and repair a torn tail.

        Raises WalCorruptionError for damage that is not a torn tail, WalLockedError when
        another open log owns the directory. `sync=False` skips every fsync (tests only); a
        PlantedSyncBugs value plants the bugs it names.
        """
        if segment_max_bytes < 1:
            raise ValueError(f"segment_max_bytes must be positive, got {segment_max_bytes}")
        directory = Path(directory)
        created_directory = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        planted_no_directory_fsync = isinstance(sync, PlantedSyncBugs) and sync.no_directory_fsync
        if created_directory and sync is not False and not planted_no_directory_fsync:
            fsync_directory(directory.parent)
        lock_descriptor = _lock_directory(directory)
        try:
            recovered = recover(directory, list_segments(directory), sync=sync is not False)
            directory_needs_sync = created_directory
            segments = recovered.segments
            if not segments:
                first_path = segment_path(directory, 1)
                os.close(_create_segment(first_path))
                segments = [(1, first_path, 0)]
                directory_needs_sync = True
            current_sequence, current_path, current_size_bytes = segments[-1]
            current_descriptor = os.open(current_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                durable_mark_descriptor = open_durable_mark(directory)
            except BaseException:
                os.close(current_descriptor)
                raise
        except BaseException:
            os.close(lock_descriptor)
            raise
        wal = cls(
            directory,
            lock_descriptor=lock_descriptor,
            rules=recovered.rules,
            sealed_segments=[(path, size_bytes) for _, path, size_bytes in segments[:-1]],
            current_sequence=current_sequence,
            current_descriptor=current_descriptor,
            current_size_bytes=current_size_bytes,
            segment_max_bytes=segment_max_bytes,
            sync=sync,
            directory_needs_sync=directory_needs_sync,
            durable_mark_descriptor=durable_mark_descriptor,
        )
        # Always sync a recovered log: the core counts every recovered entry as durable (and may
        # acknowledge it), but a process kill can leave appends that reached only the page cache.
        if directory_needs_sync or sync is not False:
            try:
                wal.sync()
            except BaseException:
                wal.close()
                raise
        return wal, recovered.log

    def append(self, entries: Sequence[Entry], hard_state: HardState | None) -> None:
        """Write the entries (one record) and the hard state (one record) with a single write(2).

        No fsync: call `sync()` before acting on durability. The entries must be contiguous and may
        start at or below `last_index`, which replaces the suffix from there on (Raft truncation).
        Raises ValueError when the append would break Raft's log invariants; nothing is written then.
        """
        self._check_usable()
        parts: list[bytes] = []
        if entries:
            self._rules.check_entries(entries)
            parts.append(encode_entries(entries))
        if hard_state is not None:
            self._rules.check_hard_state(hard_state)
            parts.append(encode_hard_state(hard_state))
        if not parts:
            return
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        # Rotate only between appends, so a record (and an append) never spans two segments.
        if self._current_size_bytes > 0 and self._current_size_bytes + len(data) > self._segment_max_bytes:
            self._rotate()
        self._write_all(data)
        self._current_size_bytes += len(data)
        if entries:
            self._rules.apply_entries(entries)
        if hard_state is not None:
            self._rules.apply_hard_state(hard_state)

    def sync(self) -> None:
        """Make every append so far durable: fsync the current segment, and the directory if it changed."""
        self._check_usable()
        if not self._sync_enabled:
            return
        try:
            self._sync_current_segment()
            if self._directory_needs_sync:
                self._sync_directory()
                self._directory_needs_sync = False
            # Only after a real sync: the simulated power loss keeps exactly this much.
            write_durable_mark(self._durable_mark_descriptor, self._current_sequence, self._current_size_bytes)
        except OSError as error:
            self._failure = error
            raise

    def close(self) -> None:
        """Release the files and the directory lock. Does not sync: unsynced appends may be lost."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._current_descriptor >= 0:
                os.close(self._current_descriptor)
            os.close(self._durable_mark_descriptor)
        finally:
            os.close(self._lock_descriptor)

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def last_index(self) -> int:
        return self._rules.last_index

    @property
    def hard_state(self) -> HardState | None:
        """The latest hard state appended (or recovered)."""
        return self._rules.hard_state

    @property
    def directory(self) -> Path:
        return self._directory

    def closed_segments(self) -> list[Path]:
        """Segments that will never be written again, oldest first (for the archive)."""
        return [path for path, _ in self._sealed_segments]

    def size_bytes(self) -> int:
        return sum(size_bytes for _, size_bytes in self._sealed_segments) + self._current_size_bytes

    def seal_current_segment(self) -> Path | None:
        """Seal the segment being written now (the scrub does, so the archive reaches a marker's index).

        Returns the sealed segment, or None when the current one is empty (nothing to seal).
        """
        self._check_usable()
        if self._current_size_bytes == 0:
            return None
        self._rotate()
        return self._sealed_segments[-1][0]

    def _sync_current_segment(self) -> None:
        if self._planted.fsync_wrong_file:
            _durable_data_sync(self._lock_descriptor)  # PLANTED BUG fsync-wrong-file: not the segment written
            return
        _durable_data_sync(self._current_descriptor)

    def _sync_directory(self) -> None:
        if self._planted.no_directory_fsync:
            return  # PLANTED BUG no-dir-fsync: the new segment's directory entry is not durable
        fsync_directory(self._directory)

    def _check_usable(self) -> None:
        if self._closed:
            raise ValueError(f"write-ahead log in {self._directory} is closed")
        if self._failure is not None:
            raise WalFailedError(self._directory, self._failure)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            # A regular file takes the whole buffer in one write(2); the loop covers short writes.
            while view:
                written = os.write(self._current_descriptor, view)
                view = view[written:]
        except OSError as error:
            # A partial record may now sit at the tail; only a reopen (which cuts it) is safe.
            self._failure = error
            raise

    def _rotate(self) -> None:
        """Seal the current segment and start the next one, durably.

        The sealed segment and its directory entry are made durable before the next segment exists;
        recovery relies on this to treat damage in any non-last segment as corruption. The next
        segment's directory entry is made durable before the sealed one is listed as closed: were it
        lost to a power loss, the log would reopen with the sealed segment last and append to it,
        behind the back of an archive that already copied it (and never copies a name twice).
        """
        try:
            if self._sync_enabled:
                self._sync_current_segment()
                if self._directory_needs_sync:
                    self._sync_directory()
                # The sealed segment is whole and durable; the next one is not, until its directory entry is.
                write_durable_mark(self._durable_mark_descriptor, self._current_sequence, self._current_size_bytes)
            os.close(self._current_descriptor)
            self._current_descriptor = -1
            sealed = (segment_path(self._directory, self._current_sequence), self._current_size_bytes)
            self._current_descriptor = _create_segment(segment_path(self._directory, self._current_sequence + 1))
            self._current_sequence += 1
            self._current_size_bytes = 0
            self._directory_needs_sync = True
            if self._sync_enabled:
                self._sync_directory()
                self._directory_needs_sync = False
                write_durable_mark(self._durable_mark_descriptor, self._current_sequence, 0)
        except OSError as error:
            self._failure = error
            raise
        self._sealed_segments.append(sealed)


def _create_segment(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    return os.open(path, flags, _SEGMENT_FILE_MODE)


def _lock_directory(directory: Path) -> int:
    """An exclusive advisory lock, released by the kernel when the process dies (SIGKILL included)."""
    descriptor = os.open(
        directory / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _SEGMENT_FILE_MODE
    )
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise WalLockedError(directory) from None
    return descriptor
