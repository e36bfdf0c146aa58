"""WAL archive: sealed segments reach the object store, and a reference replica replayed from the archive
equals the live replica at a marker (and tells a rotten live replica apart)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.targets import free_port, server_process
from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.types import Entry, HardState
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.scrub import reference as reference_module
from cluster.scrub.commands import ReplicaScrubState, encode_marker
from cluster.scrub.comparison import compare_ranges
from cluster.scrub.reference import ReferenceReplica
from cluster.storage.wal import WriteAheadLog
from cluster.storage.wal_archive import (
    ArchivedSnapshot,
    ArchiveError,
    DirectoryArchive,
    S3Archive,
    SegmentArchive,
    archive_sealed_segments,
    archive_snapshot,
    archived_checkpoint,
    open_archive,
    replay_archive,
)
from cluster.storage.wal_recovery import source_place


def _put(term: int, index: int, key: str, value: int) -> Entry:
    item = {"pk": {"S": key}, "v": {"N": str(value)}}
    return Entry(term, index, encode_command(PutCommand(hash(key) % 1000 + 1000 * len(key), key.encode(), item)))


def _run_replica(tmp_path: Path, archive: SegmentArchive) -> tuple[PartitionStateMachine, list[int]]:
    """A live replica: 240 committed entries with a marker every 60, one Raft truncation of an uncommitted
    tail on the way, segments sealed at each marker and archived as they close."""
    wal, _ = WriteAheadLog.open(tmp_path / "wal", segment_max_bytes=2048, sync=False)
    markers: list[int] = []
    live = PartitionStateMachine(tmp_path / "live", ReplicaScrubState("n1", lambda i, s: markers.append(i)))
    archived: set[str] = set()
    try:
        for index in range(1, 241):
            term = 2 if index >= 100 else 1
            entry = Entry(term, index, encode_marker(True)) if index % 60 == 0 else _put(term, index, f"k{index % 17}", index)
            if index == 100:
                # A leader that lost its term wrote 100..101 that never committed; the new one overwrites.
                wal.append([_put(1, 100, "lost", 1), _put(1, 101, "lost", 2)], None)
            wal.append([entry], HardState(term, None, index))
            live.apply([entry])
            if markers and markers[-1] == index:
                wal.seal_current_segment()
                archive_sealed_segments(archive, "g1", "n1", wal.closed_segments(), archived)
    finally:
        wal.close()
    return live, markers


def test_the_reference_replayed_from_the_archive_equals_the_live_replica_at_every_marker(tmp_path: Path) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    live, markers = _run_replica(tmp_path, archive)
    assert markers == [60, 120, 180, 240]
    names = archive.names("g1", "n1")
    assert len(names) >= 4 and all(name.endswith(".wal") for name in names)
    assert [entry.index for entry in replay_archive(archive, "g1", "n1", tmp_path / "replay")] == list(range(1, 241))
    reference = ReferenceReplica(tmp_path / "reference")
    try:
        for marker in markers:  # incrementally, as a node does
            assert reference.digest_at(archive, "g1", "n1", marker) == live.scrub.digests[marker]  # type: ignore[union-attr]
            # It holds only what it has yet to apply (the archive reaches 240), and no segment's copy.
            assert reference.held_entries == 240 - marker
            assert not list((tmp_path / "reference" / "segments").iterdir())
        # Asked for an older index, it rebuilds from scratch and still agrees.
        assert reference.digest_at(archive, "g1", "n1", 60) == live.scrub.digests[60]  # type: ignore[union-attr]
        assert reference.digest_at(archive, "g1", "n1", 10_000) is None  # the archive does not reach it
    finally:
        reference.close()
        live.close()


def _checkpoints_keep_the_archive_bounded(tmp_path: Path, archive: SegmentArchive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference_module, "CHECKPOINT_AFTER_SEGMENTS", 3)
    live, markers = _run_replica(tmp_path, archive)
    segments_at_first = [name for name in archive.names("g1", "n1") if name.endswith(".wal")]
    reference = ReferenceReplica(tmp_path / "reference")
    try:
        for marker in markers:
            assert reference.digest_at(archive, "g1", "n1", marker) == live.scrub.digests[marker]  # type: ignore[union-attr]
        names = archive.names("g1", "n1")
        checkpoints = [checkpoint for checkpoint in map(archived_checkpoint, names) if checkpoint is not None]
        # One checkpoint (the newest replaced the older ones), and only the segments from its source on.
        assert len(checkpoints) == 1 and checkpoints[0].index in markers[1:], names
        first_needed = source_place(checkpoints[0].source)[0]
        kept = [name for name in names if name.endswith(".wal")]
        assert kept and all(int(name.split(".")[0]) >= first_needed for name in kept)
        assert len(kept) < len(segments_at_first)
        # An index before the checkpoint is no longer in the archive: no digest, and no error.
        assert reference.digest_at(archive, "g1", "n1", markers[0]) is None
    finally:
        reference.close()
    # A reference that lost its own state (a new node's disk) starts from the checkpoint and agrees.
    rebuilt = ReferenceReplica(tmp_path / "rebuilt")
    try:
        assert rebuilt.digest_at(archive, "g1", "n1", markers[-1]) == live.scrub.digests[markers[-1]]  # type: ignore[union-attr]
        assert rebuilt.state.store.count() == live.store.count()
    finally:
        rebuilt.close()
        live.close()


def test_checkpoints_keep_the_archive_bounded_and_a_lost_reference_starts_from_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkpoints_keep_the_archive_bounded(tmp_path, DirectoryArchive(tmp_path / "archive"), monkeypatch)


def test_a_reference_replaying_a_long_archive_applies_as_it_goes_and_holds_little(tmp_path: Path) -> None:
    """As after a node's restart: one check replays the whole archive. It applies what the log records as
    committed after each segment, so it never holds the archive's entries all at once."""
    archive = DirectoryArchive(tmp_path / "archive")
    live, _ = _run_replica(tmp_path, archive)
    reference = ReferenceReplica(tmp_path / "reference")
    held_before_each_apply: list[int] = []
    apply = reference.state.apply

    def tracking_apply(entries: list[Entry]) -> dict:
        held_before_each_apply.append(reference.held_entries)
        return apply(entries)

    reference.state.apply = tracking_apply  # type: ignore[method-assign]
    try:
        assert reference.digest_at(archive, "g1", "n1", 240) == live.scrub.digests[240]  # type: ignore[union-attr]
        # A segment holds about a dozen entries here: the whole archive (240) is never held at once.
        assert len(held_before_each_apply) >= 10 and max(held_before_each_apply) <= 40, held_before_each_apply
    finally:
        reference.close()
        live.close()


