"""The log after a snapshot: a floor (S, T) on open, dropping covered segments, and a reset for a follower.

Real files and real fsyncs. `segment_max_bytes=1` gives every append a segment of its own, so a test
decides exactly which records share a segment.
"""

from __future__ import annotations

import os
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import cluster.storage.wal as wal_module
from cluster.core.types import Entry, HardState
from cluster.storage.wal import PlantedSyncBugs, WalCorruptionError, WriteAheadLog
from cluster.storage.wal_log_rules import LogRules
from cluster.storage.wal_segments import RESET_MARKER_FILE_NAME

ONE_APPEND_PER_SEGMENT = 1


def make_entries(first_index: int, last_index: int, term: int) -> list[Entry]:
    return [Entry(term, index, f"t{term}-i{index}".encode()) for index in range(first_index, last_index + 1)]


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


def write_log(directory: Path, appends: list[tuple[list[Entry], HardState | None]], **options: int) -> None:
    wal, _ = WriteAheadLog.open(directory, **options)  # type: ignore[arg-type]
    with wal:
        for entries, hard_state in appends:
            wal.append(entries, hard_state)
        wal.sync()


def entries_after_reopen(directory: Path, floor: tuple[int, int]) -> list[Entry]:
    wal, recovered = WriteAheadLog.open(directory, floor=floor)
    wal.close()
    return recovered.entries


# ---- recovery with a floor -------------------------------------------------------------------------


def test_a_floor_skips_the_entries_it_covers_and_keeps_the_part_of_a_straddling_batch_after_it(
    tmp_path: Path,
) -> None:
    hard_state = HardState(term=2, voted_for="a", commit=10)
    write_log(tmp_path, [(make_entries(1, 5, 1), None), (make_entries(6, 10, 2), hard_state),
                         (make_entries(11, 12, 2), None)])  # fmt: skip

    wal, recovered = WriteAheadLog.open(tmp_path, floor=(8, 2))
    with wal:
        assert recovered.entries == make_entries(9, 10, 2) + make_entries(11, 12, 2)
        assert recovered.hard_state == hard_state
        assert recovered.floor_conflict_term is None
        assert (wal.floor, wal.last_index) == ((8, 2), 12)
        assert (wal.term_at(7), wal.term_at(8), wal.term_at(9), wal.term_at(13)) == (None, 2, 2, None)
        wal.append(make_entries(13, 13, 3), None)
        assert wal.last_index == 13


def test_a_record_rewriting_the_log_at_or_below_the_floor_removes_what_followed_the_floor(
    tmp_path: Path,
) -> None:
    """Entries 9..10 of term 1 were replaced by the truncation to 5..8: they must not come back (and their
    term below the floor's does not make the log corrupt)."""
    write_log(tmp_path, [(make_entries(1, 10, 1), None), (make_entries(5, 8, 2), None)],
              segment_max_bytes=ONE_APPEND_PER_SEGMENT)  # fmt: skip
    wal, recovered = WriteAheadLog.open(tmp_path, floor=(8, 2))
    with wal:
        assert recovered.entries == [] and recovered.floor_conflict_term is None
        assert wal.last_index == 8
        wal.append(make_entries(9, 9, 2), None)
        wal.sync()
    assert entries_after_reopen(tmp_path, (8, 2)) == make_entries(9, 9, 2)


def test_a_truncation_below_the_floor_followed_by_a_straddling_batch_keeps_only_the_new_entries(
    tmp_path: Path,
) -> None:
    write_log(tmp_path, [(make_entries(1, 10, 1), None), (make_entries(5, 6, 2), None),
                         (make_entries(7, 9, 2), None)])  # fmt: skip
    assert entries_after_reopen(tmp_path, (8, 2)) == make_entries(9, 9, 2)


