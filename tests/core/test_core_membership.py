"""Single-server membership changes and log replicas, in the seeded simulation (invariants checked every step)."""

from __future__ import annotations

import contextlib
import random

import pytest

from cluster.core.membership import Membership, MembershipError, is_membership_command
from cluster.core.replica import NotLeaderError, Replica, Role
from cluster.core.simulation import NetworkFaults, Simulation
from tests.core.core_cluster_helpers import replica_of, started_cluster

THREE = Membership(("a", "b", "c"))
WITH_LOG_REPLICA = THREE.with_log_replica("d")


def _commit(simulation: Simulation, count: int, prefix: str) -> list[int]:
    indexes = []
    for number in range(count):
        proposed = simulation.propose(f'{{"w": "{prefix}{number}"}}'.encode())
        assert proposed is not None
        indexes.append(proposed[1])
    leader = simulation.leader()
    assert leader is not None
    simulation.run_until(lambda: leader.commit_index >= indexes[-1], 300)
    return indexes


def _add_log_replica(simulation: Simulation, node_id: str = "d") -> Replica:
    leader = simulation.leader()
    assert leader is not None
    joining = leader.membership.with_log_replica(node_id)
    simulation.add_node(node_id, joining)
    index = leader.propose_membership(joining)
    simulation.run_until(lambda: leader.commit_index >= index, 500)
    return leader


def test_membership_round_trips_through_a_log_command_and_rejects_what_cannot_be() -> None:
    assert Membership.decode(WITH_LOG_REPLICA.encode()) == WITH_LOG_REPLICA
    assert is_membership_command(WITH_LOG_REPLICA.encode())
    assert Membership.decode(b'{"op": "put"}') is None and Membership.decode(b"") is None
    assert WITH_LOG_REPLICA.quorum == 3 and THREE.quorum == 2
    assert WITH_LOG_REPLICA.can_lead("a") and not WITH_LOG_REPLICA.can_lead("d")
    with pytest.raises(MembershipError):
        Membership(("a", "b"), ("b",))
    with pytest.raises(MembershipError):
        Membership((), ("d",))
    with pytest.raises(MembershipError, match="exactly one"):
        THREE.check_single_change_to(Membership(("a", "b", "c"), ("d", "e")))
    with pytest.raises(MembershipError, match="exactly one"):
        THREE.check_single_change_to(Membership(("a", "b", "d")))  # swaps two: remove c and add d
    with pytest.raises(MembershipError, match="in place"):
        WITH_LOG_REPLICA.check_single_change_to(Membership(("a", "b", "d"), ("c", "e")))
    WITH_LOG_REPLICA.check_single_change_to(THREE)


def test_a_log_replica_keeps_a_write_quorum_of_three_while_a_storage_replica_is_down() -> None:
    simulation, leader = started_cluster(seed=3)
    down = next(node for node in "abc" if node != leader.node_id)
    simulation.crash(down)
    before = _commit(simulation, 5, "before")
    leader = _add_log_replica(simulation)
    log_replica = replica_of(simulation, "d")
    assert leader.membership == WITH_LOG_REPLICA == log_replica.membership
    # Four members, one down: commits need the leader, the other storage replica and the log replica.
    during = _commit(simulation, 20, "during")
    assert log_replica.last_index >= during[-1]
    other = next(node for node in "abc" if node not in (down, leader.node_id))
    simulation.crash(other)
    stalled = simulation.propose(b'{"w": "needs three"}')
    assert stalled is not None
    simulation.run(100)
    assert leader.commit_index < stalled[1], "two of four members must not commit"
    simulation.restart(other)
    simulation.run_until(lambda: simulation.leader() is not None and simulation.leader().commit_index >= stalled[1], 800)
    assert simulation.monitor is not None
    assert all(index in simulation.monitor.committed for index in before + during)


def test_a_log_replica_never_leads_even_when_no_storage_quorum_is_left() -> None:
    simulation, leader = started_cluster(seed=5)
    leader = _add_log_replica(simulation)
    with pytest.raises(ValueError, match="storage replica"):
        leader.transfer_leadership("d")
    for node in "abc":
        simulation.crash(node)
    simulation.restart(leader.node_id)
    # Two of four members are up: nobody can win, and the log replica must not even try (the monitor
    # fails the run at the step a log replica leads).
    simulation.run(400)
    assert replica_of(simulation, "d").role is Role.FOLLOWER
    assert simulation.leader() is None


