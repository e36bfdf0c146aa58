"""Round trips through real files: what is appended and synced comes back after reopen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cluster.core.types import Entry, HardState
from cluster.storage.wal import WalLockedError, WriteAheadLog


def make_entries(first_index: int, last_index: int, term: int, size_bytes: int = 20) -> list[Entry]:
    return [
        Entry(term, index, f"t{term}-i{index}-".encode().ljust(size_bytes, b"."))
        for index in range(first_index, last_index + 1)
    ]


def reopen(directory: Path, **options: int) -> tuple[WriteAheadLog, list[Entry], HardState | None, int]:
    wal, recovered = WriteAheadLog.open(directory, **options)  # type: ignore[arg-type]
    return wal, recovered.entries, recovered.hard_state, recovered.truncated_tail_bytes


def test_fresh_directory_opens_empty_and_creates_it(tmp_path: Path) -> None:
    directory = tmp_path / "replica-a" / "wal"
    wal, recovered = WriteAheadLog.open(directory)
    with wal:
        assert recovered.entries == []
        assert recovered.hard_state is None
        assert recovered.truncated_tail_bytes == 0
        assert recovered.truncated_tail_path is None
        assert wal.last_index == 0
        assert wal.size_bytes() == 0
        assert wal.closed_segments() == []
    assert directory.is_dir()


def test_entries_and_latest_hard_state_survive_reopen(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(make_entries(1, 3, term=1), HardState(term=1, voted_for="node-a", commit=0))
    wal.append(make_entries(4, 4, term=2), HardState(term=2, voted_for=None, commit=2))
    wal.append([], HardState(term=3, voted_for="nœud-ü", commit=4))
    wal.append(make_entries(5, 6, term=3), None)
    wal.sync()
    assert wal.last_index == 6
    size_bytes = wal.size_bytes()
    wal.close()

    wal, entries, hard_state, truncated = reopen(tmp_path)
    with wal:
        expected = make_entries(1, 3, 1) + make_entries(4, 4, 2) + make_entries(5, 6, 3)
        assert entries == expected
        assert hard_state == HardState(term=3, voted_for="nœud-ü", commit=4)
        assert truncated == 0
        assert wal.last_index == 6
        assert wal.size_bytes() == size_bytes == sum(path.stat().st_size for path in tmp_path.glob("*.wal"))


def test_empty_append_writes_nothing(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    with wal:
        wal.append([], None)
        wal.sync()
        assert wal.size_bytes() == 0


def test_a_later_append_at_a_lower_index_replaces_the_suffix(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(make_entries(1, 10, term=1), None)
    wal.append(make_entries(6, 7, term=2), None)
    assert wal.last_index == 7
    wal.sync()
    wal.close()

    wal, entries, _, _ = reopen(tmp_path)
    with wal:
        assert entries == make_entries(1, 5, 1) + make_entries(6, 7, 2)
        # The log continues from the replaced suffix.
        wal.append(make_entries(8, 8, term=2), None)
        wal.sync()
    wal, entries, _, _ = reopen(tmp_path)
    with wal:
        assert [entry.index for entry in entries] == list(range(1, 9))


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (make_entries(5, 5, term=1), "gap"),
        ([Entry(1, 4, b"a"), Entry(1, 6, b"b")], "not contiguous"),
        (make_entries(4, 4, term=0), "term decreases"),
        (make_entries(2, 2, term=9), "committed"),
    ],
)
def test_appends_that_break_raft_log_rules_are_refused_and_write_nothing(
    tmp_path: Path, batch: list[Entry], message: str
) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    with wal:
        wal.append(make_entries(1, 3, term=1), HardState(term=1, voted_for=None, commit=2))
        size_bytes = wal.size_bytes()
        with pytest.raises(ValueError, match=message):
            wal.append(batch, None)
        assert wal.size_bytes() == size_bytes
        assert wal.last_index == 3


def test_hard_state_term_may_not_go_back(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    with wal:
        wal.append([], HardState(term=5, voted_for="a", commit=0))
        with pytest.raises(ValueError, match="below the persisted"):
            wal.append([], HardState(term=4, voted_for="b", commit=0))


def test_segments_rotate_after_whole_records_and_recover_in_order(tmp_path: Path) -> None:
    segment_max_bytes = 512
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=segment_max_bytes)
    for index in range(1, 41):
        wal.append(make_entries(index, index, term=1 + index // 10), None)
        if index % 7 == 0:
            wal.append([], HardState(term=1 + index // 10, voted_for="b", commit=index // 4))
    # Truncate back into an older segment, so recovery must apply truncation across files.
    wal.append(make_entries(12, 14, term=9), None)
    wal.sync()
    closed = wal.closed_segments()
    assert len(closed) >= 3
    segment_files = sorted(tmp_path.glob("*.wal"))
    assert closed == segment_files[:-1]
    assert all(path.stat().st_size <= segment_max_bytes for path in segment_files)
    assert wal.size_bytes() == sum(path.stat().st_size for path in segment_files)
    wal.close()

    wal, entries, hard_state, truncated = reopen(tmp_path, segment_max_bytes=segment_max_bytes)
    with wal:
        assert entries == [
            *(make_entries(index, index, term=1 + index // 10)[0] for index in range(1, 12)),
            *make_entries(12, 14, term=9),
        ]
        assert hard_state == HardState(term=1 + 35 // 10, voted_for="b", commit=35 // 4)
        assert truncated == 0
        assert wal.closed_segments() == segment_files[:-1]


def test_an_append_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=100)
    with wal:
        wal.append(make_entries(1, 1, term=1), None)
        wal.append(make_entries(2, 20, term=1), None)
        wal.append(make_entries(21, 21, term=1), None)
        wal.sync()
        assert len(wal.closed_segments()) == 2
    wal, entries, _, _ = reopen(tmp_path, segment_max_bytes=100)
    with wal:
        assert entries == make_entries(1, 21, term=1)


def test_a_second_open_of_the_same_directory_is_refused_until_close(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    with pytest.raises(WalLockedError, match=str(tmp_path)):
        WriteAheadLog.open(tmp_path)
    wal.close()
    second, _ = WriteAheadLog.open(tmp_path)
    second.close()


def test_use_after_close_is_refused(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.close()
    wal.close()
    with pytest.raises(ValueError, match="closed"):
        wal.append(make_entries(1, 1, term=1), None)


def test_sync_calls_fdatasync_and_syncs_the_directory_after_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fdatasync, real_fsync = os.fdatasync, os.fsync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append("data"), real_fdatasync(fd))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append("full"), real_fsync(fd))[1])
    wal, _ = WriteAheadLog.open(tmp_path / "wal", segment_max_bytes=100)
    assert "full" in synced  # the new directory entries were made durable on open
    synced.clear()
    wal.append(make_entries(1, 1, term=1), None)
    wal.sync()
    assert synced == ["data"]
    synced.clear()
    wal.append(make_entries(2, 5, term=1), None)  # rotates
    # The sealed segment, then the directory naming the next one: a power loss cannot unseal it any more.
    assert synced == ["data", "full"]
    synced.clear()
    wal.sync()
    assert synced == ["data"]  # the new segment's directory entry is durable already
    wal.close()


def test_sync_false_skips_every_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)
    monkeypatch.setattr(os, "fsync", synced.append)
    wal, _ = WriteAheadLog.open(tmp_path / "wal", segment_max_bytes=100, sync=False)
    with wal:
        wal.append(make_entries(1, 9, term=1), None)
        wal.append(make_entries(10, 19, term=1), None)
        wal.sync()
    assert synced == []
    wal, entries, _, _ = reopen(tmp_path / "wal", sync=False)
    with wal:
        assert entries == make_entries(1, 19, term=1)
