"""The storage node's side of log replicas: the leader adds and removes them, the chosen node hosts them.

The decision is pure (log_replica_policy.decide); this module does the I/O around it: asks the chosen
node to open a WAL-only replica, proposes the membership change through the group's log, waits for
it to commit, and records what happened and how long it took, for the game day's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

from cluster.core.membership import Membership, MembershipError
from cluster.core.replica import NotLeaderError
from cluster.node.group_host import GroupHost
from cluster.node.log_replica_policy import ACTION_KINDS, LeaderView, MembershipAction, decide
from cluster.replication.group_runner import GroupRunner
from cluster.runtime.rpc import RpcError, RpcTimeout, RpcUnavailable
from cluster.runtime.task_cancel import cancel_and_wait
from cluster.storage.durable_directories import make_durable_directories
from cluster.storage.json_lines import append_json_object, read_json_objects

log = logging.getLogger(__name__)

# How long a storage replica may stay silent before its leader adds a log replica for it.
DETECTION_TIMEOUT_S = 1.5
CHECK_INTERVAL_TICKS = 2
# Placed replicas that were removed from their group are asked how they are this often; an answer
# younger than REACHABLE_FOR_S lets the leader add them back.
PING_INTERVAL_S = 1.0
REACHABLE_FOR_S = 3.0
# After a change failed (say the chosen node is down too), wait this long before trying again.
RETRY_AFTER_S = 2.0
COMMIT_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 2.0
MAX_EVENTS = 500
EVENTS_FILE = "events.jsonl"


class LogReplicaManager:
    def __init__(self, node: GroupHost, enabled: bool, directory: Path) -> None:
        self.node = node
        self.enabled = enabled
        self.detect_ticks = max(1, round(DETECTION_TIMEOUT_S / (node.topology.timing.tick_ms / 1000.0)))
        self.node_azs = {spec.process_id: spec.az for spec in node.topology.by_role("node")}
        # Kept on disk too: a node powered off (a whole-cluster power-off) still tells what it did before.
        make_durable_directories(directory)
        self.events_path = directory / EVENTS_FILE
        self.events: deque[dict[str, Any]] = deque(read_json_objects(self.events_path), maxlen=MAX_EVENTS)
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._ticks = 0
        # A log replica stands in for one storage replica; remembered for the removal's event.
        self._standing_in_for: dict[str, str] = {}
        self._answered_at: dict[str, float] = {}  # removed placed replica -> when it last answered a ping
        self._pinging: set[str] = set()
        self._last_ping_at = 0.0
        self._retry_at: dict[str, float] = {}  # group -> monotonic time before which no new change starts
        # group -> changes that failed since its last log replica was added (e.g. no reachable spare node).
        self._failed_attempts: dict[str, int] = {}
        # Committed changes by kind and failed attempts, for /metrics (cluster/node/log_replica_metrics.py).
        self.changes: dict[str, int] = {kind: 0 for kind in ACTION_KINDS}
        self.failures = 0

    # ---- the leader's side ------------------------------------------------------------------------

    def on_tick(self) -> None:
        self._ticks += 1
        if not self.enabled or self._ticks % CHECK_INTERVAL_TICKS:
            return
        now = time.monotonic()
        removed: set[str] = set()
        for group_id, group in list(self.node.groups.items()):
            if group.closed or not group.is_leader or self.node.is_log_replica(group_id):
                continue
            view = self._view(group_id, group)
            removed.update(member for member in view.placement if member not in view.membership.members)
            if group_id in self._busy or now < self._retry_at.get(group_id, 0.0):
                continue
            action = decide(view, self.node_azs, self.detect_ticks)
            if action is not None:
                silent_ticks = group.replica.silent_ticks().get(action.unhealthy, 0)
                detected_at = time.time() - max(0, silent_ticks - self.detect_ticks) * self.node.tick_s
                task = asyncio.ensure_future(self._carry_out(action, group, detected_at))
                self._busy[group_id] = task
                task.add_done_callback(lambda _, group_id=group_id: self._busy.pop(group_id, None))
        if removed and now - self._last_ping_at >= PING_INTERVAL_S:
            self._last_ping_at = now
            for member in removed - self._pinging:
                self._pinging.add(member)
                asyncio.ensure_future(self._ping(member))

    async def _ping(self, member: str) -> None:
        try:
            await self._call(member, "status", {}, timeout_s=0.5)
            self._answered_at[member] = time.monotonic()
        except (RpcError, RpcTimeout, RpcUnavailable):
            pass
        finally:
            self._pinging.discard(member)

    def _view(self, group_id: str, group: GroupRunner) -> LeaderView:
        replica = group.replica
        now = time.monotonic()
        return LeaderView(
            group_id=group_id,
            leader=self.node.process_id,
            placement=tuple(self.node.members.get(group_id, ())),
            reachable=frozenset(
                member for member, answered_at in self._answered_at.items() if now - answered_at < REACHABLE_FOR_S
            ),
            membership=replica.membership,
            membership_committed=replica.membership_index <= replica.commit_index,
            silent_ticks=replica.silent_ticks(),
            match_index={member: replica.match_index_of(member) or 0 for member in replica.membership.replicated},
            last_index=replica.last_index,
        )

    async def _carry_out(self, action: MembershipAction, group: GroupRunner, detected_at: float) -> None:
        event: dict[str, Any] = {
            "group": action.group_id,
            "action": action.kind,
            "member": action.member,
            "unhealthy": action.unhealthy or self._standing_in_for.get(action.group_id, ""),
            "leader": self.node.process_id,
            "detected_at": round(detected_at, 3),
        }
        try:
            if action.kind == "add-learner":
                membership = action.new_membership
                await self._call(action.member, "node.open_log_replica", {
                    "group": action.group_id, "storage": list(membership.storage), "log": list(membership.log),
                    "learners": list(membership.learners),
                })
            index = await group.request_membership(action.new_membership)
            await self._wait_committed(group, index)
            event["committed_at"] = round(time.time(), 3)
            self.changes[action.kind] += 1
            if action.kind == "add-log-replica":
                # Healing that had to wait for a reachable spare says so: its time is not the mechanism's.
                event["failed_attempts_before"] = self._failed_attempts.pop(action.group_id, 0)
            if action.kind in ("add-log-replica", "remove-storage-replica") and action.unhealthy:
                event["seconds_after_detection"] = round(event["committed_at"] - detected_at, 3)
            else:
                del event["detected_at"]  # nothing was detected: the group is healthy again
            if action.kind == "add-log-replica":
                self._standing_in_for[action.group_id] = action.unhealthy
            elif action.kind in ("remove-log-replica", "remove-learner"):
                self._standing_in_for.pop(action.group_id, None)
                self._failed_attempts.pop(action.group_id, None)
                # Best effort: a log replica nobody replicates to any more only wastes its node's disk.
                with contextlib.suppress(RpcError, RpcTimeout, RpcUnavailable):
                    await self._call(action.member, "node.drop_log_replica", {"group": action.group_id})
            log.info("group %s: %s %s committed", action.group_id, action.kind, action.member)
        except (RpcError, RpcTimeout, RpcUnavailable, NotLeaderError, MembershipError, TimeoutError) as error:
            event["failed"] = f"{type(error).__name__}: {error}"
            self._failed_attempts[action.group_id] = self._failed_attempts.get(action.group_id, 0) + 1
            self.failures += 1
            self._retry_at[action.group_id] = time.monotonic() + RETRY_AFTER_S
            log.warning("group %s: %s %s failed: %s", action.group_id, action.kind, action.member, error)
        self.events.append(event)
        append_json_object(self.events_path, event)

    async def _wait_committed(self, group: GroupRunner, index: int) -> None:
        deadline = time.monotonic() + COMMIT_TIMEOUT_S
        while group.replica.commit_index < index:
            if time.monotonic() > deadline or group.closed or not group.is_leader:
                raise TimeoutError(f"membership change at index {index} not committed")
            await asyncio.sleep(self.node.tick_s)
        if group.replica.term_at(index) is None:
            raise TimeoutError(f"membership change at index {index} was overwritten")

    async def _call(self, member: str, method: str, params: dict[str, Any], timeout_s: float = RPC_TIMEOUT_S) -> Any:
        return await self.node.peers.get(member).call(method, params, timeout_s=timeout_s)

    async def stop(self) -> None:
        for task in list(self._busy.values()):
            await cancel_and_wait(task)

    # ---- the chosen node's side -------------------------------------------------------------------

    async def handle_open(self, params: dict[str, Any]) -> Any:
        group_id = params.get("group")
        try:
            membership = Membership(
                tuple(params["storage"]), tuple(params["log"]), tuple(params.get("learners", ()))
            )
        except (KeyError, TypeError, MembershipError) as error:
            raise RpcError("Invalid", f"open_log_replica needs storage and log members: {error!r}") from error
        if not isinstance(group_id, str) or self.node.process_id not in membership.log + membership.learners:
            raise RpcError("Invalid", f"{self.node.process_id} is not a log replica or learner in {membership}")
        if group_id not in self.node.groups:
            log.info("opening a log replica of %s (membership %s)", group_id, membership)
            self.node.open_group(
                group_id, list(membership.storage), log_replicas=list(membership.log),
                learners=list(membership.learners),
            )
        return {"opened": group_id}

    async def handle_drop(self, params: dict[str, Any]) -> Any:
        group_id = params.get("group")
        if isinstance(group_id, str) and self.node.is_log_replica(group_id):
            log.info("dropping the log replica of %s", group_id)
            self.node.drop_group(group_id)
            return {"dropped": group_id}
        return {"dropped": None}

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "detection_timeout_s": DETECTION_TIMEOUT_S,
            "hosting": sorted(group_id for group_id in self.node.groups if self.node.is_log_replica(group_id)),
            "events": list(self.events),
        }
