"""Who belongs to a replication group, and how a change of that is carried in the log.

A group has storage replicas (WAL + materialised state; they may lead and serve reads) and log
replicas (the DynamoDB paper's healing trick: WAL only; they vote and count towards the write quorum,
but never lead). Both vote, so the quorum is a majority of them. A learner (Raft thesis §4.2.1)
receives the log but neither votes nor counts: a new log replica joins as one and is promoted once
it holds the log, so a member that cannot catch up never costs the group its quorum.

Membership changes are single-server changes (Raft thesis §4.1): each change adds or removes exactly
one voting member, so any majority of the old membership overlaps any majority of the new one and no
joint consensus is needed. A change is an ordinary log entry whose command carries the new
membership; a replica uses the latest membership in its log, committed or not, from the moment the
entry is appended (and falls back when a conflicting leader truncates it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Commands of the state machine are JSON objects or empty (a leader's no-op); a NUL prefix can
# never start either, so a membership entry is never mistaken for a command.
MEMBERSHIP_PREFIX = b"\x00membership\x00"


class MembershipError(ValueError):
    """A membership that cannot be, or a change that is not a single-server change."""


@dataclass(frozen=True)
class Membership:
    storage: tuple[str, ...]
    log: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        everyone = self.storage + self.log + self.learners
        if len(set(everyone)) != len(everyone):
            raise MembershipError(
                f"a member appears twice in storage {self.storage} / log {self.log} / learners {self.learners}"
            )
        if not self.storage:
            raise MembershipError("a group needs at least one storage replica to lead it")

    @property
    def members(self) -> tuple[str, ...]:
        """Every voting member: storage replicas first, then log replicas."""
        return self.storage + self.log

    @property
    def replicated(self) -> tuple[str, ...]:
        """Everyone a leader sends the log to: the voting members and the learners."""
        return self.members + self.learners

    @property
    def quorum(self) -> int:
        return len(self.members) // 2 + 1

    def can_lead(self, node_id: str) -> bool:
        return node_id in self.storage

    def with_log_replica(self, node_id: str) -> Membership:
        return Membership(self.storage, (*self.log, node_id), self.learners)

    def with_learner(self, node_id: str) -> Membership:
        return Membership(self.storage, self.log, (*self.learners, node_id))

    def promoted_to_log_replica(self, node_id: str) -> Membership:
        if node_id not in self.learners:
            raise MembershipError(f"{node_id!r} is not a learner of {self.learners}")
        return Membership(self.storage, (*self.log, node_id), tuple(n for n in self.learners if n != node_id))

    def without(self, node_id: str) -> Membership:
        if node_id not in self.replicated:
            raise MembershipError(f"{node_id!r} is not a member of {self.replicated}")
        return Membership(
            tuple(member for member in self.storage if member != node_id),
            tuple(member for member in self.log if member != node_id),
            tuple(member for member in self.learners if member != node_id),
        )

    def with_storage_replica(self, node_id: str) -> Membership:
        return Membership((*self.storage, node_id), self.log, self.learners)

    def check_single_change_to(self, new: Membership) -> None:
        """Raise unless `new` is one step from here: add or remove one voting member, add or remove one
        learner, or promote one learner to a voter; everyone else keeps their kind."""
        voters_changed = set(self.members) ^ set(new.members)
        learners_changed = set(self.learners) ^ set(new.learners)
        promotion = (
            len(voters_changed) == 1 and voters_changed == learners_changed
            and next(iter(voters_changed)) in self.learners
        )
        one_step = promotion or (len(voters_changed) + len(learners_changed) == 1)
        if not one_step:
            raise MembershipError(
                f"a change must add or remove exactly one member: {self.replicated} -> {new.replicated}"
            )
        for member in set(self.members) & set(new.members):
            if self.can_lead(member) != new.can_lead(member):
                raise MembershipError(f"{member!r} cannot change between storage and log replica in place")

    def encode(self) -> bytes:
        fields = {"storage": list(self.storage), "log": list(self.log), "learners": list(self.learners)}
        return MEMBERSHIP_PREFIX + json.dumps(fields).encode()

    @classmethod
    def decode(cls, command: bytes) -> Membership | None:
        """The membership a log entry's command carries, or None for any other command."""
        if not command.startswith(MEMBERSHIP_PREFIX):
            return None
        data = json.loads(command[len(MEMBERSHIP_PREFIX) :])
        return cls(tuple(data["storage"]), tuple(data.get("log", ())), tuple(data.get("learners", ())))


def is_membership_command(command: bytes) -> bool:
    return command.startswith(MEMBERSHIP_PREFIX)
