"""How admission control is tuned: one frozen value, carried by the topology under "admission".

Defaults never throttle this store at its real speed (about 2,000 writes/s for the whole cluster); the
hot-key scenarios set small limits through `[cluster.admission]`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AdmissionSettings:
    enabled: bool = True  # the off switch: no throttling anywhere and no splits
    partition_max_rcu: float = 3000.0  # per partition replica, units/s (DynamoDB's per-partition maxima)
    partition_max_wcu: float = 1000.0
    node_max_rcu: float = 12000.0  # a node's total: caps what bursting partitions may take
    node_max_wcu: float = 4000.0
    burst_s: float = 5.0  # unused partition capacity kept for bursts (DynamoDB: 300 s)
    gac_interval_s: float = 0.5  # how often a router asks GAC for tokens
    on_demand_floor_rcu: float = 12000.0  # on-demand table: max(floor, 2 x previous peak)
    on_demand_floor_wcu: float = 4000.0
    split_enabled: bool = True
    split_threshold: float = 0.8  # fraction of partition max consumed (or throttling) ...
    split_sustain_s: float = 3.0  # ... for this long
    split_cooldown_s: float = 5.0  # between two splits of one table
    max_partitions_per_table: int = 16

    def __post_init__(self) -> None:
        for name in _POSITIVE_RATES:
            _check_positive(name, getattr(self, name))
        for name in ("burst_s", "split_sustain_s", "split_cooldown_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"admission.{name} must be a number of seconds >= 0, got {value!r}")
        if not 0 < self.split_threshold <= 1 or isinstance(self.split_threshold, bool):
            raise ValueError(f"admission.split_threshold must be in (0, 1], got {self.split_threshold!r}")
        if isinstance(self.max_partitions_per_table, bool) or not isinstance(self.max_partitions_per_table, int) or (
            self.max_partitions_per_table < 1
        ):
            raise ValueError(
                f"admission.max_partitions_per_table must be an integer >= 1, got {self.max_partitions_per_table!r}"
            )
        for name in ("enabled", "split_enabled"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"admission.{name} must be true or false, got {getattr(self, name)!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AdmissionSettings:
        """Rejects unknown names and out-of-range values with a ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"admission settings must be a table of fields, got {type(data).__name__}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown admission settings {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = getattr(cls, name)
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # TOML and JSON write 1000 for 1000.0
            values[name] = value
        return cls(**values)


_POSITIVE_RATES = (
    "partition_max_rcu", "partition_max_wcu", "node_max_rcu", "node_max_wcu", "gac_interval_s",
    "on_demand_floor_rcu", "on_demand_floor_wcu",
)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"admission.{name} must be a positive number, got {value!r}")
