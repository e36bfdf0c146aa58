"""When a leader changes its group's membership around an unhealthy replica: the pure decision."""

from __future__ import annotations

from cluster.core.membership import Membership
from cluster.node.log_replica_policy import LeaderView, decide

PLACEMENT = ("node-a1", "node-b1", "node-c1")
THREE = Membership(PLACEMENT)
WITH_LOG = THREE.with_log_replica("node-b2")
STOOD_IN = Membership(("node-a1", "node-c1"), ("node-b2",))
NODE_AZS = {
    "node-a1": "az-a", "node-a2": "az-a", "node-b1": "az-b", "node-b2": "az-b", "node-c1": "az-c", "node-c2": "az-c",
}
DETECT = 30


def view(membership: Membership = THREE, silent: dict[str, int] | None = None, match: dict[str, int] | None = None,
         committed: bool = True, last_index: int = 100, group_id: str = "t-p0",
         reachable: frozenset[str] = frozenset()) -> LeaderView:
    return LeaderView(
        group_id=group_id,
        leader="node-a1",
        placement=PLACEMENT,
        membership=membership,
        membership_committed=committed,
        silent_ticks={member: 0 for member in membership.replicated} | (silent or {}),
        match_index={member: last_index for member in membership.replicated} | (match or {}),
        last_index=last_index,
        reachable=reachable,
    )


def test_the_whole_healing_cycle_one_single_server_change_at_a_time() -> None:
    # 1. node-b1 goes silent: the spare node of its AZ joins as a learner...
    step = decide(view(silent={"node-b1": DETECT}), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member, step.unhealthy) == ("add-learner", "node-b2", "node-b1")
    learning = step.new_membership
    assert learning == THREE.with_learner("node-b2")
    # ...and is promoted to a log replica once it holds the whole log.
    assert decide(view(learning, silent={"node-b1": DETECT}, match={"node-b2": 10}), NODE_AZS, DETECT) is None
    step = decide(view(learning, silent={"node-b1": DETECT}), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member, step.unhealthy) == ("add-log-replica", "node-b2", "node-b1")
    assert step.new_membership == WITH_LOG
    # 2. still silent: it leaves, so three healthy members remain (quorum two).
    step = decide(view(WITH_LOG, silent={"node-b1": DETECT * 3}), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member) == ("remove-storage-replica", "node-b1")
    assert step.new_membership == STOOD_IN
    # ...and nothing more happens while it stays away.
    assert decide(view(STOOD_IN), NODE_AZS, DETECT) is None
    # 3. it answers again: back in as a storage replica.
    step = decide(view(STOOD_IN, reachable=frozenset({"node-b1"})), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member) == ("restore-storage-replica", "node-b1")
    restored = step.new_membership
    assert restored.storage == ("node-a1", "node-c1", "node-b1") and restored.log == ("node-b2",)
    # 4. once it holds the whole log, the log replica goes.
    assert decide(view(restored, match={"node-b1": 40}), NODE_AZS, DETECT) is None
    step = decide(view(restored), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member) == ("remove-log-replica", "node-b2")
    assert set(step.new_membership.members) == set(PLACEMENT) and not step.new_membership.log


def test_a_learner_that_goes_silent_or_is_no_longer_needed_leaves() -> None:
    learning = THREE.with_learner("node-b2")
    silent_learner = decide(view(learning, silent={"node-b1": DETECT, "node-b2": DETECT}), NODE_AZS, DETECT)
    assert silent_learner is not None and (silent_learner.kind, silent_learner.member) == ("remove-learner", "node-b2")
    recovered = decide(view(learning, match={"node-b2": 10}), NODE_AZS, DETECT)
    assert recovered is not None and recovered.kind == "remove-learner" and recovered.new_membership == THREE


def test_nothing_happens_before_detection_or_while_a_change_is_uncommitted() -> None:
    assert decide(view(silent={"node-b1": DETECT - 1}), NODE_AZS, DETECT) is None
    assert decide(view(silent={"node-b1": DETECT}, committed=False), NODE_AZS, DETECT) is None
    assert decide(view(WITH_LOG, silent={"node-b1": DETECT}, committed=False), NODE_AZS, DETECT) is None


def test_two_silent_replicas_or_no_spare_node_in_the_az_get_none() -> None:
    assert decide(view(silent={"node-b1": DETECT, "node-c1": DETECT}), NODE_AZS, DETECT) is None
    only_members = {node: az for node, az in NODE_AZS.items() if node.endswith("1")}
    assert decide(view(silent={"node-b1": DETECT}), only_members, DETECT) is None


def test_a_second_silent_replica_is_not_removed_when_that_would_not_help() -> None:
    # Three members, one a log replica: dropping a silent one would leave two, no better than two of three.
    assert decide(view(STOOD_IN, silent={"node-c1": DETECT * 2}), NODE_AZS, DETECT) is None


def test_a_silent_log_replica_leaves_once_the_storage_replicas_are_healthy() -> None:
    step = decide(view(WITH_LOG, silent={"node-b2": DETECT * 5}), NODE_AZS, DETECT)
    assert step is not None and (step.kind, step.member) == ("remove-log-replica", "node-b2")


def test_the_choice_among_spare_nodes_is_stable_per_group_and_spreads_over_groups() -> None:
    azs = dict(NODE_AZS, **{"node-b3": "az-b", "node-b4": "az-b"})
    chosen = {
        decide(view(silent={"node-b1": DETECT}, group_id=f"t-p{n}"), azs, DETECT).member  # type: ignore[union-attr]
        for n in range(12)
    }
    assert len(chosen) > 1
    first = decide(view(silent={"node-b1": DETECT}, group_id="t-p3"), azs, DETECT)
    assert first == decide(view(silent={"node-b1": DETECT}, group_id="t-p3"), azs, DETECT)
