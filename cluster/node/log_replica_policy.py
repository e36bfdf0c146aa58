"""When a group's leader changes its membership around an unhealthy storage replica: a pure decision.

The DynamoDB paper heals a group whose storage replica is unhealthy by adding a log replica (WAL
only) on a healthy node: the group is back to three healthy voting members in seconds, rather than
the minutes a full rebuild of a B-tree replica takes. Here, one single-server change at a time:

1. a storage replica stays silent past the detection timeout → a spare node of its AZ joins as a
   learner (it receives the log, has no vote, so it cannot cost the group its quorum while it catches
   up), and once it holds the log it is promoted to a log replica (four members: the write quorum is
   the three healthy ones); a learner that goes silent, or is no longer needed, is removed;
2. the log replica is in → remove the silent storage replica (three healthy members, quorum two: the
   group survives a second failure, which it would not with three members and one of them dead);
3. the removed replica answers again → add it back as a storage replica (it catches up from its WAL);
4. every placed storage replica is a member, answering and holding the whole log → remove the log replica.

Each step waits until the previous change is committed (cluster/core/membership.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cluster.core.membership import Membership

ActionKind = Literal[
    "add-learner", "remove-learner", "add-log-replica", "remove-storage-replica", "restore-storage-replica",
    "remove-log-replica",
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "add-learner", "remove-learner", "add-log-replica", "remove-storage-replica", "restore-storage-replica",
    "remove-log-replica",
)


@dataclass(frozen=True)
class LeaderView:
    """What the leader of one group knows right now."""

    group_id: str
    leader: str
    placement: tuple[str, ...]  # the storage replicas the catalogue placed (the group's healthy shape)
    membership: Membership
    membership_committed: bool
    silent_ticks: Mapping[str, int]  # member -> ticks since it last answered
    match_index: Mapping[str, int]  # member -> highest index it is known to hold
    last_index: int
    reachable: frozenset[str] = frozenset()  # placed replicas outside the membership that answered lately


@dataclass(frozen=True)
class MembershipAction:
    group_id: str
    kind: ActionKind
    member: str  # who is added or removed
    unhealthy: str  # the storage replica the change is about
    new_membership: Membership


def decide(view: LeaderView, node_azs: Mapping[str, str], detect_ticks: int) -> MembershipAction | None:
    """The next membership change of this group, or None. `node_azs` maps every storage node to its AZ."""
    if not view.membership_committed:
        return None
    membership = view.membership
    silent = [
        member for member in membership.storage
        if member != view.leader and view.silent_ticks.get(member, 0) >= detect_ticks
    ]
    missing = [member for member in view.placement if member not in membership.storage]
    if membership.learners:
        learner = membership.learners[0]
        unhealthy = silent[0] if len(silent) == 1 else ""
        if view.silent_ticks.get(learner, 0) >= detect_ticks or not unhealthy or membership.log:
            return MembershipAction(view.group_id, "remove-learner", learner, unhealthy, membership.without(learner))
        if view.match_index.get(learner, 0) >= view.last_index:
            return MembershipAction(
                view.group_id, "add-log-replica", learner, unhealthy, membership.promoted_to_log_replica(learner)
            )
        return None  # still catching up
    if not membership.log:
        if len(silent) != 1 or missing:
            return None  # nothing to heal, or more than one away: a log replica cannot restore three members
        unhealthy = silent[0]
        candidates = sorted(
            node for node, az in node_azs.items()
            if az == node_azs.get(unhealthy) and node not in membership.replicated
        )
        if not candidates:
            return None
        # Spread the log replicas of many groups over the AZ's spare nodes, the same way every time.
        chosen = candidates[zlib.crc32(view.group_id.encode()) % len(candidates)]
        return MembershipAction(view.group_id, "add-learner", chosen, unhealthy, membership.with_learner(chosen))
    log_replica = membership.log[0]
    if len(silent) == 1 and len(membership.members) > len(view.placement):
        # Four members with one silent: dropping it leaves three healthy ones (quorum two), not two of four.
        unhealthy = silent[0]
        return MembershipAction(
            view.group_id, "remove-storage-replica", unhealthy, unhealthy, membership.without(unhealthy)
        )
    back = [member for member in missing if member in view.reachable]
    if back and not silent:
        return MembershipAction(
            view.group_id, "restore-storage-replica", back[0], back[0], membership.with_storage_replica(back[0])
        )
    caught_up = all(
        view.match_index.get(member, 0) >= view.last_index for member in membership.storage if member != view.leader
    )
    if not missing and not silent and caught_up:
        return MembershipAction(view.group_id, "remove-log-replica", log_replica, "", membership.without(log_replica))
    return None
