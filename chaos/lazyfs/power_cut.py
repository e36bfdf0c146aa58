"""What a power-off fault does to the disks after its SIGKILLs: each powered-off node's lazyfs drops
what no fsync made durable. A backend without lazyfs (Docker, the store-mark model) loses nothing here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def lose_unsynced_data(cluster: Any, process_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """process id -> lazyfs's report of what its disk dropped, for each node whose disk is lazyfs."""
    lose_power = getattr(cluster, "lose_power", None)
    if not callable(lose_power):
        return {}
    reports: dict[str, dict[str, Any]] = {}
    for process_id in sorted(process_ids):
        report = lose_power(process_id)
        if report is not None:
            reports[process_id] = report
    return reports
