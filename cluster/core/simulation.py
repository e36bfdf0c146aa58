"""A deterministic, seeded simulation of one replication group: replicas, a faulty network, durable storage.

Everything the real runtime does is modelled in memory, in logical steps (one step = one tick of every
live replica): Ready handling in the required order (persist + fsync, send, apply, advance), a network
that drops, delays, duplicates and reorders messages and can be partitioned (symmetrically or one way),
and crashes that lose everything that was not yet fsynced. The same seed and the same calls replay the
same run exactly; print the seed of a failing run to replay it.

Snapshots: `compact(node)` stores a node's state machine (its applied entries) as its durable snapshot
and drops the log and the WAL through it; a SNAPSHOT message carries a copy of the sender's snapshot,
taken when it is sent, which the recipient installs when its Ready says so.
"""

from __future__ import annotations

import enum
import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cluster.core.config import RaftConfig
from cluster.core.membership import Membership
from cluster.core.messages import Message, MessageKind
from cluster.core.replica import NotLeaderError, Replica, Role
from cluster.core.simulation_invariants import SafetyMonitor
from cluster.core.types import Entry, HardState, SnapshotMeta


@dataclass(frozen=True)
class NetworkFaults:
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    # A message sent at step t is delivered at step t + delay, delay drawn from [min, max]. Different
    # delays reorder messages.
    delay_steps_min: int = 1
    delay_steps_max: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.delay_steps_min <= self.delay_steps_max:
            raise ValueError("need 1 <= delay_steps_min <= delay_steps_max")


class CrashPoint(enum.Enum):
    """Where in Ready handling a crash strikes (it always loses the replica's in-memory state)."""

    BEFORE_FSYNC = "before_fsync"  # the Ready's entries, hard state and messages are lost
    AFTER_FSYNC = "after_fsync"  # durable, but nothing was sent or applied
    AFTER_SEND = "after_send"  # durable and sent, not applied


@dataclass
class SimulatedNode:
    node_id: str
    replica: Replica | None
    # What the WAL holds (the entries after the snapshot): only ever changed by a Ready's persist or
    # snapshot, or by a compaction, after which it is "fsynced".
    durable_entries: list[Entry] = field(default_factory=list)
    durable_hard_state: HardState | None = None
    # The state machine: entries applied, in order; durable like the runtime's SQLite state.
    applied: list[Entry] = field(default_factory=list)
    # The durable snapshot: what the state machine held through durable_snapshot.index.
    durable_snapshot: SnapshotMeta | None = None
    snapshot_entries: list[Entry] = field(default_factory=list)
    # Snapshots delivered to the replica, by (index, term), until its Ready installs one.
    received_snapshots: dict[tuple[int, int], list[Entry]] = field(default_factory=dict)
    pending_crash: CrashPoint | None = None
    restarts: int = 0

    @property
    def wal_start(self) -> int:
        """The index the WAL's first entry has (1 without a snapshot)."""
        return (self.durable_snapshot.index if self.durable_snapshot is not None else 0) + 1

    @property
    def alive(self) -> bool:
        return self.replica is not None


