"""Time to Live: a table's setting and which items it expires (pure).

UpdateTimeToLive turns TTL on for one attribute, or off. A change that changes nothing is refused, and so
is enabling another attribute while one is enabled (disable it first). An item expires when that
attribute holds a Number of epoch seconds below the current time; any other type, or no such attribute,
never expires. Expired items are deleted in the background (DynamoDB: typically within two days; here
within seconds, by each partition's leader: cluster/node/ttl_sweeper.py) and read like any other item
until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any


def change_ttl(current: Mapping[str, Any] | None, enabled: bool, attribute: str) -> tuple[dict | None, str | None]:
    """(the table's new setting, None) or (its setting unchanged, the ValidationException message)."""
    setting = dict(current) if current else None
    if enabled:
        if setting is None:
            return {"attribute": attribute}, None
        if setting["attribute"] == attribute:
            return setting, "TimeToLive is already enabled"
        return setting, f"TimeToLive is active on a different AttributeName: current AttributeName is {setting['attribute']}"
    if setting is None:
        return None, "TimeToLive is already disabled"
    return None, None


def describe_ttl(setting: Mapping[str, Any] | None) -> dict[str, Any]:
    """DescribeTimeToLive's TimeToLiveDescription (the change takes effect at once: no ENABLING phase)."""
    if not setting:
        return {"TimeToLiveStatus": "DISABLED"}
    return {"TimeToLiveStatus": "ENABLED", "AttributeName": setting["attribute"]}


def expiry_if_expired(item: Mapping[str, Any], attribute: str, now_s: float) -> str | None:
    """The attribute's number text when ITEM has expired at NOW_S (the condition its delete carries), else None."""
    value = item.get(attribute)
    if not isinstance(value, Mapping) or set(value) != {"N"} or not isinstance(value["N"], str):
        return None
    try:
        seconds = Decimal(value["N"])
    except InvalidOperation:
        return None
    return value["N"] if seconds < Decimal(repr(now_s)) else None
