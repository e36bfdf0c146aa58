"""The `gac.acquire` RPC of a metadata replica: global admission control served by the leader only.

GAC's state is soft: a replica that becomes leader (or leads in a new term) starts with fresh buckets,
and the routers' own buckets carry the load meanwhile (cluster/admission/router_admission.py).

    gac.acquire {"router": id, "tables": [{"table", "want_read", "want_write", "consumed_read",
                 "consumed_write"}, ...]}
      -> {"grants": {table: {"read", "write", "read_rate", "write_rate"}}}   (unknown tables: no grant)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from cluster.admission.global_admission import GlobalAdmission, TableLimits
from cluster.admission.settings import AdmissionSettings
from cluster.metadata.catalogue import TableEntry
from cluster.replication.group_runner import GroupRunner
from cluster.replication.remote_errors import not_leader
from cluster.runtime.rpc import RpcError

# Bounds what one router may ask about in one call.
MAX_TABLES_PER_ACQUIRE = 1000


class GacService:
    def __init__(
        self, settings: AdmissionSettings, group: GroupRunner, tables: Callable[[], Mapping[str, TableEntry]]
    ) -> None:
        self.settings = settings
        self.group = group
        self.tables = tables
        self.gac = GlobalAdmission(settings)
        self._term: int | None = None
        self.acquires = 0

    def acquire(self, params: dict[str, Any]) -> Any:
        if not self.group.is_leader:
            raise not_leader(self.group.leader_hint)
        router = params.get("router")
        asks = params.get("tables")
        if not isinstance(router, str) or not isinstance(asks, list) or len(asks) > MAX_TABLES_PER_ACQUIRE:
            raise RpcError("Invalid", "gac.acquire needs a router id and a list of at most 1000 table asks")
        term = self.group.replica.term
        if term != self._term:  # a new leadership: GAC's soft state starts afresh
            self._term = term
            self.gac = GlobalAdmission(self.settings)
        self.acquires += 1
        now_s = time.monotonic()
        catalogue = self.tables()
        grants: dict[str, Any] = {}
        for ask in asks:
            entry = catalogue.get(ask.get("table")) if isinstance(ask, dict) else None
            if entry is None:
                continue
            self.gac.set_table(entry.name, TableLimits.from_table_json(entry.table), now_s)
            grants[entry.name] = self.gac.acquire(
                entry.name, router, _units(ask, "want_read"), _units(ask, "want_write"), now_s,
                _units(ask, "consumed_read"), _units(ask, "consumed_write"),
            ).to_json()
        return {"grants": grants}

    def status(self) -> dict[str, Any]:
        return {"enabled": self.settings.enabled, "acquires": self.acquires,
                "tables": self.gac.status(time.monotonic()) if self.group.is_leader else {}}


def _units(ask: dict[str, Any], name: str) -> float:
    value = ask.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return 0.0
    return min(float(value), 1e12)
