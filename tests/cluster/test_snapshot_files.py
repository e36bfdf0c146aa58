"""The files a replica keeps its snapshots in: what survives a restart, and what a fetch reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.core.types import SnapshotMeta
from cluster.replication.snapshot_files import SnapshotFileError, SnapshotFiles


def _publish(files: SnapshotFiles, index: int, data: bytes) -> Path:
    temporary = files.new_data_temporary()
    temporary.write_bytes(data)
    return files.publish(temporary, index)


def test_the_current_snapshot_and_the_newest_copy_survive_a_reopen_and_nothing_else_does(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path / "snapshot")
    _publish(files, 5, b"five")
    _publish(files, 10, b"ten")
    _publish(files, 15, b"fifteen")
    _publish(files, 20, b"twenty")
    files.make_current(SnapshotMeta(10, 3, b"members"))
    files.new_data_temporary().write_bytes(b"a copy a crash interrupted")
    files.part_path(30).write_bytes(b"half a fetch")
    reopened = SnapshotFiles(tmp_path / "snapshot")
    stored = reopened.load()
    reopened.remove_leftovers()
    assert stored is not None and stored.meta == SnapshotMeta(10, 3, b"members")
    assert stored.data.read_bytes() == b"ten"
    assert sorted(path.name for path in (tmp_path / "snapshot").iterdir()) == [
        "00000000000000000010.snapshot", "00000000000000000020.snapshot", "current.json",
    ]  # fmt: skip


def test_cleaning_up_after_a_compaction_keeps_a_copy_or_fetch_in_flight(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path / "snapshot")
    for index in (10, 20, 30):
        _publish(files, index, b"x")
    files.new_data_temporary().write_bytes(b"being taken")
    files.write_chunk(40, 0, b"being fetched")
    files.remove_all_but(20, 30)
    assert sorted(path.name for path in (tmp_path / "snapshot").iterdir()) == [
        "00000000000000000020.snapshot", "00000000000000000030.snapshot",
        "00000000000000000040.part", "taking.tmp",
    ]  # fmt: skip


def test_a_fetch_reads_chunks_and_writes_them_back_whole(tmp_path: Path) -> None:
    leader = SnapshotFiles(tmp_path / "leader")
    payload = bytes(range(256)) * 50
    _publish(leader, 7, payload)
    follower = SnapshotFiles(tmp_path / "follower")
    offset = 0
    while True:
        chunk, size = leader.read_chunk(7, offset, 1000)
        follower.write_chunk(7, offset, chunk)
        offset += len(chunk)
        if offset >= size:
            break
    assert follower.finish_part(7).read_bytes() == payload
    with pytest.raises(FileNotFoundError):
        leader.read_chunk(8, 0)  # a snapshot this replica does not hold: the follower gives up and waits


def test_a_current_snapshot_that_cannot_be_read_stops_the_replica(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path / "snapshot")
    (tmp_path / "snapshot" / "current.json").write_text("{not json")
    with pytest.raises(SnapshotFileError, match="unreadable"):
        files.load()
    (tmp_path / "snapshot" / "current.json").write_text('{"index": 5, "term": 1, "membership": ""}')
    with pytest.raises(SnapshotFileError, match="is missing"):
        files.load()  # its data file is gone: starting without it would lose entries 1..5


def test_a_fetch_under_way_finishes_after_a_compaction_deleted_its_file(tmp_path: Path) -> None:
    leader = SnapshotFiles(tmp_path / "leader")
    _publish(leader, 7, b"a" * 3000)
    first, size = leader.read_chunk(7, 0, 1000)
    leader.remove_all_but(8)  # the leader compacted again: the file's name is gone
    rest, _ = leader.read_chunk(7, 1000, 5000)  # the follower's next chunk still comes
    assert first + rest == b"a" * 3000 and size == 3000
    leader.close()
    with pytest.raises(FileNotFoundError):
        leader.read_chunk(7, 0)  # a new fetch of it finds nothing


def test_the_newest_copy_after_the_current_snapshot_survives_a_restart(tmp_path: Path) -> None:
    files = SnapshotFiles(tmp_path / "snapshot")
    for index in (10, 20, 30):
        _publish(files, index, b"x")
    files.make_current(SnapshotMeta(20, 1, b"members"))
    reopened = SnapshotFiles(tmp_path / "snapshot")
    assert reopened.load() is not None
    reopened.remove_leftovers()
    assert reopened.newest_uncompacted == 30  # the next compaction's point, not taken again
    assert not reopened.data_path(10).exists()
