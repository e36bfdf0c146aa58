import random
import statistics
import time

import pytest
from core_cluster_helpers import replica_of, started_cluster
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.config import RaftConfig
from cluster.core.messages import Message, MessageKind
from cluster.core.replica import Replica, Role
from cluster.core.simulation import CrashPoint, NetworkFaults, Simulation
from cluster.core.types import Entry, HardState


def test_proposals_commit_and_apply_everywhere_in_order() -> None:
    simulation, leader = started_cluster()
    indexes = [leader.propose(b"cmd%d" % number) for number in range(30)]
    assert indexes == list(range(2, 32))
    simulation.run_until(simulation.is_converged, 20)
    for node in simulation.nodes.values():
        assert [entry.command for entry in node.applied[1:]] == [b"cmd%d" % number for number in range(30)]


def test_appends_are_batched_and_bounded() -> None:
    config = RaftConfig(max_entries_per_append=7, max_bytes_per_append=1000)
    simulation, leader = started_cluster(config=config)
    for _ in range(50):
        leader.propose(b"x" * 300)
    ready = leader.ready()
    appends = [message for message in ready.send if message.kind is MessageKind.APPEND and message.entries]
    assert appends, "proposals must be replicated"
    assert all(len(message.entries) <= 3 for message in appends)  # 3 * 300 bytes fits in 1000, 4 does not
    assert len(appends) <= 2 * config.max_inflight_appends
    leader.advance(ready)
    simulation.run_until(simulation.is_converged, 200)


def test_the_leader_counts_itself_only_after_persisting() -> None:
    simulation = Simulation(["solo"], seed=1)
    simulation.run_until(lambda: simulation.leader() is not None, 100)
    simulation.run(1)
    leader = replica_of(simulation, "solo")
    index = leader.propose(b"x")
    assert leader.commit_index < index
    ready = leader.ready()
    assert ready.persist[-1].index == index and not ready.apply
    leader.advance(ready)
    assert leader.commit_index == index
    assert leader.ready().apply[-1].index == index


def test_fast_backtracking_replaces_a_long_divergent_suffix_in_few_round_trips() -> None:
    simulation, old_leader = started_cluster(seed=8)
    simulation.isolate(old_leader.node_id)
    # 300 entries that will never commit; the new leader must overwrite them.
    for number in range(300):
        old_leader.propose(b"doomed%d" % number)
    simulation.run_until(lambda: simulation.leader() not in (None, old_leader), 200)
    new_leader = simulation.leader()
    assert new_leader is not None
    for number in range(400):
        new_leader.propose(b"kept%d" % number)
    simulation.run(5)
    simulation.heal()
    rejects_before = simulation.messages_sent
    simulation.run_until(simulation.is_converged, 100)
    assert simulation.messages_sent - rejects_before < 200
    applied = [entry.command for entry in simulation.nodes[old_leader.node_id].applied]
    assert not any(command.startswith(b"doomed") for command in applied)
    assert sum(command.startswith(b"kept") for command in applied) == 400


def test_ten_thousand_proposals_replicate_in_linear_time() -> None:
    def replicate(count: int) -> float:
        simulation, leader = started_cluster(seed=9)
        started = time.process_time()  # this process's CPU: another process on the machine does not count
        for batch_start in range(0, count, 500):
            last = 0
            for number in range(batch_start, batch_start + 500):
                last = leader.propose(b"%d" % number)
            simulation.run_until(lambda last=last: leader.commit_index >= last, 50)
        simulation.run_until(simulation.is_converged, 50)
        return time.process_time() - started

    # Medians of three: a VM's CPU accounting is coarse, and one run of the small case once read 0.016 s.
    small = statistics.median(replicate(2500) for _ in range(3))
    large = statistics.median(replicate(10000) for _ in range(3))
    # Four times the work: linear is ~4x, quadratic would be ~16x.
    assert large < 8 * small + 0.5, (small, large)


@pytest.mark.parametrize("point", [None, *CrashPoint])
def test_a_crashed_follower_recovers_from_what_it_fsynced(point: CrashPoint | None) -> None:
    simulation, leader = started_cluster(seed=10)
    follower = next(node for node in simulation.node_ids if node != leader.node_id)
    for number in range(10):
        leader.propose(b"a%d" % number)
    simulation.crash(follower, point)
    simulation.run(3)
    for number in range(10):
        leader.propose(b"b%d" % number)
    simulation.run(3)
    simulation.restart(follower, lose_state_machine=point is CrashPoint.AFTER_SEND)
    simulation.run_until(simulation.is_converged, 100)
    assert len(simulation.nodes[follower].applied) == leader.commit_index == 21


