"""The router's view of the cluster: a cached catalogue, leader hints, and bounded leader routing.

A request that never reached a leader (refused connection, NotLeader, NoSuchGroup) is retried on
another replica within a time budget. A write whose outcome is unknown is never retried: retrying a
conditional put that already happened would turn a success into a false ConditionalCheckFailed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cluster.admission.router_gate import RouterGate
from cluster.api.errors import (
    InternalServerError,
    ResourceNotFoundException,
    ServiceUnavailable,
    table_not_found,
)
from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.replication.remote_errors import (
    LOST,
    MOVED,
    NO_SUCH_GROUP,
    NOT_LEADER,
    OUTCOME_UNKNOWN,
    THROTTLED,
)
from cluster.router.crash_points import CrashPoints
from cluster.router.partition_cache import PartitionCache
from cluster.runtime.peer_clients import PeerClients, hint_first
from cluster.runtime.rpc import RpcClient, RpcError, RpcTimeout, RpcUnavailable
from cluster.runtime.task_cancel import cancel_and_wait
from cluster.runtime.topology import Topology

# Errors no metadata outage causes: the refresh worker swallows the others, never these silently.
_PROGRAMMING_ERRORS = (AttributeError, KeyError, TypeError, IndexError, NameError, AssertionError)

log = logging.getLogger(__name__)

ROUTE_BUDGET_S = 3.0
# The time budget is what bounds a request; the attempt cap only guards against a tight loop.
MAX_ATTEMPTS = 100
RETRY_PAUSE_S = 0.05
# Asynchronous (constant-work) lookups in flight per router at most; the cache's queue bounds the rest.
LOOKUP_WORKERS = 8
# An asynchronous lookup only refreshes the cache: it gives up sooner than a request would.
ASYNC_LOOKUP_TIMEOUT_S = 1.0
# A replica that timed out or refused is tried last for this long: a paused leader would otherwise
# hold every request to its group for the whole budget until it resumes.
SUSPECT_S = 5.0
# Why an attempt failed and the request moved on to another try (router_retries_total's reason label).
RETRY_REASONS = ("unreachable", "timeout", "not_leader", "no_such_group", "other")


class PartitionMoved(Exception):
    """The group no longer owns the hash (a split moved it); the request certainly did not take effect."""


# Table changes whose retry after an unknown outcome would answer wrongly: a table created, deleted or
# updated by the first attempt makes the second answer "in use" or "not found", a 4xx for what happened.
_ANSWERED_ONCE = ("meta.create_table", "meta.delete_table", "meta.update_table")

class ClusterClient:
    def __init__(self, router_id: str, topology: Topology) -> None:
        self.router_id = router_id
        self.topology = topology
        self.az = topology.get(router_id).az
        self.cache = PartitionCache(topology.router_cache_mode)
        self._lookups_pending = asyncio.Event()
        self._lookup_tasks: list[asyncio.Task[None]] = []
        self.leaders: dict[str, str] = {}
        self._peers = PeerClients(topology, router_id)
        self._metadata_ids = [spec.process_id for spec in topology.by_role("metadata")]
        self._metadata_hint: str | None = None
        self._node_az = {spec.process_id: spec.az for spec in topology.by_role("node")}
        self._suspect_until: dict[str, float] = {}
        # Plain counts, read by the /metrics collector at scrape time (cluster/runtime/metrics_router.py).
        self.retry_counts: dict[str, int] = dict.fromkeys(RETRY_REASONS, 0)
        # Per-table token buckets refilled from GAC on the metadata leader (cluster/admission/router_gate.py).
        self.admission = RouterGate(router_id, topology.admission, len(topology.by_role("router")))
        self.crash_points = CrashPoints()  # armed only by the kill-coordinator fault

    def client(self, process_id: str) -> RpcClient:
        return self._peers.get(process_id)

    async def start(self) -> None:
        self._lookup_tasks = [asyncio.ensure_future(self._lookup_forever()) for _ in range(LOOKUP_WORKERS)]
        self._lookup_tasks.append(asyncio.ensure_future(self.admission.refill_forever(self.call_metadata)))

    async def stop(self) -> None:
        for task in self._lookup_tasks:
            await cancel_and_wait(task)
        await self._peers.close()

    # ---- metadata -----------------------------------------------------------------------------

    async def call_metadata(self, method: str, params: dict[str, Any], timeout_s: float = ROUTE_BUDGET_S) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_error = "no metadata replica answered"
        attempt = 0
        while loop.time() < deadline and attempt < MAX_ATTEMPTS:
            order = hint_first(self._metadata_ids, self._metadata_hint)
            target = order[attempt % len(order)] if attempt < len(order) else order[0]
            attempt += 1
            remaining = deadline - loop.time()
            try:
                result = await self.client(target).call(method, params, timeout_s=max(0.05, remaining))
            except RpcError as error:
                last_error = f"{target}: {error.message}"
                self.retry_counts["not_leader" if error.code == NOT_LEADER else "other"] += 1
                hint = error.data.get("leader") if error.code == NOT_LEADER else None
                if hint in self._metadata_ids:
                    self._metadata_hint = hint
                elif error.code == OUTCOME_UNKNOWN and method in _ANSWERED_ONCE:
                    raise InternalServerError(f"metadata outcome unknown: {error.message}") from error
                else:
                    await asyncio.sleep(RETRY_PAUSE_S)
                continue
            except RpcUnavailable as error:
                last_error = str(error)
                self.retry_counts["unreachable"] += 1
                if self._metadata_hint == target:
                    self._metadata_hint = None
                continue
            except RpcTimeout as error:
                if method in _ANSWERED_ONCE:
                    raise InternalServerError(f"metadata outcome unknown: {error}") from error
                last_error = str(error)
                self.retry_counts["timeout"] += 1
                continue
            self._metadata_hint = target
            return result
        raise ServiceUnavailable(f"metadata service unavailable: {last_error}")

    async def refresh_catalogue(self) -> dict[str, TableEntry]:
        """Every table, read from the metadata leader (DescribeTable, ListTables); the cache is left alone."""
        result = await self.call_metadata("meta.catalogue", {})
        # Hints from metadata are older than what nodes tell us directly; only fill gaps.
        for group_id, node_id in result["leaders"].items():
            self.leaders.setdefault(group_id, node_id)
        return {name: TableEntry.from_json(entry) for name, entry in result["tables"].items()}

    async def table(self, name: str) -> TableEntry:
        """The table's partition map from the cache, and the lookup the cache mode asks for."""
        decision = self.cache.on_request(name, time.monotonic())
        if decision.lookup == "async":
            self._lookups_pending.set()
        entry = decision.entry
        if entry is None:
            entry = await self._lookup(name, consistent=True, timeout_s=ROUTE_BUDGET_S)
            if entry is None:
                raise table_not_found(name)
        if entry.table.get("status") == "CREATING" and entry.global_indexes():
            # Its partitions may not know its GSIs yet, and a write they took would never reach them: as in
            # DynamoDB, a table is not there for items until it is ACTIVE. The cache may be behind: ask.
            entry = await self.refresh_table(name)
            if entry.table.get("status") == "CREATING":
                raise ResourceNotFoundException("Requested resource not found")
        return entry

    async def _lookup(self, name: str, *, consistent: bool, timeout_s: float) -> TableEntry | None:
        requested_at_s = time.monotonic()
        result = await self.call_metadata("meta.lookup_table", {"name": name, "consistent": consistent}, timeout_s)
        if result.get("status") != "ok":
            self.cache.forget(name, requested_at_s)
            return None
        for group_id, node_id in result.get("leaders", {}).items():
            self.leaders.setdefault(group_id, node_id)
        entry = TableEntry.from_json(result["table"])
        self.cache.store(entry, requested_at_s)
        return entry

    async def _lookup_forever(self) -> None:
        """One worker of the constant-work refresh: sends the lookups hits queued, as they come."""
        while True:
            pending = self.cache.next_lookup()
            if pending is None:
                self._lookups_pending.clear()
                await self._lookups_pending.wait()
                continue
            try:
                await self._lookup(pending[0], consistent=False, timeout_s=ASYNC_LOOKUP_TIMEOUT_S)
            except Exception as error:  # metadata down: keep serving from the cache
                if isinstance(error, _PROGRAMMING_ERRORS):  # no outage but a bug: said with its traceback
                    log.exception("metadata lookup of %s failed", pending[0])
                else:
                    log.debug("metadata lookup of %s failed: %s", pending[0], error)

    async def refresh_table(self, name: str) -> TableEntry:
        """The table's partition map from the metadata leader, bypassing the cache (after a MOVED)."""
        entry = await self._lookup(name, consistent=True, timeout_s=ROUTE_BUDGET_S)
        if entry is None:
            raise table_not_found(name)
        return entry

    def remember_table(self, entry: TableEntry) -> None:
        """A table this router just created: cached as if looked up now."""
        self.cache.store(entry, time.monotonic())

    def forget_table(self, name: str) -> None:
        self.cache.forget(name)

    def flush_cache(self) -> dict[str, Any]:
        """Forgets every cached partition map (what a router restart does to its cache)."""
        return {"mode": self.cache.mode, "entries_flushed": self.cache.flush()}

    # ---- partitions ---------------------------------------------------------------------------

    def _suspect(self, process_id: str) -> None:
        self._suspect_until[process_id] = time.monotonic() + SUSPECT_S

    def _is_suspect(self, process_id: str) -> bool:
        return self._suspect_until.get(process_id, 0.0) > time.monotonic()

    def _leader_order(self, partition: PartitionInfo) -> list[str]:
        hint = self.leaders.get(partition.group_id)
        order = hint_first(partition.members, hint)
        return sorted(order, key=self._is_suspect)  # stable: the hint stays first among the healthy

    async def call_leader(self, partition: PartitionInfo, method: str, params: dict[str, Any], *, is_write: bool) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROUTE_BUDGET_S
        order = self._leader_order(partition)
        position = 0
        followed_hints: set[str] = set()
        last_error = "no replica answered"
        for _ in range(MAX_ATTEMPTS):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            target = order[position % len(order)]
            try:
                # A read may move on to another replica, so it does not wait out a paused one.
                attempt_timeout_s = remaining if is_write else min(remaining, 1.0)
                result = await self.client(target).call(method, params, timeout_s=attempt_timeout_s)
            except RpcUnavailable:
                self._suspect(target)
                last_error = f"{target} unreachable"
                self.retry_counts["unreachable"] += 1
            except RpcTimeout as error:
                self._suspect(target)
                if self.leaders.get(partition.group_id) == target:
                    del self.leaders[partition.group_id]
                if is_write:
                    raise InternalServerError(f"outcome unknown: {target} did not answer in time") from error
                last_error = f"{target} timed out"
                self.retry_counts["timeout"] += 1
            except RpcError as error:
                if error.code == MOVED:
                    raise PartitionMoved(f"{partition.group_id}: {error.message}") from error
                if error.code == THROTTLED:  # refused before any work: answer at once, never retry
                    raise self.admission.partition_throttled(f"{target}: {error.message}") from error
                last_error = f"{target}: {error.code}: {error.message}"
                if error.code in (NOT_LEADER, NO_SUCH_GROUP, LOST) or (error.code == OUTCOME_UNKNOWN and not is_write):
                    self.retry_counts[_retry_reason(error.code)] += 1
                if error.code == NOT_LEADER:
                    hint = error.data.get("leader")
                    if hint in partition.members and hint != target and hint not in followed_hints:
                        # A fresh hint is worth trying at once; a hint we already followed is stale.
                        followed_hints.add(hint)
                        order = [hint] + [m for m in order if m != hint]
                        position = 0
                        continue
                elif error.code == OUTCOME_UNKNOWN and is_write:
                    raise InternalServerError(f"outcome unknown: {error.message}") from error
                elif error.code not in (NO_SUCH_GROUP, LOST, OUTCOME_UNKNOWN):
                    raise InternalServerError(f"{target}: {error.code}: {error.message}") from error
            else:
                self.leaders[partition.group_id] = target
                self._suspect_until.pop(target, None)
                return result
            # The request certainly did not take effect here (or it was a read): try the next replica.
            position += 1
            if position % len(order) == 0:
                followed_hints.clear()
            await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - loop.time())))
        self.leaders.pop(partition.group_id, None)
        raise ServiceUnavailable(f"partition {partition.group_id} has no reachable leader: {last_error}")

    async def call_any_replica(self, partition: PartitionInfo, method: str, params: dict[str, Any]) -> Any:
        """Eventually consistent reads: the replica in our own AZ first, then the others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROUTE_BUDGET_S
        order = sorted(partition.members, key=lambda m: (self._is_suspect(m), self._node_az.get(m) != self.az, m))
        last_error = "no replica answered"
        for attempt in range(MAX_ATTEMPTS):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            target = order[attempt % len(order)]
            try:
                return await self.client(target).call(method, params, timeout_s=min(remaining, 1.0))
            except (RpcUnavailable, RpcTimeout) as error:
                self._suspect(target)
                last_error = f"{target}: {error}"
                self.retry_counts["timeout" if isinstance(error, RpcTimeout) else "unreachable"] += 1
                if attempt % len(order) == len(order) - 1:
                    await asyncio.sleep(RETRY_PAUSE_S)
            except RpcError as error:
                if error.code == MOVED:
                    raise PartitionMoved(f"{partition.group_id}: {error.message}") from error
                if error.code == THROTTLED:
                    raise self.admission.partition_throttled(f"{target}: {error.message}") from error
                last_error = f"{target}: {error}"
                self.retry_counts[_retry_reason(error.code)] += 1
                if attempt % len(order) == len(order) - 1:
                    await asyncio.sleep(RETRY_PAUSE_S)
        raise ServiceUnavailable(f"partition {partition.group_id} has no reachable replica: {last_error}")


def _retry_reason(code: str) -> str:
    return {NOT_LEADER: "not_leader", NO_SUCH_GROUP: "no_such_group"}.get(code, "other")
