"""A power loss right after the scrub sealed (and archived) a WAL segment must not unseal it.

The game-day defect "archive-gap-after-cluster-power-off": a marker seals segment N, the archive copies N,
and the power fails before the log's next fsync. If the seal itself was not durable (segment N+1 created,
its directory entry never fsynced; the durable mark still in N), the restarted log continues writing into
N. The archive never copies N again (its name is archived already), so it keeps the short N: the next
archived segment then starts past a gap, or after a Raft truncation the archive silently keeps entries
the replica replaced. Both power-loss models run: the store's own durable mark and a lazyfs disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.lazyfs.control import lose_power
from cluster.core.types import Entry, HardState
from cluster.storage.wal import WriteAheadLog
from cluster.storage.wal_archive import ArchiveReplay, DirectoryArchive, archive_sealed_segments
from cluster.storage.wal_durable_mark import cut_to_durable_mark
from tests.chaos.lazyfs_support import lazyfs_mount

GROUP, REPLICA = "g1", "n1"


def _entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(term, index, f"t{term} c{index}".encode()) for index in range(first, last + 1)]


class ArchivingReplica:
    """A replica's WAL and its archive as a storage node drives them: sealed at markers, archived by name
    (the set of archived names reloaded from the archive at each start, as the scrub coordinator does)."""

    def __init__(self, wal_directory: Path, archive: DirectoryArchive) -> None:
        self.wal_directory = wal_directory
        self.archive = archive
        self.wal, _ = WriteAheadLog.open(wal_directory)
        self.archived = set(archive.names(GROUP, REPLICA))

    def write(self, entries: list[Entry], term: int, commit: int) -> None:
        self.wal.append(entries, HardState(term, "n1", commit))
        self.wal.sync()

    def seal_and_archive(self) -> None:
        assert self.wal.seal_current_segment() is not None
        archive_sealed_segments(self.archive, GROUP, REPLICA, self.wal.closed_segments(), self.archived)

    def restart(self) -> list[Entry]:
        """Opens the log again (after the process died); returns what it recovered."""
        self.wal, recovered = WriteAheadLog.open(self.wal_directory)
        self.archived = set(self.archive.names(GROUP, REPLICA))
        return recovered.entries

    def live_log(self) -> list[Entry]:
        self.wal.close()
        return self.restart()


PowerLoss = Callable[[Path], None]


@contextlib.contextmanager
def store_mark_disk(tmp_path: Path) -> Iterator[tuple[Path, PowerLoss]]:
    yield tmp_path / "disk", lambda disk: cut_to_durable_mark(disk / "wal")


@contextlib.contextmanager
def lazyfs_disk(tmp_path: Path) -> Iterator[tuple[Path, PowerLoss]]:
    with lazyfs_mount(tmp_path / "disk") as (mount, _):
        yield mount, lambda disk: lose_power(disk, torn_seed=1)


DISKS = {"store-mark": store_mark_disk, "lazyfs": lazyfs_disk}


def _replay(archive: DirectoryArchive, tmp_path: Path) -> list[Entry]:
    # The scrub's reference replay (cluster/scrub/reference.py) reads the archive exactly like this.
    replay = ArchiveReplay(archive, GROUP, REPLICA, tmp_path / "replay")
    replay.refresh()
    for _ in replay.new_segments():
        pass
    return replay.entries


@pytest.mark.parametrize("model", sorted(DISKS))
def test_entries_written_after_a_power_loss_that_followed_a_seal_reach_the_archive(model: str, tmp_path: Path) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    with DISKS[model](tmp_path) as (disk, lose_power_now):
        replica = ArchivingReplica(disk / "wal", archive)
        replica.write(_entries(1, 227, 1), 1, 227)
        replica.seal_and_archive()  # a scrub marker at 227 sealed the segment; the archive copied it
        replica.wal.append(_entries(228, 230, 1), HardState(1, "n1", 227))  # not synced yet
        replica.wal.close()
        lose_power_now(disk)
        assert [entry.index for entry in replica.restart()] == list(range(1, 228))
        replica.write(_entries(228, 234, 1), 1, 234)  # the leader sends them again
        replica.seal_and_archive()  # the next marker
        replica.write(_entries(235, 240, 1), 1, 240)
        replica.seal_and_archive()
        live = replica.live_log()
        replica.wal.close()
    assert [entry.index for entry in live] == list(range(1, 241))
    assert _replay(archive, tmp_path) == live


@pytest.mark.parametrize("model", sorted(DISKS))
def test_an_uncommitted_suffix_replaced_after_a_power_loss_is_replaced_in_the_archive_too(
    model: str, tmp_path: Path
) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    with DISKS[model](tmp_path) as (disk, lose_power_now):
        replica = ArchivingReplica(disk / "wal", archive)
        replica.write(_entries(1, 227, 1), 1, 220)  # 221..227 durable but never committed: their leader is gone
        replica.seal_and_archive()  # a marker at 220 sealed the segment, uncommitted suffix included
        replica.wal.close()
        lose_power_now(disk)
        replica.restart()
        # The new leader (term 2) replaces the uncommitted suffix (Raft truncation) and commits its own.
        replica.write(_entries(221, 225, 2), 2, 225)
        replica.seal_and_archive()
        # Starts below the old suffix's end: a replay of a stale archive would pass, keeping 221..225 of term 1.
        replica.write(_entries(226, 235, 2), 2, 235)
        replica.seal_and_archive()
        live = replica.live_log()
        replica.wal.close()
    assert [entry.term for entry in live[220:]] == [2] * 15
    assert _replay(archive, tmp_path) == live