def test_a_floor_beyond_the_log_leaves_no_entries_and_the_log_continues_after_it(tmp_path: Path) -> None:
    write_log(tmp_path, [(make_entries(1, 4, 1), HardState(1, None, 4))])
    wal, recovered = WriteAheadLog.open(tmp_path, floor=(1_000_000, 7))
    with wal:
        assert recovered.entries == [] and wal.last_index == 1_000_000
        with pytest.raises(ValueError, match="gap"):
            wal.append(make_entries(1_000_002, 1_000_002, 7), None)
        with pytest.raises(ValueError, match="term decreases"):
            wal.append(make_entries(1_000_001, 1_000_001, 6), None)
        wal.append(make_entries(1_000_001, 1_000_003, 7), None)
        wal.sync()
    assert entries_after_reopen(tmp_path, (1_000_000, 7)) == make_entries(1_000_001, 1_000_003, 7)


def test_a_gap_after_the_floor_is_corruption_naming_the_missing_entries(tmp_path: Path) -> None:
    write_log(tmp_path, [(make_entries(index, index, 1), None) for index in range(1, 11)],
              segment_max_bytes=ONE_APPEND_PER_SEGMENT)  # fmt: skip
    for path in segment_files(tmp_path)[:6]:  # entries 1..6
        path.unlink()

    with pytest.raises(WalCorruptionError, match=r"entries 5\.\.6 are missing"):
        WriteAheadLog.open(tmp_path, floor=(4, 1))
    with pytest.raises(WalCorruptionError, match=r"entries 1\.\.6 are missing"):
        WriteAheadLog.open(tmp_path)  # without a floor the log must start at index 1
    assert entries_after_reopen(tmp_path, (6, 1)) == make_entries(7, 10, 1)


def test_missing_early_segments_without_entries_are_fine_without_a_floor(tmp_path: Path) -> None:
    write_log(tmp_path, [([], HardState(1, "a", 0)), (make_entries(1, 3, 1), HardState(1, "a", 2))],
              segment_max_bytes=ONE_APPEND_PER_SEGMENT)  # fmt: skip
    segment_files(tmp_path)[0].unlink()
    wal, recovered = WriteAheadLog.open(tmp_path)
    wal.close()
    assert recovered.entries == make_entries(1, 3, 1)
    assert recovered.hard_state == HardState(1, "a", 2)


def test_a_truncation_at_or_below_the_floor_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    write_log(tmp_path, [(make_entries(1, 8, 1), HardState(1, None, 3))])
    wal, _ = WriteAheadLog.open(tmp_path, floor=(5, 1))
    with wal:
        size_bytes = wal.size_bytes()
        for first_index in (5, 3):
            with pytest.raises(ValueError, match="snapshot covers"):
                wal.append(make_entries(first_index, 6, 2), None)
        assert wal.size_bytes() == size_bytes and wal.last_index == 8
        wal.append(make_entries(6, 6, 2), None)  # a truncation after the floor is Raft's usual business
        assert wal.last_index == 6
        wal.drop_through(6)
        with pytest.raises(ValueError, match="snapshot covers"):
            wal.append(make_entries(6, 6, 2), None)


# ---- drop_through -----------------------------------------------------------------------------------


def test_dropped_segments_are_gone_and_the_log_reopens_with_the_entries_after_the_floor(
    tmp_path: Path,
) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    for index in range(1, 31):
        wal.append(make_entries(index, index, 1), HardState(1, "a", index - 1) if index % 5 == 0 else None)
    wal.sync()
    before = segment_files(tmp_path)
    deleted = wal.drop_through(17)
    assert len(deleted) >= 2
    assert deleted == before[: len(deleted)]
    assert not any(path.exists() for path in deleted)
    assert segment_files(tmp_path) == before[len(deleted) :]
    assert wal.closed_segments() == segment_files(tmp_path)[:-1]
    assert (wal.floor, wal.last_index) == ((17, 1), 30)
    wal.close()

    wal, recovered = WriteAheadLog.open(tmp_path, segment_max_bytes=200, floor=(17, 1))
    with wal:
        assert recovered.entries == make_entries(18, 30, 1)
        assert recovered.hard_state == HardState(1, "a", 29)
        assert wal.last_index == 30
    with pytest.raises(WalCorruptionError, match="missing"):
        WriteAheadLog.open(tmp_path, segment_max_bytes=200)  # the floor is what makes this log whole


