"""Archive of sealed WAL segments in an object store: a local directory by default, S3 when configured.

Layout (both stores): <group>/<replica>/<segment file name>. A sealed segment never changes, so an
archived copy is final; a copy is written to a temporary name, fsynced and renamed, so a crash never
leaves a half segment that looks whole. `replay_archive` rebuilds a replica's log from its archived
segments with the same recovery code the WAL uses on open.

S3: a location `s3://BUCKET/PREFIX` uses boto3 with its usual configuration (credentials, region and
AWS_ENDPOINT_URL for any S3-compatible endpoint).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from cluster.core.types import Entry
from cluster.storage.wal_recovery import SealedSegmentReplay, recover
from cluster.storage.wal_segments import fsync_directory, list_segments, segment_sequence


class ArchiveError(Exception):
    """The archive could not be read or written; the message names the location."""


class SegmentArchive(Protocol):
    location: str

    def put(self, group: str, replica: str, segment: Path) -> None: ...

    def names(self, group: str, replica: str) -> list[str]: ...

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None: ...


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
        directory = self._directory(group, replica)
        if not directory.is_dir():
            return []
        return sorted(path.name for _, path in list_segments(directory))

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None:
        try:
            shutil.copyfile(self._directory(group, replica) / name, destination)
        except OSError as error:
            raise ArchiveError(f"cannot read {name} of {group}/{replica} from {self.root}: {error}") from error


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
        return sorted(name for name in names if name.endswith(".wal") and "/" not in name)

    def fetch(self, group: str, replica: str, name: str, destination: Path) -> None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(group, replica, name))["Body"]
            destination.write_bytes(body.read())
        except Exception as error:
            raise ArchiveError(f"cannot read {name} of {group}/{replica} from {self.location}: {error}") from error


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
        archive.put(group, replica, segment)
        archived.add(segment.name)
        copied.append(segment.name)
    return copied


class ArchiveReplay:
    """A replica's archived log, kept parsed: each call fetches and replays only the segments new since."""

    def __init__(self, archive: SegmentArchive, group: str, replica: str, work_directory: Path) -> None:
        self.archive = archive
        self.group = group
        self.replica = replica
        self.work_directory = work_directory
        self.replay = SealedSegmentReplay()

    def entries(self) -> list[Entry]:
        self.work_directory.mkdir(parents=True, exist_ok=True)
        for name in self.archive.names(self.group, self.replica):
            sequence = segment_sequence(name)
            if sequence is None or sequence <= self.replay.last_sequence:
                continue
            destination = self.work_directory / name
            if not destination.exists():
                self.archive.fetch(self.group, self.replica, name, destination)
            self.replay.add(sequence, destination)
        return self.replay.entries


def replay_archive(archive: SegmentArchive, group: str, replica: str, work_directory: Path) -> list[Entry]:
    """The log (after every Raft truncation) held by a replica's archived segments, oldest first."""
    work_directory.mkdir(parents=True, exist_ok=True)
    for name in archive.names(group, replica):
        destination = work_directory / name
        if not destination.exists():  # sealed segments never change: a copy fetched once stays right
            archive.fetch(group, replica, name, destination)
    return recover(work_directory, list_segments(work_directory), sync=False).log.entries
