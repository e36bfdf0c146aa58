"""What only a broken protocol can show a replica: a leader without entries this replica committed.
The core reports it through Ready.safety_alarms (the runtime logs it as an error, the simulation fails),
once per peer and term, and goes on skipping what it must not apply."""

from __future__ import annotations

import random

from cluster.core.config import RaftConfig
from cluster.core.messages import Message, MessageKind
from cluster.core.replica import Replica
from cluster.core.types import Entry, HardState
from tests.core.core_cluster_helpers import started_cluster

VOTERS = ("a", "b", "c")


def _follower_with_committed(entries: int, term: int) -> Replica:
    log = [Entry(term, index, f"w{index}".encode()) for index in range(1, entries + 1)]
    replica = Replica("b", VOTERS, config=RaftConfig(), rng=random.Random(1), entries=log,
                      hard_state=HardState(term, None, entries), applied_index=entries)  # fmt: skip
    replica.ready()  # nothing pending but what recovery set up
    return replica


def test_a_leader_that_overwrites_a_committed_entry_is_reported_once_and_the_entry_kept() -> None:
    follower = _follower_with_committed(5, term=2)
    # A leader of term 3 whose log ends at 3: its no-op lands at index 4, where we committed term 2.
    append = Message(MessageKind.APPEND, "c", "b", 3, log_term=2, index=3, entries=(Entry(3, 4, b""),), commit=4)
    follower.step(append)
    ready = follower.ready()
    assert len(ready.safety_alarms) == 1
    assert "leader completeness" in ready.safety_alarms[0] and "entry 4 of term 3" in ready.safety_alarms[0]
    follower.advance(ready)
    assert follower.term_at(4) == 2 and follower.commit_index == 5  # the committed entry stays
    follower.step(append)  # the same leader again: not reported twice
    assert follower.ready().safety_alarms == ()


def test_matching_committed_entries_raise_no_alarm() -> None:
    follower = _follower_with_committed(5, term=2)
    follower.step(Message(MessageKind.APPEND, "c", "b", 3, log_term=2, index=3,
                          entries=(Entry(2, 4, b"w4"), Entry(2, 5, b"w5"), Entry(3, 6, b"")), commit=6))  # fmt: skip
    ready = follower.ready()
    assert ready.safety_alarms == () and ready.persist[-1].index == 6


def test_a_follower_that_acknowledges_past_the_leaders_log_is_reported() -> None:
    simulation, leader = started_cluster(seed=2)
    follower = next(node_id for node_id in simulation.node_ids if node_id != leader.node_id)
    last, matched = leader.last_index, leader.match_index_of(follower)
    leader.step(Message(MessageKind.APPEND_RESPONSE, follower, leader.node_id, leader.term, index=last + 7))
    ready = leader.ready()
    assert list(ready.safety_alarms) == [
        f"leader completeness: {follower} holds index {last + 7} beyond this leader's last index {last} in term "
        f"{leader.term}: entries it committed are missing here"
    ]
    assert leader.match_index_of(follower) == matched  # not taken as a match
