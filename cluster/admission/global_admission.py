"""Global admission control (GAC), hosted by the metadata leader (pure: time passed in).

Each table has one token bucket per kind at the table's rate, keeping `burst_s` seconds of unused
capacity. Routers ask for tokens at regular intervals; a grant is what they asked for, or what the
bucket holds. A provisioned table's rate is its RCU/WCU; an on-demand (PAY_PER_REQUEST) table's is
max(floor, 2 x the highest rate observed over the last minutes), from the consumption routers report.

The state is soft: a new metadata leader starts afresh, and routers ride that out on their own buckets.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cluster.admission.partition_admission import bucket_capacity
from cluster.admission.settings import AdmissionSettings
from cluster.admission.token_bucket import TokenBucket

PROVISIONED = "PROVISIONED"
PAY_PER_REQUEST = "PAY_PER_REQUEST"
# An on-demand table's previous peak is remembered this long, in bins of this width.
PEAK_MEMORY_S = 300.0
PEAK_BIN_S = 1.0


@dataclass(frozen=True)
class TableLimits:
    billing_mode: str
    read_units_per_s: float = 0.0  # provisioned only
    write_units_per_s: float = 0.0

    @property
    def on_demand(self) -> bool:
        return self.billing_mode != PROVISIONED

    @classmethod
    def from_table_json(cls, table: dict[str, Any]) -> TableLimits:
        """From a catalogue entry's `table` (cluster/api/tables.py TableInfo.to_json); missing fields: on demand."""
        mode = str(table.get("billing_mode") or PAY_PER_REQUEST)
        if mode != PROVISIONED:
            return cls(PAY_PER_REQUEST)
        return cls(
            PROVISIONED,
            float(table.get("read_capacity_units") or 0),
            float(table.get("write_capacity_units") or 0),
        )


class PeakRate:
    """The highest units per second seen over the last PEAK_MEMORY_S, from units added as they come."""

    def __init__(self) -> None:
        self.bins: deque[list[float]] = deque()  # [bin index, units], oldest first

    def add(self, units: float, now_s: float) -> None:
        index = float(int(now_s // PEAK_BIN_S))
        if self.bins and self.bins[-1][0] == index:
            self.bins[-1][1] += units
        else:
            self.bins.append([index, units])
        self._expire(now_s)

    def _expire(self, now_s: float) -> None:
        oldest = int((now_s - PEAK_MEMORY_S) // PEAK_BIN_S)
        while self.bins and self.bins[0][0] < oldest:
            self.bins.popleft()

    def peak_per_s(self, now_s: float) -> float:
        self._expire(now_s)
        return max((units for _, units in self.bins), default=0.0) / PEAK_BIN_S


@dataclass(frozen=True)
class Grant:
    read: float
    write: float
    read_rate: float  # the table's current rates: a router's fair share when GAC goes quiet
    write_rate: float

    def to_json(self) -> dict[str, float]:
        return {
            "read": round(self.read, 4), "write": round(self.write, 4),
            "read_rate": self.read_rate, "write_rate": self.write_rate,
        }


@dataclass
class TableState:
    limits: TableLimits
    read_bucket: TokenBucket
    write_bucket: TokenBucket
    read_peak: PeakRate = field(default_factory=PeakRate)
    write_peak: PeakRate = field(default_factory=PeakRate)
    routers: set[str] = field(default_factory=set)
    acquires: int = 0
    granted_read: float = 0.0
    granted_write: float = 0.0


class GlobalAdmission:
    def __init__(self, settings: AdmissionSettings) -> None:
        self.settings = settings
        self.tables: dict[str, TableState] = {}

    def rates(self, table: str, now_s: float) -> tuple[float, float]:
        state = self.tables[table]
        return self._rates(state, now_s)

    def _rates(self, state: TableState, now_s: float) -> tuple[float, float]:
        if not state.limits.on_demand:
            return state.limits.read_units_per_s, state.limits.write_units_per_s
        return (
            max(self.settings.on_demand_floor_rcu, 2 * state.read_peak.peak_per_s(now_s)),
            max(self.settings.on_demand_floor_wcu, 2 * state.write_peak.peak_per_s(now_s)),
        )

    def set_table(self, table: str, limits: TableLimits, now_s: float) -> None:
        """Creates or updates the table's buckets (a table recreated with other limits is resized)."""
        state = self.tables.get(table)
        if state is None:
            empty = TokenBucket.full(0.0, 0.0, now_s)
            state = self.tables[table] = TableState(limits, empty, TokenBucket.full(0.0, 0.0, now_s))
            read_rate, write_rate = self._rates(state, now_s)
            burst_s = self.settings.burst_s
            state.read_bucket = TokenBucket.full(read_rate, bucket_capacity(read_rate, burst_s), now_s)
            state.write_bucket = TokenBucket.full(write_rate, bucket_capacity(write_rate, burst_s), now_s)
            return
        if state.limits != limits:
            state.limits = limits
        self._resize(state, now_s)

    def _resize(self, state: TableState, now_s: float) -> None:
        read_rate, write_rate = self._rates(state, now_s)
        burst_s = self.settings.burst_s
        if read_rate != state.read_bucket.rate_per_s:
            state.read_bucket.resize(read_rate, bucket_capacity(read_rate, burst_s), now_s)
        if write_rate != state.write_bucket.rate_per_s:
            state.write_bucket.resize(write_rate, bucket_capacity(write_rate, burst_s), now_s)

    def forget(self, table: str) -> None:
        self.tables.pop(table, None)

    def acquire(
        self,
        table: str,
        router: str,
        want_read: float,
        want_write: float,
        now_s: float,
        consumed_read: float = 0.0,
        consumed_write: float = 0.0,
    ) -> Grant:
        """Tokens for `router`'s bucket of `table`: what it wants, or what the table's bucket holds.
        `consumed_*` is what the router admitted since its previous acquire (an on-demand table's peak)."""
        state = self.tables.get(table)
        if state is None:
            self.set_table(table, TableLimits(PAY_PER_REQUEST), now_s)
            state = self.tables[table]
        state.routers.add(router)
        state.acquires += 1
        if consumed_read > 0:
            state.read_peak.add(consumed_read, now_s)
        if consumed_write > 0:
            state.write_peak.add(consumed_write, now_s)
        if state.limits.on_demand:
            self._resize(state, now_s)
        read = _take_up_to(state.read_bucket, max(0.0, want_read), now_s)
        write = _take_up_to(state.write_bucket, max(0.0, want_write), now_s)
        state.granted_read += read
        state.granted_write += write
        return Grant(read, write, state.read_bucket.rate_per_s, state.write_bucket.rate_per_s)

    def status(self, now_s: float) -> dict[str, Any]:
        return {
            name: {
                "billing_mode": state.limits.billing_mode,
                "read_rate": state.read_bucket.rate_per_s,
                "write_rate": state.write_bucket.rate_per_s,
                "read_tokens": round(state.read_bucket.available(now_s), 3),
                "write_tokens": round(state.write_bucket.available(now_s), 3),
                "routers": sorted(state.routers),
                "acquires": state.acquires,
                "granted_read": round(state.granted_read, 3),
                "granted_write": round(state.granted_write, 3),
            }
            for name, state in sorted(self.tables.items())
        }


def _take_up_to(bucket: TokenBucket, want: float, now_s: float) -> float:
    granted = min(want, max(0.0, bucket.available(now_s)))
    bucket.tokens -= granted
    return granted
