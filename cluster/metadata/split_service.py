"""The metadata side of splits for consumption: RPCs, the policy run on node reports, report answers.

The metadata leader proposes begin_split (an operator's `meta.split_partition`, or the policy deciding
on a node report) and finish_split (the parent's split driver, once the child holds the moved items).
Node reports carry each node its share: the pending children it must open, and the splits of parents
it hosts (their leader drives them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.metadata.catalogue import TableEntry
from cluster.metadata.catalogue_splits import split_summaries
from cluster.metadata.split_policy import SplitPolicy, SplitPolicySettings
from cluster.runtime.rpc import RpcError

log = logging.getLogger(__name__)

Propose = Callable[[dict[str, Any]], Awaitable[Any]]


class SplitService:
    def __init__(
        self,
        tables: Callable[[], dict[str, TableEntry]],
        propose: Propose,
        consistent_read: Callable[[], Awaitable[None]],
        admission: Any,
    ) -> None:
        self._tables = tables
        self._propose = propose
        self._consistent_read = consistent_read  # raises NotLeader on a follower
        self.settings = SplitPolicySettings.from_admission(admission)
        self.policy = SplitPolicy(self.settings)
        self._in_flight: set[str] = set()

    # ---- RPCs ---------------------------------------------------------------------------------

    async def split_partition(self, params: dict[str, Any]) -> Any:
        """`meta.split_partition {table, group, split_hash?}`: split now (midpoint when no hash given)."""
        await self._consistent_read()  # the leader's catalogue, so a table created a moment ago is found
        entry, parent = self._parent(params.get("table"), params.get("group"))
        split_hash = params.get("split_hash")
        if split_hash is None:
            split_hash = (parent.hash_start + parent.hash_end) // 2
        elif not isinstance(split_hash, int) or isinstance(split_hash, bool):
            raise RpcError("Invalid", f"split_hash must be an integer, got {split_hash!r}")
        return await self._begin(entry, parent.group_id, split_hash, str(params.get("reason") or "manual"))

    async def finish_split(self, params: dict[str, Any]) -> Any:
        """`meta.finish_split {table, table_id, group, child}`: called by the parent's split driver."""
        for name in ("table", "table_id", "group", "child"):
            if not isinstance(params.get(name), str):
                raise RpcError("Invalid", f"finish_split needs {name} (a string)")
        return await self._propose(
            {
                "op": "finish_split",
                "name": params["table"],
                "table_id": params["table_id"],
                "parent_group": params["group"],
                "child_group": params["child"],
                "finished_wall_s": time.time(),
            }
        )

    def _parent(self, table: Any, group: Any) -> tuple[TableEntry, Any]:
        if not isinstance(table, str) or not isinstance(group, str):
            raise RpcError("Invalid", "split_partition needs table and group (strings)")
        entry = self._tables().get(table)
        if entry is None:
            raise RpcError("Invalid", f"no table {table!r}")
        parent = next((p for p in entry.partitions if p.group_id == group), None)
        if parent is None:
            groups = ", ".join(p.group_id for p in entry.partitions)
            raise RpcError("Invalid", f"table {table!r} has no partition {group!r} (it has {groups})")
        return entry, parent

    async def _begin(self, entry: TableEntry, group: str, split_hash: int, reason: str) -> Any:
        result = await self._propose(
            {
                "op": "begin_split",
                "name": entry.name,
                "table_id": entry.table["table_id"],
                "parent_group": group,
                "split_hash": split_hash,
                "reason": reason,
                "max_partitions": self.settings.max_partitions,
                "begun_wall_s": time.time(),
            }
        )
        if isinstance(result, dict) and result.get("status") == "ok":
            self.policy.record_split(entry.name, time.monotonic())
            self.policy.forget(group)
        return result

    # ---- node reports -------------------------------------------------------------------------

    def on_node_report(self, consumption: Any, is_leader: bool) -> None:
        """Feeds the policy and, on the leader, proposes the splits it decides (one in flight per table)."""
        now_s = time.monotonic()
        self.policy.observe(consumption, now_s)
        if not is_leader:
            return
        for decision in self.policy.decide(self._tables(), now_s):
            if decision.table in self._in_flight:
                continue
            entry = self._tables().get(decision.table)
            if entry is None:
                continue
            log.info("splitting %s of %s at %d (%s)", decision.group, decision.table, decision.split_hash,
                     decision.reason)
            self._in_flight.add(decision.table)
            task = asyncio.ensure_future(self._begin(entry, decision.group, decision.split_hash, decision.reason))
            task.add_done_callback(lambda t, table=decision.table: self._begun(table, t))

    def _begun(self, table: str, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(table)
        if not task.cancelled() and task.exception() is not None:
            log.warning("proposing a split of %s failed: %r", table, task.exception())

    def report_answer(self, node_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(assignments of pending children this node must open, splits of parents this node hosts)."""
        assignments: list[dict[str, Any]] = []
        splits: list[dict[str, Any]] = []
        for entry in self._tables().values():
            members_of = {p.group_id: p.members for p in entry.partitions}
            for split in entry.splits:
                child = split["child"]
                if split["state"] == "pending" and node_id in child["members"]:
                    assignments.append({"group_id": child["group_id"], "members": child["members"], "table": entry.name})
                if node_id in members_of.get(split["parent"], []):
                    splits.append(
                        {
                            "table": entry.name,
                            "table_id": entry.table["table_id"],
                            "parent": split["parent"],
                            "child": child,
                            "split_hash": split["split_hash"],
                            "state": split["state"],
                        }
                    )
        return assignments, splits

    def summaries(self) -> list[dict[str, Any]]:
        return split_summaries(list(self._tables().values()))

    def finished_counts(self) -> dict[str, int]:
        """Finished splits per table, from the replicated catalogue (partition_splits_total)."""
        return {
            entry.name: sum(1 for split in entry.splits if split["state"] == "finished")
            for entry in self._tables().values()
        }
