"""Typed errors of the write-ahead log: each carries what an operator needs to act."""

from __future__ import annotations

from pathlib import Path


class WalCorruptionError(Exception):
    """A record the log cannot trust and must not skip: corruption in the middle of the log.

    A torn tail after a crash is expected and repaired silently (and reported); damage that is
    followed by valid data, or damage in a segment that was already sealed, means acknowledged
    data may be lost, so recovery stops and names the file and the byte offset.
    """

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"corrupt write-ahead log record in {path} at byte offset {offset}: {reason}")


class WalLockedError(Exception):
    """Another open WriteAheadLog (in this or another process) already owns the directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"write-ahead log directory {directory} is locked by another open log")


class WalFailedError(Exception):
    """An earlier write or fsync failed; the log's on-disk state is unknown until it is reopened.

    After a failed fsync the page cache may have dropped the dirty pages (Linux "fsyncgate"), so
    retrying would claim durability that does not exist. The only honest recovery is to reopen,
    which re-reads what the disk really holds.
    """

    def __init__(self, directory: Path, cause: BaseException | None) -> None:
        self.directory = directory
        super().__init__(f"write-ahead log in {directory} failed earlier ({cause!r}); reopen it to recover")