def test_appends_continue_after_the_floor_when_every_segment_holding_entries_is_gone(tmp_path: Path) -> None:
    hard_state = HardState(1, "a", 10)
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(make_entries(1, 10, 1), hard_state)
    wal.seal_current_segment()
    assert len(wal.drop_through(10)) == 1
    assert wal.closed_segments() == []
    assert (wal.last_index, wal.term_at(10)) == (10, 1)
    wal.close()

    wal, recovered = WriteAheadLog.open(tmp_path, floor=(10, 1))
    with wal:
        assert recovered.entries == [] and recovered.hard_state == hard_state
        assert wal.last_index == 10
        wal.append(make_entries(11, 11, 1), None)
        wal.sync()
    assert entries_after_reopen(tmp_path, (10, 1)) == make_entries(11, 11, 1)


def test_drop_through_writes_the_latest_hard_state_again_when_only_a_dropped_segment_held_it(
    tmp_path: Path,
) -> None:
    latest = HardState(term=3, voted_for="node-b", commit=3)
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    wal.append(make_entries(1, 3, 3), latest)
    wal.append(make_entries(4, 6, 3), None)  # rotates right after the last hard state record
    first = segment_files(tmp_path)[0]
    current_size_bytes = wal.size_bytes() - first.stat().st_size
    assert wal.drop_through(3) == [first]
    assert wal.size_bytes() > current_size_bytes, "the hard state was written again"
    wal.close()
    wal, recovered = WriteAheadLog.open(tmp_path, floor=(3, 3))
    wal.close()
    assert recovered.hard_state == latest
    assert recovered.entries == make_entries(4, 6, 3)


