"""Archive of sealed WAL segments in an object store: a local directory by default, S3 when configured.

Layout (both stores): <group>/<replica>/<segment file name>. A sealed segment never changes, so an
archived copy is final; a copy is written to a temporary name, fsynced and renamed, so a crash never
leaves a half segment that looks whole. `replay_archive` rebuilds a replica's log from its archived
segments with the same recovery code the WAL uses on open.

A replica that installed a leader's snapshot restarted its log after it: its archive then also holds
that snapshot, named `<first segment of the new log>.<index>.<term>.snapshot`, and a replay starts from
the newest such snapshot and the segments from that one on (what came before belongs to a log the
replica replaced).

A reader that replays the archive (the scrub's reference) also writes its own state into it now and
then, a *checkpoint* named `<base snapshot's sequence, 0 for none>.<source>.<index>.<term>.checkpoint`:
its state at `index`, with the log going on from the record at `source`. A replay that starts over
starts from the newest checkpoint, so the segments before it, older checkpoints and snapshots older
than the base are deleted: the archive then holds one copy of the state and the log since, not the
group's history. A checkpoint is built from the archive alone, never from a live replica, so the
reference stays independent of the replicas it judges.

S3: a location `s3://BUCKET/PREFIX` uses boto3 with its usual configuration (credentials, region and
AWS_ENDPOINT_URL for any S3-compatible endpoint).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cluster.core.types import Entry
from cluster.storage.wal_log_rules import NO_FLOOR
from cluster.storage.wal_recovery import SealedSegmentReplay, recover, source_place
from cluster.storage.wal_segments import fsync_directory, list_segments, segment_sequence

_SNAPSHOT_NAME = re.compile(r"^(\d{16})\.(\d+)\.(\d+)\.snapshot$")
_CHECKPOINT_NAME = re.compile(r"^(\d{16})\.(\d+)\.(\d+)\.(\d+)\.checkpoint$")


@dataclass(frozen=True)
class ArchivedSnapshot:
    """A snapshot a replica's log restarted after: the log goes on in segment `sequence` and later ones."""

    sequence: int
    index: int
    term: int

    @property
    def name(self) -> str:
        return f"{self.sequence:016d}.{self.index}.{self.term}.snapshot"


def archived_snapshot(name: str) -> ArchivedSnapshot | None:
    match = _SNAPSHOT_NAME.match(name)
    return ArchivedSnapshot(*(int(part) for part in match.groups())) if match else None


@dataclass(frozen=True)
class ArchivedCheckpoint:
    """A reader's state at `index` (term `term`) of the log that starts at the archived snapshot of
    sequence `base_sequence` (0: the log from index 1); the log goes on from the record at `source`."""

    base_sequence: int
    source: int
    index: int
    term: int

    @property
    def name(self) -> str:
        return f"{self.base_sequence:016d}.{self.source}.{self.index}.{self.term}.checkpoint"


def archived_checkpoint(name: str) -> ArchivedCheckpoint | None:
    match = _CHECKPOINT_NAME.match(name)
    return ArchivedCheckpoint(*(int(part) for part in match.groups())) if match else None


def _archived_file(name: str) -> bool:
    return any(parse(name) is not None for parse in (segment_sequence, archived_snapshot, archived_checkpoint))


class ArchiveError(Exception):
    """The archive could not be read or written; the message names the location."""


class SegmentArchive(Protocol):
    location: str

    def put(self, group: str, replica: str, segment: Path) -> None: ...

    def names(self, group: str, replica: str) -> list[str]: ...

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None: ...

    def delete(self, group: str, replica: str, names: list[str]) -> None: ...


class DirectoryArchive:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def _directory(self, group: str, replica: str) -> Path:
        return self.root / group / replica

    def put(self, group: str, replica: str, segment: Path) -> None:
        directory = self._directory(group, replica)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{segment.name}.tmp"
        try:
            with open(segment, "rb") as source, open(temporary, "wb") as target:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
            temporary.replace(directory / segment.name)
            fsync_directory(directory)
        except OSError as error:
            raise ArchiveError(f"cannot archive {segment} into {directory}: {error}") from error

    def names(self, group: str, replica: str) -> list[str]:
        """Archived segments and snapshots (temporary copies are not listed)."""
        directory = self._directory(group, replica)
        if not directory.is_dir():
            return []
        return sorted(name for name in os.listdir(directory) if _archived_file(name))

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None:
        try:
            shutil.copyfile(self._directory(group, replica) / name, destination)
        except OSError as error:
            raise ArchiveError(f"cannot read {name} of {group}/{replica} from {self.root}: {error}") from error

    def delete(self, group: str, replica: str, names: list[str]) -> None:
        directory = self._directory(group, replica)
        try:
            for name in names:
                (directory / name).unlink(missing_ok=True)
            if names:
                fsync_directory(directory)
        except OSError as error:
            raise ArchiveError(f"cannot delete from {directory}: {error}") from error


