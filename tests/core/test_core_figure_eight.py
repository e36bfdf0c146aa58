"""Figure 8 of the Raft paper: a leader must not commit an earlier term's entry by counting replicas.

The schedule below puts an old-term entry on a majority while the new leader's own no-op is on no one
else, then lets a replica with a conflicting, higher-term entry win. Correct Raft never called the
old entry committed, so overwriting it is fine; a leader that counted replicas for it would have
acknowledged an entry that is then lost, and the SafetyMonitor fails the run. The planted
`churn-commit-bug` is exactly that leader (tests/core/test_core_planted_bugs.py runs this schedule on it).
"""

from core_cluster_helpers import replica_of

from cluster.core.config import RaftConfig
from cluster.core.replica import Role
from cluster.core.simulation import Simulation

# One entry per APPEND and one APPEND in flight, so the old entry and the new no-op travel separately.
CONFIG = RaftConfig(max_entries_per_append=1, max_inflight_appends=1)
NODES = ("s1", "s2", "s3", "s4", "s5")


def run_figure_eight(config: RaftConfig, *, second_leader_wins: bool = False) -> tuple[Simulation, int, int]:
    """Plays the schedule; returns the simulation, the old entry's index and the third leader's commit
    index at the moment the old entry was on a majority but its own no-op was not. With
    `second_leader_wins`, (d) also stops the replicas holding the third leader's no-op, so the second
    leader is the only one that can win, and overwrites A."""
    simulation = Simulation(NODES, seed=8, config=config)
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
    third_commit_index = third.commit_index
    holders_of_new_noop = [
        replica.node_id for replica in simulation.live_replicas() if replica.term_at(old_index + 1) == third.term
    ]
    stopped = holders_of_new_noop if second_leader_wins else [third.node_id]
    for node_id in stopped:
        simulation.isolate(node_id)
        simulation.crash(node_id)

    # (d) The replica with the higher-term conflicting entry wins and overwrites A: legal only if A never
    # committed.
    simulation.heal()
    for node_id in stopped:
        simulation.isolate(node_id)
    simulation.restart(second.node_id)
    simulation.run_until(
        lambda: (leader := simulation.leader()) is not None and leader.role is Role.LEADER and leader.commit_index > old_index,
        600,
    )
    # Whoever won (the second leader overwriting A, or a holder of the third leader's no-op keeping it),
    # the SafetyMonitor has checked every step that nothing committed was lost.
    return simulation, old_index, third_commit_index


def test_figure_eight_old_term_entries_are_not_committed_by_counting() -> None:
    _, old_index, third_commit_index = run_figure_eight(CONFIG)
    assert third_commit_index < old_index, "Raft §5.4.2: counting replicas only commits current-term entries"
