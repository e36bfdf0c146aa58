"""DynamoDB's capacity units: what one request costs (pure).

A write costs one unit per KiB, a strongly consistent read one per 4 KiB, an eventually consistent
read half that; at least one (half) unit each. A read's size is unknown before it is served, so the
minimum is charged up front and the rest settled afterwards.
"""

from __future__ import annotations

import math

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def write_units(item_bytes: int) -> float:
    return float(max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES)))


def read_units(item_bytes: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(item_bytes / READ_UNIT_BYTES)))
    return units if consistent else units / 2


def read_units_up_front(consistent: bool) -> float:
    """What a read is charged before its size is known."""
    return 1.0 if consistent else 0.5