def test_removing_the_log_replica_when_the_storage_replica_is_back_restores_three_members() -> None:
    simulation, leader = started_cluster(seed=7)
    down = next(node for node in "abc" if node != leader.node_id)
    simulation.crash(down)
    leader = _add_log_replica(simulation)
    _commit(simulation, 10, "outage")
    simulation.restart(down)
    simulation.run_until(lambda: replica_of(simulation, down).commit_index == leader.commit_index, 800)
    index = leader.propose_membership(THREE)
    simulation.run_until(lambda: all(replica_of(simulation, n).commit_index >= index for n in "abc"), 500)
    assert all(replica_of(simulation, node).membership == THREE for node in "abc")
    assert "d" not in leader.voters
    simulation.crash("d")  # the runtime deletes it; the group no longer needs it
    _commit(simulation, 5, "after")
    assert simulation.monitor is not None
    simulation.monitor.check_logs()


def test_changes_are_refused_when_they_could_break_overlap() -> None:
    simulation, leader = started_cluster(seed=11)
    follower = replica_of(simulation, next(node for node in "abc" if node != leader.node_id))
    with pytest.raises(NotLeaderError):
        follower.propose_membership(WITH_LOG_REPLICA)
    with pytest.raises(MembershipError, match="exactly one"):
        leader.propose_membership(Membership(("a", "b", "c"), ("d", "e")))
    with pytest.raises(MembershipError, match="remove itself"):
        leader.propose_membership(THREE.without(leader.node_id))
    simulation.add_node("d", WITH_LOG_REPLICA)
    leader.propose_membership(WITH_LOG_REPLICA)
    with pytest.raises(MembershipError, match="not committed"):
        leader.propose_membership(THREE)


def test_a_new_leader_must_commit_in_its_term_before_changing_membership() -> None:
    simulation, leader = started_cluster(seed=13)
    target = next(node for node in "abc" if node != leader.node_id)
    leader.transfer_leadership(target)
    simulation.run_until(lambda: replica_of(simulation, target).role is Role.LEADER, 300)
    new_leader = replica_of(simulation, target)
    # Cut off at once: its no-op cannot commit, so nothing of its term is committed.
    simulation.isolate(target)
    simulation.run(2)
    assert new_leader.role is Role.LEADER and new_leader.term_at(new_leader.commit_index) != new_leader.term
    with pytest.raises(MembershipError, match="this leader's term"):
        new_leader.propose_membership(new_leader.membership.with_log_replica("d"))


def test_a_truncated_membership_entry_is_forgotten_by_the_follower_that_held_it() -> None:
    simulation, leader = started_cluster(seed=17)
    others = [node for node in "abc" if node != leader.node_id]
    # The leader appends a change but is cut off before anyone else stores it...
    simulation.isolate(leader.node_id)
    simulation.add_node("d", leader.membership.with_log_replica("d"))
    simulation.isolate("d")
    leader.propose_membership(leader.membership.with_log_replica("d"))
    assert leader.membership.log == ("d",)
    # ...the others elect a new leader that commits something else at that index...
    simulation.partition(others)
    simulation.run_until(lambda: any(replica_of(simulation, n).role is Role.LEADER for n in others), 800)
    _commit(simulation, 3, "majority")
    # ...and when the old leader returns, its uncommitted change is truncated and no longer acted on.
    simulation.crash("d")
    simulation.heal()
    simulation.run_until(lambda: replica_of(simulation, leader.node_id).membership == THREE, 800)
    assert replica_of(simulation, leader.node_id).voters == ("a", "b", "c")


@pytest.mark.parametrize("seed", range(12))
def test_membership_changes_under_a_faulty_network_keep_every_safety_property(seed: int) -> None:
    faults = NetworkFaults(drop_probability=0.05, duplicate_probability=0.05, delay_steps_min=1, delay_steps_max=4)
    simulation, _ = started_cluster(seed=seed, faults=faults)
    rng = random.Random(seed)
    simulation.add_node("d", THREE.with_learner("d"))
    # THREE -> d learns -> d promoted to log replica -> d removed -> ... one single-server step at a time.
    cycle = {THREE: THREE.with_learner("d"), THREE.with_learner("d"): WITH_LOG_REPLICA, WITH_LOG_REPLICA: THREE}
    changes = 0
    for step in range(1500):
        leader = simulation.leader()
        if leader is not None and step % 7 == 0:
            with contextlib.suppress(NotLeaderError):
                leader.propose(f'{{"w": {step}}}'.encode())
        if leader is not None and step % 150 == 75:
            target = cycle.get(leader.membership, THREE)
            try:
                leader.propose_membership(target)
                changes += 1
            except (MembershipError, NotLeaderError):
                pass
        if step % 200 == 100:
            victim = rng.choice("abc")
            simulation.crash(victim)
        if step % 200 == 160:
            for node in "abc":
                simulation.restart(node)
        simulation.step()
    for node in "abcd":
        simulation.restart(node)
    simulation.heal()
    simulation.faults = NetworkFaults()

    def settled() -> bool:
        leader = simulation.leader()
        return leader is not None and leader.membership_index <= leader.commit_index == leader.last_index

    simulation.run_until(settled, 3000)
    final_leader = simulation.leader()
    assert final_leader is not None
    if "d" not in final_leader.membership.members:
        simulation.crash("d")  # removed: nobody replicates to it any more, as the runtime would delete it
    simulation.run_until(simulation.is_converged, 3000)
    assert changes >= 2
    assert simulation.monitor is not None
    simulation.monitor.check_final_agreement()


