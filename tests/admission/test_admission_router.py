"""A router's per-table buckets: charged per request, filled by GAC grants, a fair share for a new table
and when GAC is silent; and routers + GAC together hold a table to its rate."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.admission.global_admission import GlobalAdmission, TableLimits
from cluster.admission.router_admission import FALLBACK_AFTER_INTERVALS, IDLE_FORGET_S, RouterAdmission
from cluster.admission.settings import AdmissionSettings

SETTINGS = AdmissionSettings(gac_interval_s=0.5, burst_s=2, on_demand_floor_rcu=300, on_demand_floor_wcu=90)
PROVISIONED = TableLimits("PROVISIONED", 30.0, 30.0)
ON_DEMAND = TableLimits("PAY_PER_REQUEST")


def test_a_new_table_starts_with_the_fair_share_for_one_second() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    assert sum(router.charge("t", PROVISIONED, "write", 1.0, 0.0) for _ in range(20)) == 10
    assert router.throttled == {"table": 10, "partition": 0}
    assert sum(router.charge("od", ON_DEMAND, "write", 1.0, 0.0) for _ in range(40)) == 30, "90 WCU floor / 3"
    assert router.charge("t", PROVISIONED, "read", 1.0, 0.0), "reads have their own bucket"


def test_a_table_slower_than_one_unit_per_router_still_takes_each_routers_first_request() -> None:
    # 2 WCU over 3 routers is 0.67 of a unit each: DynamoDB's burst capacity serves the first write anyway.
    small = TableLimits("PROVISIONED", 2.0, 2.0)
    routers = [RouterAdmission(f"router-{name}", SETTINGS, router_count=3) for name in "abc"]
    assert all(router.charge("small", small, "write", 1.0, 0.0) for router in routers)
    assert all(router.charge("small", small, "read", 1.0, 0.0) for router in routers)
    assert not routers[0].charge("small", small, "write", 1.0, 0.0), "but no more than that within the second"


def test_the_ask_is_about_twice_the_demand_less_what_is_held_and_grants_fill_the_bucket() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    for _ in range(14):
        router.charge("t", PROVISIONED, "write", 1.0, 0.0)  # 10 admitted, 4 refused: demand 14
    (ask,) = router.requests(0.5)
    # 2 x 14 wanted, less the 5 tokens its fair share (10/s) refilled before any grant
    assert ask == {"table": "t", "want_read": 0.0, "want_write": 23.0, "consumed_read": 0.0, "consumed_write": 10.0}
    router.on_grants({"t": {"read": 0.0, "write": 23.0, "read_rate": 30.0, "write_rate": 30.0}}, 0.5)
    assert sum(router.charge("t", PROVISIONED, "write", 1.0, 0.6) for _ in range(40)) == 28
    (ask,) = router.requests(1.0)
    assert ask["consumed_write"] == 28.0 and ask["want_write"] == 30.0, "2 x 40 wanted, capped by capacity"
    snapshot = router.snapshot(1.0)
    assert snapshot["gac"] == {"acquires": 1, "failures": 0, "tokens_granted": 23.0}
    assert snapshot["tables"]["t"]["wcu"] == 38.0 and snapshot["tables"]["t"]["fallback"] is False


def test_an_idle_router_asks_for_its_fair_share_of_one_interval_at_most() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    router.charge("t", PROVISIONED, "write", 10.0, 0.0)
    assert router.requests(0.5)[0]["want_write"] == 15.0, "2 x 10 less the 5 refilled by its fair share"
    router.on_grants({"t": {"read": 0, "write": 0, "read_rate": 30.0, "write_rate": 30.0}}, 0.5)
    router.charge("t", PROVISIONED, "write", 5.0, 0.5)
    router.requests(0.6)
    (ask,) = router.requests(1.0)  # nothing asked of it since
    assert ask["want_write"] == 5.0 and ask["want_read"] == 0.0, "it still holds 10 read tokens"


def test_when_gac_is_silent_the_router_refills_at_its_fair_share_and_a_normal_load_passes() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    now_s = 0.0
    refused = 0
    while now_s < 60.0:  # 8 writes/s against a fair share of 10/s, and never a grant
        refused += not router.charge("t", PROVISIONED, "write", 1.0, now_s)
        if int(now_s * 8) % 4 == 0:
            router.requests(now_s)
            router.on_gac_failure()
        now_s += 0.125
    assert refused == 0
    assert router.snapshot(now_s)["tables"]["t"]["fallback"] is True
    assert router.snapshot(now_s)["gac"]["failures"] > 0
    router.on_grants({"t": {"read": 0, "write": 0, "read_rate": 30.0, "write_rate": 30.0}}, now_s)
    assert router.snapshot(now_s)["tables"]["t"]["fallback"] is False, "the next grant ends the fallback"
    assert router.tables["t"].buckets["write"].rate_per_s == 0.0


def test_after_a_grant_fallback_starts_only_after_three_silent_intervals() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    router.charge("t", PROVISIONED, "write", 10.0, 0.0)
    assert router.snapshot(0.0)["tables"]["t"]["fallback"] is True, "no grant yet: it refills on its own"
    router.on_grants({"t": {"read": 0, "write": 0, "read_rate": 30.0, "write_rate": 30.0}}, 1.0)
    assert router.charge("t", PROVISIONED, "write", 10.0, 1.0)  # empties it (what accrued before the grant)
    silent_s = 1.0 + FALLBACK_AFTER_INTERVALS * SETTINGS.gac_interval_s
    assert not router.charge("t", PROVISIONED, "write", 1.0, silent_s)
    assert router.charge("t", PROVISIONED, "write", 15.0, silent_s + 0.01), "the share accrued since the grant"
    assert not router.charge("t", PROVISIONED, "write", 1.0, silent_s + 0.01)


def test_disabled_never_throttles_and_never_asks() -> None:
    router = RouterAdmission("router-a", AdmissionSettings(enabled=False), router_count=3)
    assert all(router.charge("t", PROVISIONED, "write", 100.0, 0.0) for _ in range(1000))
    assert router.requests(1.0) == [] and router.snapshot(1.0)["tables"] == {}


def test_an_idle_table_is_no_longer_asked_for() -> None:
    router = RouterAdmission("router-a", SETTINGS, router_count=3)
    router.charge("t", PROVISIONED, "write", 1.0, 0.0)
    assert router.requests(1.0) and router.requests(IDLE_FORGET_S + 1) == []


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(st.integers(min_value=0, max_value=120), min_size=3, max_size=3),  # writes/s per router
    gac_answers=st.lists(st.booleans(), min_size=10, max_size=10),
)
def test_routers_and_gac_together_hold_a_table_to_its_rate(rates: list[int], gac_answers: list[bool]) -> None:
    """Three routers, one GAC, a table of 30 WCU; GAC answers or not, in a pattern, every interval. What
    the routers admit is bounded by what GAC granted, their seeds and their fallback refills."""
    gac = GlobalAdmission(SETTINGS)
    gac.set_table("t", PROVISIONED, 0.0)
    routers = [RouterAdmission(f"r{i}", SETTINGS, router_count=3) for i in range(3)]
    step_s, duration_s = 0.01, 20.0
    admitted = 0.0
    fallback_refill = 0.0  # an upper bound of what the routers' own refills added
    fallback_at: dict[str, bool] = {}

    def count_fallback_start(router: RouterAdmission) -> None:
        """A router that has just fallen back (in charge() or in requests(), and maybe out again at the
        grant that follows) refills from its last grant on: that much is added once."""
        nonlocal fallback_refill
        state = router.tables.get("t")
        now_fallback = state is not None and state.fallback
        if now_fallback and fallback_at.get(router.router_id) is False:
            fallback_refill += 10.0 * (now_s - state.last_grant_s)
        if state is not None:
            fallback_at[router.router_id] = now_fallback

    for tick in range(int(duration_s / step_s)):
        now_s = tick * step_s
        for router, rate in zip(routers, rates, strict=True):
            if rate and tick % max(1, round(1 / (rate * step_s))) == 0:
                admitted += router.charge("t", PROVISIONED, "write", 1.0, now_s)
            count_fallback_start(router)
        if tick % 50 == 0 and tick:
            answering = gac_answers[(tick // 50) % len(gac_answers)]
            for router in routers:
                asks = router.requests(now_s)
                count_fallback_start(router)
                for ask in asks:
                    if answering:
                        grant = gac.acquire(ask["table"], router.router_id, ask["want_read"], ask["want_write"],
                                            now_s, ask["consumed_read"], ask["consumed_write"])
                        router.on_grants({ask["table"]: grant.to_json()}, now_s)
                    else:
                        router.on_gac_failure()
                count_fallback_start(router)
        for router in routers:
            state = router.tables.get("t")
            if state is not None and state.fallback:
                fallback_refill += 10.0 * step_s
    seeds = 3 * 10.0
    granted = gac.tables["t"].granted_write
    assert granted <= 30.0 * duration_s + 30.0 * 2 + 1e-6
    assert admitted <= granted + seeds + fallback_refill + 1e-6
    if all(gac_answers) and sum(rates) <= 24:  # well under the table's 30 WCU: nothing refused
        assert sum(router.throttled["table"] for router in routers) == 0
