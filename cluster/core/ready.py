"""The batch of work a replica hands to its runtime: persist, then send, then apply."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.messages import Message
from cluster.core.types import Entry, HardState, SnapshotMeta


@dataclass(frozen=True)
class Ready:
    # 0. (`snapshot`, below) Before anything else: replace the state machine with the leader's snapshot
    #    through snapshot.index, durably, and drop the WAL's entries through it; when the WAL's entry at
    #    snapshot.index has another term (or the WAL does not reach it), drop the whole WAL.
    # 1. Append to the WAL (an entry whose index <= the WAL's last index replaces that suffix) together
    #    with hard_state when it is not None, then fsync. Responses in `send` promise this is durable.
    persist: tuple[Entry, ...]
    hard_state: HardState | None
    # 2. Then send, in any order (Raft tolerates reordering).
    send: tuple[Message, ...]
    # 3. Committed entries for the state machine, in index order, each handed out once.
    apply: tuple[Entry, ...]
    snapshot: SnapshotMeta | None = None
    # What only a broken protocol or peer can cause (a leader without entries this replica committed):
    # the runtime reports each loudly; the consensus core keeps going (it skips what it must not apply).
    safety_alarms: tuple[str, ...] = ()
