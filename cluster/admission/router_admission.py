"""A request router's admission control: one token bucket per table and kind (pure: time passed in).

Every request is charged here before anything is sent to a node. The buckets are filled by grants
from global admission control (GAC) on the metadata leader: each interval the router asks for about
twice what it consumed (and was refused) in the last one, less what it still holds. A table seen for
the first time starts with the router's fair share (table rate / number of routers) for one second.
When GAC has not answered for FALLBACK_AFTER_INTERVALS intervals, the buckets refill themselves at
the fair share (from GAC's last answer on), so a metadata outage never throttles a normal load; the
next grant ends that. A new table's buckets refill so too until its first grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.admission.global_admission import TableLimits
from cluster.admission.partition_admission import KINDS, Kind
from cluster.admission.settings import AdmissionSettings
from cluster.admission.token_bucket import TokenBucket

FALLBACK_AFTER_INTERVALS = 3
FIRST_SEEN_SHARE_S = 1.0
# A new table's first request always fits: DynamoDB's burst capacity serves it however small the table's
# rate, and a share below one unit (2 WCU over 3 routers) would throttle every router's first write.
FIRST_SEEN_MIN_UNITS = 1.0
# What a router's bucket may hold: this long of the table's whole rate (grants beyond it are lost).
ROUTER_CAPACITY_S = 1.0
# Ask for this multiple of what the last interval wanted.
ASK_FACTOR = 2.0
# A table with no request for this long is no longer asked for (its next request starts it afresh).
IDLE_FORGET_S = 60.0


@dataclass
class RouterTable:
    limits: TableLimits
    rates: dict[str, float]  # the table's rates per kind: the provisioned ones, or GAC's last answer
    buckets: dict[str, TokenBucket]
    last_grant_s: float
    last_request_s: float
    fallback: bool = False
    demand: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))  # admitted + refused
    consumed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))  # admitted, to GAC
    throttled: int = 0
    admitted_units: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))


class RouterAdmission:
    def __init__(self, router_id: str, settings: AdmissionSettings, router_count: int) -> None:
        assert router_count >= 1
        self.router_id = router_id
        self.settings = settings
        self.router_count = router_count
        self.tables: dict[str, RouterTable] = {}
        self.throttled = {"table": 0, "partition": 0}
        self.acquires = 0
        self.failures = 0
        self.tokens_granted = 0.0

    # ---- per request ----------------------------------------------------------------------------

    def charge(self, table: str, limits: TableLimits, kind: Kind, units: float, now_s: float) -> bool:
        """True: admitted and charged. False: the table's bucket is empty here (throttle, nothing taken)."""
        if not self.settings.enabled:
            return True
        state = self.tables.get(table)
        if state is None or state.limits != limits:
            state = self._start(table, limits, now_s)
        state.last_request_s = now_s
        self._check_fallback(state, now_s)
        state.demand[kind] += units
        if state.buckets[kind].try_take(units, now_s):
            state.consumed[kind] += units
            state.admitted_units[kind] += units
            return True
        state.throttled += 1
        self.throttled["table"] += 1
        return False

    def settle(self, table: str, kind: Kind, units: float, now_s: float) -> None:
        """Charges what a read cost beyond its up-front charge, once its size is known."""
        state = self.tables.get(table)
        if not self.settings.enabled or state is None or units <= 0:
            return
        state.buckets[kind].charge(units, now_s)
        state.consumed[kind] += units
        state.demand[kind] += units
        state.admitted_units[kind] += units

    def count_partition_throttle(self) -> None:
        self.throttled["partition"] += 1

    def _fair_share(self, state: RouterTable, kind: str) -> float:
        return state.rates[kind] / self.router_count

    def _start(self, table: str, limits: TableLimits, now_s: float) -> RouterTable:
        if limits.on_demand:
            rates = {"read": self.settings.on_demand_floor_rcu, "write": self.settings.on_demand_floor_wcu}
        else:
            rates = {"read": limits.read_units_per_s, "write": limits.write_units_per_s}
        buckets = {}
        for kind in KINDS:
            share = rates[kind] / self.router_count
            first = max(share * FIRST_SEEN_SHARE_S, FIRST_SEEN_MIN_UNITS)
            capacity = max(rates[kind] * ROUTER_CAPACITY_S, first)
            buckets[kind] = TokenBucket(0.0, capacity, first, now_s)
        state = self.tables[table] = RouterTable(limits, rates, buckets, last_grant_s=now_s, last_request_s=now_s)
        # Until GAC's first grant the buckets also refill at the fair share: a table's first requests
        # (or all of them, while metadata is down) are never throttled below that share.
        self._set_fallback(state, True, now_s)
        return state

    def _check_fallback(self, state: RouterTable, now_s: float) -> None:
        if not state.fallback and now_s - state.last_grant_s > FALLBACK_AFTER_INTERVALS * self.settings.gac_interval_s:
            self._set_fallback(state, True, now_s)

    def _set_fallback(self, state: RouterTable, fallback: bool, now_s: float) -> None:
        state.fallback = fallback
        for kind in KINDS:
            bucket = state.buckets[kind]
            bucket.resize(self._fair_share(state, kind) if fallback else 0.0, bucket.capacity, now_s)
            if fallback:
                # The fair share accrues from GAC's last answer: the silent intervals before the fallback
                # began would otherwise throttle a load the share covers (bounded by the capacity).
                bucket.updated_s = min(bucket.updated_s, state.last_grant_s)

    # ---- the GAC loop ---------------------------------------------------------------------------

    def requests(self, now_s: float) -> list[dict[str, Any]]:
        """What to ask GAC for now, one entry per table in use; starts the next interval's counting."""
        if not self.settings.enabled:
            return []
        asks = []
        for table, state in list(self.tables.items()):
            if now_s - state.last_request_s > IDLE_FORGET_S:
                del self.tables[table]
                continue
            self._check_fallback(state, now_s)
            ask: dict[str, Any] = {"table": table}
            for kind in KINDS:
                bucket = state.buckets[kind]
                floor = self._fair_share(state, kind) * self.settings.gac_interval_s
                target = min(max(ASK_FACTOR * state.demand[kind], floor), bucket.capacity)
                ask[f"want_{kind}"] = round(max(0.0, target - max(0.0, bucket.available(now_s))), 4)
                ask[f"consumed_{kind}"] = round(state.consumed[kind], 4)
                state.demand[kind] = 0.0
                state.consumed[kind] = 0.0
            asks.append(ask)
        return asks

    def on_grants(self, grants: dict[str, dict[str, Any]], now_s: float) -> None:
        """GAC's answer: {table: {"read", "write", "read_rate", "write_rate"}}."""
        self.acquires += 1
        for table, grant in grants.items():
            state = self.tables.get(table)
            if state is None or not isinstance(grant, dict):
                continue
            if state.fallback:
                self._set_fallback(state, False, now_s)
            state.last_grant_s = now_s
            for kind in KINDS:
                rate = grant.get(f"{kind}_rate")
                bucket = state.buckets[kind]
                if isinstance(rate, int | float) and rate > 0 and rate != state.rates[kind]:
                    state.rates[kind] = float(rate)
                    capacity = max(rate * ROUTER_CAPACITY_S, rate / self.router_count * FIRST_SEEN_SHARE_S)
                    bucket.resize(bucket.rate_per_s, capacity, now_s)
                amount = grant.get(kind)
                if isinstance(amount, int | float) and amount > 0:
                    bucket.refill(now_s)
                    bucket.deposit(float(amount))
                    self.tokens_granted += float(amount)

    def on_gac_failure(self) -> None:
        """GAC did not answer: buckets fall back to the fair share once it stays silent long enough."""
        self.failures += 1

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """GET /admin/admission (contract §6)."""
        return {
            "router": self.router_id,
            "enabled": self.settings.enabled,
            "throttled": dict(self.throttled),
            "gac": {"acquires": self.acquires, "failures": self.failures,
                    "tokens_granted": round(self.tokens_granted, 3)},
            "tables": {
                table: {
                    "billing_mode": state.limits.billing_mode,
                    "read_rate": state.rates["read"],
                    "write_rate": state.rates["write"],
                    "read_tokens": round(state.buckets["read"].available(now_s), 3),
                    "write_tokens": round(state.buckets["write"].available(now_s), 3),
                    "fallback": state.fallback,
                    "throttled": state.throttled,
                    "rcu": round(state.admitted_units["read"], 3),
                    "wcu": round(state.admitted_units["write"], 3),
                }
                for table, state in sorted(self.tables.items())
            },
        }
