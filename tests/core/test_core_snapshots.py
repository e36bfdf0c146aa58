"""Snapshots in the pure core: log compaction, SNAPSHOT to a follower behind the compacted prefix,
restart from a snapshot plus the WAL's tail, crashes around both; the SafetyMonitor checks every step."""

from __future__ import annotations

import random

import pytest

from cluster.core.config import RaftConfig
from cluster.core.membership import Membership
from cluster.core.messages import MessageKind
from cluster.core.raft_log import RaftLog
from cluster.core.replica import Replica
from cluster.core.simulation import CrashPoint, Simulation
from cluster.core.simulation_chaos import ChaosSettings, run_chaos
from cluster.core.types import Entry, HardState, SnapshotMeta
from tests.core.core_cluster_helpers import replica_of, started_cluster


def _commit(simulation: Simulation, count: int, prefix: str) -> int:
    """Proposes `count` writes at the leader and waits until it committed them; their last index."""
    last = 0
    for number in range(count):
        proposed = simulation.propose(f"{prefix}{number}".encode())
        assert proposed is not None
        last = proposed[1]
    leader = simulation.leader()
    assert leader is not None
    simulation.run_until(lambda: leader.commit_index >= last, 500)
    return last


def _compact_while_down(simulation: Simulation, leader: Replica, down: str) -> None:
    """The leader compacts while `down` is down, and writes on until nothing sent before is in flight."""
    simulation.compact(leader.node_id)
    _commit(simulation, 5, "after")
    simulation.run(5)


def _entries(*terms: int) -> list[Entry]:
    return [Entry(term, index, f"e{index}".encode()) for index, term in enumerate(terms, start=1)]


def test_the_log_compacts_its_prefix_and_a_restore_keeps_a_matching_suffix_only() -> None:
    log = RaftLog(_entries(1, 1, 2, 2, 3))
    log.compact_through(3)
    assert (log.snapshot_index, log.snapshot_term, log.last_index) == (3, 2, 5)
    assert log.term_at(3) == 2 and log.term_at(2) is None and log.term_at(4) == 2
    assert [entry.index for entry in log.entries_between(1, 5)] == [4, 5]
    with pytest.raises(AssertionError):
        log.compact_through(3)  # not past the snapshot
    matching = RaftLog(_entries(1, 1, 2, 2, 3))
    assert matching.restore(4, 2) is True and [entry.index for entry in matching.entries_between(1, 9)] == [5]
    conflicting = RaftLog(_entries(1, 1, 2, 2, 3))
    assert conflicting.restore(4, 3) is False and conflicting.last_index == 4 and conflicting.last_term == 3
    assert conflicting.persisted_index == 4 and not conflicting.has_unpersisted_entries()
    # A crash after the snapshot became durable but before the WAL was truncated: the overlap is skipped.
    recovered = RaftLog(_entries(1, 1, 2, 2, 3), snapshot_index=3, snapshot_term=2)
    assert (recovered.snapshot_index, recovered.last_index, recovered.term_at(4)) == (3, 5, 2)


def test_compaction_drops_the_log_through_an_applied_index_and_no_further() -> None:
    simulation, leader = started_cluster(seed=3)
    last = _commit(simulation, 20, "w")
    simulation.run_until(simulation.is_converged, 300)
    with pytest.raises(ValueError, match="cannot compact through"):
        leader.compact(leader.applied_index + 1)
    snapshot = simulation.compact(leader.node_id, last - 5)
    assert snapshot.index == last - 5 and snapshot.term == leader.term
    assert Membership.decode(snapshot.membership) == Membership(("a", "b", "c"))
    assert leader.snapshot == snapshot and leader.entries_between(1, last)[0].index == last - 4
    assert [entry.index for entry in simulation.nodes[leader.node_id].durable_entries][:1] == [last - 4]
    # The group goes on: more writes commit everywhere.
    _commit(simulation, 5, "x")
    simulation.run_until(simulation.is_converged, 300)


def test_a_follower_behind_the_compacted_prefix_catches_up_from_a_snapshot() -> None:
    simulation, leader = started_cluster(seed=4)
    follower = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    simulation.crash(follower)
    _commit(simulation, 30, "w")
    _compact_while_down(simulation, leader, follower)
    sent_kinds: list[MessageKind] = []
    original_enqueue = simulation._enqueue

    def recording_enqueue(message, snapshot_payload=None):  # type: ignore[no-untyped-def]
        sent_kinds.append(message.kind)
        original_enqueue(message, snapshot_payload)

    simulation._enqueue = recording_enqueue  # type: ignore[method-assign]
    simulation.restart(follower)
    _commit(simulation, 3, "x")
    simulation.run_until(simulation.is_converged, 500)
    assert MessageKind.SNAPSHOT in sent_kinds
    caught_up = replica_of(simulation, follower)
    assert caught_up.snapshot is not None and caught_up.snapshot.index >= 31
    assert simulation.nodes[follower].applied == simulation.nodes[leader.node_id].applied
    assert simulation.monitor is not None
    simulation.monitor.check_final_agreement()


def test_a_replica_restarts_from_its_snapshot_and_the_wal_tail() -> None:
    simulation, leader = started_cluster(seed=5)
    node_id = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    _commit(simulation, 25, "w")
    simulation.run_until(simulation.is_converged, 300)
    snapshot = simulation.compact(node_id)
    _commit(simulation, 10, "x")
    simulation.run_until(simulation.is_converged, 300)
    simulation.crash(node_id)
    # The state machine is lost as well: it restarts from the snapshot and replays only the tail.
    simulation.restart(node_id, lose_state_machine=True)
    restarted = replica_of(simulation, node_id)
    assert restarted.snapshot == snapshot and restarted.applied_index == snapshot.index
    simulation.run_until(simulation.is_converged, 300)
    assert simulation.nodes[node_id].applied == simulation.nodes[leader.node_id].applied


