"""ReturnConsumedCapacity: the ConsumedCapacity member of a response, from the units each table used.

Units follow DynamoDB's rules (cluster/admission/capacity_units.py): a read is one unit per 4 KB
(half for an eventually consistent read), a write one unit per 1 KB of the larger of the old and new item.
"""

from __future__ import annotations

from typing import Any

# A handler's answer carries the units each table used under this key; the service pops it and
# shapes ConsumedCapacity as the request asked.
CONSUMED_UNITS = "_consumed_units"


def _one(mode: str, table: str, units: float) -> dict[str, Any]:
    capacity: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units}
    return capacity


def consumed_capacity(mode: str, units_by_table: dict[str, float], batch: bool) -> Any:
    """None for NONE; a list for the batch operations; otherwise the one table's capacity."""
    if mode not in ("INDEXES", "TOTAL"):
        return None
    shaped = [_one(mode, table, units) for table, units in units_by_table.items()]
    if batch:
        return shaped
    return shaped[0] if shaped else None
