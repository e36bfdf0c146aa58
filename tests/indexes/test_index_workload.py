"""The index workload's plans: writes move items between the index's slots with unique values, reads name
a slot, and the weights are checked."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from loadgen.index_workload import SLOTS, IndexWorkload, slot_name
from loadgen.operations import UniqueValues


def test_writes_spread_over_items_and_slots_with_unique_values_and_reads_name_a_slot() -> None:
    workload = IndexWorkload(5, UniqueValues(2), random.Random(1), read_weight=1, write_weight=3)
    plans = [workload.plan() for _ in range(2000)]
    kinds = Counter(plan.function for plan in plans)
    assert 0.65 < kinds["write"] / len(plans) < 0.85 and kinds["write"] + kinds["read"] == len(plans)
    writes = [plan for plan in plans if plan.function == "write"]
    assert len({plan.value["w"] for plan in writes}) == len(writes)
    assert {plan.key for plan in writes} == {f"ix{n}" for n in range(5)}
    slots = {slot_name(n) for n in range(SLOTS)}
    assert {plan.value["slot"] for plan in writes} == slots
    assert {plan.key for plan in plans if plan.function == "read"} == slots
    assert IndexWorkload.final_read().function == "read-index"


@pytest.mark.parametrize(("keys", "read", "write"), [(0, 1, 1), (3, -1, 1), (3, 0, 0)])
def test_no_items_or_bad_weights_are_refused(keys: int, read: float, write: float) -> None:
    with pytest.raises(ValueError):
        IndexWorkload(keys, UniqueValues(0), random.Random(1), read, write)