def test_a_leader_sees_how_long_each_member_has_been_silent() -> None:
    simulation, leader = started_cluster(seed=19)
    down = next(node for node in "abc" if node != leader.node_id)
    awake = next(node for node in "abc" if node not in (down, leader.node_id))
    simulation.crash(down)
    simulation.run(40)
    silent = leader.silent_ticks()
    assert silent[down] >= 40 and silent[awake] <= 4
    assert leader.match_index_of(awake) == leader.last_index and leader.match_index_of("nobody") is None


def test_a_learner_gets_the_log_but_neither_votes_nor_counts_until_promoted() -> None:
    simulation, leader = started_cluster(seed=23)
    learning = THREE.with_learner("d")
    simulation.add_node("d", learning)
    index = leader.propose_membership(learning)
    simulation.run_until(lambda: leader.commit_index >= index, 300)
    learner = replica_of(simulation, "d")
    simulation.run_until(lambda: learner.last_index == leader.last_index, 300)
    assert leader.voters == ("a", "b", "c") and learner.membership == learning
    # Two voters down: the learner's copy must not make a quorum.
    for node in [n for n in "abc" if n != leader.node_id]:
        simulation.crash(node)
    stalled = simulation.propose(b'{"w": "no quorum"}')
    assert stalled is not None
    simulation.run(60)
    assert leader.commit_index < stalled[1] and learner.last_index >= stalled[1]
    for node in "abc":
        simulation.restart(node)
    simulation.run_until(lambda: simulation.leader() is not None and simulation.leader().commit_index >= stalled[1], 800)
    leader = simulation.leader()
    assert leader is not None
    promoted = leader.propose_membership(learning.promoted_to_log_replica("d"))
    simulation.run_until(lambda: leader.commit_index >= promoted, 300)
    assert leader.membership == WITH_LOG_REPLICA and replica_of(simulation, "d").role is Role.FOLLOWER


def test_learner_steps_are_single_steps() -> None:
    learning = THREE.with_learner("d")
    THREE.check_single_change_to(learning)
    learning.check_single_change_to(learning.promoted_to_log_replica("d"))
    learning.check_single_change_to(THREE)
    with pytest.raises(MembershipError, match="exactly one"):
        THREE.check_single_change_to(WITH_LOG_REPLICA.with_learner("e"))
    assert Membership.decode(learning.encode()) == learning


def test_a_member_that_missed_its_leaders_re_addition_still_follows_that_leader() -> None:
    """Seen in a game day: a replica down while a removed member was added back restarts with a membership
    that lacks that member; once that member leads, the replica must still take its appends (Raft accepts
    a current leader whatever the follower's own configuration says) instead of staying silent forever."""
    simulation, leader = started_cluster(seed=13)
    first, second = (node for node in "abc" if node != leader.node_id)
    simulation.crash(first)
    leader = _add_log_replica(simulation)
    without_first = WITH_LOG_REPLICA.without(first)
    index = leader.propose_membership(without_first)
    simulation.run_until(lambda: leader.commit_index >= index, 500)
    _commit(simulation, 3, "removed")
    simulation.crash(second)  # keeps the membership without `first`
    simulation.restart(first)
    index = leader.propose_membership(without_first.with_storage_replica(first))
    simulation.run_until(lambda: leader.commit_index >= index, 800)
    simulation.run_until(lambda: replica_of(simulation, first).commit_index >= index, 800)
    leader.transfer_leadership(first)
    simulation.run_until(lambda: simulation.leader() is not None and simulation.leader().node_id == first, 800)
    new_leader = replica_of(simulation, first)
    simulation.restart(second)
    assert first not in replica_of(simulation, second).membership.members  # what its own log says
    written = _commit(simulation, 3, "after")
    simulation.run_until(lambda: replica_of(simulation, second).commit_index >= written[-1], 800)
    assert replica_of(simulation, second).membership == new_leader.membership
    assert simulation.monitor is not None
    simulation.monitor.check_logs()
