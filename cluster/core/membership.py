"""Who belongs to a replication group, and how a change of that is carried in the log.

A group has storage replicas (WAL + materialised state; they may lead and serve reads) and log
replicas (the DynamoDB paper's healing trick: WAL only; they vote and count towards the write quorum,
but never lead). Every member votes, so the quorum is a majority of all members.

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

    def __post_init__(self) -> None:
        members = self.storage + self.log
        if len(set(members)) != len(members):
            raise MembershipError(f"a member appears twice in storage {self.storage} / log {self.log}")
        if not self.storage:
            raise MembershipError("a group needs at least one storage replica to lead it")

    @property
    def members(self) -> tuple[str, ...]:
        """Every voting member: storage replicas first, then log replicas."""
        return self.storage + self.log

    @property
    def quorum(self) -> int:
        return len(self.members) // 2 + 1

    def can_lead(self, node_id: str) -> bool:
        return node_id in self.storage

    def with_log_replica(self, node_id: str) -> Membership:
        return Membership(self.storage, (*self.log, node_id))

    def without(self, node_id: str) -> Membership:
        if node_id not in self.members:
            raise MembershipError(f"{node_id!r} is not a member of {self.members}")
        return Membership(
            tuple(member for member in self.storage if member != node_id),
            tuple(member for member in self.log if member != node_id),
        )

    def with_storage_replica(self, node_id: str) -> Membership:
        return Membership((*self.storage, node_id), self.log)

    def check_single_change_to(self, new: Membership) -> None:
        """Raise unless `new` adds or removes exactly one voting member and keeps everyone else's kind."""
        old_members, new_members = set(self.members), set(new.members)
        changed = old_members ^ new_members
        if len(changed) != 1:
            raise MembershipError(
                f"a change must add or remove exactly one member: {self.members} -> {new.members}"
            )
        for member in old_members & new_members:
            if self.can_lead(member) != new.can_lead(member):
                raise MembershipError(f"{member!r} cannot change between storage and log replica in place")

    def encode(self) -> bytes:
        return MEMBERSHIP_PREFIX + json.dumps({"storage": list(self.storage), "log": list(self.log)}).encode()

    @classmethod
    def decode(cls, command: bytes) -> Membership | None:
        """The membership a log entry's command carries, or None for any other command."""
        if not command.startswith(MEMBERSHIP_PREFIX):
            return None
        data = json.loads(command[len(MEMBERSHIP_PREFIX) :])
        return cls(tuple(data["storage"]), tuple(data.get("log", ())))


def is_membership_command(command: bytes) -> bool:
    return command.startswith(MEMBERSHIP_PREFIX)
