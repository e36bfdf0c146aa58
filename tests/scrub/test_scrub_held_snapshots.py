"""The archive's copy of a snapshot a replica's log restarted after: held durably first, archived once,
and archived at the next start when a crash came before the copy ran."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cluster.deploy.local_processes import build_topology
from cluster.scrub.coordinator import ScrubCoordinator
from cluster.scrub.reference import ReferenceReplica
from cluster.scrub.settings import scrub_settings
from cluster.storage.wal_archive import DirectoryArchive


class _Node:
    """The little of a storage node the scrub's archive path uses (no groups hosted)."""

    process_id = "node-a1"
    tick_s = 0.05

    def __init__(self) -> None:
        self.topology = build_topology(3, 1, 1)
        self.groups: dict[str, Any] = {}
        self.members: dict[str, list[str]] = {}

    def register(self, method: str, handler: Any) -> None:  # noqa: ANN401
        pass

    def is_log_replica(self, group_id: str) -> bool:
        return False


def _coordinator(tmp_path: Path) -> ScrubCoordinator:
    settings = scrub_settings({}, tmp_path, archive=str(tmp_path / "archive"))
    return ScrubCoordinator(_Node(), tmp_path, settings)  # type: ignore[arg-type]


async def _restart_then_start(tmp_path: Path) -> ScrubCoordinator:
    copy = tmp_path / "00000000000000000100.snapshot"
    copy.write_bytes(b"the leader's state at 100")
    scrub = _coordinator(tmp_path)
    # A replica finishing an interrupted install as it opens tells the scrub before the scrub starts,
    # and start() then finds the same held copy: it is archived once, without an error.
    scrub.archive_restarted_log("g1", copy, 100, 3, 7)
    copy.unlink()  # the replica's next compaction may delete its own copy at once
    scrub.start()
    await scrub.stop()
    return scrub


def test_a_held_snapshot_is_archived_once_even_when_scheduled_twice(tmp_path: Path) -> None:
    scrub = asyncio.run(_restart_then_start(tmp_path))
    archive = DirectoryArchive(tmp_path / "archive")
    assert archive.names("g1", "node-a1") == ["0000000000000007.100.3.snapshot"]
    assert (tmp_path / "archive" / "g1" / "node-a1" / "0000000000000007.100.3.snapshot").read_bytes() == (
        b"the leader's state at 100"
    )
    assert scrub.findings.counters["archive_errors_total"] == 0
    assert list((tmp_path / "scrub" / "pending-snapshots" / "g1").iterdir()) == []


async def _crash_before_the_copy(tmp_path: Path) -> None:
    held = tmp_path / "scrub" / "pending-snapshots" / "g1" / "0000000000000004.50.2.snapshot"
    held.parent.mkdir(parents=True)
    held.write_bytes(b"held by a life that crashed")
    scrub = _coordinator(tmp_path)
    scrub.start()
    await scrub.stop()


def test_a_snapshot_held_by_a_life_that_crashed_is_archived_at_the_next_start(tmp_path: Path) -> None:
    asyncio.run(_crash_before_the_copy(tmp_path))
    assert DirectoryArchive(tmp_path / "archive").names("g1", "node-a1") == ["0000000000000004.50.2.snapshot"]


class _Wal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def closed_segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.wal"))


class _Group:
    def __init__(self, directory: Path) -> None:
        self.wal = _Wal(directory)


async def _archive_twice(tmp_path: Path) -> tuple[ScrubCoordinator, list[bool]]:
    wal_dir = tmp_path / "wal"
    wal_dir.mkdir()
    for sequence in range(1, 6):
        (wal_dir / f"{sequence:016d}.wal").write_bytes(b"segment %d" % sequence)
    scrub = _coordinator(tmp_path)
    scrub.node.groups["g1"] = _Group(wal_dir)
    scrub._schedule_archive("g1")
    await scrub._archive_jobs["g1"]
    answers = [scrub.may_drop_segment("g1", wal_dir / f"{sequence:016d}.wal") for sequence in (3, 6)]
    # A compaction deleted segments 1 to 3; segment 6 was sealed since.
    for sequence in range(1, 4):
        (wal_dir / f"{sequence:016d}.wal").unlink()
    (wal_dir / f"{6:016d}.wal").write_bytes(b"segment 6")
    scrub._schedule_archive("g1")
    await scrub._archive_jobs["g1"]
    answers += [scrub.may_drop_segment("g1", wal_dir / f"{sequence:016d}.wal") for sequence in (4, 6, 7)]
    await scrub.stop()
    return scrub, answers


def test_the_archived_names_kept_in_memory_are_only_those_the_wal_still_holds(tmp_path: Path) -> None:
    scrub, answers = asyncio.run(_archive_twice(tmp_path))
    assert answers == [True, False, True, True, False]
    assert scrub._archived["g1"] == {f"{sequence:016d}.wal" for sequence in (4, 5, 6)}
    assert len(DirectoryArchive(tmp_path / "archive").names("g1", "node-a1")) == 6  # the archive keeps all


async def _forget_and_prune(tmp_path: Path) -> ScrubCoordinator:
    wal_dir = tmp_path / "wal"
    wal_dir.mkdir()
    root = tmp_path / "scrub" / "reference"
    for group_id in ("g1", "gone"):  # a reference each, with its store, as rounds leave them
        reference = ReferenceReplica(root / group_id)
        assert reference.state.applied_index == 0  # opening the state writes its files
        reference.close()
    scrub = _coordinator(tmp_path)
    scrub.node.groups["g1"] = _Group(wal_dir)
    scrub.start()  # "gone" is no group of this node any more
    assert sorted(path.name for path in root.iterdir()) == ["g1"]
    scrub._references["g1"] = ReferenceReplica(root / "g1")
    scrub.forget_group("g1")  # the node dropped its replica (its table was deleted)
    await scrub.stop()
    return scrub


def test_a_dropped_group_takes_its_reference_along_and_a_start_removes_strays(tmp_path: Path) -> None:
    scrub = asyncio.run(_forget_and_prune(tmp_path))
    assert not list((tmp_path / "scrub" / "reference").iterdir())
    assert "g1" not in scrub._references and "g1" not in scrub.replica_states
