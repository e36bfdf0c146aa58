"""The durable mark follows real fsyncs only, and cutting a log back to it keeps exactly what was synced."""

from __future__ import annotations

from pathlib import Path

from cluster.core.types import Entry, HardState
from cluster.storage.wal import WriteAheadLog
from cluster.storage.wal_durable_mark import cut_to_durable_mark, read_durable_mark


def _entries(first: int, count: int, term: int = 1) -> list[Entry]:
    return [Entry(term=term, index=index, command=f"c{index}".encode()) for index in range(first, first + count)]


def test_a_synced_log_survives_the_cut_and_an_unsynced_tail_does_not(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=200)
    wal.append(_entries(1, 5), HardState(term=1, voted_for="a", commit=3))
    wal.sync()
    wal.append(_entries(6, 5), HardState(term=1, voted_for="a", commit=8))
    wal.sync()
    wal.append(_entries(11, 3), None)  # written, never synced: a power loss may take it
    wal.close()
    assert len(list(directory.glob("*.wal"))) >= 2, "the test must cover rotated segments"
    lost = cut_to_durable_mark(directory)
    assert sum(lost.values()) > 0
    _, recovered = WriteAheadLog.open(directory)
    assert [entry.index for entry in recovered.entries] == list(range(1, 11))
    assert recovered.hard_state == HardState(term=1, voted_for="a", commit=8)


def test_with_sync_disabled_the_mark_never_moves_and_the_cut_loses_everything(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal, _ = WriteAheadLog.open(directory, sync=False)
    wal.append(_entries(1, 5), HardState(term=1, voted_for=None, commit=5))
    wal.sync()
    wal.close()
    assert read_durable_mark(directory) is None
    cut_to_durable_mark(directory)
    _, recovered = WriteAheadLog.open(directory, sync=False)
    assert recovered.entries == [] and recovered.hard_state is None


def test_opening_a_log_makes_what_it_recovered_durable(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal, _ = WriteAheadLog.open(directory)
    wal.append(_entries(1, 3), HardState(term=1, voted_for=None, commit=1))
    wal.close()  # a process kill after the write, before the sync
    reopened, recovered = WriteAheadLog.open(directory)
    reopened.close()
    # The core counts recovered entries as durable, so the open itself must have synced them.
    cut_to_durable_mark(directory)
    _, again = WriteAheadLog.open(directory)
    assert again.entries == recovered.entries and len(again.entries) == 3


def test_a_sealed_segment_stays_sealed_across_a_power_loss(tmp_path: Path) -> None:
    """The archive copies a segment once, when it is sealed: the log must never write to it again."""
    directory = tmp_path / "wal"
    wal, _ = WriteAheadLog.open(directory)
    wal.append(_entries(1, 3), HardState(term=1, voted_for="a", commit=3))
    wal.sync()
    sealed = wal.seal_current_segment()
    assert sealed is not None
    sealed_bytes = sealed.read_bytes()
    wal.close()  # the power fails before anything else is synced
    cut_to_durable_mark(directory)
    reopened, recovered = WriteAheadLog.open(directory)
    with reopened:
        assert [entry.index for entry in recovered.entries] == [1, 2, 3]
        assert reopened.closed_segments() == [sealed]
        reopened.append(_entries(4, 2), HardState(term=1, voted_for="a", commit=5))
        reopened.sync()
    assert sealed.read_bytes() == sealed_bytes
