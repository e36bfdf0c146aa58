"""Pure scrub logic: digests, comparison of replicas, repair plans, the commands a replica applies."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.types import Entry
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.scrub.commands import (
    KEPT_DIGESTS,
    KEPT_ITEM_DIGESTS,
    ItemRewrite,
    ReplicaScrubState,
    encode_marker,
    encode_repair,
    is_scrub_command,
)
from cluster.scrub.comparison import KeyRepair, compare_ranges, plan_key_repairs
from cluster.scrub.digests import RANGE_COUNT, digest_state, item_digest, range_of


def _items(*values: tuple[int, bytes, str]) -> list[tuple[int, bytes, str]]:
    return sorted(values)


def test_equal_states_have_equal_digests_and_one_changed_character_changes_exactly_its_range() -> None:
    items = _items((5, b"a", '{"v":{"N":"1"}}'), (21, b"b", '{"v":{"N":"2"}}'), (6, b"c", '{"v":{"S":"x"}}'))
    rotten = [(h, k, '{"v":{"N":"7"}}' if k == b"b" else item) for h, k, item in items]
    same = digest_state(3, items)
    assert same == digest_state(3, list(items))
    other = digest_state(3, rotten)
    differing = [r for r in range(RANGE_COUNT) if same.range_checksums[r] != other.range_checksums[r]]
    assert differing == [range_of(21)]
    assert other.keys_in_range(range_of(21))[(21, b"b")] != same.keys_in_range(range_of(21))[(21, b"b")]


def test_a_missing_item_and_an_extra_item_change_the_checksum() -> None:
    base = digest_state(1, _items((5, b"a", "{}")))
    assert digest_state(1, []).range_checksums != base.range_checksums
    # Same item text under a different key is a different state.
    assert digest_state(1, _items((5, b"b", "{}"))).range_checksums != base.range_checksums


def test_the_minority_replica_is_named_damaged_in_the_range_that_differs() -> None:
    good, bad = ["0"] * RANGE_COUNT, ["0"] * RANGE_COUNT
    bad[3] = "1"
    verdicts = compare_ranges({"n1": good, "n2": bad, "n3": good}, member_count=3)
    assert len(verdicts) == 1
    assert (verdicts[0].range_index, verdicts[0].damaged, verdicts[0].healthy) == (3, ("n2",), ("n1", "n3"))
    assert verdicts[0].decided
    assert compare_ranges({"n1": good, "n2": good, "n3": good}, member_count=3) == []


def test_two_replicas_that_disagree_are_undecided_unless_a_reference_decides() -> None:
    good, bad = ["0"] * RANGE_COUNT, ["0"] * RANGE_COUNT
    bad[0] = "1"
    undecided = compare_ranges({"n1": good, "n2": bad}, member_count=3)
    assert len(undecided) == 1 and not undecided[0].decided
    decided = compare_ranges({"n1": good, "n2": bad}, member_count=3, reference=good)
    assert (decided[0].damaged, decided[0].healthy, decided[0].decided) == (("n2",), ("n1",), True)
    # Two agreeing replicas of three are clean even with the third silent.
    assert compare_ranges({"n1": good, "n3": good}, member_count=3) == []


def test_a_reference_that_no_replica_equals_is_an_undecided_alarm() -> None:
    live, reference = ["0"] * RANGE_COUNT, ["0"] * RANGE_COUNT
    reference[2] = "9"
    verdicts = compare_ranges({"n1": live, "n2": live, "n3": live}, member_count=3, reference=reference)
    assert len(verdicts) == 1 and verdicts[0].damaged == ("n1", "n2", "n3") and not verdicts[0].decided


def test_different_range_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="numbers of ranges"):
        compare_ranges({"n1": ["0"], "n2": ["0", "0"]}, member_count=3)


def test_repair_plan_lists_changed_missing_and_extra_items_in_key_order() -> None:
    damaged = {(1, b"a"): "x", (2, b"b"): "rot", (4, b"extra"): "e"}
    healthy = {(1, b"a"): "x", (2, b"b"): "good", (3, b"gone"): "g"}
    assert plan_key_repairs(damaged, healthy) == [
        KeyRepair((2, b"b"), "rot", "good"), KeyRepair((3, b"gone"), None, "g"), KeyRepair((4, b"extra"), "e", None)
    ]


def _machine(tmp_path: Path, replica: str, markers: list[tuple[int, bool]]) -> PartitionStateMachine:
    return PartitionStateMachine(tmp_path / replica, ReplicaScrubState(replica, lambda i, s: markers.append((i, s))))


def _put(index: int, key: bytes, value: str) -> Entry:
    item = {"pk": {"S": key.decode()}, "v": {"S": value}}
    return Entry(1, index, encode_command(PutCommand(len(key), key, item)))


def test_a_marker_digests_the_state_at_its_own_index_on_every_replica(tmp_path: Path) -> None:
    markers: list[tuple[int, bool]] = []
    machine = _machine(tmp_path, "n1", markers)
    results = machine.apply([_put(1, b"a", "one"), Entry(1, 2, encode_marker(True)), _put(3, b"a", "two")])
    assert results[2] == {"status": "ok", "marker": 2} and markers == [(2, True)]
    digest = machine.scrub.digests[2]  # type: ignore[union-attr]
    assert digest.item_digests[(1, b"a")] == item_digest(machine.store.get(1, b"a").replace("two", "one"))
    assert machine.applied_index == 3


def test_a_repair_changes_only_its_target_and_only_items_still_as_rotten_as_at_the_marker(tmp_path: Path) -> None:
    target = _machine(tmp_path, "n2", [])
    other = _machine(tmp_path, "n3", [])
    for machine in (target, other):
        machine.apply([_put(1, b"a", "one"), _put(2, b"b", "bee")])
    rotten_a, rotten_b = '{"pk":{"S":"a"},"v":{"S":"onX"}}', '{"pk":{"S":"b"},"v":{"S":"beX"}}'
    target.store.put(1, b"a", rotten_a)
    target.store.put(1, b"b", rotten_b)
    healthy_a = other.store.get(1, b"a")
    healthy_b = other.store.get(1, b"b")
    # b was overwritten by a write after the marker: its rewrite must be skipped.
    target.apply([_put(3, b"b", "new")])
    other.apply([_put(3, b"b", "new")])
    repair = encode_repair("n2", 2, [
        ItemRewrite(1, b"a", item_digest(rotten_a), healthy_a),
        ItemRewrite(1, b"b", item_digest(rotten_b), healthy_b),
    ])
    assert is_scrub_command(repair)
    assert target.apply([Entry(1, 4, repair)])[4] == {"status": "ok", "repaired": 1, "skipped": 1, "target": "n2"}
    assert other.apply([Entry(1, 4, repair)])[4]["repaired"] == 0
    assert target.store.get(1, b"a") == healthy_a
    assert json.loads(target.store.get(1, b"b"))["v"] == {"S": "new"}
    assert target.store.get(1, b"b") == other.store.get(1, b"b")


def test_a_repair_can_delete_an_item_that_should_not_exist(tmp_path: Path) -> None:
    target = _machine(tmp_path, "n1", [])
    target.apply([_put(1, b"a", "one")])
    stray = target.store.get(1, b"a")
    target.apply([Entry(1, 2, encode_repair("n1", 1, [ItemRewrite(1, b"a", item_digest(stray), None)]))])
    assert target.store.get(1, b"a") is None


def test_without_a_scrub_hook_scrub_commands_change_nothing(tmp_path: Path) -> None:
    machine = PartitionStateMachine(tmp_path / "reference")
    machine.apply([_put(1, b"a", "one")])
    before = machine.store.get(1, b"a")
    results = machine.apply([Entry(1, 2, encode_marker(False)),
                             Entry(1, 3, encode_repair("reference", 2, [ItemRewrite(1, b"a", item_digest(before), None)]))])
    assert machine.store.get(1, b"a") == before and machine.applied_index == 3
    assert all(result["status"] == "invalid" for result in results.values())


def test_a_kept_digest_holds_every_item_digest_in_a_few_dozen_bytes_each() -> None:
    items = sorted((h * 7_919 % 2**63, f"key-{h}".encode(), f'{{"v":{{"N":"{h}"}}}}') for h in range(10_000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        digest = digest_state(9, items)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Every item is found again under its own key and range, with its own digest.
    assert digest.item_digests == {(h, k): item_digest(text) for h, k, text in items}
    assert all(range_of(h) == 5 for h, _ in digest.keys_in_range(5))
    # A replica keeps several digests of every group it hosts: the items' part must stay small (a dict
    # entry per item cost ~300 bytes, and a soak's nodes grew with their item count).
    assert held / len(items) < 40
    # Only compared, never repaired from (the reference's): the same checksums and no items.
    compared = digest_state(9, items, keep_items=False)
    assert compared == digest
    with pytest.raises(ValueError, match="without its item digests"):
        compared.keys_in_range(0)


def test_only_the_newest_digests_keep_their_item_records_and_every_kept_one_still_compares(tmp_path: Path) -> None:
    machine = _machine(tmp_path, "n1", [])
    machine.apply([_put(1, b"a", "one")])
    markers = list(range(2, 2 + KEPT_DIGESTS + 3))
    machine.apply([Entry(1, index, encode_marker(False)) for index in markers])
    digests = machine.scrub.digests  # type: ignore[union-attr]
    assert list(digests) == markers[-KEPT_DIGESTS:]
    with_items = [index for index, digest in digests.items() if digest.has_items]
    assert with_items == markers[-KEPT_ITEM_DIGESTS:]
    # A digest without its records still answers a round's comparison, with the same checksums.
    assert {tuple(digest.range_checksums) for digest in digests.values()} == {tuple(digests[markers[-1]].range_checksums)}
    with pytest.raises(ValueError, match="without its item digests"):
        digests[markers[-KEPT_DIGESTS]].keys_in_range(0)