def _count_applied(reference: ReferenceReplica) -> list[int]:
    applied: list[int] = []
    apply = reference.state.apply

    def counting_apply(entries: list[Entry]) -> dict:
        applied.append(len(entries))
        return apply(entries)

    reference.state.apply = counting_apply  # type: ignore[method-assign]
    return applied


def test_a_restarted_reference_resumes_where_it_was_and_applies_only_what_came_after(tmp_path: Path) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    live, _ = _run_replica(tmp_path, archive)
    first = ReferenceReplica(tmp_path / "reference")
    try:
        assert first.digest_at(archive, "g1", "n1", 120) == live.scrub.digests[120]  # type: ignore[union-attr]
    finally:
        first.close()
    # The node restarted: a new reference on the same directory goes on from 120, reading only the
    # segments from the one that wrote entry 120 on (each marker sealed one, so the later half).
    resumed = ReferenceReplica(tmp_path / "reference")
    applied = _count_applied(resumed)
    fetched: list[str] = []
    fetch = archive.fetch

    def counting_fetch(group: str, replica: str, name: str, destination: Path) -> None:
        fetched.append(name)
        fetch(group, replica, name, destination)

    archive.fetch = counting_fetch  # type: ignore[method-assign]
    try:
        assert resumed.digest_at(archive, "g1", "n1", 240) == live.scrub.digests[240]  # type: ignore[union-attr]
        assert sum(applied) == 120
        assert resumed.held_entries == 0
        segments = [name for name in archive.names("g1", "n1") if name.endswith(".wal")]
        assert fetched and set(fetched) < set(segments), (fetched, segments)
        assert fetched == segments[segments.index(fetched[0]):]  # every one from there on, in order
    finally:
        resumed.close()
    # A position the state does not match (the process died between the two) costs a rebuild, no error.
    position = tmp_path / "reference" / "position.json"
    position.write_text(position.read_text().replace('"index": 240', '"index": 180'))
    archive.fetch = fetch  # type: ignore[method-assign]
    rebuilt = ReferenceReplica(tmp_path / "reference")
    stale_state = rebuilt.state
    try:
        assert rebuilt.digest_at(archive, "g1", "n1", 240) == live.scrub.digests[240]  # type: ignore[union-attr]
        assert rebuilt.state is not stale_state  # started over from an empty state
        assert '"index": 240' in position.read_text()
    finally:
        rebuilt.close()
        live.close()


