"""The per-replica write-ahead log of a Raft replica: checksummed records in rotated segment files.

Use: `wal, recovered = WriteAheadLog.open(directory)`; then for each Ready, `append(entries,
hard_state)` (one write(2), no fsync) and `sync()` before sending messages. Only synced data is
durable; a crash may lose any suffix written after the last sync, never anything before it.

Snapshots: a log opened with `floor=(S, T)` (what a durable snapshot covers) starts after S.
`drop_through(S)` deletes the sealed segments a snapshot made useless; `reset_after_snapshot` discards
the whole log of a follower that installs a leader's snapshot its log does not agree with.

Not thread-safe: one replica owns one log, from one thread (the runtime's event loop).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cluster.core.types import Entry, HardState
from cluster.storage.durable_directories import write_durably
from cluster.storage.wal_durable_mark import open_durable_mark, write_durable_mark
from cluster.storage.wal_errors import WalCorruptionError, WalFailedError, WalLockedError
from cluster.storage.wal_log_rules import NO_FLOOR, LogRules, check_floor
from cluster.storage.wal_records import encode_entries, encode_hard_state
from cluster.storage.wal_recovery import RecoveredLog, SegmentSummary, recover
from cluster.storage.wal_segments import (
    LOCK_FILE_NAME,
    RESET_MARKER_FILE_NAME,
    fsync_directory,
    list_segments,
    read_reset_marker,
    remove_reset_marker,
    reset_marker_text,
    segment_path,
)

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
        sealed_segments: list[SegmentSummary],
        current_sequence: int,
        current_descriptor: int,
        current_size_bytes: int,
        current_highest_index: int,
        hard_state_sequence: int,
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
        # The highest entry index ever written to the current segment (0: none), kept when it is sealed:
        # a snapshot through that index makes the whole segment useless.
        self._current_highest_index = current_highest_index
        # The segment holding the latest hard state record (0: none), which must outlive any deletion.
        self._hard_state_sequence = hard_state_sequence
        self._segment_max_bytes = segment_max_bytes
        self._sync_enabled = sync is not False
        self._planted = sync if isinstance(sync, PlantedSyncBugs) else _NO_PLANTED_SYNC_BUGS
        self._directory_needs_sync = directory_needs_sync
        self._closed = False
        self._failure: BaseException | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        segment_max_bytes: int = 64 << 20,
        sync: WalSync = True,
        floor: tuple[int, int] = NO_FLOOR,
    ) -> tuple[WriteAheadLog, RecoveredLog]:
        """Open (creating if needed) the log in `directory`, replay it and repair a torn tail.

        `floor` is (S, T): the index and term of the last entry a durable snapshot covers. The log
        then starts after S: the recovered entries are S+1..last, entries through S still on disk are
        skipped, and `last_index` is at least S. When the log holds entry S with another term than T
        (a crash interrupted installing a leader's snapshot), what follows S belongs to the replaced
        log: it is discarded as `reset_after_snapshot` would, and `floor_conflict_term` says so.

        Raises WalCorruptionError for damage that is not a torn tail (or a gap before the first entry
        kept), WalLockedError when another open log owns the directory. `sync=False` skips every fsync
        (tests only); a PlantedSyncBugs value plants the bugs it names.
        """
        if segment_max_bytes < 1:
            raise ValueError(f"segment_max_bytes must be positive, got {segment_max_bytes}")
        check_floor(floor)
        directory = Path(directory)
        created_directory = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        planted_no_directory_fsync = isinstance(sync, PlantedSyncBugs) and sync.no_directory_fsync
        sync_directories = sync is not False and not planted_no_directory_fsync
        if created_directory and sync_directories:
            fsync_directory(directory.parent)
        lock_descriptor = _lock_directory(directory)
        try:
            first_sequence = _finish_interrupted_reset(directory, sync_directory=sync_directories)
            recovered = recover(directory, list_segments(directory), sync=sync is not False, floor=floor)
            directory_needs_sync = created_directory
            segments = recovered.segments
            if not segments:
                first_path = segment_path(directory, first_sequence)
                os.close(_create_segment(first_path))
                segments = [SegmentSummary(first_sequence, first_path, 0, 0)]
                directory_needs_sync = True
            current = segments[-1]
            current_descriptor = os.open(current.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
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
            sealed_segments=segments[:-1],
            current_sequence=current.sequence,
            current_descriptor=current_descriptor,
            current_size_bytes=current.size_bytes,
            current_highest_index=current.highest_index,
            hard_state_sequence=recovered.hard_state_sequence,
            segment_max_bytes=segment_max_bytes,
            sync=sync,
            directory_needs_sync=directory_needs_sync,
            durable_mark_descriptor=durable_mark_descriptor,
        )
        # Always sync a recovered log: the core counts every recovered entry as durable (and may
        # acknowledge it), but a process kill can leave appends that reached only the page cache.
        try:
            if directory_needs_sync or sync is not False:
                wal.sync()
            if recovered.log.floor_conflict_term is not None:
                wal.reset_after_snapshot(floor[0], floor[1], None)
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
            self._current_highest_index = max(self._current_highest_index, entries[-1].index)
        if hard_state is not None:
            self._rules.apply_hard_state(hard_state)
            self._hard_state_sequence = self._current_sequence

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
        """The log's last index: at least the floor's index, even when no entry follows it."""
        return self._rules.last_index

    @property
    def highest_entry_index(self) -> int:
        """The highest index of any entry the segments on disk hold (0: none), floor or no floor."""
        return max([self._current_highest_index, *(segment.highest_index for segment in self._sealed_segments)])

    @property
    def current_sequence(self) -> int:
        """The sequence number of the segment being written (after a reset: where the new log starts)."""
        return self._current_sequence

    @property
    def next_sequence(self) -> int:
        """The segment the next rotation starts: a seal's next segment, or where a reset's new log begins."""
        return self._current_sequence + 1

    @property
    def floor(self) -> tuple[int, int]:
        """(index, term) of the last entry a snapshot covers; the log holds only entries after it."""
        return self._rules.floor

    def term_at(self, index: int) -> int | None:
        """The term of entry `index` (the floor's term at the floor), None when the log does not hold it."""
        if index < 1 or not self._rules.floor_index <= index <= self._rules.last_index:
            return None
        return self._rules.term_at(index)

    @property
    def hard_state(self) -> HardState | None:
        """The latest hard state appended (or recovered)."""
        return self._rules.hard_state

    @property
    def directory(self) -> Path:
        return self._directory

    def closed_segments(self) -> list[Path]:
        """Segments that will never be written again, oldest first (for the archive)."""
        return [segment.path for segment in self._sealed_segments]

    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._sealed_segments) + self._current_size_bytes

    def seal_current_segment(self) -> Path | None:
        """Seal the segment being written now (the scrub does, so the archive reaches a marker's index).

        Returns the sealed segment, or None when the current one is empty (nothing to seal).
        """
        self._check_usable()
        if self._current_size_bytes == 0:
            return None
        self._rotate()
        return self._sealed_segments[-1].path

    def drop_through(self, index: int, may_drop: Callable[[Path], bool] | None = None) -> list[Path]:
        """Delete the sealed segments that hold no entry after `index`; returns them, oldest first.

        Call it only once a snapshot through `index` is durable: a later open needs a floor at or
        above `index`. Only the oldest segments go (stopping at the first one holding an entry after
        `index`, or that `may_drop` refuses, e.g. not archived yet), so the rest stay consecutive and a
        crash halfway leaves a log that opens; the current segment always stays. The latest hard state
        is written again first when it lives only in a segment about to go. The floor rises to `index`:
        entries through it may no longer be replaced. Below the floor this does nothing.
        """
        self._check_usable()
        if index < self._rules.floor_index:
            return []
        if index > self._rules.last_index:
            raise ValueError(f"cannot drop the log through {index}: it ends at {self._rules.last_index}")
        count = 0
        for segment in self._sealed_segments:
            if segment.highest_index > index or (may_drop is not None and not may_drop(segment.path)):
                break
            count += 1
        self._rules.raise_floor(index)
        if count == 0:
            return []
        hard_state = self._rules.hard_state
        if hard_state is not None and self._hard_state_sequence <= self._sealed_segments[count - 1].sequence:
            # Without it a restart would forget the term and the vote: a second vote in one term.
            self.append((), hard_state)
            self.sync()
        return self._delete_oldest_sealed(count)

    def reset_after_snapshot(
        self, snapshot_index: int, snapshot_term: int, hard_state: HardState | None
    ) -> list[Path]:
        """Discard the whole log: a follower installed a leader's snapshot through `snapshot_index` that
        its log does not agree with (no entry there, or one of another term). Returns the deleted segments.

        Afterwards the log is empty after the floor (snapshot_index, snapshot_term) and holds `hard_state`
        (the latest one when None). Call it only once the snapshot is durable. Crash safety, step by step:
        the current segment is sealed and a new one made durable holding the hard state; then a reset
        marker naming that segment is made durable, and only then are the old segments deleted, oldest
        first, and the marker removed. A crash before the marker leaves the old log whole: an open with
        the new floor finds its entry at the floor of another term (and then discards what follows, as
        here) or no entry after the floor at all. A crash after it leaves the marker: the open deletes
        the segments before the one it names, so no entry of the old log comes back after the floor.
        (Deleting oldest first alone would not ensure that: the segment holding the disagreeing entry at
        the floor could go while a later one holding old entries after the floor stays.)

        Refused (ValueError) when the log holds the entry at the floor with the snapshot's term and
        entries after it: those agree with the snapshot and may have been acknowledged, so they must be
        kept (`drop_through`).
        """
        self._check_usable()
        floor = (snapshot_index, snapshot_term)
        check_floor(floor)
        self._check_reset(floor, hard_state)
        kept_hard_state = hard_state if hard_state is not None else self._rules.hard_state
        self._rotate()
        self._rules.reset_to_floor(floor)
        if kept_hard_state is not None:
            self.append((), kept_hard_state)
        self.sync()
        try:
            # Written whole or not at all (a rename): it voids every segment before the new log's first.
            write_durably(
                self._directory / RESET_MARKER_FILE_NAME,
                reset_marker_text(self._current_sequence),
                sync_file=self._sync_enabled,
                sync_directory=self._sync_enabled and not self._planted.no_directory_fsync,
            )
        except OSError as error:
            self._failure = error
            raise
        deleted = self._delete_oldest_sealed(len(self._sealed_segments))
        try:
            remove_reset_marker(
                self._directory, sync_directory=self._sync_enabled and not self._planted.no_directory_fsync
            )
        except OSError as error:
            self._failure = error
            raise
        return deleted

    def _check_reset(self, floor: tuple[int, int], hard_state: HardState | None) -> None:
        snapshot_index, snapshot_term = floor
        if snapshot_index < 1:
            raise ValueError(f"a snapshot covers at least entry 1, got index {snapshot_index}")
        if snapshot_index < self._rules.floor_index:
            raise ValueError(
                f"snapshot index {snapshot_index} is below the log's floor {self._rules.floor_index}"
            )
        if snapshot_index < self._rules.last_index and self._rules.term_at(snapshot_index) == snapshot_term:
            raise ValueError(
                f"the log holds entry {snapshot_index} with the snapshot's term {snapshot_term} and entries "
                "after it, which may have been acknowledged: keep them (drop_through), do not reset"
            )
        if hard_state is not None:
            self._rules.check_hard_state(hard_state)

    def _delete_oldest_sealed(self, count: int) -> list[Path]:
        """Unlink the `count` oldest sealed segments, oldest first, then make that durable."""
        deleted: list[Path] = []
        try:
            for segment in self._sealed_segments[:count]:
                # Oldest first: a crash halfway leaves consecutive segments, which recovery accepts.
                os.unlink(segment.path)
                deleted.append(segment.path)
            if self._sync_enabled:
                self._sync_directory()
        except OSError as error:
            self._failure = error
            raise
        finally:
            del self._sealed_segments[: len(deleted)]
        return deleted

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
            sealed = SegmentSummary(
                self._current_sequence,
                segment_path(self._directory, self._current_sequence),
                self._current_size_bytes,
                self._current_highest_index,
            )
            self._current_descriptor = _create_segment(segment_path(self._directory, self.next_sequence))
            self._current_sequence = self.next_sequence
            self._current_size_bytes = 0
            self._current_highest_index = 0
            self._directory_needs_sync = True
            if self._sync_enabled:
                self._sync_directory()
                self._directory_needs_sync = False
                write_durable_mark(self._durable_mark_descriptor, self._current_sequence, 0)
        except OSError as error:
            self._failure = error
            raise
        self._sealed_segments.append(sealed)


def _finish_interrupted_reset(directory: Path, *, sync_directory: bool) -> int:
    """Complete a reset a crash interrupted: delete the void segments before the one its marker names.

    Returns the sequence a log without segments starts at (the marker's, else 1).
    """
    first_sequence = read_reset_marker(directory)
    if first_sequence is None:
        return 1
    for sequence, path in list_segments(directory):
        if sequence < first_sequence:
            os.unlink(path)  # oldest first, as the reset itself does
    if sync_directory:
        fsync_directory(directory)
    remove_reset_marker(directory, sync_directory=sync_directory)
    return first_sequence


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
