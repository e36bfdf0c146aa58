"""A storage node's buckets: per partition replica with burst, capped by the node, and the consumption
report of contract §4 (bounded key sampling)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.admission.partition_admission import (
    MAX_SAMPLED_HASHES,
    REPORTED_KEYS,
    KeySampler,
    PartitionAdmission,
    bucket_capacity,
)
from cluster.admission.settings import AdmissionSettings

SMALL = AdmissionSettings(partition_max_wcu=100, partition_max_rcu=200, node_max_wcu=1000, burst_s=5)


def test_a_partition_bursts_on_unused_capacity_then_is_held_to_its_rate() -> None:
    admission = PartitionAdmission(SMALL, now_s=0.0)
    admitted = sum(admission.admit("g1", "write", 1.0, 7, 0.0) for _ in range(600))
    assert admitted == 500, "burst = partition max x burst_s"
    assert admission.status()["groups"]["g1"] == {"throttled": 100, "rcu": 0.0, "wcu": 500.0}
    assert sum(admission.admit("g1", "write", 1.0, 7, 1.0) for _ in range(200)) == 100
    assert admission.admit("g1", "read", 1.0, 7, 1.0), "reads have their own bucket"


def test_the_node_bucket_caps_what_bursting_partitions_take_together() -> None:
    tight = AdmissionSettings(partition_max_wcu=100, node_max_wcu=300, burst_s=5)
    admission = PartitionAdmission(tight, now_s=0.0)
    assert sum(admission.admit("g1", "write", 1.0, None, 0.0) for _ in range(400)) == 300
    assert not admission.admit("g2", "write", 1.0, None, 0.0), "g2's own bucket is full, the node's is empty"
    assert admission.groups["g2"].write_bucket.available(0.0) == 500.0, "a refusal took nothing from g2"
    assert admission.throttled == 101


def test_disabled_admits_everything_and_counts_nothing() -> None:
    admission = PartitionAdmission(AdmissionSettings(enabled=False, partition_max_wcu=1), now_s=0.0)
    assert all(admission.admit("g1", "write", 10.0, 1, 0.0) for _ in range(1000))
    assert admission.status() == {"enabled": False, "throttled": 0, "groups": {}}


def test_a_bucket_always_holds_at_least_one_second_of_its_rate() -> None:
    assert bucket_capacity(100.0, 0.0) == 100.0 and bucket_capacity(100.0, 5.0) == 500.0


def test_settle_charges_what_a_read_cost_beyond_its_up_front_unit() -> None:
    admission = PartitionAdmission(SMALL, now_s=0.0)
    assert admission.admit("g1", "read", 1.0, 3, 0.0)
    admission.settle("g1", "read", 4.0, 0.0)
    assert admission.groups["g1"].read_bucket.available(0.0) == 1000.0 - 5.0
    assert admission.status()["groups"]["g1"]["rcu"] == 5.0


def test_consumption_reports_the_led_groups_since_the_previous_report() -> None:
    admission = PartitionAdmission(SMALL, now_s=10.0)
    for _ in range(520):
        admission.admit("led", "write", 1.0, 42, 10.0)
    admission.admit("led", "read", 1.0, 43, 10.1)
    admission.admit("followed", "read", 0.5, 44, 10.1)
    report = admission.consumption({"led"}, now_s=10.25)
    assert set(report) == {"led"}, "only groups this node leads"
    assert report["led"] == {
        "rcu": 1.0, "wcu": 500.0, "throttled": 20, "max_rcu": 200.0, "max_wcu": 100.0, "interval_s": 0.25,
        "keys": [[42, 520.0], [43, 1.0]],  # refused units count: they are load that wanted serving
    }
    again = admission.consumption({"led", "followed"}, now_s=10.5)
    assert again["led"]["wcu"] == 0.0 and again["led"]["keys"] == [] and again["led"]["interval_s"] == 0.25
    assert again["followed"]["rcu"] == 0.0, "the follower's interval restarted too"
    assert admission.status()["groups"]["led"]["wcu"] == 500.0, "status keeps totals since start"


def test_the_key_sampler_is_bounded_and_keeps_the_heavy_hitters() -> None:
    sampler = KeySampler()
    for number in range(20 * MAX_SAMPLED_HASHES):
        sampler.add(number, 1.0)
        sampler.add(-1, 3.0)  # the hot key, among a stream of distinct cold ones
        assert len(sampler.units) <= MAX_SAMPLED_HASHES
    top = sampler.top()
    assert top[0][0] == -1 and len(top) == REPORTED_KEYS


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.5),  # gap
            st.sampled_from(["g1", "g2", "g3"]),
            st.floats(min_value=0.5, max_value=20.0),
        ),
        min_size=1,
        max_size=300,
    ),
    window=st.data(),
)
def test_admitted_units_per_partition_and_per_node_stay_within_rate_times_window_plus_capacity(
    requests: list[tuple[float, str, float]], window: st.DataObject
) -> None:
    tight = AdmissionSettings(partition_max_wcu=50, node_max_wcu=80, burst_s=2)
    admission = PartitionAdmission(tight, now_s=0.0)
    now_s = 0.0
    admitted: list[tuple[float, str, float]] = []
    for gap_s, group, units in requests:
        now_s += gap_s
        if admission.admit(group, "write", units, None, now_s):
            admitted.append((now_s, group, units))
    if not admitted:
        return
    first = window.draw(st.integers(min_value=0, max_value=len(admitted) - 1))
    last = window.draw(st.integers(min_value=first, max_value=len(admitted) - 1))
    span = admitted[first : last + 1]
    width_s = span[-1][0] - span[0][0]
    assert sum(units for _, _, units in span) <= 80 * width_s + 80 * 1.0 + 1e-6
    for group in ("g1", "g2", "g3"):
        group_units = sum(units for _, g, units in span if g == group)
        assert group_units <= 50 * width_s + bucket_capacity(50, 2) + 1e-6