def test_a_rotten_live_replica_differs_from_the_reference_in_the_range_that_rotted(tmp_path: Path) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    live, markers = _run_replica(tmp_path, archive)
    partition_hash, key, item_json = live.store.scan(None, 1)[0]
    live.store.put(partition_hash, key, item_json.replace('"N":"', '"N":"9', 1))
    live.apply([Entry(2, 241, encode_marker(False))])
    reference = ReferenceReplica(tmp_path / "reference")
    try:
        truth = reference.digest_at(archive, "g1", "n1", 240)
        assert truth is not None
        rotten = live.scrub.digests[241]  # type: ignore[union-attr]
        # 241 is only a marker: the true state at 241 is the state at 240.
        verdicts = compare_ranges({"n1": rotten.range_checksums}, 3, reference=truth.range_checksums)
        assert [(v.range_index, v.damaged) for v in verdicts] == [(partition_hash % 16, ("n1",))]
    finally:
        reference.close()
        live.close()


def test_archiving_twice_copies_nothing_new_and_a_copy_is_byte_identical(tmp_path: Path) -> None:
    segment = tmp_path / "0000000000000001.wal"
    segment.write_bytes(b"sealed bytes")
    archive = open_archive(str(tmp_path / "archive"))
    archived: set[str] = set()
    assert archive_sealed_segments(archive, "g", "n", [segment], archived) == [segment.name]
    assert archive_sealed_segments(archive, "g", "n", [segment], archived) == []
    assert (tmp_path / "archive" / "g" / "n" / segment.name).read_bytes() == b"sealed bytes"


@pytest.fixture
def moto_s3() -> Iterator[str]:
    pytest.importorskip("moto.server", reason="moto[server] (the bench extra) is not installed")
    port = free_port()
    with server_process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port):
        yield f"http://127.0.0.1:{port}"


def test_the_same_archive_and_reference_work_against_an_s3_endpoint(tmp_path: Path, moto_s3: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    client.create_bucket(Bucket="wal")
    archive = S3Archive("wal", "cluster-1", client=client)
    live, markers = _run_replica(tmp_path, archive)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket="wal")["Contents"]]
    assert keys and all(key.startswith("cluster-1/g1/n1/") for key in keys)
    reference = ReferenceReplica(tmp_path / "reference")
    try:
        assert reference.digest_at(archive, "g1", "n1", markers[-1]) == live.scrub.digests[markers[-1]]  # type: ignore[union-attr]
    finally:
        reference.close()
        live.close()


def test_sealing_the_current_segment_starts_a_new_one_and_a_reopen_recovers_every_entry(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path / "wal", sync=True)
    try:
        assert wal.seal_current_segment() is None  # nothing written: nothing to seal
        wal.append([_put(1, 1, "a", 1), _put(1, 2, "b", 2)], HardState(1, None, 2))
        wal.sync()
        sealed = wal.seal_current_segment()
        assert sealed is not None and wal.closed_segments() == [sealed]
        wal.append([_put(1, 3, "c", 3)], HardState(1, None, 3))
        wal.sync()
    finally:
        wal.close()
    reopened, recovered = WriteAheadLog.open(tmp_path / "wal", sync=True)
    try:
        assert [entry.index for entry in recovered.entries] == [1, 2, 3]
        assert reopened.closed_segments() == [sealed]
    finally:
        reopened.close()


