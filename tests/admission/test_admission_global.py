"""Global admission control: a table bucket per kind at the table's rate; on-demand tables follow
max(floor, 2 x previous peak)."""

from __future__ import annotations

import pytest

from cluster.admission.global_admission import PEAK_MEMORY_S, GlobalAdmission, PeakRate, TableLimits
from cluster.admission.settings import AdmissionSettings

SETTINGS = AdmissionSettings(burst_s=2, on_demand_floor_rcu=100, on_demand_floor_wcu=40)
PROVISIONED = TableLimits("PROVISIONED", 10.0, 5.0)


def test_limits_come_from_the_catalogue_table() -> None:
    provisioned = {"billing_mode": "PROVISIONED", "read_capacity_units": 10, "write_capacity_units": 5}
    assert TableLimits.from_table_json(provisioned) == PROVISIONED
    assert TableLimits.from_table_json({"billing_mode": "PAY_PER_REQUEST"}).on_demand
    assert TableLimits.from_table_json({"name": "t"}).on_demand, "no billing mode: on demand"


def test_a_provisioned_table_grants_its_burst_then_its_rate() -> None:
    gac = GlobalAdmission(SETTINGS)
    gac.set_table("t", PROVISIONED, 0.0)
    first = gac.acquire("t", "router-a", want_read=0, want_write=100, now_s=0.0)
    assert (first.write, first.write_rate, first.read_rate) == (10.0, 5.0, 10.0)  # 5 WCU x 2 s of burst
    assert gac.acquire("t", "router-b", 0, 100, 0.0).write == 0.0
    assert gac.acquire("t", "router-b", 0, 100, 1.0).write == 5.0
    assert gac.acquire("t", "router-a", 0, 2, 3.0).write == 2.0, "a grant is what was asked when it is there"
    assert gac.status(3.0)["t"]["routers"] == ["router-a", "router-b"]


def test_grants_never_exceed_the_rate_over_time() -> None:
    gac = GlobalAdmission(SETTINGS)
    gac.set_table("t", PROVISIONED, 0.0)
    granted = sum(gac.acquire("t", f"r{i % 3}", 0, 50, i * 0.5).write for i in range(121))  # 60 s
    assert granted <= 5.0 * 60 + 10.0 + 1e-9
    assert granted >= 5.0 * 60, "everything accrued was handed out"


def test_an_on_demand_table_runs_at_its_floor_then_at_twice_its_peak() -> None:
    gac = GlobalAdmission(SETTINGS)
    gac.set_table("t", TableLimits("PAY_PER_REQUEST"), 0.0)
    assert gac.rates("t", 0.0) == (100.0, 40.0)
    for step in range(10):  # 3 routers each reporting 40 units every half second: 240 units/s
        for router in ("a", "b", "c"):
            gac.acquire("t", router, 0, 1, 10.0 + step * 0.5, consumed_write=40.0)
    grant = gac.acquire("t", "a", 0, 1, 15.0)
    assert grant.write_rate == pytest.approx(480.0) and grant.read_rate == 100.0
    assert gac.rates("t", 15.0 + PEAK_MEMORY_S + 2) == (100.0, 40.0), "an old peak is forgotten"


def test_an_unknown_table_is_treated_as_on_demand_and_limits_can_change() -> None:
    gac = GlobalAdmission(SETTINGS)
    assert gac.acquire("new", "a", 5, 5, 0.0).write_rate == 40.0
    gac.set_table("new", PROVISIONED, 1.0)
    assert gac.rates("new", 1.0) == (10.0, 5.0)
    assert gac.tables["new"].write_bucket.capacity == 10.0
    gac.forget("new")
    assert gac.status(1.0) == {}


def test_peak_rate_bins_units_by_second() -> None:
    peak = PeakRate()
    peak.add(3.0, 0.1)
    peak.add(4.0, 0.9)
    peak.add(5.0, 1.2)
    assert peak.peak_per_s(1.5) == 7.0