class Simulation:
    def __init__(
        self,
        node_ids: Sequence[str],
        *,
        seed: int,
        config: RaftConfig | None = None,
        faults: NetworkFaults | None = None,
        check_invariants: bool = True,
    ) -> None:
        self.seed = seed
        self.node_ids = tuple(node_ids)
        self.config = config if config is not None else RaftConfig()
        self.faults = faults if faults is not None else NetworkFaults()
        self.rng = random.Random(seed)
        self.time = 0
        self.nodes: dict[str, SimulatedNode] = {}
        # The membership each node's replica starts from (nodes added later join a changed membership).
        self.initial_membership: dict[str, Membership] = {}
        for node_id in self.node_ids:
            self.initial_membership[node_id] = Membership(self.node_ids)
            self.nodes[node_id] = SimulatedNode(node_id, None)
            self.nodes[node_id].replica = self._new_replica(self.nodes[node_id])
        self._in_flight: list[tuple[int, int, Message]] = []
        # The snapshot copy each SNAPSHOT message in flight carries, by its sequence number.
        self._snapshot_payloads: dict[int, list[Entry]] = {}
        self._message_sequence = 0
        self.blocked_links: set[tuple[str, str]] = set()
        self.messages_sent = 0
        self.messages_delivered = 0
        self.snapshots_sent = 0
        self.monitor = SafetyMonitor(self) if check_invariants else None

    # ---- construction and crashes -----------------------------------------------------------------

    def _new_replica(self, node: SimulatedNode) -> Replica:
        # Each incarnation gets its own rng stream, derived from the run's seed so replays match.
        rng = random.Random(self.rng.getrandbits(64))
        membership = self.initial_membership[node.node_id]
        return Replica(
            node.node_id,
            membership.storage,
            log_replicas=membership.log,
            learners=membership.learners,
            config=self.config,
            rng=rng,
            entries=list(node.durable_entries),
            hard_state=node.durable_hard_state,
            applied_index=len(node.applied),
            snapshot=node.durable_snapshot,
        )

    def add_node(self, node_id: str, joining: Membership) -> None:
        """A new, empty node whose replica starts in `joining` (the membership a change will make)."""
        if node_id in self.nodes:
            raise ValueError(f"{node_id!r} already exists")
        self.node_ids = (*self.node_ids, node_id)
        self.initial_membership[node_id] = joining
        self.nodes[node_id] = SimulatedNode(node_id, None)
        self.nodes[node_id].replica = self._new_replica(self.nodes[node_id])

    def crash(self, node_id: str, point: CrashPoint | None = None) -> None:
        """Crash now (losing what is not fsynced), or at the given point of the node's next Ready."""
        node = self.nodes[node_id]
        if point is None:
            node.replica = None
            node.pending_crash = None
        else:
            node.pending_crash = point

    def restart(self, node_id: str, *, lose_state_machine: bool = False) -> None:
        """Start a new replica from exactly what was fsynced. lose_state_machine replays it from index 1."""
        node = self.nodes[node_id]
        if node.alive:
            return
        if lose_state_machine:
            node.applied = list(node.snapshot_entries)  # the state machine restarts from its snapshot
        node.received_snapshots.clear()
        node.restarts += 1
        node.replica = self._new_replica(node)
        if self.monitor is not None:
            self.monitor.on_restart(node_id)

    def compact(self, node_id: str, index: int | None = None, *, truncate_wal: bool = True) -> SnapshotMeta:
        """Snapshot a live node's state machine through `index` (default: all it applied) and drop its
        log through it; truncate_wal=False is a crash after the snapshot became durable and before the
        WAL was truncated (the restart must cope with the overlap)."""
        node = self.nodes[node_id]
        assert node.replica is not None, f"{node_id} is down"
        through = node.replica.applied_index if index is None else index
        meta = node.replica.compact(through)
        node.durable_snapshot = meta
        node.snapshot_entries = node.applied[:through]
        if truncate_wal:
            node.durable_entries = [entry for entry in node.durable_entries if entry.index > through]
        else:
            node.replica = None
            node.pending_crash = None
        return meta

    # ---- network ----------------------------------------------------------------------------------

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups, both ways (nodes not named form their own group)."""
        group_of: dict[str, str] = {node_id: f"alone:{node_id}" for node_id in self.node_ids}
        for number, group in enumerate(groups):
            for node_id in group:
                group_of[node_id] = f"group:{number}"
        for sender in self.node_ids:
            for recipient in self.node_ids:
                if group_of[sender] != group_of[recipient]:
                    self.blocked_links.add((sender, recipient))

    def isolate(self, node_id: str) -> None:
        for other in self.node_ids:
            if other != node_id:
                self.blocked_links.add((node_id, other))
                self.blocked_links.add((other, node_id))

    def cut_one_way(self, sender: str, recipient: str) -> None:
        self.blocked_links.add((sender, recipient))

    def heal(self) -> None:
        self.blocked_links.clear()

    def _enqueue(self, message: Message, snapshot_payload: list[Entry] | None = None) -> None:
        self.messages_sent += 1
        if self.faults.drop_probability and self.rng.random() < self.faults.drop_probability:
            return
        copies = 2 if self.faults.duplicate_probability and self.rng.random() < self.faults.duplicate_probability else 1
        for _ in range(copies):
            delay = self.rng.randint(self.faults.delay_steps_min, self.faults.delay_steps_max)
            self._message_sequence += 1
            if snapshot_payload is not None:
                self._snapshot_payloads[self._message_sequence] = snapshot_payload
            heapq.heappush(self._in_flight, (self.time + delay, self._message_sequence, message))

    # ---- driving ----------------------------------------------------------------------------------

    def step(self) -> None:
        self.time += 1
        while self._in_flight and self._in_flight[0][0] <= self.time:
            _, sequence, message = heapq.heappop(self._in_flight)
            payload = self._snapshot_payloads.pop(sequence, None)
            recipient = self.nodes.get(message.recipient)
            if recipient is None or recipient.replica is None:
                continue
            if (message.sender, message.recipient) in self.blocked_links:
                continue
            self.messages_delivered += 1
            if payload is not None:
                recipient.received_snapshots[(message.index, message.log_term)] = payload
            recipient.replica.step(message)
        for node in self.nodes.values():
            if node.replica is not None:
                node.replica.tick()
        for node in self.nodes.values():
            self.process_ready(node)
        if self.monitor is not None:
            self.monitor.check()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def process_ready(self, node: SimulatedNode) -> None:
        """What the runtime does: persist + fsync, send, apply, advance; repeated while there is work."""
        while node.replica is not None and node.replica.has_ready():
            replica = node.replica
            ready = replica.ready()
            if ready.safety_alarms and self.monitor is not None:
                self.monitor.fail(f"{node.node_id}: {ready.safety_alarms[0]}")
            if node.pending_crash is CrashPoint.BEFORE_FSYNC:
                self.crash(node.node_id)
                return
            if ready.snapshot is not None:
                self._install_snapshot(node, ready.snapshot)
            if ready.persist:
                first_index = ready.persist[0].index
                offset = node.wal_start
                assert offset <= first_index <= offset + len(node.durable_entries), "WAL gap"
                del node.durable_entries[first_index - offset :]
                node.durable_entries.extend(ready.persist)
            if ready.hard_state is not None:
                node.durable_hard_state = ready.hard_state
            if node.pending_crash is CrashPoint.AFTER_FSYNC:
                self.crash(node.node_id)
                return
            for message in ready.send:
                if message.kind is MessageKind.SNAPSHOT:
                    assert node.durable_snapshot is not None and node.durable_snapshot.index == message.index
                    self.snapshots_sent += 1
                    self._enqueue(message, list(node.snapshot_entries))
                else:
                    self._enqueue(message)
            if node.pending_crash is CrashPoint.AFTER_SEND:
                self.crash(node.node_id)
                return
            if ready.apply:
                assert ready.apply[0].index == len(node.applied) + 1, (ready.apply[0].index, len(node.applied))
                node.applied.extend(ready.apply)
                if self.monitor is not None:
                    self.monitor.on_apply(node.node_id, ready.apply)
            replica.advance(ready)

    def _install_snapshot(self, node: SimulatedNode, meta: SnapshotMeta) -> None:
        """What the runtime does with a Ready's snapshot: replace the state machine, then the WAL."""
        payload = node.received_snapshots.pop((meta.index, meta.term))
        assert len(payload) == meta.index and payload[-1].term == meta.term, (meta, len(payload))
        node.snapshot_entries = list(payload)
        node.applied = list(payload)
        wal_term_there = next((entry.term for entry in node.durable_entries if entry.index == meta.index), None)
        kept = [entry for entry in node.durable_entries if entry.index > meta.index] if wal_term_there == meta.term else []
        node.durable_snapshot = meta
        node.durable_entries = kept
        if self.monitor is not None:
            self.monitor.on_snapshot_installed(node.node_id, payload)

    def run_until(self, condition: Callable[[], bool], max_steps: int) -> int:
        """Steps until condition() holds; returns the steps taken, or raises TimeoutError with the seed."""
        for taken in range(max_steps + 1):
            if condition():
                return taken
            self.step()
        raise TimeoutError(f"seed {self.seed}: condition not reached within {max_steps} steps (time {self.time})")

    # ---- views and client helpers -----------------------------------------------------------------

    def live_replicas(self) -> list[Replica]:
        return [node.replica for node in self.nodes.values() if node.replica is not None]

    def leader(self) -> Replica | None:
        """The live leader of the highest term, if any."""
        leaders = [replica for replica in self.live_replicas() if replica.role is Role.LEADER]
        return max(leaders, key=lambda replica: replica.term) if leaders else None

    def propose(self, command: bytes) -> tuple[str, int] | None:
        """Proposes at the current leader; returns (leader, index), or None when there is none to take it."""
        leader = self.leader()
        if leader is None:
            return None
        try:
            index = leader.propose(command)
        except NotLeaderError:
            return None
        return leader.node_id, index

    def is_converged(self) -> bool:
        """One leader, every replica alive holding and applying exactly the leader's whole log."""
        leader = self.leader()
        if leader is None or leader.commit_index != leader.last_index:
            return False
        return all(
            replica.last_index == leader.last_index
            and replica.commit_index == leader.commit_index
            and replica.applied_index == leader.commit_index
            for replica in self.live_replicas()
        )