def test_a_log_restarted_after_an_installed_snapshot_is_replayed_from_the_archived_snapshot(tmp_path: Path) -> None:
    """A replica installs a leader's snapshot its log disagrees with: its WAL restarts after the snapshot,
    the archive keeps the snapshot beside the new segments, and the reference starts from it. Replaying
    the old segments into the new ones instead would mix two logs."""
    archive = DirectoryArchive(tmp_path / "archive")
    live, markers = _run_replica(tmp_path, archive)  # the old log: 240 entries, archived
    leader = PartitionStateMachine(tmp_path / "leader")
    wal, _ = WriteAheadLog.open(tmp_path / "wal", segment_max_bytes=2048, sync=False)
    try:
        # The leader's state at 400 (term 3) differs from anything the old log holds.
        leader.apply([_put(3, index, f"other{index % 5}", index) for index in range(1, 401)])
        # Held under the name the archive keeps it by: the new log's first segment, the index, the term.
        snapshot_file = tmp_path / ArchivedSnapshot(wal.next_sequence, 400, 3).name
        assert leader.write_snapshot(snapshot_file) == 400
        live.restore_snapshot(snapshot_file, 400)
        wal.reset_after_snapshot(400, 3, HardState(3, None, 400))
        assert snapshot_file.name == ArchivedSnapshot(wal.current_sequence, 400, 3).name
        assert archive_snapshot(archive, "g1", "n1", snapshot_file) == snapshot_file.name
        archived = set(archive.names("g1", "n1"))
        for index in range(401, 461):
            entry = Entry(3, index, encode_marker(True)) if index == 460 else _put(3, index, f"k{index % 9}", index)
            wal.append([entry], HardState(3, None, index))
            live.apply([entry])
        wal.seal_current_segment()
        archive_sealed_segments(archive, "g1", "n1", wal.closed_segments(), archived)
        reference = ReferenceReplica(tmp_path / "reference")
        try:
            assert reference.digest_at(archive, "g1", "n1", 240) is None  # before the snapshot: not in this log
            assert reference.digest_at(archive, "g1", "n1", 460) == live.scrub.digests[460]  # type: ignore[union-attr]
        finally:
            reference.close()
    finally:
        wal.close()
        leader.close()
        live.close()


def test_a_segment_deleted_before_its_copy_ran_is_skipped_not_an_error(tmp_path: Path) -> None:
    kept, gone = tmp_path / "0000000000000001.wal", tmp_path / "0000000000000002.wal"
    kept.write_bytes(b"sealed")
    archive = open_archive(str(tmp_path / "archive"))
    # Listed for the archive, then deleted by a WAL that restarted after an installed snapshot.
    assert archive_sealed_segments(archive, "g", "n", [kept, gone], set()) == [kept.name]


def test_checkpoints_and_their_deletions_work_against_an_s3_endpoint(
    tmp_path: Path, moto_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    client.create_bucket(Bucket="wal")
    _checkpoints_keep_the_archive_bounded(tmp_path, S3Archive("wal", "cluster-1", client=client), monkeypatch)


class _ArchiveThatCannotDelete(DirectoryArchive):
    def delete(self, group: str, replica: str, names: list[str]) -> None:
        raise ArchiveError(f"cannot delete from {self.location}: permission denied")


def test_a_checkpoint_that_cannot_prune_the_archive_leaves_the_check_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(reference_module, "CHECKPOINT_AFTER_SEGMENTS", 3)
    archive = _ArchiveThatCannotDelete(tmp_path / "archive")
    live, markers = _run_replica(tmp_path, archive)
    segments = [name for name in archive.names("g1", "n1") if name.endswith(".wal")]
    reference = ReferenceReplica(tmp_path / "reference")
    try:
        for marker in markers:
            assert reference.digest_at(archive, "g1", "n1", marker) == live.scrub.digests[marker]  # type: ignore[union-attr]
    finally:
        reference.close()
        live.close()
    assert [name for name in archive.names("g1", "n1") if name.endswith(".wal")] == segments
    assert "no checkpoint this time" in caplog.text and "permission denied" in caplog.text


def test_between_checks_a_reference_holds_no_sqlite_connection(tmp_path: Path) -> None:
    archive = DirectoryArchive(tmp_path / "archive")
    live, markers = _run_replica(tmp_path, archive)
    reference = ReferenceReplica(tmp_path / "reference")
    state = tmp_path / "reference" / "state" / "items.sqlite"

    def open_here() -> list[str]:
        return [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if _link(fd) == str(state)]

    try:
        for marker in markers:
            assert reference.digest_at(archive, "g1", "n1", marker) == live.scrub.digests[marker]  # type: ignore[union-attr]
            assert open_here() == []  # every node leads several groups: their references must not pile up
    finally:
        reference.close()
        live.close()


def _link(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
