"""When to split a partition for consumption, and where. Pure: reports and time in, decisions out.

Fed with the "consumption" of node reports (admission contract §4): a group whose consumed share of its
partition maximum (reads or writes) stays at or above the threshold, or that throttles, for
`sustain_s` is split at the weighted median of its sampled key hashes, so about half of the load moves
to the child. Not when one hash carries most of the load: a single hot key stays in one partition
whatever the split, so splitting would only cost (DynamoDB 2022, §4.1.2). A table splits at most once
per cooldown and never beyond its partition limit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cluster.metadata.catalogue import TableEntry
from cluster.metadata.catalogue_splits import DEFAULT_MAX_PARTITIONS_PER_TABLE

# More than this share of the sampled units on one hash: a hot key, which no split can spread.
SINGLE_KEY_SHARE = 0.8
# Sampled hashes remembered per hot group (reports bring at most 32 each).
MAX_SAMPLED_HASHES = 1000
# A node reports a group only while it has traffic: no hot report for this long means it cooled down
# (reports come every quarter second or so).
HOT_REPORT_STALE_S = 2.0


@dataclass(frozen=True)
class SplitPolicySettings:
    enabled: bool = True
    threshold: float = 0.8
    sustain_s: float = 3.0
    cooldown_s: float = 5.0
    max_partitions: int = DEFAULT_MAX_PARTITIONS_PER_TABLE

    @classmethod
    def from_admission(cls, admission: Any) -> SplitPolicySettings:
        """From the topology's AdmissionSettings (helper A's), or the defaults when there are none."""
        if admission is None:
            return cls()
        return cls(
            enabled=bool(admission.enabled and admission.split_enabled),
            threshold=float(admission.split_threshold),
            sustain_s=float(admission.split_sustain_s),
            cooldown_s=float(admission.split_cooldown_s),
            max_partitions=int(admission.max_partitions_per_table),
        )


@dataclass(frozen=True)
class SplitDecision:
    table: str
    group: str
    split_hash: int
    reason: str


@dataclass
class _GroupHeat:
    hot_since_s: float
    last_hot_s: float
    keys: Counter[int] = field(default_factory=Counter)
    peak_share: float = 0.0
    throttled: int = 0


def weighted_median_split(keys: dict[int, float], hash_start: int, hash_end: int) -> int | None:
    """A hash strictly inside (hash_start, hash_end) with about half of the units below it; None when
    the sampled load cannot be divided (fewer than two hashes, or one hash carries most of it)."""
    inside = sorted((h, units) for h, units in keys.items() if hash_start <= h < hash_end and units > 0)
    total = sum(units for _, units in inside)
    if len(inside) < 2 or total <= 0 or max(units for _, units in inside) > SINGLE_KEY_SHARE * total:
        return None
    best: tuple[float, int] | None = None
    below = 0.0
    for position in range(1, len(inside)):
        below += inside[position - 1][1]
        imbalance = abs(below - total / 2)
        if best is None or imbalance < best[0]:
            best = (imbalance, position)
    assert best is not None
    lower, upper = inside[best[1] - 1][0], inside[best[1]][0]
    # Half way between the two sampled hashes: unsampled keys between them are split evenly too.
    split_hash = (lower + upper + 1) // 2
    assert hash_start < split_hash < hash_end
    return split_hash


class SplitPolicy:
    def __init__(self, settings: SplitPolicySettings) -> None:
        self.settings = settings
        self._heat: dict[str, _GroupHeat] = {}
        self._last_split_s: dict[str, float] = {}
        self.ignored_reports = 0

    def observe(self, consumption: Any, now_s: float) -> None:
        """One node report's "consumption" (groups the reporter leads); malformed parts are ignored."""
        if not isinstance(consumption, dict):
            if consumption is not None:
                self.ignored_reports += 1
            return
        for group, report in consumption.items():
            try:
                share, throttled, keys = _parse(report)
            except (KeyError, TypeError, ValueError):
                self.ignored_reports += 1
                continue
            if share < self.settings.threshold and throttled <= 0:
                self._heat.pop(str(group), None)
                continue
            heat = self._heat.get(str(group))
            if heat is None or now_s - heat.last_hot_s > HOT_REPORT_STALE_S:
                heat = self._heat[str(group)] = _GroupHeat(hot_since_s=now_s, last_hot_s=now_s)
            heat.last_hot_s = now_s
            heat.peak_share = max(heat.peak_share, share)
            heat.throttled += throttled
            for partition_hash, units in keys:
                if partition_hash in heat.keys or len(heat.keys) < MAX_SAMPLED_HASHES:
                    heat.keys[partition_hash] += units

    def record_split(self, table: str, now_s: float) -> None:
        self._last_split_s[table] = now_s

    def decide(self, tables: dict[str, TableEntry], now_s: float) -> list[SplitDecision]:
        """At most one split per table: of its partition that has been hot the longest."""
        if not self.settings.enabled:
            return []
        decisions = []
        for entry in tables.values():
            if entry.table.get("status") != "ACTIVE" or entry.pending_split() is not None:
                continue
            if len(entry.partitions) >= self.settings.max_partitions or entry.global_indexes():
                continue  # full, or it cannot split (catalogue_splits.begin_split)
            last = self._last_split_s.get(entry.name)
            if last is not None and now_s - last < self.settings.cooldown_s:
                continue
            hot = sorted(
                (self._heat[p.group_id].hot_since_s, p.group_id, p)
                for p in entry.partitions
                if p.group_id in self._heat and self._sustained(self._heat[p.group_id], now_s)
            )
            for _, group, partition in hot:
                heat = self._heat[group]
                split_hash = weighted_median_split(dict(heat.keys), partition.hash_start, partition.hash_end)
                if split_hash is None:
                    continue
                reason = "throttled" if heat.throttled > 0 else f"consumption {heat.peak_share:.2f}"
                decisions.append(SplitDecision(entry.name, group, split_hash, reason))
                break
        return decisions

    def _sustained(self, heat: _GroupHeat, now_s: float) -> bool:
        fresh = now_s - heat.last_hot_s <= HOT_REPORT_STALE_S
        return fresh and now_s - heat.hot_since_s >= self.settings.sustain_s

    def forget(self, group: str) -> None:
        """A group just split: its heat was measured over a range it no longer has."""
        self._heat.pop(group, None)


def _parse(report: Any) -> tuple[float, int, list[tuple[int, float]]]:
    interval_s = float(report["interval_s"])
    if not interval_s > 0:
        raise ValueError("interval_s must be positive")
    # rcu and wcu count the units consumed since the previous report: per second over its interval.
    shares = []
    for used, maximum in (("rcu", "max_rcu"), ("wcu", "max_wcu")):
        units, limit = float(report.get(used) or 0.0), float(report.get(maximum) or 0.0)
        if limit > 0 and math.isfinite(units):
            shares.append(units / interval_s / limit)
    throttled = int(report.get("throttled") or 0)
    keys = []
    for pair in report.get("keys") or []:
        partition_hash, units = int(pair[0]), float(pair[1])
        if 0 <= partition_hash < 1 << 64 and math.isfinite(units) and units > 0:
            keys.append((partition_hash, units))
    return max(shares, default=0.0), throttled, keys
