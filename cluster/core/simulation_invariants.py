"""Raft's safety properties, checked continuously against a running Simulation.

Figure 3 of the Raft paper (election safety, log matching, leader completeness, state machine safety),
plus durability of committed entries across crashes and the safety of leader leases. A violation raises
InvariantViolation naming the run's seed, so the run can be replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cluster.core.replica import Replica, Role
from cluster.core.types import Entry

if TYPE_CHECKING:
    from cluster.core.simulation import Simulation


class InvariantViolation(AssertionError):
    """A safety property of Raft failed in a simulated run."""


class SafetyMonitor:
    # The whole-log checks cost O(log length); run them every this many steps (and at the end).
    full_check_interval_steps = 20

    def __init__(self, simulation: Simulation) -> None:
        self.simulation = simulation
        self.leader_of_term: dict[int, str] = {}
        # Every entry ever known committed by some replica, and the lowest term at which it was known so.
        self.committed: dict[int, Entry] = {}
        self.committed_known_at_term: dict[int, int] = {}
        self.highest_committed_index = 0
        self.highest_committed_term = 0
        # What any state machine applied at each index: all must agree.
        self.applied_at: dict[int, Entry] = {}
        self._commit_watermark: dict[str, int] = {}
        self._applied_since_check: list[tuple[str, Entry]] = []
        self.lease_reads_checked = 0
        # Terms whose leader already passed the leader completeness check once.
        self._checked_leaders: set[int] = set()

    def fail(self, what: str) -> None:
        raise InvariantViolation(f"seed {self.simulation.seed}, time {self.simulation.time}: {what}")

    def on_restart(self, node_id: str) -> None:
        self._commit_watermark[node_id] = 0

    def on_apply(self, node_id: str, entries: Sequence[Entry], how: str = "applied") -> None:
        for entry in entries:
            previous = self.applied_at.setdefault(entry.index, entry)
            if previous != entry:
                self.fail(f"state machine safety: {node_id} {how} {entry} where another applied {previous}")
            self._applied_since_check.append((node_id, entry))

    def on_snapshot_installed(self, node_id: str, entries: Sequence[Entry]) -> None:
        """A node's state machine became a copy of a leader's snapshot: every entry must be the committed one."""
        self.on_apply(node_id, entries, "installed a snapshot with")

    def check(self) -> None:
        simulation = self.simulation
        replicas = simulation.live_replicas()
        new_leader = False
        for replica in replicas:
            self._observe_commits(replica)
            if replica.role is Role.LEADER:
                holder = self.leader_of_term.setdefault(replica.term, replica.node_id)
                if holder != replica.node_id:
                    self.fail(f"election safety: {holder} and {replica.node_id} both lead term {replica.term}")
                new_leader = new_leader or holder == replica.node_id and replica.term not in self._checked_leaders
                if not replica.membership.can_lead(replica.node_id):
                    self.fail(f"log replicas never lead: {replica.node_id} leads term {replica.term}")
        for node_id, entry in self._applied_since_check:
            if self.committed.get(entry.index) != entry:
                self.fail(f"{node_id} applied {entry}, which is not the committed entry at its index")
        self._applied_since_check.clear()
        for replica in replicas:
            self._check_lease(replica)
        if new_leader or simulation.time % self.full_check_interval_steps == 0:
            self.check_logs()

    def _observe_commits(self, replica: Replica) -> None:
        watermark = self._commit_watermark.get(replica.node_id, 0)
        if replica.commit_index <= watermark:
            self._commit_watermark[replica.node_id] = min(watermark, replica.commit_index)
            return
        for entry in replica.entries_between(watermark + 1, replica.commit_index):
            known = self.committed.setdefault(entry.index, entry)
            if known != entry:
                self.fail(f"{replica.node_id} committed {entry} but {known} was committed at that index")
            known_at = self.committed_known_at_term.get(entry.index)
            if known_at is None or replica.term < known_at:
                self.committed_known_at_term[entry.index] = replica.term
            self.highest_committed_term = max(self.highest_committed_term, entry.term)
        self.highest_committed_index = max(self.highest_committed_index, replica.commit_index)
        self._commit_watermark[replica.node_id] = replica.commit_index

    def _check_lease(self, replica: Replica) -> None:
        read_index = replica.lease_read_index()
        if read_index is None:
            return
        self.lease_reads_checked += 1
        if self.highest_committed_term > replica.term:
            self.fail(
                f"lease safety: {replica.node_id} (term {replica.term}) holds a lease while term "
                f"{self.highest_committed_term} already committed an entry"
            )
        if read_index < self.highest_committed_index:
            self.fail(
                f"lease safety: {replica.node_id} would read at index {read_index} but index "
                f"{self.highest_committed_index} is already committed"
            )

    def check_logs(self) -> None:
        """Log matching, leader completeness and durability of committed entries (O(log length))."""
        simulation = self.simulation
        replicas = simulation.live_replicas()
        # Each log from its first retained entry (after its snapshot) on, by index.
        terms = {
            replica.node_id: {entry.index: entry.term for entry in replica.entries_between(1, replica.last_index)}
            for replica in replicas
        }
        commands: dict[tuple[int, int], bytes] = {}
        for replica in replicas:
            for entry in replica.entries_between(1, replica.last_index):
                known = commands.setdefault((entry.index, entry.term), entry.command)
                if known != entry.command:
                    self.fail(f"log matching: two different entries at index {entry.index} term {entry.term}")
        for position, first in enumerate(replicas):
            for second in replicas[position + 1 :]:
                first_terms, second_terms = terms[first.node_id], terms[second.node_id]
                shared = sorted(set(first_terms) & set(second_terms), reverse=True)
                agreed = next((index for index in shared if first_terms[index] == second_terms[index]), 0)
                if any(first_terms[index] != second_terms[index] for index in shared if index < agreed):
                    self.fail(f"log matching: {first.node_id} and {second.node_id} agree at {agreed} but not before")
        for replica in replicas:
            if replica.role is not Role.LEADER:
                continue
            self._checked_leaders.add(replica.term)
            leader_terms = terms[replica.node_id]
            # What its snapshot covers was committed and applied (the state machine checks judge it).
            compacted_through = replica.snapshot.index if replica.snapshot is not None else 0
            for index, entry in self.committed.items():
                if (
                    self.committed_known_at_term[index] < replica.term
                    and index > compacted_through
                    and leader_terms.get(index) != entry.term
                ):
                    self.fail(f"leader completeness: leader {replica.node_id} of term {replica.term} lacks {entry}")
        # An entry reached a majority of the membership that committed it; single-server changes keep
        # every majority overlapping, so the smallest membership seen bounds how many WALs must hold it.
        quorum = min(
            membership.quorum
            for membership in [*simulation.initial_membership.values(), *(r.membership for r in replicas)]
        )
        # A node holds a committed entry durably in its WAL or in its durable snapshot.
        durable_terms = [
            ({entry.index: entry.term for entry in node.durable_entries}, node.snapshot_entries)
            for node in simulation.nodes.values()
        ]
        for index, entry in self.committed.items():
            holders = sum(
                1
                for wal, snapshot in durable_terms
                if wal.get(index) == entry.term or (index <= len(snapshot) and snapshot[index - 1] == entry)
            )
            if holders < quorum:
                self.fail(f"durability: committed {entry} is in only {holders} WALs or snapshots")

    def check_final_agreement(self) -> None:
        """After convergence: every state machine holds exactly the same sequence, containing all commits."""
        self.check_logs()
        sequences = [node.applied for node in self.simulation.nodes.values()]
        longest = max(sequences, key=len)
        for sequence in sequences:
            if sequence != longest[: len(sequence)]:
                self.fail("applied sequences are not prefixes of one another")
        for index, entry in self.committed.items():
            if index > len(longest) or longest[index - 1] != entry:
                self.fail(f"committed {entry} was lost")
