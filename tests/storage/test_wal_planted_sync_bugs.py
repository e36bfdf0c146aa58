"""The WAL's planted sync bugs skip exactly the fsync they name, while the log believes itself durable.

These bugs are invisible to the store's own power-off simulation (it trusts the durable mark, which
still moves); only a power-loss model below the store (a FUSE layer that drops unsynced data) can catch
them. Here the real os.fsync/os.fdatasync are wrapped, not replaced: each call still happens, and the
test records which file it reached.
"""

from __future__ import annotations

from pathlib import Path

from cluster.core.types import Entry, HardState
from cluster.runtime.planted_bugs import planted_sync_bugs
from cluster.storage.wal import PlantedSyncBugs, WriteAheadLog
from cluster.storage.wal_durable_mark import read_durable_mark
from cluster.storage.wal_segments import LOCK_FILE_NAME


def _write_rotating_log(directory: Path, sync: bool | PlantedSyncBugs) -> None:
    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=200, sync=sync)
    for first in (1, 6, 11):
        wal.append([Entry(term=1, index=i, command=f"c{i}".encode()) for i in range(first, first + 5)], None)
        wal.sync()
    wal.append([], HardState(term=1, voted_for="a", commit=15))
    wal.sync()
    wal.close()
    assert len(list(directory.glob("*.wal"))) >= 2, "the test must cover segments created by rotation"


def _segments(directory: Path) -> set[str]:
    return {str(path.resolve()) for path in directory.glob("*.wal")}


def test_the_correct_log_syncs_every_segment_and_the_directory(tmp_path: Path, synced_paths: list[str]) -> None:
    directory = tmp_path / "wal"
    _write_rotating_log(directory, True)
    assert _segments(directory) <= set(synced_paths)
    assert str(directory.resolve()) in synced_paths and str(tmp_path.resolve()) in synced_paths


def test_fsync_wrong_file_never_syncs_a_segment_yet_moves_the_durable_mark(
    tmp_path: Path, synced_paths: list[str]
) -> None:
    directory = tmp_path / "wal"
    _write_rotating_log(directory, PlantedSyncBugs(fsync_wrong_file=True))
    assert not _segments(directory) & set(synced_paths), "no segment may reach the disk"
    assert str((directory / LOCK_FILE_NAME).resolve()) in synced_paths
    # The store believes it: the mark (all the store's own power-off trusts) covers every byte written.
    mark = read_durable_mark(directory)
    last = max(directory.glob("*.wal"))
    assert mark is not None and mark[1] == last.stat().st_size > 0


def test_no_dir_fsync_syncs_segments_but_never_a_directory(tmp_path: Path, synced_paths: list[str]) -> None:
    directory = tmp_path / "wal"
    _write_rotating_log(directory, PlantedSyncBugs(no_directory_fsync=True))
    assert _segments(directory) <= set(synced_paths)
    assert str(directory.resolve()) not in synced_paths and str(tmp_path.resolve()) not in synced_paths
    assert read_durable_mark(directory) is not None


def test_the_switches_map_to_the_wal_settings() -> None:
    assert planted_sync_bugs([]) is None
    assert planted_sync_bugs(["skip-fsync", "ack-before-quorum"]) is None
    assert planted_sync_bugs(["fsync-wrong-file"]) == PlantedSyncBugs(fsync_wrong_file=True)
    assert planted_sync_bugs(["no-dir-fsync", "fsync-wrong-file"]) == PlantedSyncBugs(True, True)