def test_a_restarted_leader_loses_only_unpersisted_entries() -> None:
    simulation, leader = started_cluster(seed=11)
    leader_id = leader.node_id
    committed = leader.propose(b"kept")
    simulation.run_until(lambda: leader.commit_index >= committed, 10)
    leader.propose(b"never fsynced")
    simulation.crash(leader_id, CrashPoint.BEFORE_FSYNC)
    simulation.run(1)
    assert not simulation.nodes[leader_id].alive
    assert [entry.command for entry in simulation.nodes[leader_id].durable_entries] == [b"", b"kept"]
    simulation.restart(leader_id)
    simulation.run_until(simulation.is_converged, 200)
    commands = [entry.command for entry in simulation.nodes[leader_id].applied]
    assert b"kept" in commands and b"never fsynced" not in commands


def test_recovery_rejects_an_inconsistent_wal() -> None:
    config, rng = RaftConfig(), random.Random(0)
    with pytest.raises(ValueError):
        Replica("a", ["a", "b"], config=config, rng=rng, entries=[Entry(1, 2, b"")])
    with pytest.raises(ValueError):
        Replica("a", ["a", "b"], config=config, rng=rng, entries=[Entry(1, 1, b"")], hard_state=HardState(1, None, 2))
    with pytest.raises(ValueError):
        Replica("a", ["a", "b"], config=config, rng=rng, entries=[Entry(3, 1, b"")], hard_state=HardState(2, None, 0))
    with pytest.raises(ValueError):
        Replica("z", ["a", "b"], config=config, rng=rng)
    recovered = Replica(
        "a", ["a", "b"], config=config, rng=rng, entries=[Entry(1, 1, b""), Entry(1, 2, b"x")],
        hard_state=HardState(1, "a", 1), applied_index=2,
    )
    assert recovered.commit_index == 2 and recovered.applied_index == 2 and not recovered.ready().apply


def test_lease_reads_need_a_committed_entry_of_the_term_and_a_fresh_quorum() -> None:
    config = RaftConfig()
    simulation, leader = started_cluster(seed=12, config=config)
    assert leader.lease_read_index() == leader.commit_index
    followers = [replica_of(simulation, node) for node in simulation.node_ids if node != leader.node_id]
    assert all(follower.lease_read_index() is None for follower in followers)
    simulation.isolate(leader.node_id)
    simulation.run(config.lease_ticks + 1)
    assert leader.role is Role.LEADER  # check-quorum has not fired yet, but the lease is gone
    assert leader.lease_read_index() is None


def test_a_just_restarted_replica_does_not_vote_while_an_old_lease_may_be_valid() -> None:
    """A replica that acknowledged a lease and restarted has forgotten it; it must still not vote at once.

    The SafetyMonitor fails the run if the cut-off candidate wins and commits while the old leader's
    lease (acknowledged by the restarted replica before its crash) is still valid.
    """
    # The longest lease the config allows, so the overlap does not depend on heartbeat phase.
    simulation, leader = started_cluster(seed=13, config=RaftConfig(pre_vote=False, lease_ticks=9))
    candidate, restarted = [node for node in simulation.node_ids if node != leader.node_id]
    simulation.cut_one_way(leader.node_id, candidate)
    simulation.cut_one_way(candidate, leader.node_id)
    simulation.run_until(lambda: replica_of(simulation, candidate).role is Role.CANDIDATE, 50)
    # Its vote requests are in flight; the replica they go to restarts and no longer hears the leader.
    simulation.crash(restarted)
    simulation.restart(restarted)
    simulation.cut_one_way(leader.node_id, restarted)
    simulation.cut_one_way(restarted, leader.node_id)
    lease_steps = 0
    for _ in range(60):
        simulation.step()
        lease_steps += leader.lease_read_index() is not None
    assert lease_steps >= 3  # the old lease really overlapped the election
    assert replica_of(simulation, candidate).role is Role.LEADER  # and the candidate won once it was safe


