"""The core's planted bugs (cluster/runtime/planted_bugs.py) really do what the harness's self-test says.

A game day that "catches" a planted bug proves nothing if the bug does not break what it claims to, so
each is shown here in the seeded simulation against the correct core on the same schedule.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_cluster_helpers import replica_of, started_cluster
from test_core_figure_eight import CONFIG as FIGURE_EIGHT_CONFIG
from test_core_figure_eight import run_figure_eight

from cluster.core.config import RaftConfig
from cluster.core.replica import Role
from cluster.core.simulation import Simulation
from cluster.core.simulation_invariants import InvariantViolation
from cluster.runtime.planted_bugs import RAFT_CONFIG_SWITCHES, planted_raft_settings


def test_every_core_switch_names_a_config_field_and_none_is_on_by_default() -> None:
    assert planted_raft_settings([]) == {}
    assert planted_raft_settings(["skip-fsync"]) == {}
    every = RaftConfig(**planted_raft_settings(RAFT_CONFIG_SWITCHES))
    assert all(getattr(every, field) is True for field in RAFT_CONFIG_SWITCHES.values())
    assert all(getattr(RaftConfig(), field) is False for field in RAFT_CONFIG_SWITCHES.values())


# ---- deposed-leader-reads ----------------------------------------------------------------------------


def _isolate_leader_and_commit_elsewhere(
    config: RaftConfig, *, check_invariants: bool = False
) -> tuple[Simulation, str, int]:
    """The leader commits a write, is cut off, and the others elect a new leader that commits another.

    Returns the simulation, the old leader and the index of the write committed without it."""
    simulation, old = started_cluster(seed=3, config=config, check_invariants=check_invariants)
    proposed = simulation.propose(b"v1")
    assert proposed is not None
    simulation.run_until(lambda: old.commit_index >= proposed[1], 50)
    simulation.isolate(old.node_id)
    # Before anyone else leads, the cut-off leader's state is the newest there is: no read can be stale.
    simulation.run(3)
    assert old.lease_read_index() in (None, old.commit_index)
    simulation.run_until(lambda: (leader := simulation.leader()) is not None and leader.node_id != old.node_id, 400)
    new = simulation.leader()
    assert new is not None
    index = new.propose(b"v2")
    simulation.run_until(lambda: new.commit_index >= index, 100)
    return simulation, old.node_id, index


def test_a_cut_off_leader_stops_serving_consistent_reads() -> None:
    simulation, old_id, _ = _isolate_leader_and_commit_elsewhere(RaftConfig())
    old = replica_of(simulation, old_id)
    assert old.role is not Role.LEADER and old.lease_read_index() is None


def test_deposed_leader_reads_serves_a_read_that_misses_a_committed_write() -> None:
    simulation, old_id, index = _isolate_leader_and_commit_elsewhere(RaftConfig(unsafe_deposed_leader_reads=True))
    old = replica_of(simulation, old_id)
    assert old.role is Role.LEADER, "the deposed leader still believes it leads"
    read_index = old.lease_read_index()
    assert read_index is not None and read_index < index, "it would serve a read that misses the new write"


def test_deposed_leader_reads_breaks_lease_safety_in_the_simulation() -> None:
    # The control passes the same schedule under the SafetyMonitor; the planted bug fails it.
    _isolate_leader_and_commit_elsewhere(RaftConfig(), check_invariants=True)
    with pytest.raises(InvariantViolation, match="lease safety"):
        _isolate_leader_and_commit_elsewhere(RaftConfig(unsafe_deposed_leader_reads=True), check_invariants=True)


# ---- churn-commit-bug ----------------------------------------------------------------------------------


def test_churn_commit_bug_commits_an_old_term_entry_that_a_later_leader_overwrites() -> None:
    planted = replace(FIGURE_EIGHT_CONFIG, unsafe_commit_previous_term_by_counting=True)
    # The correct core lets the second leader overwrite A: A was never committed.
    _, old_index, third_commit_index = run_figure_eight(FIGURE_EIGHT_CONFIG, second_leader_wins=True)
    assert third_commit_index < old_index
    # The planted bug committed A by counting replicas; the same overwrite now loses a committed entry.
    with pytest.raises(InvariantViolation, match="leader completeness|committed"):
        run_figure_eight(planted, second_leader_wins=True)


def test_churn_commit_bug_is_harmless_without_leader_churn() -> None:
    # One stable leader only ever counts replicas for entries of its own term: nothing to get wrong.
    config = RaftConfig(unsafe_commit_previous_term_by_counting=True)
    simulation, leader = started_cluster(seed=5, config=config)
    for number in range(20):
        simulation.propose(f"w{number}".encode())
        simulation.run(2)
    simulation.run_until(simulation.is_converged, 200)
    assert simulation.monitor is not None
    simulation.monitor.check_final_agreement()
    assert simulation.leader() is leader


# ---- eager-step-down ----------------------------------------------------------------------------------


def _leadership_with_one_follower_down(config: RaftConfig, steps: int = 600) -> tuple[int, int, Simulation]:
    """(leader elections seen, steps without a leader) while one follower is down and writes keep coming."""
    simulation, leader = started_cluster(seed=11, config=config)
    follower = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    simulation.crash(follower)
    terms = {leader.term}
    leaderless_steps = 0
    for step in range(steps):
        if step % 5 == 0:
            simulation.propose(f"w{step}".encode())
        simulation.step()
        current = simulation.leader()
        if current is None:
            leaderless_steps += 1
        else:
            terms.add(current.term)
    return len(terms) - 1, leaderless_steps, simulation


def test_a_correct_leader_keeps_leading_while_one_follower_is_down() -> None:
    elections, leaderless_steps, _ = _leadership_with_one_follower_down(RaftConfig())
    assert (elections, leaderless_steps) == (0, 0)


def test_eager_step_down_loses_the_leader_again_and_again_but_no_data() -> None:
    elections, leaderless_steps, simulation = _leadership_with_one_follower_down(RaftConfig(unsafe_eager_step_down=True))
    # Every CheckQuorum round (election_ticks_min = 10 steps) with the follower down ends the term.
    assert elections >= 10, elections
    assert leaderless_steps >= 100, leaderless_steps
    # The SafetyMonitor checked every step; the writes that committed are all there after the follower returns.
    crashed = next(node_id for node_id, node in simulation.nodes.items() if not node.alive)
    simulation.restart(crashed)
    simulation.run_until(simulation.is_converged, 400)
    assert simulation.monitor is not None
    simulation.monitor.check_final_agreement()
    assert simulation.monitor.highest_committed_index > 50


# ---- vote-ignores-log -----------------------------------------------------------------------------------


def _leader_dies_while_a_follower_lags(seed: int, config: RaftConfig) -> bool:
    """One follower misses committed writes, the leader dies, then the follower is back: does it win?"""
    simulation, leader = started_cluster(seed=seed, config=config)
    lagging, _ = (node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    simulation.isolate(lagging)
    for number in range(5):
        index = leader.propose(f"w{number}".encode())
    simulation.run_until(lambda: leader.commit_index >= index, 100)
    simulation.crash(leader.node_id)
    simulation.run(30)  # what the leader had in flight to the cut-off follower is gone
    assert replica_of(simulation, lagging).commit_index < index
    simulation.heal()
    simulation.run_until(lambda: (new := simulation.leader()) is not None and new.commit_index >= index, 600)
    new = simulation.leader()
    assert new is not None and new.commit_index >= index
    return new.node_id == lagging


SEEDS = range(1, 13)


def test_a_lagging_replica_never_wins_an_election_in_the_correct_core() -> None:
    assert not any(_leader_dies_while_a_follower_lags(seed, RaftConfig()) for seed in SEEDS)


def test_vote_ignores_log_elects_a_lagging_replica_that_loses_committed_writes() -> None:
    # The same schedules; on some seeds the lagging replica times out first and now wins, and the monitor
    # sees a leader without the writes its predecessor committed (leader completeness).
    violations = 0
    for seed in SEEDS:
        try:
            _leader_dies_while_a_follower_lags(seed, RaftConfig(unsafe_vote_ignores_log=True))
        except InvariantViolation as violation:
            assert "leader completeness" in str(violation)
            violations += 1
    assert violations > 0
