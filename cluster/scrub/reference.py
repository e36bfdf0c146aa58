"""A reference replica rebuilt offline from the archived WAL: the same state machine, fed by the archive.

It advances incrementally (a sealed segment never changes, and entries up to a marker are committed,
so they never change either): each check parses only the segments archived since the last one, applies
only the entries since, and then lets the replay forget them, so memory holds the unapplied tail, not
the group's history. The state is rebuilt from scratch only if asked for an index it passed, or from
the archived snapshot a replica's log restarted after (it installed a leader's).

Its state outlives the process: `position.json` says which replica's log it replayed, from which base,
up to which index, and from which record on the log holds what comes after. After a restart it goes
on from there, instead of rebuilding the group's whole history.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.scrub.commands import iterate_items
from cluster.scrub.digests import StateDigest, digest_state
from cluster.storage.durable_directories import write_durably
from cluster.storage.wal_archive import (
    ArchivedCheckpoint,
    ArchivedSnapshot,
    ArchiveError,
    ArchiveReplay,
    ResumePoint,
    SegmentArchive,
    archived_snapshot,
)
from cluster.storage.wal_recovery import source_place
from cluster.storage.wal_segments import segment_sequence

log = logging.getLogger(__name__)

POSITION_FILE = "position.json"
# A checkpoint (the state, into the archive) once this many archived segments lie wholly before where the
# replay goes on: a segment is sealed at most every reference interval (10 s) per group, so about one
# checkpoint per replica and group every quarter of an hour under steady writes.
CHECKPOINT_AFTER_SEGMENTS = 100


class ReferenceReplica:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._state: PartitionStateMachine | None = None
        self._replays: dict[tuple[int, str, str], ArchiveReplay] = {}
        self._base: ArchivedSnapshot | None = None  # the archived snapshot self.state started from
        self._stored = self._stored_position()  # where an earlier process left this state, if it matches
        self._release()

    @property
    def state(self) -> PartitionStateMachine:
        """The replayed state, opened when needed: between checks (every reference interval, per group
        this node leads) it holds no SQLite connection, so no descriptors and no page cache."""
        if self._state is None:
            self._state = PartitionStateMachine(self.directory / "state")  # no scrub hook: repairs change nothing
        return self._state

    def _release(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    def _stored_position(self) -> tuple[str, str, ResumePoint] | None:
        """(group, replica, where to resume) from position.json, if the state is still where it says."""
        try:
            position = json.loads((self.directory / POSITION_FILE).read_text())
            index, term, source = int(position["index"]), int(position["term"]), int(position["source"])
            base = archived_snapshot(position["base"]) if position["base"] is not None else None
            if position["base"] is not None and base is None:
                return None
            if index != self.state.applied_index or index == 0:
                return None  # the state moved on after it was written (or never started): rebuild
            return str(position["group"]), str(position["replica"]), ResumePoint(base, index, term, source)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _new_replay(self, archive: SegmentArchive, group: str, replica: str) -> ArchiveReplay:
        stored, self._stored = self._stored, None
        directory = self.directory / "segments"
        if stored is not None and stored[:2] == (group, replica):
            # Resume: what the state holds already is neither parsed nor applied again.
            self._base = stored[2].base
            return ArchiveReplay(archive, group, replica, directory, start=stored[2])
        return ArchiveReplay(archive, group, replica, directory)

    def _save_position(self, group: str, replica: str, replay: ArchiveReplay) -> None:
        point = replay.resume_point
        position = {
            "group": group, "replica": replica, "base": point.base.name if point.base is not None else None,
            "index": point.index, "term": point.term, "source": point.source,
        }  # fmt: skip
        # Whole or not at all (a rename); not fsynced: a stale or lost one only costs a rebuild.
        write_durably(self.directory / POSITION_FILE, json.dumps(position).encode(), sync_file=False, sync_directory=False)

    def digest_at(self, archive: SegmentArchive, group: str, replica: str, index: int) -> StateDigest | None:
        """Digests of the group's state at `index`, replayed from `replica`'s archived segments; None when
        the archive does not reach `index` yet."""
        try:
            return self._digest_at(archive, group, replica, index)
        finally:
            self._release()

    def _digest_at(self, archive: SegmentArchive, group: str, replica: str, index: int) -> StateDigest | None:
        key = (id(archive), group, replica)
        replay = self._replays.get(key)
        if replay is None:
            replay = self._replays[key] = self._new_replay(archive, group, replica)
        elif self.state.applied_index > index:
            # Asked for an index this state passed: the replay forgot it, so start over.
            replay = self._replays[key] = ArchiveReplay(archive, group, replica, self.directory / "segments")
        replay.refresh()
        checkpoints = replay.checkpoints()
        if (
            self._base != replay.base
            or self.state.applied_index != replay.floor_index
            or (checkpoints and checkpoints[-1].index > replay.floor_index)  # a fresh start: from the newest
        ):
            self._rebuild(replay, index)
        for _ in replay.new_segments():
            # What the log already says is committed no later segment replaces: apply it now, so that a
            # long replay (after a restart) holds one segment's worth, not the archive.
            self._apply_through(replay, min(index, replay.committed_index))
        if replay.floor_index + len(replay.entries) < index or index < replay.floor_index:
            self._save_position(group, replica, replay)
            return None  # not archived yet, or before the snapshot this replica's log restarted after
        self._apply_through(replay, index)
        self._save_position(group, replica, replay)
        self._checkpoint_if_due(archive, group, replica, replay)
        return digest_state(index, iterate_items(self.state.store), keep_items=False)  # only compared

    def _checkpoint_if_due(self, archive: SegmentArchive, group: str, replica: str, replay: ArchiveReplay) -> None:
        """Once enough archived segments lie wholly before where this state goes on, write the state into
        the archive as a checkpoint and delete what it supersedes: the archive stays bounded."""
        point = replay.resume_point
        first_needed, _ = source_place(point.source)
        behind = [
            name for name in replay.listed if (sequence := segment_sequence(name)) is not None and sequence < first_needed
        ]
        if point.source == 0 or len(behind) < CHECKPOINT_AFTER_SEGMENTS:
            return
        base_sequence = replay.base.sequence if replay.base is not None else 0
        checkpoint = ArchivedCheckpoint(base_sequence, point.source, point.index, point.term)
        copy = self.directory / "segments" / checkpoint.name
        try:
            self.state.write_snapshot(copy)
            archive.put(group, replica, copy)
            # Only once the checkpoint is archived (put is durable): a crash before leaves the old way in.
            archive.delete(group, replica, replay.superseded_by(checkpoint))
        except (ArchiveError, OSError, sqlite3.Error) as error:
            # Only the archive's size depends on it: the check itself goes on, and a later one retries.
            log.warning("reference of %s/%s: no checkpoint this time: %s", group, replica, error)
        finally:
            copy.unlink(missing_ok=True)

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
        return sum(len(replay.entries) for replay in self._replays.values())

    def _rebuild(self, replay: ArchiveReplay, index: int) -> None:
        """Start over: from the newest checkpoint at or before `index` (or the newest at all: the archive
        no longer reaches further back), else from the archived snapshot the replica's log restarted
        after, else from nothing."""
        self._release()
        shutil.rmtree(self.directory / "state", ignore_errors=True)
        self._base = replay.base
        checkpoints = replay.checkpoints()
        usable = [checkpoint for checkpoint in checkpoints if checkpoint.index <= index] or checkpoints[-1:]
        if usable:
            copy = replay.fetched(usable[-1].name)
            self.state.restore_snapshot(copy, usable[-1].index)
            copy.unlink()
            replay.start_from_checkpoint(usable[-1])
        elif replay.base is not None:
            copy = replay.fetched(replay.base.name)
            self.state.restore_snapshot(copy, replay.base.index)
            copy.unlink()  # restored into the state; the archive keeps the snapshot

    def close(self) -> None:
        self._release()
