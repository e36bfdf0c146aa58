"""lazyfs catches a WAL that lies about durability; the store's own durable mark does not.

The real cluster/storage/wal.py writes entries and acknowledges them with `sync()`; two durability bugs
are planted in this test process only (a subclass, a monkeypatch): an fsync of the wrong file, and no
directory fsync after creating the log's directory and segments. After a lazyfs power loss the correct
log keeps every acknowledged entry and each buggy one loses some. The old model (cut each log back to
the store's durable mark) keeps them all for every variant: the blind spot of issue 13.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import cluster.storage.wal as wal_module
from chaos.lazyfs.control import lose_power
from cluster.core.types import Entry, HardState
from cluster.storage.wal import WriteAheadLog
from cluster.storage.wal_durable_mark import cut_to_durable_mark, write_durable_mark
from tests.chaos.lazyfs_support import lazyfs_mount

SEGMENT_MAX_BYTES = 2048  # a few entries per segment: the log creates segments (and needs directory fsyncs)
BATCHES = 30


class WrongFileWal(WriteAheadLog):
    """sync() fdatasyncs the lock file instead of the segment, then moves the durable mark as if it had
    synced: the store believes, and reports, that its entries are durable."""

    def sync(self) -> None:
        self._check_usable()
        os.fdatasync(self._lock_descriptor)
        if self._directory_needs_sync:
            wal_module.fsync_directory(self._directory)
            self._directory_needs_sync = False
        write_durable_mark(self._durable_mark_descriptor, self._current_sequence, self._current_size_bytes)


def write_acknowledged(directory: Path, wal_class: type[WriteAheadLog]) -> list[int]:
    """Appends batches of entries, each followed by sync(); returns the indexes acknowledged durable."""
    acknowledged: list[int] = []
    wal, _ = wal_class.open(directory, segment_max_bytes=SEGMENT_MAX_BYTES)
    with wal:
        index = 1
        for _ in range(BATCHES):
            entries = [Entry(1, index + offset, f"command {index + offset}".encode() * 8) for offset in range(3)]
            wal.append(entries, HardState(term=1, voted_for="node-a1", commit=index))
            wal.sync()
            acknowledged += [entry.index for entry in entries]
            index += len(entries)
        assert len(wal.closed_segments()) >= 2  # segments were created while writing, not only at open
    return acknowledged


def recovered_indexes(directory: Path) -> list[int]:
    if not directory.exists():
        return []
    wal, recovered = WriteAheadLog.open(directory)
    wal.close()
    return [entry.index for entry in recovered.entries]


def no_directory_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_module, "fsync_directory", lambda directory: None)


VARIANTS: dict[str, tuple[type[WriteAheadLog], Callable[[pytest.MonkeyPatch], None] | None]] = {
    "correct": (WriteAheadLog, None),
    "fsync-of-the-wrong-file": (WrongFileWal, None),
    "no-directory-fsync": (WriteAheadLog, no_directory_fsync),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_lazyfs_loses_what_a_lying_wal_acknowledged(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal_class, plant = VARIANTS[variant]
    with lazyfs_mount(tmp_path / "disk") as (mount, _):
        with monkeypatch.context() as patches:
            if plant:
                plant(patches)
            acknowledged = write_acknowledged(mount / "wal", wal_class)
        lose_power(mount, torn_seed=1)
        survived = recovered_indexes(mount / "wal")
    lost = sorted(set(acknowledged) - set(survived))
    print(f"{variant}: {len(acknowledged)} acknowledged, {len(lost)} lost")
    if variant == "correct":
        assert lost == []
    else:
        assert lost, f"{variant}: every acknowledged entry survived the power loss"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_store_mark_model_misses_both_bugs(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why lazyfs is needed: cutting to the mark the store wrote itself keeps everything it acknowledged."""
    wal_class, plant = VARIANTS[variant]
    directory = tmp_path / "wal"
    with monkeypatch.context() as patches:
        if plant:
            plant(patches)
        acknowledged = write_acknowledged(directory, wal_class)
    cut_to_durable_mark(directory)
    assert set(acknowledged) <= set(recovered_indexes(directory))