class S3Archive:
    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        if client is None:
            import boto3  # only a node configured with an S3 archive needs boto3

            client = boto3.client("s3")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}"

    def _key(self, group: str, replica: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, group, replica, name) if part)

    def put(self, group: str, replica: str, segment: Path) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(group, replica, segment.name),
                                   Body=segment.read_bytes())
        except Exception as error:  # botocore raises many unrelated types; all mean "not archived"
            raise ArchiveError(f"cannot archive {segment} to {self.location}: {error}") from error

    def names(self, group: str, replica: str) -> list[str]:
        prefix = self._key(group, replica) + "/"
        names: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                names.extend(item["Key"][len(prefix):] for item in page.get("Contents", []))
        except Exception as error:
            raise ArchiveError(f"cannot list {self.location}/{group}/{replica}: {error}") from error
        return sorted(name for name in names if "/" not in name and _archived_file(name))

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(group, replica, name))["Body"]
            destination.write_bytes(body.read())
        except Exception as error:
            raise ArchiveError(f"cannot read {name} of {group}/{replica} from {self.location}: {error}") from error

    def delete(self, group: str, replica: str, names: list[str]) -> None:
        try:
            for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1,000 keys
                objects = [{"Key": self._key(group, replica, name)} for name in names[start : start + 1000]]
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                if answer.get("Errors"):
                    raise ArchiveError(f"{answer['Errors'][0]}")
        except Exception as error:
            raise ArchiveError(f"cannot delete from {self.location}/{group}/{replica}: {error}") from error