def test_a_crash_between_the_durable_snapshot_and_the_wal_truncation_loses_nothing() -> None:
    simulation, leader = started_cluster(seed=6)
    node_id = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    _commit(simulation, 15, "w")
    simulation.run_until(simulation.is_converged, 300)
    simulation.compact(node_id, truncate_wal=False)  # crashes with the WAL still whole
    assert simulation.nodes[node_id].durable_entries[0].index == 1
    simulation.restart(node_id, lose_state_machine=True)
    _commit(simulation, 5, "x")
    simulation.run_until(simulation.is_converged, 300)
    assert simulation.monitor is not None
    simulation.monitor.check_final_agreement()


@pytest.mark.parametrize("point", list(CrashPoint))
def test_a_crash_while_installing_a_snapshot_is_retried_and_converges(point: CrashPoint) -> None:
    simulation, leader = started_cluster(seed=7)
    follower = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    simulation.crash(follower)
    _commit(simulation, 20, "w")
    _compact_while_down(simulation, leader, follower)
    simulation.restart(follower)
    replica = replica_of(simulation, follower)
    # Crash at the given point of the Ready that hands out the snapshot.
    original_step = replica.step

    def step_then_arm_crash(message):  # type: ignore[no-untyped-def]
        original_step(message)
        if message.kind is MessageKind.SNAPSHOT and simulation.nodes[follower].restarts == 1:
            simulation.crash(follower, point)

    replica.step = step_then_arm_crash  # type: ignore[method-assign]
    simulation.run_until(lambda: not simulation.nodes[follower].alive, 300)
    simulation.restart(follower)
    simulation.run_until(simulation.is_converged, 600)
    assert simulation.nodes[follower].applied == simulation.nodes[leader.node_id].applied


def test_a_new_member_joins_from_a_snapshot_that_carries_the_membership() -> None:
    simulation, leader = started_cluster(seed=8)
    _commit(simulation, 20, "w")
    with_d = leader.membership.with_log_replica("d")
    simulation.add_node("d", with_d)
    index = leader.propose_membership(with_d)
    simulation.run_until(lambda: leader.commit_index >= index, 500)
    _commit(simulation, 5, "x")
    simulation.run_until(lambda: leader.applied_index >= leader.commit_index, 100)
    # d's membership entry is compacted away: a member added from now on learns it from the snapshot.
    simulation.compact(leader.node_id)
    _commit(simulation, 3, "y")
    with_e = leader.membership.with_learner("e")
    simulation.add_node("e", with_e)
    index = leader.propose_membership(with_e)
    simulation.run_until(lambda: leader.commit_index >= index, 500)
    simulation.run_until(simulation.is_converged, 600)
    joined = replica_of(simulation, "e")
    assert joined.snapshot is not None and Membership.decode(joined.snapshot.membership) == with_d
    assert joined.membership == with_e
    assert simulation.nodes["e"].applied == simulation.nodes[leader.node_id].applied


def test_a_replica_refuses_a_snapshot_without_a_membership_or_above_its_state_machine() -> None:
    three = Membership(("a", "b", "c")).encode()
    with pytest.raises(ValueError, match="holds no membership"):
        Replica("a", ("a", "b", "c"), config=RaftConfig(), rng=random.Random(1),
                snapshot=SnapshotMeta(5, 1, b"{}"), applied_index=5, hard_state=HardState(1, None, 5))  # fmt: skip
    with pytest.raises(ValueError, match="below the snapshot's index"):
        Replica("a", ("a", "b", "c"), config=RaftConfig(), rng=random.Random(1),
                snapshot=SnapshotMeta(5, 1, three), applied_index=2, hard_state=HardState(1, None, 5))  # fmt: skip
    replica = Replica("a", ("a", "b", "c"), config=RaftConfig(), rng=random.Random(1),
                      snapshot=SnapshotMeta(5, 1, three), applied_index=5, hard_state=HardState(1, None, 5))  # fmt: skip
    assert (replica.last_index, replica.commit_index, replica.term_at(5)) == (5, 5, 1)


def test_random_fault_schedules_with_compaction_stay_safe_and_live() -> None:
    settings = ChaosSettings(node_count=3, steps=1200, compaction_probability=0.05)
    snapshots_sent = 0
    for seed in range(25):
        report = run_chaos(seed, settings)
        snapshots_sent += report.snapshots_sent
    # The runs really sent followers snapshots (a follower down while its leader compacted).
    assert snapshots_sent > 10


def test_a_log_replica_added_after_the_snapshot_restarts_from_it_and_the_log_tail_that_added_it() -> None:
    # The snapshot's membership (a, b, c) predates the log replica d; the entry adding d follows it.
    three = Membership(("a", "b", "c")).encode()
    with_d = Membership(("a", "b", "c"), ("d",))
    tail = [Entry(1, 6, with_d.encode())]
    replica = Replica("d", ("a", "b", "c"), log_replicas=("d",), config=RaftConfig(), rng=random.Random(1),
                      snapshot=SnapshotMeta(5, 1, three), entries=tail, applied_index=5,
                      hard_state=HardState(1, None, 6))  # fmt: skip
    assert replica.last_index == 6
    assert replica.status()["membership"]["log"] == ["d"]
    with pytest.raises(ValueError, match="not one of the voters"):  # placed elsewhere: still refused
        Replica("e", ("a", "b", "c"), config=RaftConfig(), rng=random.Random(1),
                snapshot=SnapshotMeta(5, 1, three), applied_index=5, hard_state=HardState(1, None, 5))  # fmt: skip
