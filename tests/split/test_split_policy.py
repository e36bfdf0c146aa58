"""The split policy: pure, time passed in."""

from __future__ import annotations

from cluster.metadata.catalogue import HASH_SPACE, PartitionInfo, TableEntry
from cluster.metadata.split_policy import SplitPolicy, SplitPolicySettings, weighted_median_split

SETTINGS = SplitPolicySettings(threshold=0.8, sustain_s=3.0, cooldown_s=5.0, max_partitions=4)


def table(partitions: int = 2, status: str = "ACTIVE") -> TableEntry:
    parts = [
        PartitionInfo(f"t-p{i}", i, i * HASH_SPACE // partitions, (i + 1) * HASH_SPACE // partitions, ["a", "b", "c"])
        for i in range(partitions)
    ]
    return TableEntry({"name": "t", "table_id": "t" * 36, "status": status}, parts)


def report(wcu_per_s: float, keys: list[tuple[int, float]], throttled: int = 0, interval_s: float = 0.5) -> dict:
    return {
        "rcu": 0.0, "wcu": wcu_per_s * interval_s, "throttled": throttled, "max_rcu": 3000.0, "max_wcu": 1000.0,
        "interval_s": interval_s, "keys": [list(k) for k in keys],
    }


def spread_keys(start: int, count: int, units: float = 10.0) -> list[tuple[int, float]]:
    step = (HASH_SPACE // 2) // (count + 1)
    return [(start + (i + 1) * step, units) for i in range(count)]


def test_hot_partition_splits_at_the_weighted_median_after_the_sustain_time() -> None:
    policy = SplitPolicy(SETTINGS)
    entry = table()
    keys = spread_keys(0, 10)
    for second in range(4):
        policy.observe({"t-p0": report(900.0, keys)}, now_s=float(second))
        decisions = policy.decide({"t": entry}, now_s=float(second))
        if second < 3:
            assert decisions == [], second  # not sustained yet
    assert len(decisions) == 1
    decision = decisions[0]
    assert (decision.table, decision.group) == ("t", "t-p0")
    below = sum(units for h, units in keys if h < decision.split_hash)
    assert below == 50.0  # half of the units on each side
    assert keys[4][0] < decision.split_hash <= keys[5][0]


def test_weighted_median_follows_weights_not_counts() -> None:
    keys = {100: 1.0, 200: 1.0, 300: 1.0, 400: 7.0, 500: 2.0}
    split_hash = weighted_median_split(keys, 0, 1000)
    assert split_hash is not None and 300 < split_hash <= 400  # 3 units below, 9 from 400 on is closest


def test_a_single_hot_key_never_splits() -> None:
    policy = SplitPolicy(SETTINGS)
    keys = [(12345, 900.0), *spread_keys(0, 5, units=10.0)]
    for second in range(10):
        policy.observe({"t-p0": report(1000.0, keys, throttled=5)}, now_s=float(second))
        assert policy.decide({"t": table()}, now_s=float(second)) == []


def test_split_hash_is_strictly_inside_the_partition() -> None:
    start, end = HASH_SPACE // 2, HASH_SPACE
    assert weighted_median_split({start: 5.0, start + 1: 5.0}, start, end) == start + 1
    assert weighted_median_split({end - 2: 5.0, end - 1: 5.0}, start, end) == end - 1
    assert weighted_median_split({start - 5: 5.0, start + 10: 5.0}, start, end) is None  # one hash inside


def test_throttling_alone_makes_a_partition_hot() -> None:
    policy = SplitPolicy(SETTINGS)
    for second in range(5):
        policy.observe({"t-p0": report(10.0, spread_keys(0, 4), throttled=2)}, now_s=float(second))
    decisions = policy.decide({"t": table()}, now_s=4.0)
    assert [d.reason for d in decisions] == ["throttled"]


def test_a_cool_report_resets_the_sustain_clock() -> None:
    policy = SplitPolicy(SETTINGS)
    policy.observe({"t-p0": report(900.0, spread_keys(0, 4))}, now_s=0.0)
    policy.observe({"t-p0": report(100.0, spread_keys(0, 4))}, now_s=2.0)
    policy.observe({"t-p0": report(900.0, spread_keys(0, 4))}, now_s=2.5)
    assert policy.decide({"t": table()}, now_s=4.0) == []
    policy.observe({"t-p0": report(900.0, spread_keys(0, 4))}, now_s=4.5)
    assert len(policy.decide({"t": table()}, now_s=5.5)) == 1


def test_cooldown_between_two_splits_of_a_table() -> None:
    policy = SplitPolicy(SETTINGS)
    policy.record_split("t", now_s=10.0)
    for second in range(10, 20):
        policy.observe({"t-p1": report(950.0, spread_keys(HASH_SPACE // 2, 4))}, now_s=float(second))
    assert policy.decide({"t": table()}, now_s=14.9) == []
    assert [d.group for d in policy.decide({"t": table()}, now_s=15.0)] == ["t-p1"]


def test_no_split_beyond_max_partitions_or_while_one_is_pending_or_when_disabled() -> None:
    for settings, entry in (
        (SETTINGS, table(partitions=4)),
        (SplitPolicySettings(enabled=False), table()),
    ):
        policy = SplitPolicy(settings)
        for second in range(10):
            policy.observe({"t-p0": report(1000.0, spread_keys(0, 6))}, now_s=float(second))
        assert policy.decide({"t": entry}, now_s=10.0) == []
    pending = table()
    pending.splits.append({"state": "pending", "parent": "t-p1"})
    policy = SplitPolicy(SETTINGS)
    for second in range(10):
        policy.observe({"t-p0": report(1000.0, spread_keys(0, 6))}, now_s=float(second))
    assert policy.decide({"t": pending}, now_s=10.0) == []


def test_malformed_consumption_is_ignored() -> None:
    policy = SplitPolicy(SETTINGS)
    policy.observe("nonsense", now_s=0.0)
    policy.observe({"t-p0": {"rcu": "x"}, "t-p1": {"interval_s": 0}, "t-p2": None}, now_s=0.0)
    policy.observe(None, now_s=0.0)
    assert policy.ignored_reports == 4
    assert policy.decide({"t": table()}, now_s=100.0) == []


def test_a_group_no_longer_reported_has_cooled_down() -> None:
    policy = SplitPolicy(SETTINGS)
    for second in range(4):
        policy.observe({"t-p0": report(900.0, spread_keys(0, 4))}, now_s=float(second))
    assert len(policy.decide({"t": table()}, now_s=3.5)) == 1
    assert policy.decide({"t": table()}, now_s=10.0) == []  # no report since 3 s: its traffic stopped
    policy.observe({"t-p0": report(900.0, spread_keys(0, 4))}, now_s=10.0)
    assert policy.decide({"t": table()}, now_s=10.5) == []  # hot again, but only since 10 s
