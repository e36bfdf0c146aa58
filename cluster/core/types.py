"""Plain values shared by the consensus core, the write-ahead log and the runtime."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. An empty command is the no-op a new leader appends in its term."""

    term: int
    index: int
    command: bytes


@dataclass(frozen=True, slots=True)
class HardState:
    """What a replica must persist before it answers: Raft's currentTerm, votedFor and commit."""

    term: int
    voted_for: str | None
    commit: int


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a state machine snapshot covers: every entry through `index` (whose term is `term`), and the
    membership in force at that index (Membership.encode()), which the compacted log no longer holds."""

    index: int
    term: int
    membership: bytes
