"""Repairs waiting for a round that shows the repaired replica agreeing again.

A repair is only called repaired once a later round collected the damaged replica's checksums and found
its range clean. The round right after the repair may not see it: the replica is paused or partitioned
again, or this node lost the lead. Such a repair stays pending here, is checked by the group's next rounds
and goes with the lead to the next leader, within bounds: a repair nobody can confirm after
`MAX_ATTEMPTS` rounds is dropped (its key stays "never repaired" in the game day's verdict).

Pure: the coordinator feeds each round's verdicts and collected replicas in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

MAX_ATTEMPTS = 10
MAX_PER_GROUP = 64


def confirmed_by_round(
    repairs: Sequence[dict[str, Any]], damaged: Iterable[tuple[int, str]], replicas: Iterable[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(confirmed, unconfirmed) repairs after a round that collected REPLICAS' checksums and found DAMAGED
    (range, replica) pairs: confirmed when its replica answered and its range is no longer damaged."""
    damaged_now = set(damaged)
    answered = set(replicas)
    confirmed, unconfirmed = [], []
    for repair in repairs:
        clean = repair["replica"] in answered and (repair["range"], repair["replica"]) not in damaged_now
        (confirmed if clean else unconfirmed).append(repair)
    return confirmed, unconfirmed


class PendingConfirmations:
    """Per group, the repairs no round has confirmed yet."""

    def __init__(self) -> None:
        self._by_group: dict[str, list[dict[str, Any]]] = {}

    def take(self, group_id: str) -> list[dict[str, Any]]:
        return self._by_group.pop(group_id, [])

    def keep(self, group_id: str, repairs: Iterable[dict[str, Any]]) -> None:
        """Keeps REPAIRS for the group's next round, counting this round as one more attempt."""
        kept = self._by_group.setdefault(group_id, [])
        for repair in repairs:
            attempts = int(repair.get("confirm_attempts", 0)) + 1
            if attempts <= MAX_ATTEMPTS:
                kept.append({**repair, "confirm_attempts": attempts})
        del kept[:-MAX_PER_GROUP]  # the newest win: older ones had their rounds
        if not kept:
            del self._by_group[group_id]

    def groups(self) -> list[str]:
        return sorted(self._by_group)

    def __len__(self) -> int:
        return sum(len(repairs) for repairs in self._by_group.values())


def repairs_from_wire(value: Any) -> list[dict[str, Any]]:
    """Repairs handed over by a peer (`scrub.request`'s `confirm`), or ValueError naming what is wrong."""
    if not isinstance(value, list):
        raise ValueError("confirm must be a list of repairs")
    repairs = []
    for repair in value:
        if not (
            isinstance(repair, dict)
            and isinstance(repair.get("replica"), str)
            and isinstance(repair.get("range"), int)
            and isinstance(repair.get("keys"), list)
        ):
            raise ValueError(f"a repair needs replica (str), range (int) and keys (list): {repair!r:.200}")
        repairs.append(repair)
    return repairs
