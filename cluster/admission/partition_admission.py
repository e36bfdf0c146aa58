"""A storage node's admission control: a token bucket per partition replica and one per node (pure).

Each group's bucket accrues at the partition maximum and keeps `burst_s` seconds of unused capacity for
bursts (DynamoDB kept 300 s); every admitted request also takes from the node's bucket, so partitions
bursting together never take more than the node's total. Reads and writes have separate buckets.
A refused request took nothing from either.

The node also samples what each group consumed since its last report to metadata (contract §4): units
per kind, refusals, and the keys (partition-key hashes) with the most units consumed or refused, which
is what a split for consumption chooses its split key from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cluster.admission.settings import AdmissionSettings
from cluster.admission.token_bucket import TokenBucket

Kind = Literal["read", "write"]
KINDS: tuple[Kind, ...] = ("read", "write")
# A bucket always holds at least one second of its rate, so a request of a few units can ever pass.
MIN_CAPACITY_S = 1.0
# The node's bucket keeps one second of its total: bursts of partitions are capped by the node.
NODE_CAPACITY_S = 1.0
MIN_INTERVAL_S = 0.001
# Bounded key sampling: at most this many hashes remembered per group per interval ...
MAX_SAMPLED_HASHES = 1000
# ... and this many reported, the ones with the most units.
REPORTED_KEYS = 32


class KeySampler:
    """Units per key hash within one interval, never more than `limit` hashes: when full, only the
    heaviest half is kept (heavy hitters survive; a key that is the load is never dropped)."""

    def __init__(self, limit: int = MAX_SAMPLED_HASHES) -> None:
        assert limit >= 2
        self.limit = limit
        self.units: dict[int, float] = {}

    def add(self, key_hash: int, units: float) -> None:
        if key_hash in self.units:
            self.units[key_hash] += units
            return
        if len(self.units) >= self.limit:
            keep = sorted(self.units.items(), key=lambda pair: pair[1], reverse=True)[: self.limit // 2]
            self.units = dict(keep)
        self.units[key_hash] = units
        assert len(self.units) <= self.limit

    def top(self, count: int = REPORTED_KEYS) -> list[list[float | int]]:
        heaviest = sorted(self.units.items(), key=lambda pair: (-pair[1], pair[0]))[:count]
        return [[key_hash, round(units, 3)] for key_hash, units in heaviest]


@dataclass
class GroupUsage:
    """One group's consumption: `interval_*` since the last report, `total_*` since start."""

    read_bucket: TokenBucket
    write_bucket: TokenBucket
    interval_started_s: float
    interval_units: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    interval_throttled: int = 0
    keys: KeySampler = field(default_factory=KeySampler)
    total_units: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    total_throttled: int = 0

    def bucket(self, kind: Kind) -> TokenBucket:
        return self.read_bucket if kind == "read" else self.write_bucket


def bucket_capacity(rate_per_s: float, burst_s: float) -> float:
    return rate_per_s * max(burst_s, MIN_CAPACITY_S)


class PartitionAdmission:
    def __init__(self, settings: AdmissionSettings, now_s: float) -> None:
        self.settings = settings
        self.groups: dict[str, GroupUsage] = {}
        self.node_buckets: dict[str, TokenBucket] = {
            "read": TokenBucket.full(settings.node_max_rcu, settings.node_max_rcu * NODE_CAPACITY_S, now_s),
            "write": TokenBucket.full(settings.node_max_wcu, settings.node_max_wcu * NODE_CAPACITY_S, now_s),
        }
        self.throttled = 0

    def _usage(self, group: str, now_s: float) -> GroupUsage:
        usage = self.groups.get(group)
        if usage is None:
            s = self.settings
            usage = self.groups[group] = GroupUsage(
                TokenBucket.full(s.partition_max_rcu, bucket_capacity(s.partition_max_rcu, s.burst_s), now_s),
                TokenBucket.full(s.partition_max_wcu, bucket_capacity(s.partition_max_wcu, s.burst_s), now_s),
                now_s,
            )
        return usage

    def admit(self, group: str, kind: Kind, units: float, key_hash: int | None, now_s: float) -> bool:
        """True: served, charged to the group and the node. False: refuse it (nothing was taken)."""
        if not self.settings.enabled:
            return True
        usage = self._usage(group, now_s)
        bucket = usage.bucket(kind)
        node_bucket = self.node_buckets[kind]
        if key_hash is not None:
            usage.keys.add(key_hash, units)  # refused load is load that wanted serving: sampled too
        if bucket.available(now_s) >= units and node_bucket.available(now_s) >= units:
            bucket.try_take(units, now_s)
            node_bucket.try_take(units, now_s)
            usage.interval_units[kind] += units
            usage.total_units[kind] += units
            return True
        usage.interval_throttled += 1
        usage.total_throttled += 1
        self.throttled += 1
        return False

    def settle(self, group: str, kind: Kind, units: float, now_s: float) -> None:
        """Charges what a served read cost beyond its up-front charge (its size is known only now)."""
        if not self.settings.enabled or units <= 0:
            return
        usage = self._usage(group, now_s)
        usage.bucket(kind).charge(units, now_s)
        self.node_buckets[kind].charge(units, now_s)
        usage.interval_units[kind] += units
        usage.total_units[kind] += units

    def forget(self, group: str) -> None:
        self.groups.pop(group, None)

    def consumption(self, leading: set[str] | frozenset[str], now_s: float) -> dict[str, dict[str, Any]]:
        """Contract §4: what each group this node leads consumed since the previous call (units over
        `interval_s`, not rates); every group's interval starts again."""
        report: dict[str, dict[str, Any]] = {}
        for group, usage in self.groups.items():
            if group in leading:
                report[group] = {
                    "rcu": round(usage.interval_units["read"], 3),
                    "wcu": round(usage.interval_units["write"], 3),
                    "throttled": usage.interval_throttled,
                    "max_rcu": self.settings.partition_max_rcu,
                    "max_wcu": self.settings.partition_max_wcu,
                    # Never 0 (a group first served this instant): readers divide by it.
                    "interval_s": round(max(MIN_INTERVAL_S, now_s - usage.interval_started_s), 4),
                    "keys": usage.keys.top(),
                }
            usage.interval_units = dict.fromkeys(KINDS, 0.0)
            usage.interval_throttled = 0
            usage.keys = KeySampler()
            usage.interval_started_s = now_s
        return report

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "throttled": self.throttled,
            "groups": {
                group: {
                    "throttled": usage.total_throttled,
                    "rcu": round(usage.total_units["read"], 3),
                    "wcu": round(usage.total_units["write"], 3),
                }
                for group, usage in sorted(self.groups.items())
            },
        }
