"""Drives one Raft replica at the edge: WAL persistence, sending, applying, and waiting proposers.

The consensus core is pure; this is the thin layer that does its I/O in the order a Ready demands:
persist + fsync, then send, then apply, then advance. Proposals that arrive while a batch is being
written wait for the next one, which is how many writes share one fsync (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.core.config import RaftConfig
from cluster.core.membership import Membership, MembershipError
from cluster.core.messages import Message, MessageKind
from cluster.core.ready import Ready
from cluster.core.replica import NotLeaderError, Replica, Role
from cluster.core.types import SnapshotMeta
from cluster.replication.snapshot_files import SnapshotFiles
from cluster.replication.state_machine import SnapshotStateMachine, StateMachine
from cluster.storage.durable_directories import make_durable_directories
from cluster.storage.wal import WalSync, WriteAheadLog

log = logging.getLogger(__name__)


class ProposalOutcomeUnknown(Exception):
    """The command was handed to the log but we cannot say whether it committed."""


class ProposalLost(Exception):
    """The command's log slot was taken by another leader's entry: it certainly did not commit."""


@dataclass
class _PendingProposal:
    term: int
    future: asyncio.Future[Any]


SendFunction = Callable[[str, str, Message], None]  # (group_id, recipient, message)
# (peer, snapshot index, offset) -> (bytes from offset, the data file's size): one chunk of a peer's snapshot.
FetchChunk = Callable[[str, int, int], Awaitable[tuple[bytes, int]]]


def _settled_without_reader(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class GroupRunner:
    def __init__(
        self,
        group_id: str,
        node_id: str,
        voters: Sequence[str],
        directory: Path,
        state_machine: StateMachine,
        send: SendFunction,
        config: RaftConfig,
        rng: random.Random,
        *,
        wal_sync: WalSync = True,
        on_dirty: Callable[[GroupRunner], None] | None = None,
        discard_state: Callable[[], StateMachine] | None = None,
        ack_before_quorum: bool = False,
        log_replicas: Sequence[str] = (),
        learners: Sequence[str] = (),
        snapshot_every_entries: int = 0,
        fetch_chunk: FetchChunk | None = None,
        may_drop_segment: Callable[[Path], bool] | None = None,
        on_log_restart: Callable[[Path, SnapshotMeta, int], None] | None = None,
    ) -> None:
        """`discard_state` closes and deletes the state machine's files and returns an empty one; it is
        used when the state is ahead of the WAL (after a power loss). `ack_before_quorum` is the planted
        bug of that name (harness self-tests only).

        Snapshots (a state machine with write/restore_snapshot only): every `snapshot_every_entries`
        applied entries (0: never) the state is copied in the background; when the next copy is made,
        the log is compacted behind the previous one, so a follower less than that many entries behind
        still catches up from the log. `fetch_chunk` reads a leader's snapshot to install; WAL segments
        are deleted once compacted and `may_drop_segment` (the archive's "copied already") allows it.
        `on_log_restart(data, snapshot, sequence)` hears that the log restarted after an installed
        snapshot in WAL segment `sequence` (the archive keeps that snapshot)."""
        opening_started = time.monotonic()
        self.group_id = group_id
        self.node_id = node_id
        self.voters = tuple(voters)
        self.directory = directory
        make_durable_directories(directory)
        self.state_machine = state_machine
        self.wal_sync = wal_sync
        self.snapshot_files = SnapshotFiles(directory / "snapshot", sync=wal_sync is not False)
        stored = self.snapshot_files.load()
        floor = (stored.meta.index, stored.meta.term) if stored is not None else (0, 0)
        self.wal, recovered = WriteAheadLog.open(directory / "wal", sync=wal_sync, floor=floor)
        self.snapshot_files.remove_leftovers()  # only now: the WAL's lock says this process owns the group
        if recovered.truncated_tail_bytes:
            log.warning(
                "group %s: truncated %d bytes of torn WAL tail in %s",
                group_id, recovered.truncated_tail_bytes, recovered.truncated_tail_path,
            )
        self.recovered_truncated_tail_bytes = recovered.truncated_tail_bytes
        self._on_log_restart = on_log_restart
        # An install a crash interrupted: the snapshot is current but the WAL's log was not restarted yet
        # (it disagrees at the snapshot's index, which the WAL's open resolved, or ends below it).
        restarted = stored is not None and recovered.floor_conflict_term is not None
        if stored is not None and 0 < self.wal.highest_entry_index < stored.meta.index:
            self.wal.reset_after_snapshot(stored.meta.index, stored.meta.term, self.wal.hard_state)
            restarted = True
        if restarted:
            assert stored is not None
            log.warning("group %s: the WAL restarts after snapshot %d (an install was interrupted)", group_id, stored.meta.index)
        if state_machine.applied_index > self.wal.last_index and discard_state is not None:
            # A power loss cut the WAL below what the state machine applied. That state may hold
            # entries no quorum ever stored (never committed), so it must not be served: rebuild it
            # from the snapshot and what the WAL still holds (the core then re-applies up to commit).
            log.warning(
                "group %s: state applied index %d is ahead of the WAL's last index %d; rebuilding the state",
                group_id, state_machine.applied_index, self.wal.last_index,
            )
            state_machine = discard_state()
            self.state_machine = state_machine
        if stored is not None and state_machine.applied_index < stored.meta.index:
            # The entries through the snapshot are gone from the WAL: the state starts from its copy.
            self._snapshot_machine().restore_snapshot(stored.data, stored.meta.index)
        self.snapshot_every_entries = snapshot_every_entries if self._takes_snapshots() else 0
        self._fetch_chunk = fetch_chunk
        self._may_drop_segment = may_drop_segment
        # The newest copy of the state not yet compacted behind (the next compaction's point), the copy
        # being taken, the compaction waiting for the next prepare(), and a leader's snapshot being fetched.
        self._uncompacted_snapshot: int | None = self.snapshot_files.newest_uncompacted
        self._snapshot_task: asyncio.Future[int] | None = None
        self._compact_through: int | None = None
        self._fetch_task: asyncio.Task[None] | None = None
        self.snapshots_taken = 0
        self.snapshots_installed = 0
        self.replica = Replica(
            node_id,
            self.voters,
            config=config,
            rng=rng,
            entries=recovered.entries,
            hard_state=recovered.hard_state,
            applied_index=state_machine.applied_index,
            log_replicas=log_replicas,
            learners=learners,
            snapshot=stored.meta if stored is not None else None,
        )
        self._send = send
        self._on_dirty = on_dirty
        self._inbox: deque[Message] = deque()
        self._proposals: deque[tuple[bytes, asyncio.Future[Any]]] = deque()
        self._pending: dict[int, _PendingProposal] = {}
        recovered_hard_state = recovered.hard_state
        self._synced_term_and_vote = (
            (recovered_hard_state.term, recovered_hard_state.voted_for) if recovered_hard_state else (0, None)
        )
        self._read_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._lease_waiters: list[asyncio.Future[None]] = []
        self._pending_ticks = 0
        # Lease reads trust the core's tick clock only while it keeps up with real time: ticks keep
        # coming (within max_tick_gap_s, set by the host) and no clock jump the host reported after a
        # pause waits to be applied. Otherwise a paused leader's lease would outlive its pause.
        self._pending_clock_jump = 0
        self._last_tick_s: float | None = None
        self.max_tick_gap_s = math.inf
        self._pending_transfer: str | None = None
        self._pending_membership: tuple[Membership, asyncio.Future[int]] | None = None
        self.needs_sync = False
        self.closed = False
        self._ack_before_quorum = ack_before_quorum
        # PLANTED BUG crash-group-loop (set by the host; 0 = off): finish() raises once this many entries
        # came up for apply since the last crash.
        self.planted_crash_every_applied_entries = 0
        self._entries_toward_planted_crash = 0
        if restarted and stored is not None:
            self._log_restarted(stored.meta, self.wal.current_sequence)
        # What a restart cost this replica (its snapshot and WAL tail read back): restart time must not
        # grow with the group's age, and the growth benchmark reads these to show where it goes.
        self.recovered_entries = len(recovered.entries)
        self.opened_in_s = time.monotonic() - opening_started

    # ---- inputs -------------------------------------------------------------------------------

    def deliver(self, message: Message) -> None:
        if message.kind is MessageKind.SNAPSHOT and not self._snapshot_ready_to_install(message):
            return  # fetching it (or unable to): the leader sends it again until we answer
        self._inbox.append(message)
        self._mark_dirty()

    # ---- snapshots ----------------------------------------------------------------------------

    def _takes_snapshots(self) -> bool:
        return hasattr(self.state_machine, "write_snapshot") and hasattr(self.state_machine, "restore_snapshot")

    def _snapshot_has_data(self) -> bool:
        """False for a log replica's state machine: its snapshots are metadata only."""
        return bool(getattr(self.state_machine, "snapshot_has_data", True))

    def _snapshot_machine(self) -> SnapshotStateMachine:
        if not self._takes_snapshots():
            raise TypeError(f"group {self.group_id}: the state machine takes no snapshots")
        return self.state_machine  # type: ignore[return-value]

    def _snapshot_ready_to_install(self, message: Message) -> bool:
        """A leader's SNAPSHOT goes to the core only once its data is here, whole and durable: the core
        then hands it out in a Ready, and prepare() installs it before anything else of that Ready."""
        if not self._takes_snapshots():
            log.warning("group %s: dropped a snapshot from %s: this state machine takes none", self.group_id, message.sender)
            return False
        if self._snapshot_task is not None:
            return False  # our own copy is being taken: installing now would replace the state under it
        if self.snapshot_files.data_path(message.index).exists():
            return True
        if not self._snapshot_has_data():
            self.snapshot_files.publish(self._empty_file(), message.index)  # a log replica needs no data
            return True
        if self._fetch_task is None and self._fetch_chunk is not None and not self.closed:
            self._fetch_task = asyncio.ensure_future(self._fetch_snapshot(message))
        return False

    def _empty_file(self) -> Path:
        temporary = self.snapshot_files.new_data_temporary()
        temporary.write_bytes(b"")
        return temporary

    async def _fetch_snapshot(self, message: Message) -> None:
        assert self._fetch_chunk is not None
        try:
            offset = 0
            while True:
                data, size = await self._fetch_chunk(message.sender, message.index, offset)
                self.snapshot_files.write_chunk(message.index, offset, data)
                offset += len(data)
                if offset >= size:
                    break
                if not data:
                    raise ValueError(f"snapshot {message.index} from {message.sender} ended at {offset} of {size} bytes")
            self.snapshot_files.finish_part(message.index)
        except Exception as error:
            log.warning("group %s: fetching snapshot %d from %s failed: %r", self.group_id, message.index, message.sender, error)
            self.snapshot_files.part_path(message.index).unlink(missing_ok=True)
            return
        finally:
            self._fetch_task = None
        log.info("group %s: fetched snapshot %d (%d bytes) from %s", self.group_id, message.index, offset, message.sender)
        if not self.closed:
            self.deliver(message)  # now whole: the core may install it (a stale one it ignores)

    def _maybe_take_snapshot(self) -> None:
        if self.snapshot_every_entries <= 0 or self._snapshot_task is not None or self._fetch_task is not None:
            return
        if any(message.kind is MessageKind.SNAPSHOT for message in self._inbox):
            return  # it will replace the state in the next prepare(): a copy now would race it
        base = self._uncompacted_snapshot or self.replica.snapshot_index
        if self.state_machine.applied_index - base < self.snapshot_every_entries:
            return
        machine, files = self._snapshot_machine(), self.snapshot_files

        def take() -> int:
            temporary = files.new_data_temporary()
            index = machine.write_snapshot(temporary)
            files.publish(temporary, index)
            return index

        self._snapshot_task = asyncio.get_running_loop().run_in_executor(None, take)
        self._snapshot_task.add_done_callback(self._snapshot_taken)

    def _snapshot_taken(self, task: asyncio.Future[int]) -> None:
        self._snapshot_task = None
        if task.cancelled():
            return
        error = task.exception()
        if self.closed:
            if error is not None:  # its directory may be gone (the group was dropped): nothing lost
                log.info("group %s: a snapshot taken while the group closed failed: %r", self.group_id, error)
            return
        if error is not None:
            log.error("group %s: taking a snapshot failed: %r", self.group_id, error)
            return
        index = task.result()
        if index <= self.replica.snapshot_index:
            # A leader's snapshot was installed while this copy was taken: it is older than our log's start.
            self.snapshot_files.remove_all_but(self.replica.snapshot_index, self._uncompacted_snapshot)
            return
        self.snapshots_taken += 1
        previous, self._uncompacted_snapshot = self._uncompacted_snapshot, index
        if previous is not None and previous > self.replica.snapshot_index:
            self._compact_through = previous
            self._mark_dirty()

    def _compact(self, index: int) -> None:
        """Drop the log through `index`, whose copy is published: the core first, then current.json, and
        only then the WAL's segments (a restart must find every entry after the current snapshot)."""
        meta = self.replica.compact(index)
        self.snapshot_files.make_current(meta)
        self.snapshot_files.remove_all_but(index, self._uncompacted_snapshot)
        self.wal.drop_through(index, self._may_drop_segment)

    def _install(self, meta: SnapshotMeta) -> None:
        """Ready.snapshot: the leader's state through meta.index replaces ours, durably, before this
        Ready's entries are written. current.json goes first: from then on a restart at any point finds
        the snapshot, restores the state from it when the state is behind, and has the WAL drop what
        disagrees with it; the WAL keeps what follows when it holds that entry (Raft §7)."""
        self.snapshot_files.make_current(meta)
        self._snapshot_machine().restore_snapshot(self.snapshot_files.data_path(meta.index), meta.index)
        if self.wal.term_at(meta.index) == meta.term:
            self.wal.drop_through(meta.index, self._may_drop_segment)
        else:
            self._restart_log(meta)
        self._uncompacted_snapshot = None
        self.snapshot_files.remove_all_but(meta.index)
        self.snapshots_installed += 1

    def _restart_log(self, meta: SnapshotMeta) -> None:
        """The WAL starts over after the snapshot. The archive hears of it first (it holds the snapshot
        durably for its copy), so that no segment of the new log is archived without it."""
        self._log_restarted(meta, self.wal.next_sequence)
        self.wal.reset_after_snapshot(meta.index, meta.term, self.wal.hard_state)

    def _log_restarted(self, meta: SnapshotMeta, sequence: int) -> None:
        if self._on_log_restart is not None and self._snapshot_has_data():
            self._on_log_restart(self.snapshot_files.data_path(meta.index), meta, sequence)

    def tick(self) -> None:
        self._pending_ticks += 1
        self._last_tick_s = time.monotonic()
        self._mark_dirty()

    def advance_clock(self, ticks: int) -> None:
        """The host missed `ticks` (the process was paused): leases will count them (Replica.advance_clock)."""
        self._pending_clock_jump += ticks
        self._mark_dirty()

    def _clock_trusted(self) -> bool:
        if self._pending_clock_jump:
            return False
        return self._last_tick_s is None or time.monotonic() - self._last_tick_s <= self.max_tick_gap_s

    def _mark_dirty(self) -> None:
        if self._on_dirty is not None:
            self._on_dirty(self)

    @property
    def is_leader(self) -> bool:
        return self.replica.role is Role.LEADER

    @property
    def leader_hint(self) -> str | None:
        return self.replica.leader_id

    def submit(self, command: bytes) -> asyncio.Future[Any]:
        """Queues a command for the next batch; raises NotLeaderError right away when not leader."""
        if self.replica.role is not Role.LEADER:
            raise NotLeaderError(self.replica.leader_id)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._proposals.append((command, future))
        self._mark_dirty()
        return future

    async def propose(self, command: bytes, timeout_s: float) -> Any:
        future = self.submit(command)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError as error:
            raise ProposalOutcomeUnknown(f"group {self.group_id}: no commit within {timeout_s}s") from error
        finally:
            # After a timeout or a cancellation the command's fate (say, ProposalLost) has no reader: the
            # shield stops reading it once cancelled, even when the fate lands in the few loop turns before
            # this line. asyncio would log it as an error nobody retrieved, hiding real ones in noise.
            future.add_done_callback(_settled_without_reader)

    async def wait_consistent_read(self, timeout_s: float) -> None:
        """Returns once this leader may serve a strongly consistent read (lease held, caught up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self.replica.role is not Role.LEADER:
                raise NotLeaderError(self.replica.leader_id)
            read_index = self.replica.lease_read_index() if self._clock_trusted() else None
            if read_index is not None:
                break
            # A fresh leader has no lease until its no-op commits and a quorum acknowledges it.
            waiter: asyncio.Future[None] = loop.create_future()
            self._lease_waiters.append(waiter)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ProposalOutcomeUnknown(f"group {self.group_id}: leader holds no read lease")
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError as error:
                raise ProposalOutcomeUnknown(f"group {self.group_id}: leader holds no read lease") from error
        if self.state_machine.applied_index >= read_index:
            return
        applied: asyncio.Future[None] = loop.create_future()
        self._read_waiters.append((read_index, applied))
        try:
            await asyncio.wait_for(applied, max(0.0, deadline - loop.time()))
        except TimeoutError as error:
            raise ProposalOutcomeUnknown(f"group {self.group_id}: apply did not catch up") from error

    # ---- the I/O loop step, in two halves around the fsync ------------------------------------

    def prepare(self) -> Ready | None:
        """Feeds queued inputs to the core and writes its next Ready to the WAL (without fsync).

        Between prepare() and finish() the host awaits the fsync: inputs arriving meanwhile only
        queue up (ticks, messages, proposals, transfers), so nothing touches the core between its
        ready() and advance(), and whatever queued joins the next batch.
        """
        if self.closed:
            return None
        replica = self.replica
        if self._pending_clock_jump:
            replica.advance_clock(self._pending_clock_jump)
            self._pending_clock_jump = 0
        for _ in range(self._pending_ticks):
            replica.tick()
        self._pending_ticks = 0
        if self._pending_transfer is not None:
            target, self._pending_transfer = self._pending_transfer, None
            with contextlib.suppress(NotLeaderError, ValueError):
                replica.transfer_leadership(target)
        while self._inbox:
            replica.step(self._inbox.popleft())
        if self._pending_membership is not None:
            membership, membership_future = self._pending_membership
            self._pending_membership = None
            if not membership_future.done():
                try:
                    membership_future.set_result(replica.propose_membership(membership))
                except (NotLeaderError, MembershipError) as error:
                    membership_future.set_exception(error)
        while self._proposals:
            command, future = self._proposals.popleft()
            if future.done():
                continue
            try:
                index = replica.propose(command)
            except NotLeaderError as error:
                future.set_exception(error)
                continue
            self._pending[index] = _PendingProposal(replica.term, future)
        if self._compact_through is not None:
            index, self._compact_through = self._compact_through, None
            if replica.snapshot_index < index:
                self._compact(index)
        if not replica.has_ready():
            self._wake_waiters()
            return None
        ready = replica.ready()
        if ready.snapshot is not None:
            self._install(ready.snapshot)
        for alarm in ready.safety_alarms:
            log.error("group %s: raft safety violation seen by %s: %s", self.group_id, self.node_id, alarm)
        self.needs_sync = False
        if ready.persist or ready.hard_state is not None:
            self.wal.append(ready.persist, ready.hard_state)
            self.needs_sync = self._must_sync(ready)
        return ready

    def finish(self, ready: Ready) -> None:
        """After the fsync: send, apply, advance; asks for another round if the core has more."""
        if self.planted_crash_every_applied_entries and ready.apply:
            self._planted_crash_now_and_then(len(ready.apply))
        if self._ack_before_quorum and ready.persist:
            self._planted_ack_after_local_persist(ready)
        for message in ready.send:
            self._send(self.group_id, message.recipient, message)
        if ready.apply:
            self._apply(ready.apply)
        self.replica.advance(ready)
        if ready.apply:
            self._maybe_take_snapshot()
        self._wake_waiters()
        if self.replica.has_ready() or self._inbox or self._proposals:
            self._mark_dirty()

    def _planted_crash_now_and_then(self, entries: int) -> None:
        """PLANTED BUG crash-group-loop: the I/O loop raises before it sends or applies (the entries are in
        the fsynced WAL, so a reopened replica loses nothing); only the logs and exits show the crash."""
        self._entries_toward_planted_crash += entries
        if self._entries_toward_planted_crash >= self.planted_crash_every_applied_entries:
            self._entries_toward_planted_crash = 0
            raise RuntimeError(f"planted bug crash-group-loop: group {self.group_id} raises in its I/O loop")

    def _planted_ack_after_local_persist(self, ready: Ready) -> None:
        """PLANTED BUG ack-before-quorum: answer each proposal once our own WAL has it.

        No quorum has it and its condition was never evaluated, so a cas "succeeds" without swapping.
        """
        for entry in ready.persist:
            pending = self._pending.pop(entry.index, None)
            if pending is not None and not pending.future.done() and pending.term == entry.term:
                pending.future.set_result({"status": "ok", "old": None})

    def _must_sync(self, ready: Ready) -> bool:
        """Entries, term and vote must be durable before we send; commit need not be (etcd's MustSync).

        A commit index recovered lower than it was is re-learnt from the leader, so a Ready that only
        moves commit is written but not fsynced: that halves the fsyncs of a steady write stream.
        """
        vote_changed = False
        if ready.hard_state is not None:
            durable = (ready.hard_state.term, ready.hard_state.voted_for)
            vote_changed = durable != self._synced_term_and_vote
            self._synced_term_and_vote = durable
        return bool(ready.persist) or vote_changed

    def _apply(self, entries: Sequence[Any]) -> None:
        results = self.state_machine.apply(entries)
        for entry in entries:
            pending = self._pending.pop(entry.index, None)
            if pending is None or pending.future.done():
                continue
            if pending.term != entry.term:
                pending.future.set_exception(ProposalLost(f"index {entry.index} was taken by term {entry.term}"))
            else:
                pending.future.set_result(results.get(entry.index))
        # Proposals below the applied index that never showed up were overwritten before apply.
        applied = self.state_machine.applied_index
        for index in [index for index in self._pending if index <= applied]:
            pending = self._pending.pop(index)
            if not pending.future.done():
                pending.future.set_exception(ProposalLost(f"index {index} was overwritten"))

    def _wake_waiters(self) -> None:
        applied = self.state_machine.applied_index
        if self._read_waiters:
            still_waiting = []
            for index, future in self._read_waiters:
                if future.done():
                    continue
                if applied >= index:
                    future.set_result(None)
                else:
                    still_waiting.append((index, future))
            self._read_waiters = still_waiting
        if self._lease_waiters and (self.replica.role is not Role.LEADER or self.replica.lease_read_index() is not None):
            for future in self._lease_waiters:
                if not future.done():
                    future.set_result(None)
            self._lease_waiters = []

    def follower_caught_up(self, follower: str) -> bool:
        """True when this leader sees `follower` active and holding its whole log."""
        progress = self.replica.status().get("followers", {}).get(follower)
        return bool(progress and progress["recently_active"] and progress["match"] >= self.replica.last_index)

    def transfer_leadership(self, target: str) -> None:
        self._pending_transfer = target
        self._mark_dirty()

    def request_membership(self, membership: Membership) -> asyncio.Future[int]:
        """Proposes a single-server membership change at the next batch; resolves to its log index
        (or fails with NotLeaderError / MembershipError). The core is only touched inside prepare()."""
        if self._pending_membership is not None and not self._pending_membership[1].done():
            self._pending_membership[1].set_exception(MembershipError("superseded by a newer request"))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending_membership = (membership, future)
        self._mark_dirty()
        return future

    def status(self) -> dict[str, Any]:
        status = dict(self.replica.status())
        status["group"] = self.group_id
        status["wal_bytes"] = self.wal.size_bytes()
        status["snapshots_taken"] = self.snapshots_taken
        status["snapshots_installed"] = self.snapshots_installed
        status["state_applied_index"] = self.state_machine.applied_index
        status["recovered_entries"] = self.recovered_entries
        status["opened_in_s"] = round(self.opened_in_s, 4)
        return status

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ProposalOutcomeUnknown("replica closed"))
        for _, future in self._proposals:
            if not future.done():
                future.set_exception(ProposalOutcomeUnknown("replica closed"))
        if self._fetch_task is not None:
            self._fetch_task.cancel()
        self.snapshot_files.close()
        self.wal.close()
        self.state_machine.close()
