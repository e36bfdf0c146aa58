"""The planted forget-on-leader-change bug really breaks Raft, and the simulation's safety checker says so.

The harness's self-tests rely on this flag losing committed entries; if the flag ever stopped doing
that, a game day "catching" it would prove nothing. The same script without the flag is the control.
"""

from __future__ import annotations

import pytest

from cluster.core.config import RaftConfig
from cluster.core.simulation import Simulation
from cluster.core.simulation_chaos import ChaosSettings, run_chaos
from cluster.core.simulation_invariants import InvariantViolation
from tests.core.core_cluster_helpers import replica_of, started_cluster

PLANTED = RaftConfig(unsafe_truncate_uncommitted_on_election=True)


def _commit_then_kill_leader(config: RaftConfig) -> Simulation:
    """The leader commits an entry with one follower; it dies before telling anyone it committed."""
    simulation, leader = started_cluster(seed=7, config=config)
    followers = [node_id for node_id in simulation.node_ids if node_id != leader.node_id]
    proposed = simulation.propose(b"acknowledged write")
    assert proposed is not None
    _, index = proposed
    simulation.run_until(lambda: all(replica_of(simulation, n).last_index >= index for n in followers), 50)
    # From here on the followers hear nothing from the leader: they acknowledge the entry, the leader
    # commits it (and would answer the client), but nobody else learns that it committed.
    for node_id in followers:
        simulation.cut_one_way(leader.node_id, node_id)
    simulation.run_until(lambda: leader.commit_index >= index, 50)
    assert all(replica_of(simulation, node_id).commit_index < index for node_id in followers), (
        "the script needs followers that hold the entry but do not know it committed yet"
    )
    simulation.crash(leader.node_id)
    simulation.run(3)  # what the dead leader had in flight (its commit index) is dropped on the cut links
    simulation.heal()
    simulation.run_until(lambda: simulation.leader() is not None and simulation.leader().commit_index >= index, 400)
    return simulation


def test_the_flag_off_changes_nothing() -> None:
    assert RaftConfig() == RaftConfig(unsafe_truncate_uncommitted_on_election=False)
    simulation = _commit_then_kill_leader(RaftConfig())
    assert simulation.monitor is not None
    simulation.monitor.check_logs()  # the correct core keeps the committed entry through the failover


def test_a_new_leader_that_forgets_uncommitted_entries_loses_a_committed_one() -> None:
    with pytest.raises(InvariantViolation, match="leader completeness"):
        _commit_then_kill_leader(PLANTED)


def test_random_schedules_catch_the_flag_on_most_seeds() -> None:
    settings = ChaosSettings(node_count=3, steps=600, crash_probability=0.02, config=PLANTED)
    caught = 0
    for seed in range(10):
        try:
            run_chaos(seed, settings)
        except InvariantViolation:
            caught += 1
    assert caught >= 5, f"only {caught} of 10 seeded chaos runs noticed the planted bug"
