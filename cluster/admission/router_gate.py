"""The router's side of admission control at the edge: charges requests against its per-table buckets
(cluster/admission/router_admission.py), turns refusals into ProvisionedThroughputExceededException,
and runs the loop that asks global admission control (GAC) for tokens every interval."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.admission.global_admission import TableLimits
from cluster.admission.partition_admission import Kind
from cluster.admission.router_admission import RouterAdmission
from cluster.admission.settings import AdmissionSettings
from cluster.api.errors import ProvisionedThroughputExceededException
from cluster.metadata.catalogue import TableEntry

log = logging.getLogger(__name__)

TABLE_THROTTLE_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
PARTITION_THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity of one of your table's partitions. "
    "Please contact AWS support or reduce your request rate."
)

CallMetadata = Callable[[str, dict[str, Any], float], Awaitable[Any]]


class RouterGate:
    def __init__(self, router_id: str, settings: AdmissionSettings, router_count: int) -> None:
        self.settings = settings
        self.admission = RouterAdmission(router_id, settings, max(1, router_count))
        # (billing mode, RCU, WCU) -> limits: one small object per distinct setting, not one per request.
        self._limits: dict[tuple[Any, Any, Any], TableLimits] = {}

    def _limits_of(self, entry: TableEntry) -> TableLimits:
        table = entry.table
        key = (table.get("billing_mode"), table.get("read_capacity_units"), table.get("write_capacity_units"))
        limits = self._limits.get(key)
        if limits is None:
            limits = self._limits[key] = TableLimits.from_table_json(table)
        return limits

    def charge(self, entry: TableEntry, kind: Kind, units: float) -> None:
        """Before any request leaves the router: raises PTEE (table level) when the table's bucket is empty."""
        if not self.settings.enabled:
            return
        if not self.admission.charge(entry.name, self._limits_of(entry), kind, units, time.monotonic()):
            raise ProvisionedThroughputExceededException(TABLE_THROTTLE_MESSAGE)

    def settle(self, entry: TableEntry, kind: Kind, units: float) -> None:
        if self.settings.enabled and units > 0:
            self.admission.settle(entry.name, kind, units, time.monotonic())

    def partition_throttled(self, detail: str) -> ProvisionedThroughputExceededException:
        """A node refused with THROTTLED: the error the router answers (it does not retry)."""
        self.admission.count_partition_throttle()
        log.debug("partition throttle: %s", detail)
        return ProvisionedThroughputExceededException(PARTITION_THROTTLE_MESSAGE)

    async def refill_forever(self, call_metadata: CallMetadata) -> None:
        """Every interval: one gac.acquire for every table in use; a failure leaves the buckets to fall
        back to their fair share (router_admission.FALLBACK_AFTER_INTERVALS)."""
        if not self.settings.enabled:
            return
        interval_s = self.settings.gac_interval_s
        while True:
            await asyncio.sleep(interval_s)
            asks = self.admission.requests(time.monotonic())
            if not asks:
                continue
            try:
                answer = await call_metadata(
                    "gac.acquire", {"router": self.admission.router_id, "tables": asks}, 2 * interval_s
                )
            except Exception as error:  # metadata down or no leader: the buckets carry on alone
                self.admission.on_gac_failure()
                log.debug("gac.acquire failed: %s", error)
                continue
            grants = answer.get("grants") if isinstance(answer, dict) else None
            if isinstance(grants, dict):
                self.admission.on_grants(grants, time.monotonic())
            else:
                self.admission.on_gac_failure()

    def snapshot(self) -> dict[str, Any]:
        return self.admission.snapshot(time.monotonic())
