"""One Raft replica of one replication group, as a pure state machine (etcd-io/raft's RawNode/Ready).

Inputs: tick() (logical time), step(message), propose(command), transfer_leadership(target),
compact(index) once the runtime holds a durable snapshot of the state machine through index.
Outputs: ready() -> what to install, persist, send and apply; advance(ready) once the runtime has done it.
No sockets, no clocks, no global randomness: time is the tick count and randomness the injected rng,
so a seed plus a message schedule replays exactly.

Beyond the Raft paper: Pre-Vote and CheckQuorum (thesis §9.6), leader stickiness, leadership
transfer (thesis §3.10), leader leases for strongly consistent reads (see lease_read_index), and
single-server membership changes with log replicas that vote but never lead (see membership.py).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from typing import Any

from cluster.core.config import RaftConfig
from cluster.core.follower_progress import FollowerProgress, ReplicationMode
from cluster.core.membership import Membership, MembershipError
from cluster.core.messages import Message, MessageKind
from cluster.core.raft_log import RaftLog
from cluster.core.ready import Ready
from cluster.core.types import Entry, HardState, SnapshotMeta

__all__ = ["Membership", "MembershipError", "NotLeaderError", "Ready", "Replica", "Role"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class NotLeaderError(Exception):
    """Only the leader accepts proposals; leader_hint is where the caller should try next (None: unknown)."""

    def __init__(self, leader_hint: str | None) -> None:
        super().__init__(f"not the leader; try {leader_hint}" if leader_hint else "not the leader; leader unknown")
        self.leader_hint = leader_hint


# What only a leader sends, and a replica takes from a sender outside its membership (a new member, or
# one that was down while it was added back, learns the membership from them).
_FROM_ANY_LEADER = frozenset({MessageKind.APPEND, MessageKind.SNAPSHOT})

_VOTE_RESPONSE_KIND = {
    MessageKind.PRE_VOTE: MessageKind.PRE_VOTE_RESPONSE,
    MessageKind.VOTE: MessageKind.VOTE_RESPONSE,
}


class Replica:
    def __init__(
        self,
        node_id: str,
        voters: Sequence[str],
        *,
        config: RaftConfig,
        rng: random.Random,
        entries: Sequence[Entry] = (),
        hard_state: HardState | None = None,
        applied_index: int = 0,
        log_replicas: Sequence[str] = (),
        learners: Sequence[str] = (),
        snapshot: SnapshotMeta | None = None,
    ) -> None:
        """`voters` are the group's initial storage replicas and `log_replicas` its initial log
        replicas; a recovered `snapshot`'s membership, then membership entries in the log (recovered
        or replicated later) take precedence. With a snapshot, `entries` are the WAL's tail after it and
        `applied_index` is at least its index (the state machine starts from it)."""
        voters = tuple(voters)
        if len(set(voters)) != len(voters):
            raise ValueError(f"duplicate voters in {voters}")
        initial = Membership(voters, tuple(log_replicas), tuple(learners))
        # Checked against the group as placed: a snapshot's membership may predate this replica (a log
        # replica added after it), and the membership entry that added it then lies in the log tail.
        if node_id not in initial.replicated:
            raise ValueError(f"{node_id!r} is not one of the voters {initial.replicated}")
        if snapshot is not None:
            recovered_membership = Membership.decode(snapshot.membership)
            if recovered_membership is None:
                raise ValueError(f"the snapshot at index {snapshot.index} holds no membership")
            initial = recovered_membership
            if applied_index < snapshot.index:
                raise ValueError(
                    f"applied index {applied_index} below the snapshot's index {snapshot.index}: the state "
                    "machine starts from the snapshot"
                )
        self._node_id = node_id
        self._config = config
        self._rng = rng
        self._log = (
            RaftLog(entries, snapshot.index, snapshot.term) if snapshot is not None else RaftLog(entries)
        )
        # The latest durable snapshot (what a follower behind our log's start is sent), and one a leader
        # sent us that the runtime has still to install (handed out in the next Ready).
        self._snapshot = snapshot
        self._snapshot_to_install: SnapshotMeta | None = None
        # (index, membership) of every membership entry in the log, oldest first; index 0 is the initial one.
        self._memberships: list[tuple[int, Membership]] = [(0, initial)]
        for entry in self._log.entries_between(self._log.snapshot_index + 1, self._log.last_index):
            self._note_membership_entry(entry)
        self._progress: dict[str, FollowerProgress] = {}
        self._use_latest_membership()
        recovered = hard_state if hard_state is not None else HardState(term=0, voted_for=None, commit=0)
        if self._log.last_term > recovered.term:
            raise ValueError(
                f"recovered log has term {self._log.last_term} above the recovered hard state's term {recovered.term}"
            )
        if recovered.commit > self._log.last_index or applied_index > self._log.last_index:
            raise ValueError(
                f"recovered commit {recovered.commit} / applied {applied_index} beyond the recovered log's "
                f"last index {self._log.last_index}: the WAL lost entries the state machine saw"
            )
        if applied_index < 0:
            raise ValueError(f"applied_index must be >= 0, got {applied_index}")
        self._term = recovered.term
        self._voted_for = recovered.voted_for
        # What the state machine applied was committed, even if the WAL's commit lags behind.
        self._commit_index = max(recovered.commit, applied_index)
        self._applied_index = applied_index
        self._persisted_hard_state = recovered

        self._role = Role.FOLLOWER
        self._leader_id: str | None = None
        # Local logical clock; leases compare stamps of it, so it only ever increases.
        self._tick_count = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        # Starts at 0 on purpose: a replica that just restarted may have acknowledged a leader's lease
        # before it crashed and forgotten it, so it refuses votes for election_ticks_min ticks.
        self._ticks_since_leader_contact = 0
        self._election_timeout = self._draw_election_timeout()

        self._outbox: list[Message] = []
        # Observations that only a broken peer or protocol can cause (a leader without entries we
        # committed): handed to the runtime through Ready.safety_alarms, each (kind, peer, term) once.
        self._safety_alarms: list[str] = []
        self._alarmed: set[tuple[str, str, int]] = set()
        self._votes: dict[str, bool] = {}
        self._replication_pending = False
        self._transfer_target: str | None = None
        self._transfer_elapsed = 0
        # A leader that ever started a transfer in its term serves no lease read for the rest of the term:
        # the target's vote requests skip stickiness and may still be in flight after an abort.
        self._transfer_started_this_term = False

    # ---- read-only view ---------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def voters(self) -> tuple[str, ...]:
        """Every voting member now: storage replicas, then log replicas."""
        return self._voters

    @property
    def membership(self) -> Membership:
        """The latest membership in the log (committed or not), which this replica acts on."""
        return self._memberships[-1][1]

    @property
    def membership_index(self) -> int:
        """The log index of the latest membership entry (0: the initial membership)."""
        return self._memberships[-1][0]

    @property
    def role(self) -> Role:
        return self._role

    @property
    def term(self) -> int:
        return self._term

    @property
    def leader_id(self) -> str | None:
        return self._leader_id

    @property
    def commit_index(self) -> int:
        return self._commit_index

    @property
    def last_index(self) -> int:
        return self._log.last_index

    @property
    def applied_index(self) -> int:
        return self._applied_index

    @property
    def persisted_index(self) -> int:
        return self._log.persisted_index

    @property
    def snapshot_index(self) -> int:
        """The index the log starts after (0: it starts at index 1)."""
        return self._log.snapshot_index

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The latest snapshot this replica's log starts after (None: the log starts at index 1)."""
        return self._snapshot

    @property
    def transfer_target(self) -> str | None:
        return self._transfer_target

    def term_at(self, index: int) -> int | None:
        return self._log.term_at(index)

    def silent_ticks(self) -> dict[str, int]:
        """Leader only: ticks since each member last answered (since we started leading, at most)."""
        return {peer: self._tick_count - progress.last_heard_tick for peer, progress in self._progress.items()}

    def match_index_of(self, peer: str) -> int | None:
        """Leader only: the highest index `peer` is known to hold, or None when we do not track it."""
        progress = self._progress.get(peer)
        return progress.match_index if progress is not None else None

    def entries_between(self, first_index: int, last_index: int) -> list[Entry]:
        """A copy of the log's entries first_index..last_index inclusive (for checkers and debugging)."""
        return self._log.entries_between(first_index, last_index)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "node": self._node_id,
            "role": self._role.value,
            "term": self._term,
            "leader": self._leader_id,
            "commit": self._commit_index,
            "commit_index": self._commit_index,
            "applied": self._applied_index,
            "applied_index": self._applied_index,
            "last_index": self._log.last_index,
            "persisted_index": self._log.persisted_index,
            "lease_valid": self.lease_read_index() is not None,
            "membership": {
                "storage": list(self.membership.storage),
                "log": list(self.membership.log),
                "learners": list(self.membership.learners),
            },
            "membership_index": self.membership_index,
            "snapshot_index": self._log.snapshot_index,
        }
        if self._role is Role.LEADER:
            status["transfer_target"] = self._transfer_target
            status["followers"] = {
                peer: {
                    "match": progress.match_index,
                    "next": progress.next_index,
                    "mode": progress.mode.value,
                    "inflight": len(progress.inflight),
                    "recently_active": progress.recently_active,
                }
                for peer, progress in self._progress.items()
            }
        return status

    # ---- inputs -----------------------------------------------------------------------------------

    def tick(self) -> None:
        self._tick_count += 1
        if self._role is Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def advance_clock(self, ticks: int) -> None:
        """`ticks` of time passed that no tick() counted (the process was paused or starved).

        Leases count them: a leader paused for longer than its lease must not wake up and serve reads on
        stamps its quorum acknowledged before the pause, while the others may have elected a new leader.
        Election timers and silence do not: what was not heard while we could not listen says nothing
        about a peer, and a paused replica must not wake up and campaign at once.
        """
        if ticks <= 0:
            return
        self._tick_count += ticks
        for progress in self._progress.values():
            progress.last_heard_tick += ticks

    def propose(self, command: bytes) -> int:
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id)
        if self._transfer_target is not None:
            raise NotLeaderError(self._transfer_target)
        entry = Entry(term=self._term, index=self._log.last_index + 1, command=bytes(command))
        self._log.append(entry)
        # Sending waits until ready(): many proposals between two ready() calls share one APPEND.
        self._replication_pending = True
        return entry.index

    def propose_membership(self, new: Membership) -> int:
        """Append a single-server membership change; it takes effect here now and on each replica as it
        appends the entry. Refused while an earlier change is uncommitted, before an entry of this term
        is committed (the fix to single-server changes in Ongaro's 2015 raft-dev note), during a
        transfer, and when it would remove or demote this leader (transfer leadership first)."""
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id)
        if self._transfer_target is not None:
            raise NotLeaderError(self._transfer_target)
        self.membership.check_single_change_to(new)
        if not new.can_lead(self._node_id):
            raise MembershipError(f"the leader {self._node_id!r} cannot remove itself; transfer leadership first")
        if self.membership_index > self._commit_index:
            raise MembershipError(f"the change at index {self.membership_index} is not committed yet")
        if self._log.term_at(self._commit_index) != self._term:
            raise MembershipError("no entry of this leader's term is committed yet")
        index = self.propose(new.encode())
        self._note_membership_entry(self._log.entry_at(index))
        self._use_latest_membership()
        return index

    def transfer_leadership(self, target: str) -> None:
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id)
        if target == self._node_id or target == self._transfer_target:
            return
        if target not in self._progress or not self.membership.can_lead(target):
            raise ValueError(
                f"cannot transfer leadership to {target!r}: not a storage replica of this group "
                f"{self.membership.storage}"
            )
        self._transfer_target = target
        self._transfer_elapsed = 0
        self._transfer_started_this_term = True
        if self._progress[target].match_index == self._log.last_index:
            self._send_timeout_now(target)
        else:
            self._replicate_to(target)

    def compact(self, index: int) -> SnapshotMeta:
        """The runtime holds a durable snapshot of the state machine through `index` (at most the applied
        index): drop the log through it. Returns what the snapshot must be stored with (its term and the
        membership in force there); a follower that needs the dropped entries is sent that snapshot."""
        if not self._log.snapshot_index < index <= min(self._applied_index, self._log.persisted_index):
            raise ValueError(
                f"cannot compact through {index}: it must exceed the snapshot index {self._log.snapshot_index} "
                f"and be applied ({self._applied_index}) and durable ({self._log.persisted_index})"
            )
        in_force = [membership for at, membership in self._memberships if at <= index][-1]
        self._log.compact_through(index)
        # Membership entries through index are in the snapshot now: the one in force there is the base.
        self._memberships = [(0, in_force)] + [(at, membership) for at, membership in self._memberships if at > index]
        self._snapshot = SnapshotMeta(index, self._log.snapshot_term, in_force.encode())
        return self._snapshot

    def lease_read_index(self) -> int | None:
        """The index a strongly consistent read must wait to see applied, or None if we may not serve it.

        Valid while the lease stamp a quorum acknowledged (we count ourselves at the current tick) plus
        lease_ticks is in the future. Each acknowledging follower refuses to vote for election_ticks_min
        of its own ticks after receiving that stamp, so no other leader can commit in the meantime.
        Requiring an entry of our term to be committed makes commit_index cover every earlier write.
        """
        if self._role is not Role.LEADER or not self._config.check_quorum or self._transfer_started_this_term:
            return None
        if self._log.term_at(self._commit_index) != self._term:
            return None
        if self._config.unsafe_deposed_leader_reads:
            return self._commit_index  # the planted bug (see RaftConfig): no lease needed
        stamps = sorted(
            [self._tick_count]
            + [
                progress.acknowledged_lease_stamp
                for peer, progress in self._progress.items()
                if progress.acknowledged_lease_stamp is not None and peer in self._voter_set
            ],
            reverse=True,
        )
        if len(stamps) < self._quorum:
            return None
        if stamps[self._quorum - 1] + self._config.lease_ticks > self._tick_count:
            return self._commit_index
        return None

    def step(self, message: Message) -> None:
        if message.recipient != self._node_id:
            return
        if message.sender not in self._peer_set and message.kind not in _FROM_ANY_LEADER:
            # Appends are taken from anyone: a replica down while a member was added back knows a membership
            # without it, and must still follow that member once it leads (the log brings the membership).
            # Votes from outside stay ignored, so a removed member cannot disrupt the group.
            return
        entries = message.entries
        if entries and (
            entries[0].index != message.index + 1 or entries[-1].index != message.index + len(entries)
        ):
            return
        kind = message.kind
        if message.term > self._term:
            is_vote_request = kind is MessageKind.PRE_VOTE or kind is MessageKind.VOTE
            if is_vote_request and self._heard_from_leader_recently() and not message.transfer:
                # Leader stickiness: a disruptive candidate must not depose a leader we still hear.
                return
            if kind is MessageKind.PRE_VOTE or (kind is MessageKind.PRE_VOTE_RESPONSE and not message.reject):
                # Pre-votes speak of a term nobody has entered yet; they must not move ours.
                pass
            else:
                self._become_follower(message.term, message.sender if kind in _FROM_ANY_LEADER else None)
        elif message.term < self._term:
            if kind in _FROM_ANY_LEADER:
                # A deposed leader (perhaps cut off while we moved on): tell it our term so it steps down.
                self._send(Message(MessageKind.APPEND_RESPONSE, self._node_id, message.sender, self._term))
            elif kind is MessageKind.PRE_VOTE:
                self._send(
                    Message(MessageKind.PRE_VOTE_RESPONSE, self._node_id, message.sender, self._term, reject=True)
                )
            return

        if kind is MessageKind.PRE_VOTE or kind is MessageKind.VOTE:
            self._handle_vote_request(message)
        elif kind is MessageKind.PRE_VOTE_RESPONSE:
            if self._role is Role.PRE_CANDIDATE and message.term == self._term + (0 if message.reject else 1):
                self._record_vote(message.sender, not message.reject)
        elif kind is MessageKind.VOTE_RESPONSE:
            if self._role is Role.CANDIDATE and message.term == self._term:
                self._record_vote(message.sender, not message.reject)
        elif kind in _FROM_ANY_LEADER:
            if self._role is Role.LEADER:
                return  # Two leaders in one term cannot happen; a forged message must not make it so.
            if self._role is not Role.FOLLOWER:
                self._become_follower(self._term, message.sender)
            if kind is MessageKind.APPEND:
                self._handle_append(message)
            else:
                self._handle_snapshot(message)
        elif kind is MessageKind.APPEND_RESPONSE:
            if self._role is Role.LEADER:
                self._handle_append_response(message)
        elif kind is MessageKind.TIMEOUT_NOW and self._role is not Role.LEADER and self._can_lead():
            # The leader caught us up and asks us to take over now: skip pre-vote and stickiness.
            self._become_candidate(transfer=True)

    # ---- output -----------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        return bool(
            self._outbox
            or self._safety_alarms
            or self._snapshot_to_install is not None
            or self._log.has_unpersisted_entries()
            or self._commit_index > self._applied_index
            or self._hard_state() != self._persisted_hard_state
            or (self._replication_pending and self._role is Role.LEADER and self._peers)
        )

    def ready(self) -> Ready:
        if self._replication_pending:
            self._replication_pending = False
            if self._role is Role.LEADER:
                for peer in self._peers:
                    self._replicate_to(peer)
        hard_state = self._hard_state()
        installed = self._snapshot_to_install.index if self._snapshot_to_install is not None else 0
        return Ready(
            persist=self._log.unpersisted_entries(),
            hard_state=hard_state if hard_state != self._persisted_hard_state else None,
            send=tuple(self._outbox),
            apply=tuple(self._log.entries_between(max(self._applied_index, installed) + 1, self._commit_index)),
            snapshot=self._snapshot_to_install,
            safety_alarms=tuple(self._safety_alarms),
        )

    def advance(self, ready: Ready) -> None:
        if ready.snapshot is not None:
            self._applied_index = max(self._applied_index, ready.snapshot.index)
            if self._snapshot_to_install == ready.snapshot:
                self._snapshot_to_install = None
        if ready.persist:
            self._log.mark_persisted(ready.persist[-1].index)
        if ready.hard_state is not None:
            self._persisted_hard_state = ready.hard_state
        del self._outbox[: len(ready.send)]
        del self._safety_alarms[: len(ready.safety_alarms)]
        if ready.apply:
            assert ready.apply[0].index == self._applied_index + 1, (ready.apply[0].index, self._applied_index)
            self._applied_index = ready.apply[-1].index
        if self._role is Role.LEADER and ready.persist:
            # Our own log counts towards the commit quorum only once it is durable.
            self._maybe_commit()

    # ---- time -------------------------------------------------------------------------------------

    def _draw_election_timeout(self) -> int:
        return self._rng.randrange(self._config.election_ticks_min, self._config.election_ticks_max)

    def _heard_from_leader_recently(self) -> bool:
        return self._config.check_quorum and self._ticks_since_leader_contact < self._config.election_ticks_min

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        self._ticks_since_leader_contact += 1
        if self._election_elapsed >= self._election_timeout and not self._can_lead():
            # A log replica (or a removed member) never campaigns: it holds no state machine to lead with.
            self._election_elapsed = 0
        elif self._election_elapsed >= self._election_timeout:
            if self._config.pre_vote:
                self._become_pre_candidate()
            else:
                self._become_candidate(transfer=False)

    def _tick_leader(self) -> None:
        self._ticks_since_leader_contact = 0
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._transfer_target is not None:
            self._transfer_elapsed += 1
            if self._transfer_elapsed >= self._config.election_ticks_min:
                # The target did not win in time (crashed, cut off): take proposals again.
                self._transfer_target = None
        if self._election_elapsed >= self._config.election_ticks_min:
            self._election_elapsed = 0
            if self._config.check_quorum:
                active = 1 + sum(
                    progress.recently_active for peer, progress in self._progress.items() if peer in self._voter_set
                )
                for progress in self._progress.values():
                    progress.recently_active = False
                if self._config.unsafe_eager_step_down and active < len(self._voters):
                    # The planted bug (see RaftConfig): one silent voter is enough to give up leading.
                    self._become_follower(self._term, None)
                    return
                if active < self._quorum and not self._config.unsafe_deposed_leader_reads:
                    # Cut off from a quorum: a new leader may exist; stop accepting writes that cannot commit.
                    self._become_follower(self._term, None)
                    return
        if self._heartbeat_elapsed >= self._config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            for peer in self._peers:
                self._heartbeat_or_append(peer)

    # ---- role changes -----------------------------------------------------------------------------

    def _reset_for_role_change(self) -> None:
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._election_timeout = self._draw_election_timeout()
        self._votes = {}
        self._progress = {}
        self._replication_pending = False
        self._transfer_target = None
        self._transfer_started_this_term = False

    def _become_follower(self, term: int, leader_id: str | None) -> None:
        if term != self._term:
            assert term > self._term, (term, self._term)
            self._term = term
            self._voted_for = None
        self._reset_for_role_change()
        self._role = Role.FOLLOWER
        self._leader_id = leader_id
        if leader_id is not None:
            self._ticks_since_leader_contact = 0

    def _become_pre_candidate(self) -> None:
        self._reset_for_role_change()
        self._role = Role.PRE_CANDIDATE
        self._leader_id = None
        self._votes = {self._node_id: True}
        for peer in self._voter_peers:
            self._send(
                Message(
                    MessageKind.PRE_VOTE,
                    self._node_id,
                    peer,
                    self._term + 1,
                    log_term=self._log.last_term,
                    index=self._log.last_index,
                )
            )
        self._check_election_outcome()

    def _become_candidate(self, transfer: bool) -> None:
        self._reset_for_role_change()
        self._term += 1
        self._voted_for = self._node_id
        self._role = Role.CANDIDATE
        self._leader_id = None
        self._votes = {self._node_id: True}
        for peer in self._voter_peers:
            self._send(
                Message(
                    MessageKind.VOTE,
                    self._node_id,
                    peer,
                    self._term,
                    log_term=self._log.last_term,
                    index=self._log.last_index,
                    transfer=transfer,
                )
            )
        self._check_election_outcome()

    def _become_leader(self) -> None:
        self._reset_for_role_change()
        self._role = Role.LEADER
        self._leader_id = self._node_id
        self._ticks_since_leader_contact = 0
        if self._config.unsafe_truncate_uncommitted_on_election and self._log.last_index > self._commit_index:
            # The planted bug (see RaftConfig): forget what we do not know to be committed. Our next
            # Ready persists the no-op at commit_index + 1, which replaces the suffix in the WAL too.
            self._log.truncate_from(self._commit_index + 1)
        self._after_merge(())  # the planted bug may have truncated a membership entry
        next_index = self._log.last_index + 1
        self._progress = {
            peer: FollowerProgress(next_index, self._config.max_inflight_appends, self._tick_count) for peer in self._peers
        }
        # Raft §5.4.2: we may only count replicas for an entry of our own term, so create one right away.
        self._log.append(Entry(term=self._term, index=next_index, command=b""))
        self._replication_pending = True

    # ---- elections --------------------------------------------------------------------------------

    def _handle_vote_request(self, message: Message) -> None:
        if self._node_id not in self._voter_set:
            return  # a learner has no vote to give
        is_pre_vote = message.kind is MessageKind.PRE_VOTE
        can_vote = (
            self._voted_for == message.sender
            or (self._voted_for is None and self._leader_id is None)
            or (is_pre_vote and message.term > self._term)
        )
        up_to_date = self._log.is_up_to_date(message.log_term, message.index) or self._config.unsafe_vote_ignores_log
        if can_vote and up_to_date:
            # A granted pre-vote answers in the term asked about, so the pre-candidate can count it.
            self._send(Message(_VOTE_RESPONSE_KIND[message.kind], self._node_id, message.sender, message.term))
            if not is_pre_vote:
                self._voted_for = message.sender
                self._election_elapsed = 0
        else:
            self._send(
                Message(_VOTE_RESPONSE_KIND[message.kind], self._node_id, message.sender, self._term, reject=True)
            )

    def _record_vote(self, voter: str, granted: bool) -> None:
        if voter not in self._voter_set:
            return  # a learner's answer: it has no vote
        self._votes.setdefault(voter, granted)
        self._check_election_outcome()

    def _check_election_outcome(self) -> None:
        granted = sum(self._votes.values())
        rejected = len(self._votes) - granted
        if granted >= self._quorum:
            if self._role is Role.PRE_CANDIDATE:
                self._become_candidate(transfer=False)
            else:
                self._become_leader()
        elif rejected > len(self._voters) - self._quorum:
            self._become_follower(self._term, None)

    # ---- replication, follower side ---------------------------------------------------------------

    def _handle_append(self, message: Message) -> None:
        self._leader_id = message.sender
        self._election_elapsed = 0
        self._ticks_since_leader_contact = 0
        previous_index, previous_term, entries = message.index, message.log_term, message.entries
        if previous_index < self._commit_index:
            self._check_committed_prefix(message)
            # Our prefix through commit_index is settled and equal to the leader's (Leader Completeness):
            # skip the part of the batch it covers instead of rejecting the whole batch.
            skip = min(self._commit_index - previous_index, len(entries))
            entries = entries[skip:]
            previous_index += skip
            previous_term = message.entries[skip - 1].term if skip else previous_term
            if previous_index < self._commit_index:
                previous_index = self._commit_index
                previous_term = self._log.term_at(self._commit_index) or 0
                entries = ()
        if self._log.term_at(previous_index) != previous_term:
            hint = self._log.conflict_hint(message.index, message.log_term, self._commit_index)
            self._send(
                Message(
                    MessageKind.APPEND_RESPONSE,
                    self._node_id,
                    message.sender,
                    self._term,
                    index=message.index,
                    reject=True,
                    reject_hint=hint,
                    lease_stamp=message.lease_stamp,
                )
            )
            return
        self._log.merge(entries, self._commit_index)
        self._after_merge(entries)
        last_new_index = previous_index + len(entries)
        self._commit_index = max(self._commit_index, min(message.commit, last_new_index))
        self._acknowledge(message, last_new_index)

    def _check_committed_prefix(self, message: Message) -> None:
        """The entries of an APPEND that we committed already must be ours (Leader Completeness); one of
        another term means this leader lacks a committed entry: alarm (the entry is skipped either way)."""
        for entry in message.entries[: self._commit_index - message.index]:
            mine = self._log.term_at(entry.index)
            if mine is not None and mine != entry.term:
                self._safety_alarm(
                    "committed-entry-overwritten", message.sender, message.term,
                    f"leader completeness: leader {message.sender} of term {message.term} sent entry {entry.index} "
                    f"of term {entry.term} where this replica committed an entry of term {mine}",
                )  # fmt: skip
                return

    def _safety_alarm(self, kind: str, peer: str, term: int, text: str) -> None:
        if (kind, peer, term) not in self._alarmed:
            self._alarmed.add((kind, peer, term))
            self._safety_alarms.append(text)

    def _acknowledge(self, message: Message, matched_index: int) -> None:
        """Tell the leader our log matches its own through matched_index, echoing its lease stamp.
        Sent after the runtime persists (or installs) this Ready, so the match we claim is durable."""
        self._send(
            Message(
                MessageKind.APPEND_RESPONSE,
                self._node_id,
                message.sender,
                self._term,
                index=matched_index,
                lease_stamp=message.lease_stamp,
            )
        )

    def _handle_snapshot(self, message: Message) -> None:
        self._leader_id = message.sender
        self._election_elapsed = 0
        self._ticks_since_leader_contact = 0
        if message.index > self._commit_index:
            membership = Membership.decode(message.snapshot_membership)
            if membership is None:
                return  # not a membership: a malformed snapshot is not installed
            kept = self._log.restore(message.index, message.log_term)
            self._commit_index = message.index
            self._snapshot = self._snapshot_to_install = SnapshotMeta(message.index, message.log_term, message.snapshot_membership)
            self._memberships = [(0, membership)]
            if kept:
                for entry in self._log.entries_between(message.index + 1, self._log.last_index):
                    self._note_membership_entry(entry)
            self._use_latest_membership()
        # Our log now matches the leader's through commit_index: the snapshot's index, or further when we
        # held all it covers already (committed entries equal the leader's).
        self._acknowledge(message, self._commit_index)

    # ---- replication, leader side -----------------------------------------------------------------

    def _handle_append_response(self, message: Message) -> None:
        progress = self._progress[message.sender]
        progress.recently_active = True
        progress.last_heard_tick = self._tick_count
        stamp = progress.acknowledged_lease_stamp
        if stamp is None or message.lease_stamp > stamp:
            progress.acknowledged_lease_stamp = min(message.lease_stamp, self._tick_count)
        if message.index > self._log.last_index:
            if not message.reject:
                # A follower matches only what we sent, or its commit index: beyond our log, it committed
                # entries that we, its leader, lack.
                self._safety_alarm(
                    "follower-ahead-of-leader", message.sender, self._term,
                    f"leader completeness: {message.sender} holds index {message.index} beyond this leader's last "
                    f"index {self._log.last_index} in term {self._term}: entries it committed are missing here",
                )  # fmt: skip
            return
        if message.reject:
            if progress.rejected(message.index, message.reject_hint):
                self._replicate_to(message.sender)
            return
        if progress.acknowledged(message.index):
            self._maybe_commit()
            if message.sender == self._transfer_target and progress.match_index == self._log.last_index:
                self._send_timeout_now(message.sender)
        self._replicate_to(message.sender)

    def _maybe_commit(self) -> None:
        matches = sorted(
            [self._log.persisted_index]
            + [progress.match_index for peer, progress in self._progress.items() if peer in self._voter_set],
            reverse=True,
        )
        candidate = matches[self._quorum - 1]
        # Raft §5.4.2: counting replicas only commits entries of the current term (earlier ones follow).
        if candidate > self._commit_index and (
            self._log.term_at(candidate) == self._term or self._config.unsafe_commit_previous_term_by_counting
        ):
            self._commit_index = candidate

    def _replicate_to(self, peer: str) -> None:
        """Send as many APPENDs as the follower's mode and inflight window allow."""
        progress = self._progress[peer]
        while progress.can_send_entries():
            if progress.next_index > self._log.last_index and progress.mode is ReplicationMode.REPLICATE:
                return
            self._send_append(peer, progress)
            if progress.mode is ReplicationMode.PROBE:
                return

    def _heartbeat_or_append(self, peer: str) -> None:
        progress = self._progress[peer]
        progress.on_heartbeat(self._log.last_index)
        sent_before = len(self._outbox)
        self._replicate_to(peer)
        if len(self._outbox) == sent_before:
            known_term = self._log.term_at(progress.match_index)
            # Nothing to stream (or window full): a bare heartbeat at a prefix the follower surely holds,
            # carrying our commit index and a fresh lease stamp.
            self._send(
                Message(
                    MessageKind.APPEND,
                    self._node_id,
                    peer,
                    self._term,
                    # Below our snapshot we no longer know the term: index 0 matches on every replica.
                    log_term=known_term or 0,
                    index=progress.match_index if known_term is not None else 0,
                    commit=self._commit_index,
                    lease_stamp=self._tick_count,
                )
            )

    def _send_append(self, peer: str, progress: FollowerProgress) -> None:
        previous_index = progress.next_index - 1
        previous_term = self._log.term_at(previous_index)
        if previous_term is None:
            # The entries the follower needs were compacted into our snapshot: send that instead.
            assert previous_index < self._log.snapshot_index and self._snapshot is not None, (previous_index, self._log.last_index)
            self._send_snapshot(peer, progress)
            return
        entries = self._log.batch_from(
            progress.next_index, self._config.max_entries_per_append, self._config.max_bytes_per_append
        )
        self._send(
            Message(
                MessageKind.APPEND,
                self._node_id,
                peer,
                self._term,
                log_term=previous_term,
                index=previous_index,
                entries=entries,
                commit=self._commit_index,
                lease_stamp=self._tick_count,
            )
        )
        progress.sent_entries(entries[-1].index if entries else previous_index)

    def _send_snapshot(self, peer: str, progress: FollowerProgress) -> None:
        snapshot = self._snapshot
        assert snapshot is not None
        self._send(
            Message(
                MessageKind.SNAPSHOT,
                self._node_id,
                peer,
                self._term,
                log_term=snapshot.term,
                index=snapshot.index,
                commit=self._commit_index,
                lease_stamp=self._tick_count,
                snapshot_membership=snapshot.membership,
            )
        )
        progress.sent_snapshot(snapshot.index)

    def _send_timeout_now(self, target: str) -> None:
        self._send(Message(MessageKind.TIMEOUT_NOW, self._node_id, target, self._term))

    # ---- membership -------------------------------------------------------------------------------

    def _can_lead(self) -> bool:
        return self.membership.can_lead(self._node_id)

    def _note_membership_entry(self, entry: Entry) -> None:
        membership = Membership.decode(entry.command)
        if membership is not None:
            assert entry.index > self._memberships[-1][0], (entry.index, self._memberships[-1][0])
            self._memberships.append((entry.index, membership))

    def _after_merge(self, entries: Sequence[Entry]) -> None:
        """Drop membership entries a conflicting leader truncated, note the new ones, act on the latest."""
        before = self._memberships[-1]
        while len(self._memberships) > 1:
            index, membership = self._memberships[-1]
            entry_term = self._log.term_at(index)
            if entry_term is not None and self._log.entry_at(index).command == membership.encode():
                break
            self._memberships.pop()
        for entry in entries:
            if entry.index > self._memberships[-1][0]:
                self._note_membership_entry(entry)
        if self._memberships[-1] != before:
            self._use_latest_membership()

    def _use_latest_membership(self) -> None:
        membership = self.membership
        self._voters = membership.members
        # Everyone the log goes to (learners too); only voters elect and count towards commit and leases.
        self._peers = tuple(member for member in membership.replicated if member != self._node_id)
        self._peer_set = frozenset(self._peers)
        self._voter_set = frozenset(membership.members)
        self._voter_peers = tuple(member for member in membership.members if member != self._node_id)
        self._quorum = membership.quorum
        if self._role_is_leader():
            next_index = self._log.last_index + 1
            for peer in self._peers:
                if peer not in self._progress:
                    # Probes back from our end; a new member's empty log makes it walk back to the start.
                    self._progress[peer] = FollowerProgress(
                        next_index, self._config.max_inflight_appends, self._tick_count
                    )
            for peer in list(self._progress):
                if peer not in self._peer_set:
                    del self._progress[peer]
            if self._transfer_target is not None and self._transfer_target not in self._peer_set:
                self._transfer_target = None

    def _role_is_leader(self) -> bool:
        # During __init__ the role is not set yet: a replica always starts as a follower.
        return getattr(self, "_role", Role.FOLLOWER) is Role.LEADER

    # ---- plumbing ---------------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._outbox.append(message)

    def _hard_state(self) -> HardState:
        return HardState(term=self._term, voted_for=self._voted_for, commit=self._commit_index)
