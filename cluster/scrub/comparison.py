"""Which replica is damaged in which key range, and which items a repair must rewrite. Pure.

A range is damaged on a replica whose checksum disagrees with a strict majority of the group's
members (2 of 3), or, when a reference rebuilt from the archived WAL is at hand, with the reference.
Without either, a disagreement is undecided: the scrub says so rather than guessing whom to trust.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cluster.scrub.digests import KeyId


@dataclass(frozen=True)
class RangeVerdict:
    range_index: int
    damaged: tuple[str, ...]  # replicas whose data in this range is wrong
    healthy: tuple[str, ...]  # replicas that hold the right data (repair sources)
    decided: bool
    reason: str


def compare_ranges(
    checksums: Mapping[str, Sequence[str]],
    member_count: int,
    reference: Sequence[str] | None = None,
) -> list[RangeVerdict]:
    """Verdicts for the ranges where the replicas (or replicas and reference) disagree; [] when all agree.

    `checksums` holds the range checksums of every replica that answered, all at one log index.
    """
    if not checksums:
        return []
    range_counts = {len(values) for values in checksums.values()}
    if reference is not None:
        range_counts.add(len(reference))
    if len(range_counts) != 1:
        raise ValueError(f"replicas report different numbers of ranges: {sorted(range_counts)}")
    verdicts: list[RangeVerdict] = []
    for range_index in range(range_counts.pop()):
        values = {replica: checksums[replica][range_index] for replica in sorted(checksums)}
        if reference is not None:
            truth = reference[range_index]
            healthy = tuple(replica for replica, value in values.items() if value == truth)
            damaged = tuple(replica for replica, value in values.items() if value != truth)
            if damaged:
                verdicts.append(RangeVerdict(
                    range_index, damaged, healthy, bool(healthy),
                    "differs from the reference rebuilt from the archived WAL"
                    + ("" if healthy else "; no replica equals it, none can be a repair source"),
                ))
            continue
        counts = Counter(values.values())
        if len(counts) == 1:
            continue
        value, votes = counts.most_common(1)[0]
        if votes * 2 > member_count:
            healthy = tuple(replica for replica, other in values.items() if other == value)
            damaged = tuple(replica for replica, other in values.items() if other != value)
            verdicts.append(RangeVerdict(
                range_index, damaged, healthy, True, f"differs from the majority ({votes} of {member_count})"
            ))
        else:
            verdicts.append(RangeVerdict(
                range_index, tuple(sorted(values)), (), False,
                f"no majority of {member_count} members agrees ({len(values)} answered)",
            ))
    return verdicts


@dataclass(frozen=True)
class KeyRepair:
    key: KeyId
    damaged_digest: str | None  # what the damaged replica held at the marker (None: absent)
    healthy_digest: str | None  # what a healthy replica held at the marker (None: absent)


def plan_key_repairs(damaged: Mapping[KeyId, str], healthy: Mapping[KeyId, str]) -> list[KeyRepair]:
    """Every item of one range whose digest differs between a damaged and a healthy replica, in key order."""
    keys = sorted(set(damaged) | set(healthy))
    return [
        KeyRepair(key, damaged.get(key), healthy.get(key))
        for key in keys
        if damaged.get(key) != healthy.get(key)
    ]