def test_restarting_the_whole_cluster_keeps_every_committed_entry() -> None:
    simulation, leader = started_cluster(seed=14)
    for number in range(40):
        leader.propose(b"%d" % number)
    simulation.run_until(simulation.is_converged, 50)
    for node_id in simulation.node_ids:
        simulation.crash(node_id)
    for node_id in simulation.node_ids:
        simulation.restart(node_id, lose_state_machine=node_id == "a")
    simulation.run_until(simulation.is_converged, 300)
    assert all(len(node.applied) >= 41 for node in simulation.nodes.values())


message_kinds = st.sampled_from(MessageKind)


@st.composite
def hostile_messages(draw: st.DrawFn) -> Message:
    term = draw(st.integers(min_value=0, max_value=4))
    index = draw(st.integers(min_value=0, max_value=12))
    kind = draw(message_kinds)
    entries: tuple[Entry, ...] = ()
    if kind is MessageKind.APPEND and term:
        terms = sorted(draw(st.lists(st.integers(min_value=1, max_value=term), max_size=4)))
        entries = tuple(Entry(entry_term, index + 1 + offset, b"h") for offset, entry_term in enumerate(terms))
    return Message(
        kind, draw(st.sampled_from(["b", "c", "zz"])), draw(st.sampled_from(["a", "a", "q"])), term,
        log_term=draw(st.integers(min_value=0, max_value=term)), index=index, entries=entries,
        commit=draw(st.integers(min_value=0, max_value=20)), reject=draw(st.booleans()),
        reject_hint=draw(st.integers(min_value=0, max_value=20)), lease_stamp=draw(st.integers(min_value=0, max_value=50)),
        transfer=draw(st.booleans()),
    )


def _replica_made_leader_by_hand() -> Replica:
    replica = Replica("a", ["a", "b", "c"], config=RaftConfig(), rng=random.Random(1))
    while replica.role is Role.FOLLOWER:
        replica.tick()
    replica.step(Message(MessageKind.PRE_VOTE_RESPONSE, "b", "a", replica.term + 1))
    replica.step(Message(MessageKind.VOTE_RESPONSE, "b", "a", replica.term))
    assert replica.role is Role.LEADER
    return replica


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.lists(st.one_of(hostile_messages(), st.just("tick"), st.just("propose")), max_size=60),
)
def test_step_never_raises_on_well_formed_but_hostile_input(start_as_leader: bool, inputs: list[object]) -> None:
    if start_as_leader:
        replica = _replica_made_leader_by_hand()
    else:
        replica = Replica("a", ["a", "b", "c"], config=RaftConfig(), rng=random.Random(1))
    for item in inputs:
        if item == "tick":
            replica.tick()
        elif item == "propose":
            if replica.role is Role.LEADER and replica.transfer_target is None:
                replica.propose(b"p")
        else:
            assert isinstance(item, Message)
            replica.step(item)
        while replica.has_ready():
            ready = replica.ready()
            replica.advance(ready)
        assert replica.applied_index == replica.commit_index <= replica.last_index


def test_same_seed_same_run() -> None:
    def fingerprint(seed: int) -> tuple[object, ...]:
        simulation = Simulation(
            ["a", "b", "c", "d", "e"], seed=seed,
            faults=NetworkFaults(drop_probability=0.2, duplicate_probability=0.1, delay_steps_max=5),
        )
        simulation.run(300)
        return simulation.messages_sent, tuple(sorted(str(replica.status()) for replica in simulation.live_replicas()))

    assert fingerprint(21) == fingerprint(21)
    assert fingerprint(21) != fingerprint(22)


def test_a_leader_ignores_answers_about_entries_it_never_had() -> None:
    leader = _replica_made_leader_by_hand()
    while leader.has_ready():
        leader.advance(leader.ready())
    term, last = leader.term, leader.last_index
    leader.step(Message(MessageKind.APPEND_RESPONSE, "b", "a", term, index=last))  # b now streams
    for reject in (True, False):
        leader.step(
            Message(MessageKind.APPEND_RESPONSE, "b", "a", term, index=last + 50, reject=reject, reject_hint=last + 40)
        )
    leader.propose(b"x")
    ready = leader.ready()
    assert [message.index for message in ready.send if message.recipient == "b"] == [last]