def open_archive(location: str) -> SegmentArchive:
    """`s3://BUCKET[/PREFIX]` or a directory path."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://"):].partition("/")
        if not bucket:
            raise ArchiveError(f"archive location {location!r} names no bucket")
        return S3Archive(bucket, prefix)
    return DirectoryArchive(Path(location))


def archive_sealed_segments(
    archive: SegmentArchive, group: str, replica: str, sealed: list[Path], archived: set[str]
) -> list[str]:
    """Copies every sealed segment not yet in `archived` (updated in place); returns the names copied."""
    copied = []
    for segment in sealed:
        if segment.name in archived:
            continue
        if not segment.exists():
            continue  # deleted since it was listed: a replica restarted its log after a snapshot
        archive.put(group, replica, segment)
        archived.add(segment.name)
        copied.append(segment.name)
    return copied


def archive_snapshot(archive: SegmentArchive, group: str, replica: str, held: Path) -> str:
    """Archives the snapshot a replica's log restarted after: `held` is its state machine's copy, named
    as the archive keeps it (ArchivedSnapshot.name, which the archive's put takes from the file)."""
    if archived_snapshot(held.name) is None:
        raise ValueError(f"{held} is not named as an archived snapshot (<sequence>.<index>.<term>.snapshot)")
    archive.put(group, replica, held)
    return held.name


@dataclass(frozen=True)
class ResumePoint:
    """A reader applied the log from `base` through `index` (term `term`); the entries after it come
    from the record at `source` on (wal_recovery.record_source; 0: from the log's start)."""

    base: ArchivedSnapshot | None
    index: int
    term: int
    source: int


class ArchiveReplay:
    """A replica's archived log, kept parsed: each call fetches and replays only the segments new since.

    When the archive holds snapshots, the log is the newest one's and the segments from its sequence on;
    `base` says which (None: the log from index 1), and `entries` are those after `floor_index`: the
    base's index until the reader releases what it applied (`release_through`), so that what is held in
    memory is the tail the reader has yet to apply, not the whole history. A reader that applies what
    is committed after each segment (`new_segments`) holds no more than that even when it replays a
    long archive. A fetched segment's copy is deleted once parsed (the archive keeps it)."""

    def __init__(
        self,
        archive: SegmentArchive,
        group: str,
        replica: str,
        work_directory: Path,
        start: ResumePoint | None = None,
    ) -> None:
        """`start`: where a reader that applied part of this log already (in an earlier process) goes on."""
        self.archive = archive
        self.group = group
        self.replica = replica
        self.work_directory = work_directory
        self._names: list[str] = []
        self._start_from(start if start is not None else ResumePoint(None, *NO_FLOOR, 0))

    def _start_from(self, point: ResumePoint) -> None:
        self.base = point.base
        self.replay = SealedSegmentReplay((point.index, point.term), point.source)
        self._first_record = point.source

    @property
    def resume_point(self) -> ResumePoint:
        """Where a reader that applied everything through `floor_index` would go on from."""
        index, term = self.replay.rules.floor
        return ResumePoint(self.base, index, term, self.replay.floor_source)

    @property
    def floor_index(self) -> int:
        return self.replay.floor_index

    @property
    def entries(self) -> list[Entry]:
        return self.replay.entries

    @property
    def committed_index(self) -> int:
        """The highest index the replayed log says is committed (no later record may replace it)."""
        hard_state = self.replay.rules.hard_state
        commit = hard_state.commit if hard_state is not None else 0
        return max(self.floor_index, min(commit, self.replay.rules.last_index))

    @property
    def listed(self) -> list[str]:
        """What the last `refresh` found archived."""
        return list(self._names)

    def checkpoints(self) -> list[ArchivedCheckpoint]:
        """The archived checkpoints of this log (of `base`), oldest first."""
        base_sequence = self.base.sequence if self.base is not None else 0
        found = [checkpoint for checkpoint in map(archived_checkpoint, self._names) if checkpoint is not None]
        return sorted((c for c in found if c.base_sequence == base_sequence), key=lambda c: c.index)

    def start_from_checkpoint(self, checkpoint: ArchivedCheckpoint) -> None:
        """Go on from a checkpoint of this log, whose state the reader restored."""
        self._start_from(ResumePoint(self.base, checkpoint.index, checkpoint.term, checkpoint.source))

    def superseded_by(self, checkpoint: ArchivedCheckpoint) -> list[str]:
        """What a replay never needs once `checkpoint` is archived: the segments before its source, the
        other checkpoints and the snapshots older than the base."""
        first_needed, _ = source_place(checkpoint.source)
        base_sequence = self.base.sequence if self.base is not None else 0
        names = []
        for name in self._names:
            sequence = segment_sequence(name)
            snapshot = archived_snapshot(name)
            other = archived_checkpoint(name)
            if (
                (sequence is not None and sequence < first_needed)
                or (snapshot is not None and snapshot.sequence < base_sequence)
                or (other is not None and other != checkpoint)
            ):
                names.append(name)
        return names

    def release_through(self, index: int) -> None:
        """Forget the entries through `index`: committed, and applied by the reader."""
        self.replay.raise_floor(index)

    def refresh(self) -> None:
        """List the archive again; a newer snapshot than `base` starts a new log from it."""
        self.work_directory.mkdir(parents=True, exist_ok=True)
        self._names = self.archive.names(self.group, self.replica)
        snapshots = [snapshot for snapshot in map(archived_snapshot, self._names) if snapshot is not None]
        newest = max(snapshots, key=lambda snapshot: snapshot.sequence, default=None)
        if newest != self.base:  # a new log: replay it from its snapshot
            floor = (newest.index, newest.term) if newest is not None else NO_FLOOR
            self._start_from(ResumePoint(newest, *floor, 0))

    def new_segments(self) -> Iterator[int]:
        """Replay the segments listed by the last `refresh` and not replayed yet, yielding after each."""
        for name in self._names:
            sequence = segment_sequence(name)
            if sequence is None or sequence <= self.replay.last_sequence:
                continue
            if self.base is not None and sequence < self.base.sequence:
                continue  # the log the replica replaced
            first_sequence, first_offset = source_place(self._first_record)
            if sequence < first_sequence:
                continue  # resumed: nothing after the floor comes from before this segment
            copy = self.fetched(name)
            self.replay.add(sequence, copy, first_offset if sequence == first_sequence else 0)
            copy.unlink()
            yield sequence

    def fetched(self, name: str) -> Path:
        destination = self.work_directory / name
        if not destination.exists():  # archived files never change: a copy fetched once stays right
            self.archive.fetch(self.group, self.replica, name, destination)
        return destination


def replay_archive(archive: SegmentArchive, group: str, replica: str, work_directory: Path) -> list[Entry]:
    """The log (after every Raft truncation) held by a replica's archived segments, oldest first."""
    work_directory.mkdir(parents=True, exist_ok=True)
    for name in archive.names(group, replica):
        if segment_sequence(name) is None:
            continue  # a snapshot: this replay reads segments only
        destination = work_directory / name
        if not destination.exists():  # sealed segments never change: a copy fetched once stays right
            archive.fetch(group, replica, name, destination)
    return recover(work_directory, list_segments(work_directory), sync=False).log.entries
