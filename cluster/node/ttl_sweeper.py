"""Deletes the expired items of the partitions this node leads, for tables with Time to Live enabled.

Each sweep reads one page of every led partition whose table has TTL on (a cursor per partition walks
the whole key space over successive sweeps) and proposes a delete for each expired item through the
group's log, conditioned on the TTL attribute still holding the value that expired: a write that moved
the item's expiry after the page was read wins, and every replica decides the same. Like DynamoDB's TTL
deletes, these are not charged to the table's capacity. A leader that changes only restarts a walk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cluster.api.item_commands import DeleteCommand, encode_command
from cluster.api.request_types import ConditionSource
from cluster.api.time_to_live import expiry_if_expired
from cluster.node.group_host import GroupHost
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.ticked_task import TickedTask

log = logging.getLogger(__name__)

SWEEP_INTERVAL_TICKS = 20  # a sweep a second at the default tick
PAGE_ITEMS = 200
MAX_DELETES_PER_SWEEP = 100  # per node: expiry must not crowd out client writes
PROPOSE_TIMEOUT_S = 2.0


class TtlSweeper:
    def __init__(self, node: GroupHost, clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.clock = clock  # epoch seconds, as TTL attributes hold them
        self.attributes: dict[str, str] = {}  # group -> its table's TTL attribute, from the metadata reports
        self.deleted_total = 0
        self._cursors: dict[str, tuple[int, bytes] | None] = {}
        self.sweeps = TickedTask(SWEEP_INTERVAL_TICKS, self._sweep)

    def on_assignments(self, assignments: list[dict[str, Any]]) -> None:
        self.attributes = {a["group_id"]: a["ttl_attribute"] for a in assignments if a.get("ttl_attribute")}

    def on_tick(self) -> None:
        self.sweeps.on_tick(wanted=bool(self.attributes))

    async def stop(self) -> None:
        await self.sweeps.stop()

    def status(self) -> dict[str, Any]:
        return {"tables_groups": len(self.attributes), "deleted_total": self.deleted_total}

    async def _sweep(self) -> None:
        budget = MAX_DELETES_PER_SWEEP
        for group_id, attribute in sorted(self.attributes.items()):
            if budget <= 0:
                break  # the rest keep their place in their walks for the next sweep
            group = self.node.groups.get(group_id)
            if group is None or group.closed or not group.is_leader:
                self._cursors.pop(group_id, None)
                continue
            state_machine = group.state_machine
            if not isinstance(state_machine, PartitionStateMachine):
                continue
            cursor = self._cursors.get(group_id)
            rows = state_machine.scan(cursor, PAGE_ITEMS)
            self._cursors[group_id] = (rows[-1][0], rows[-1][1]) if len(rows) == PAGE_ITEMS else None
            now_s = self.clock()
            for partition_hash, key, item in rows:
                expiry = expiry_if_expired(item, attribute, now_s)
                if expiry is None or budget <= 0:
                    continue
                budget -= 1
                condition = ConditionSource("#ttl = :expiry", {"#ttl": attribute}, {":expiry": {"N": expiry}})
                try:
                    result = await group.propose(
                        encode_command(DeleteCommand(partition_hash, key, condition)), PROPOSE_TIMEOUT_S
                    )
                except Exception as error:  # not leader any more, timeout: the next sweep tries again
                    log.info("TTL delete in %s not committed: %r", group_id, error)
                    break
                if isinstance(result, dict) and result.get("status") == "ok":
                    self.deleted_total += 1
