"""A repair counts as repaired only when a round saw its replica clean; one the next round could not see
waits for later rounds, bounded (cluster/scrub/confirmation.py)."""

from __future__ import annotations

import pytest

from cluster.scrub.confirmation import (
    MAX_ATTEMPTS,
    MAX_PER_GROUP,
    PendingConfirmations,
    confirmed_by_round,
    repairs_from_wire,
)


def _repair(replica: str, range_index: int) -> dict:
    return {"replica": replica, "range": range_index, "keys": [{"hash": 1, "key": "aw=="}], "marker_index": 9}


def test_a_repair_is_confirmed_only_by_a_round_that_saw_its_replica_clean_in_its_range() -> None:
    seen_clean, other_range_damaged = _repair("n3", 1), _repair("n2", 4)
    still_damaged, not_seen = _repair("n2", 7), _repair("n1", 1)
    confirmed, unconfirmed = confirmed_by_round(
        [seen_clean, other_range_damaged, still_damaged, not_seen], damaged=[(7, "n2"), (5, "n2")], replicas=["n2", "n3"]
    )
    assert confirmed == [seen_clean, other_range_damaged]
    assert unconfirmed == [still_damaged, not_seen]


def test_unconfirmed_repairs_wait_for_later_rounds_until_their_attempts_run_out() -> None:
    pending = PendingConfirmations()
    pending.keep("g1", [_repair("n1", 1)])
    assert pending.groups() == ["g1"] and len(pending) == 1
    for _ in range(MAX_ATTEMPTS - 1):  # each round that could not confirm it keeps it once more
        repairs = pending.take("g1")
        assert len(repairs) == 1
        pending.keep("g1", repairs)
    assert pending.take("g1")[0]["confirm_attempts"] == MAX_ATTEMPTS
    pending.keep("g1", [{**_repair("n1", 1), "confirm_attempts": MAX_ATTEMPTS}])
    assert pending.groups() == [] and pending.take("g1") == []


def test_a_group_keeps_only_its_newest_unconfirmed_repairs() -> None:
    pending = PendingConfirmations()
    pending.keep("g1", [_repair("n1", number % 16) | {"marker_index": number} for number in range(MAX_PER_GROUP + 5)])
    kept = pending.take("g1")
    assert len(kept) == MAX_PER_GROUP and kept[0]["marker_index"] == 5 and kept[-1]["marker_index"] == MAX_PER_GROUP + 4
    pending.keep("g2", [])
    assert pending.groups() == []


def test_handed_over_repairs_are_checked_and_a_malformed_one_is_named() -> None:
    assert repairs_from_wire([_repair("n1", 2)]) == [_repair("n1", 2)]
    with pytest.raises(ValueError, match="must be a list"):
        repairs_from_wire({"replica": "n1"})
    with pytest.raises(ValueError, match="replica .str., range .int. and keys"):
        repairs_from_wire([{"replica": "n1", "range": "2", "keys": []}])
