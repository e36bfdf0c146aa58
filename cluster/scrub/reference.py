"""A reference replica rebuilt offline from the archived WAL: the same state machine, fed by the archive.

It advances incrementally (a sealed segment never changes, and entries up to a marker are committed,
so they never change either): each check parses only the segments archived since the last one, applies
only the entries since, and then lets the replay forget them, so memory holds the unapplied tail, not
the group's history. The state is rebuilt from scratch only if asked for an index it passed, or from
the archived snapshot a replica's log restarted after (it installed a leader's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.scrub.commands import iterate_items
from cluster.scrub.digests import StateDigest, digest_state
from cluster.storage.wal_archive import ArchivedSnapshot, ArchiveReplay, SegmentArchive


class ReferenceReplica:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state = PartitionStateMachine(directory / "state")  # no scrub hook: repairs change nothing
        self._replays: dict[tuple[int, str, str], ArchiveReplay] = {}
        self._base: ArchivedSnapshot | None = None  # the archived snapshot self.state started from

    def digest_at(self, archive: SegmentArchive, group: str, replica: str, index: int) -> StateDigest | None:
        """Digests of the group's state at `index`, replayed from `replica`'s archived segments; None when
        the archive does not reach `index` yet."""
        key = (id(archive), group, replica)
        replay = self._replays.get(key)
        if replay is None or self.state.applied_index > index:
            # New, or asked for an index this state passed: the replay forgot it, so start over.
            replay = self._replays[key] = ArchiveReplay(archive, group, replica, self.directory / "segments")
        replay.refresh()
        if self._base != replay.base or self.state.applied_index != replay.floor_index:
            self._rebuild(replay)
        for _ in replay.new_segments():
            # What the log already says is committed no later segment replaces: apply it now, so that a
            # long replay (after a restart) holds one segment's worth, not the archive.
            self._apply_through(replay, min(index, replay.committed_index))
        if replay.floor_index + len(replay.entries) < index or index < replay.floor_index:
            return None  # not archived yet, or before the snapshot this replica's log restarted after
        self._apply_through(replay, index)
        return digest_state(index, iterate_items(self.state.store))

    def _apply_through(self, replay: ArchiveReplay, index: int) -> None:
        """Apply the replayed entries up to `index` (committed), then let the replay forget them."""
        if index <= self.state.applied_index:
            return
        todo = replay.entries[: index - self.state.applied_index]
        if todo:
            self.state.apply(todo)
            replay.release_through(todo[-1].index)

    @property
    def held_entries(self) -> int:
        """Entries parsed from the archive and not yet applied: what this reference holds in memory."""
        return sum(len(replay.replay.entries) for replay in self._replays.values())

    def _rebuild(self, replay: ArchiveReplay) -> None:
        """Start over: from nothing, or from the archived snapshot the replica's log restarted after."""
        self.state.close()
        shutil.rmtree(self.directory / "state", ignore_errors=True)
        self.state = PartitionStateMachine(self.directory / "state")
        self._base = replay.base
        if replay.base is not None:
            copy = replay.fetched(replay.base.name)
            self.state.restore_snapshot(copy, replay.base.index)
            copy.unlink()  # restored into the state; the archive keeps the snapshot

    def close(self) -> None:
        self.state.close()
