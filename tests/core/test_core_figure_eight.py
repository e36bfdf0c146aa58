"""Figure 8 of the Raft paper: a leader must not commit an earlier term's entry by counting replicas.

The schedule below puts an old-term entry on a majority while the new leader's own no-op is on no one
else, then lets a replica with a conflicting, higher-term entry win. Correct Raft never called the
old entry committed, so overwriting it is fine; a leader that counted replicas for it would have
acknowledged an entry that is then lost, and the SafetyMonitor fails the run.
"""

from core_cluster_helpers import replica_of

from cluster.core.config import RaftConfig
from cluster.core.replica import Role
from cluster.core.simulation import Simulation

# One entry per APPEND and one APPEND in flight, so the old entry and the new no-op travel separately.
CONFIG = RaftConfig(max_entries_per_append=1, max_inflight_appends=1)
NODES = ("s1", "s2", "s3", "s4", "s5")


def test_figure_eight_old_term_entries_are_not_committed_by_counting() -> None:
    simulation = Simulation(NODES, seed=8, config=CONFIG)
    simulation.run_until(lambda: simulation.is_converged(), 300)
    first = simulation.leader()
    assert first is not None
    others = [node for node in NODES if node != first.node_id]
    # (a) The first leader gets entry A to one follower only.
    simulation.partition([first.node_id, others[0]], others[1:])
    old_index = first.propose(b"A")
    simulation.run(3)
    old_term = first.term
    assert replica_of(simulation, others[0]).term_at(old_index) == old_term
    simulation.crash(first.node_id)

    # (b) Another replica wins without A, appends its no-op at A's index, and is cut off at once.
    simulation.partition(others[1:], [others[0]])
    simulation.run_until(lambda: simulation.leader() not in (None, first), 300)
    second = simulation.leader()
    assert second is not None and second.term_at(old_index) == second.term > old_term
    simulation.isolate(second.node_id)
    simulation.crash(second.node_id)

    # (c) The first leader returns; a holder of A wins and spreads A to a majority, one entry at a time.
    simulation.heal()
    simulation.isolate(second.node_id)
    simulation.restart(first.node_id)

    def old_entry_on_a_majority() -> bool:
        leader = simulation.leader()
        if leader is None or leader.term <= second.term:
            return False
        # The leader has heard that a majority (itself included) holds A.
        acknowledged = sum(follower["match"] >= old_index for follower in leader.status()["followers"].values())
        return acknowledged + 1 >= 3

    simulation.run_until(old_entry_on_a_majority, 400)
    third = simulation.leader()
    assert third is not None and third.node_id in (first.node_id, others[0])
    lacking_own_entry = [
        replica for replica in simulation.live_replicas() if replica.term_at(old_index + 1) != third.term
    ]
    # With the cut-off second leader they can still form a majority that never saw the new term's no-op.
    assert len(lacking_own_entry) >= 2, "the new leader's no-op must not be on a majority yet"
    assert third.commit_index < old_index, "Raft §5.4.2: counting replicas only commits current-term entries"
    simulation.isolate(third.node_id)
    simulation.crash(third.node_id)

    # (d) The replica with the higher-term conflicting entry wins and overwrites A: legal, as A never committed.
    simulation.heal()
    simulation.isolate(third.node_id)
    simulation.restart(second.node_id)
    simulation.run_until(
        lambda: (leader := simulation.leader()) is not None and leader.role is Role.LEADER and leader.commit_index > old_index,
        600,
    )
    # Whoever won (the second leader overwriting A, or a holder of the third leader's no-op keeping it),
    # the SafetyMonitor has checked every step that nothing committed was lost.
