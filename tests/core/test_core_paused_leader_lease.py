"""A leader's lease counts time its process did not tick (Replica.advance_clock): a paused leader must not
wake up and serve reads on stamps its quorum acknowledged before the pause.

Found by a game day of the unmodified store (gameday selftest, planted-lagging-election, seed 2): a leader
SIGSTOPped for 2.6 s woke up and answered consistent reads that missed four writes a new leader had
acknowledged meanwhile, because its ticks (and so its lease) had stood still while it was stopped.
"""

from __future__ import annotations

from core_cluster_helpers import replica_of, started_cluster

from cluster.core.config import RaftConfig


def test_a_paused_leaders_lease_ends_with_the_time_it_missed_and_comes_back_with_a_quorum() -> None:
    simulation, leader = started_cluster(seed=21)
    simulation.run(5)
    assert leader.lease_read_index() is not None
    silence = leader.silent_ticks()
    leader.advance_clock(RaftConfig().lease_ticks)
    assert leader.lease_read_index() is None, "stamps acknowledged before the pause no longer hold"
    assert leader.silent_ticks() == silence, "what could not be heard while paused is not silence"
    # The next heartbeat round carries fresh stamps; a quorum that still follows it restores the lease.
    simulation.run_until(lambda: leader.lease_read_index() is not None, 50)
    assert simulation.leader() is leader


def test_a_missed_stretch_shorter_than_the_lease_margin_keeps_the_lease() -> None:
    simulation, leader = started_cluster(seed=22)
    simulation.run(5)
    leader.advance_clock(1)
    assert leader.lease_read_index() is not None


def test_advancing_the_clock_starts_no_election() -> None:
    simulation, leader = started_cluster(seed=23)
    follower = replica_of(simulation, next(node for node in simulation.node_ids if node != leader.node_id))
    term = follower.term
    follower.advance_clock(10 * RaftConfig().election_ticks_max)
    simulation.run(3)
    assert follower.term == term and simulation.leader() is leader
