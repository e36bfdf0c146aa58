"""Damage on disk: a torn tail is cut and reported; damage in the middle is raised, never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.core.types import Entry, HardState
from cluster.storage.wal import WalCorruptionError, WriteAheadLog
from cluster.storage.wal_records import encode_entries


def make_entries(first_index: int, last_index: int, term: int) -> list[Entry]:
    return [Entry(term, index, b"command-%d" % index) for index in range(first_index, last_index + 1)]


def write_three_records(directory: Path) -> tuple[Path, list[int]]:
    """Three records in one segment; returns the segment and the offset after each record."""
    wal, _ = WriteAheadLog.open(directory)
    boundaries = [0]
    wal.append(make_entries(1, 3, term=1), None)
    boundaries.append(wal.size_bytes())
    wal.append([], HardState(term=2, voted_for="node-b", commit=2))
    boundaries.append(wal.size_bytes())
    wal.append(make_entries(4, 6, term=2), None)
    boundaries.append(wal.size_bytes())
    wal.sync()
    wal.close()
    (segment,) = directory.glob("*.wal")
    return segment, boundaries


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def cut_file(path: Path, size_bytes: int) -> None:
    with path.open("r+b") as file:
        file.truncate(size_bytes)


def test_every_cut_inside_the_last_record_is_repaired_and_the_log_continues(tmp_path: Path) -> None:
    pristine_directory = tmp_path / "pristine"
    segment, boundaries = write_three_records(pristine_directory)
    pristine = segment.read_bytes()
    start_of_last, end_of_last = boundaries[2], boundaries[3]
    for cut in range(start_of_last + 1, end_of_last):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        (directory / segment.name).write_bytes(pristine[:cut])

        wal, recovered = WriteAheadLog.open(directory)
        assert recovered.entries == make_entries(1, 3, term=1), cut
        assert recovered.hard_state == HardState(term=2, voted_for="node-b", commit=2)
        assert recovered.truncated_tail_bytes == cut - start_of_last > 0
        assert recovered.truncated_tail_path == directory / segment.name
        assert (directory / segment.name).stat().st_size == start_of_last
        assert wal.last_index == 3
        wal.append(make_entries(4, 4, term=3), None)
        wal.sync()
        wal.close()

        wal, recovered = WriteAheadLog.open(directory)
        wal.close()
        assert recovered.truncated_tail_bytes == 0
        assert recovered.entries == [*make_entries(1, 3, term=1), *make_entries(4, 4, term=3)]


def test_every_flipped_byte_of_the_last_record_is_cut_as_a_torn_tail(tmp_path: Path) -> None:
    segment, boundaries = write_three_records(tmp_path / "pristine")
    pristine = segment.read_bytes()
    for offset in range(boundaries[2], boundaries[3]):
        directory = tmp_path / f"flip-{offset}"
        directory.mkdir()
        damaged = bytearray(pristine)
        damaged[offset] ^= 0x01
        (directory / segment.name).write_bytes(bytes(damaged))
        wal, recovered = WriteAheadLog.open(directory)
        wal.close()
        assert recovered.entries == make_entries(1, 3, term=1), offset
        assert recovered.truncated_tail_bytes == boundaries[3] - boundaries[2]


def test_trailing_zeros_are_cut(tmp_path: Path) -> None:
    segment, boundaries = write_three_records(tmp_path)
    with segment.open("ab") as file:
        file.write(bytes(4096))
    wal, recovered = WriteAheadLog.open(tmp_path)
    wal.close()
    assert recovered.entries == [*make_entries(1, 3, term=1), *make_entries(4, 6, term=2)]
    assert recovered.truncated_tail_bytes == 4096
    assert segment.stat().st_size == boundaries[3]


@pytest.mark.parametrize("record_number", [0, 1])
def test_every_flipped_byte_of_a_middle_record_raises_naming_file_and_offset(
    tmp_path: Path, record_number: int
) -> None:
    segment, boundaries = write_three_records(tmp_path / "pristine")
    pristine = segment.read_bytes()
    start, end = boundaries[record_number], boundaries[record_number + 1]
    for offset in range(start, end):
        directory = tmp_path / f"flip-{record_number}-{offset}"
        directory.mkdir()
        damaged = bytearray(pristine)
        damaged[offset] ^= 0x01
        path = directory / segment.name
        path.write_bytes(bytes(damaged))
        with pytest.raises(WalCorruptionError) as raised:
            WriteAheadLog.open(directory)
        assert raised.value.path == path
        assert raised.value.offset == start
        assert str(path) in str(raised.value) and f"offset {start}" in str(raised.value)
        assert path.read_bytes() == bytes(damaged), "a corrupt log must never be modified"


def test_the_directory_is_unlocked_after_a_failed_open(tmp_path: Path) -> None:
    segment, boundaries = write_three_records(tmp_path)
    flip_byte(segment, boundaries[1] - 1)
    for _ in range(2):
        with pytest.raises(WalCorruptionError):
            WriteAheadLog.open(tmp_path)


def rotated_log(directory: Path) -> list[Path]:
    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=200)
    for index in range(1, 31):
        wal.append(make_entries(index, index, term=1), None)
    wal.sync()
    wal.close()
    segments = sorted(directory.glob("*.wal"))
    assert len(segments) >= 3
    return segments


def test_a_flipped_byte_in_the_last_record_of_a_sealed_segment_raises(tmp_path: Path) -> None:
    segments = rotated_log(tmp_path)
    flip_byte(segments[1], segments[1].stat().st_size - 1)
    with pytest.raises(WalCorruptionError, match="sealed") as raised:
        WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    assert raised.value.path == segments[1]


def test_a_torn_sealed_segment_raises(tmp_path: Path) -> None:
    segments = rotated_log(tmp_path)
    cut_file(segments[0], segments[0].stat().st_size - 3)
    with pytest.raises(WalCorruptionError) as raised:
        WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    assert raised.value.path == segments[0]


def test_a_torn_last_segment_of_a_rotated_log_is_cut(tmp_path: Path) -> None:
    segments = rotated_log(tmp_path)
    cut_file(segments[-1], segments[-1].stat().st_size - 3)
    wal, recovered = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    wal.close()
    assert recovered.entries == make_entries(1, 29, term=1)
    assert recovered.truncated_tail_path == segments[-1]


def test_a_missing_segment_in_the_middle_raises(tmp_path: Path) -> None:
    segments = rotated_log(tmp_path)
    segments[1].unlink()
    with pytest.raises(WalCorruptionError, match="missing") as raised:
        WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    assert raised.value.path == segments[2]


def test_a_checksummed_record_leaving_a_gap_raises(tmp_path: Path) -> None:
    segment, boundaries = write_three_records(tmp_path)
    with segment.open("ab") as file:
        file.write(encode_entries(make_entries(9, 9, term=2)))
    with pytest.raises(WalCorruptionError, match="gap") as raised:
        WriteAheadLog.open(tmp_path)
    assert raised.value.offset == boundaries[3]