def test_drop_through_writes_nothing_when_a_kept_segment_holds_the_latest_hard_state(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        wal.append(make_entries(1, 3, 1), HardState(1, None, 0))
        wal.append(make_entries(4, 6, 1), HardState(1, None, 3))
        wal.append(make_entries(7, 7, 1), None)
        size_bytes = wal.size_bytes() - segment_files(tmp_path)[0].stat().st_size
        assert len(wal.drop_through(3)) == 1
        assert wal.size_bytes() == size_bytes


def test_drop_through_never_deletes_the_current_segment(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    wal.append(make_entries(1, 1, 1), None)
    wal.append(make_entries(2, 2, 1), None)
    first, current = segment_files(tmp_path)
    assert wal.drop_through(2) == [first]
    assert wal.closed_segments() == []
    wal.close()
    assert segment_files(tmp_path) == [current]
    wal, recovered = WriteAheadLog.open(tmp_path, floor=(2, 1))
    with wal:
        assert recovered.entries == [] and wal.last_index == 2
        wal.append(make_entries(3, 3, 1), None)


def test_drop_through_deletes_only_a_prefix_of_segments(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        wal.append(make_entries(1, 10, 1), None)
        wal.append(make_entries(5, 6, 2), None)  # a truncation: this segment only ever held 5..6
        wal.append(make_entries(7, 8, 2), None)
        wal.append(make_entries(9, 9, 2), None)
        first, second, _, _ = segment_files(tmp_path)
        assert wal.drop_through(3) == []  # every segment holds an entry after 3
        # The first segment held entry 10 once: nothing after it may go either, though the second could.
        assert wal.drop_through(8) == []
        assert wal.floor == (8, 2) and first.exists() and second.exists()
        assert wal.drop_through(7) == []  # below the floor: nothing to do
        with pytest.raises(ValueError, match="ends at 9"):
            wal.drop_through(10)


def test_drop_through_stops_at_the_first_segment_may_drop_refuses(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        for index in range(1, 5):
            wal.append(make_entries(index, index, 1), None)
        first, second, third, _ = segment_files(tmp_path)
        assert wal.drop_through(3, lambda path: path != second) == [first]
        assert wal.closed_segments() == [second, third]
        assert wal.drop_through(3) == [second, third]


def test_drop_through_makes_the_deletion_durable(tmp_path: Path, synced_paths: list[str]) -> None:
    directory = tmp_path / "wal"
    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        wal.append(make_entries(1, 1, 1), None)
        wal.append(make_entries(2, 2, 1), None)
        synced_paths.clear()
        assert len(wal.drop_through(1)) == 1
    assert synced_paths == [str(directory.resolve())]


@pytest.mark.parametrize("sync", [False, PlantedSyncBugs(no_directory_fsync=True)])
def test_drop_through_skips_the_directory_fsync_when_told(
    tmp_path: Path, synced_paths: list[str], sync: bool | PlantedSyncBugs
) -> None:
    wal, _ = WriteAheadLog.open(tmp_path / "wal", segment_max_bytes=ONE_APPEND_PER_SEGMENT, sync=sync)
    with wal:
        wal.append(make_entries(1, 1, 1), HardState(1, None, 0))
        wal.append(make_entries(2, 2, 1), None)
        synced_paths.clear()
        assert len(wal.drop_through(1)) == 1
    assert str((tmp_path / "wal").resolve()) not in synced_paths
    if sync is False:
        assert synced_paths == []


# ---- reset_after_snapshot ---------------------------------------------------------------------------

OLD_HARD_STATE = HardState(term=3, voted_for="node-a", commit=6)
NEW_HARD_STATE = HardState(term=4, voted_for=None, commit=8)
SNAPSHOT = (8, 2)  # the leader's snapshot: entry 8 is of term 2, the old log holds it with term 1


def write_conflicting_log(directory: Path) -> None:
    """Entry 8 of term 1 in the first segment, entries 9..12 after it (term 3: not below the snapshot's)."""
    appends = [(make_entries(1, 8, 1), None), (make_entries(9, 12, 3), None), ([], OLD_HARD_STATE)]
    write_log(directory, appends, segment_max_bytes=ONE_APPEND_PER_SEGMENT)


def test_reset_after_snapshot_discards_the_log_and_restarts_it_after_the_floor(tmp_path: Path) -> None:
    write_conflicting_log(tmp_path)
    old_segments = segment_files(tmp_path)
    wal, recovered = WriteAheadLog.open(tmp_path, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        assert recovered.entries == make_entries(1, 8, 1) + make_entries(9, 12, 3)
        assert wal.reset_after_snapshot(*SNAPSHOT, NEW_HARD_STATE) == old_segments
        assert (wal.floor, wal.last_index, wal.hard_state) == (SNAPSHOT, 8, NEW_HARD_STATE)
        assert wal.closed_segments() == [] and wal.term_at(9) is None
        wal.append(make_entries(9, 9, 4), None)
        wal.sync()
    # New sequences only: the archive never sees a name twice.
    assert all(path.name > old_segments[-1].name for path in segment_files(tmp_path))
    assert not (tmp_path / RESET_MARKER_FILE_NAME).exists()
    wal, recovered = WriteAheadLog.open(tmp_path, floor=SNAPSHOT)
    wal.close()
    assert recovered.entries == make_entries(9, 9, 4)
    assert recovered.hard_state == NEW_HARD_STATE


def test_reset_after_snapshot_is_refused_when_the_log_agrees_with_the_snapshot(tmp_path: Path) -> None:
    write_log(tmp_path, [(make_entries(1, 8, 1) + make_entries(9, 10, 2), HardState(2, None, 10))])
    wal, _ = WriteAheadLog.open(tmp_path)
    with wal:
        with pytest.raises(ValueError, match="drop_through"):
            wal.reset_after_snapshot(9, 2, None)
        with pytest.raises(ValueError, match="below the persisted"):
            wal.reset_after_snapshot(9, 3, HardState(term=0, voted_for=None, commit=0))
        assert wal.last_index == 10 and len(segment_files(tmp_path)) == 1


def test_a_crash_at_any_step_of_a_reset_reopens_as_the_snapshot_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies the directory (what a process kill leaves: the page cache) before every file system change
    the reset makes; each copy must reopen with nothing of the old log after the floor."""
    directory = tmp_path / "wal"
    write_conflicting_log(directory)
    crashes: list[Path] = []

    def crash_copy() -> None:
        copy = tmp_path / f"crash-{len(crashes)}"
        shutil.copytree(directory, copy)
        crashes.append(copy)

    def copy_before(real: Callable[..., object]) -> Callable[..., object]:
        def call(*arguments: object, **options: object) -> object:
            crash_copy()
            return real(*arguments, **options)

        return call

    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=ONE_APPEND_PER_SEGMENT)
    with wal:
        real_create_segment = wal_module._create_segment

        def create_then_copy(path: Path) -> int:
            descriptor = real_create_segment(path)
            crash_copy()
            return descriptor

        with monkeypatch.context() as patch:
            patch.setattr(os, "unlink", copy_before(os.unlink))
            patch.setattr(os, "replace", copy_before(os.replace))
            patch.setattr(wal_module, "_create_segment", create_then_copy)
            crash_copy()
            wal.reset_after_snapshot(*SNAPSHOT, NEW_HARD_STATE)
            crash_copy()
    old_segment_count = 3
    # Before the reset, after the new segment, before the marker, before each deletion and the marker's.
    assert len(crashes) == 1 + 1 + 1 + old_segment_count + 1 + 1

    for number, crashed in enumerate(crashes):
        wal, recovered = WriteAheadLog.open(crashed, floor=SNAPSHOT)
        with wal:
            assert recovered.entries == [], crashed.name
            assert wal.last_index == 8
            assert recovered.hard_state == (OLD_HARD_STATE if number < 2 else NEW_HARD_STATE), crashed.name
            if number < 3:  # no marker yet: the old log was whole, and its entry 8 disagreed
                assert recovered.floor_conflict_term == 1
            wal.append(make_entries(9, 9, 4), None)
            wal.sync()
        assert not (crashed / RESET_MARKER_FILE_NAME).exists()
        wal, recovered = WriteAheadLog.open(crashed, floor=SNAPSHOT)
        wal.close()
        assert recovered.entries == make_entries(9, 9, 4), crashed.name
        assert recovered.floor_conflict_term is None


def test_an_unreadable_reset_marker_is_corruption(tmp_path: Path) -> None:
    write_log(tmp_path, [(make_entries(1, 3, 1), None)])
    (tmp_path / RESET_MARKER_FILE_NAME).write_bytes(b"12\n")
    with pytest.raises(WalCorruptionError, match="reset marker"):
        WriteAheadLog.open(tmp_path)
    assert len(segment_files(tmp_path)) == 1, "nothing may be deleted on a guess"


# ---- memory -----------------------------------------------------------------------------------------


def test_log_rules_hold_only_the_terms_after_the_floor() -> None:
    tracemalloc.start()
    try:
        rules = LogRules((1_000_000, 7))
        batch = make_entries(1_000_001, 1_000_003, 7)
        rules.check_entries(batch)
        rules.apply_entries(batch)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 64 << 10, "8 bytes per index from 1 would be 8 MB"
    assert (rules.held_terms, rules.last_index) == (3, 1_000_003)
    assert (rules.term_at(1_000_000), rules.term_at(1_000_002)) == (7, 7)
    with pytest.raises(ValueError, match="snapshot covers"):
        rules.check_entries(make_entries(1_000_000, 1_000_001, 7))

    rules.raise_floor(1_000_002)
    assert (rules.held_terms, rules.floor, rules.term_at(1_000_002)) == (1, (1_000_002, 7), 7)
