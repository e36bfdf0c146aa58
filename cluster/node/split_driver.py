"""Drives a split for consumption from the node that leads the parent partition.

The metadata service lists in each node_report answer the splits of groups this node hosts; the node
leading a parent then: fences the moved range in the parent (its writes there answer "moved" from that
log index on), copies the parent's items of that range into the child group (split_load batches, the
last one seals the child), asks metadata to finish the split (the child becomes routable, the parent
shrinks), and drops the moved items from the parent. Every step is idempotent and the range is frozen
from the fence on, so whichever node leads the parent next (after a crash, a transfer) simply redoes
the steps that are not visibly done yet: the driver keeps no state of its own that matters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

from cluster.metadata.metadata_server import METADATA_GROUP
from cluster.node.group_host import GroupHost
from cluster.node.partition_splits import encode_split_command
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.replication.leader_calls import NoLeaderAnswered, call_leader
from cluster.replication.remote_errors import NO_SUCH_GROUP, as_rpc_errors, not_leader
from cluster.runtime.rpc import RpcError
from cluster.runtime.task_cancel import cancel_and_wait

log = logging.getLogger(__name__)

PROPOSE_TIMEOUT_S = 3.0
# A split_load command stays well below what one Raft entry and one RPC frame should carry.
LOAD_BATCH_BYTES = 256 * 1024
READ_PAGE_ITEMS = 500
# How long one step keeps trying (the child electing its first leader, metadata failing over); after
# that the drive gives up and the next node report starts it again.
STEP_BUDGET_S = 20.0
RETRY_PAUSE_S = 0.1
# Completed drives remembered for the node's status (measured fence → finish times).
KEPT_COMPLETIONS = 16


class SplitStepFailed(Exception):
    pass


class SplitDriver:
    def __init__(self, node: GroupHost) -> None:
        self.node = node
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.completed: list[dict[str, Any]] = []
        self.failures = 0
        node.register("node.split_load", self.handle_split_load)

    # ---- entry points -------------------------------------------------------------------------

    def on_report(self, response: dict[str, Any]) -> None:
        """Starts a drive for every listed split of a group this node leads, unless one runs already."""
        for split in response.get("splits") or []:
            try:
                parent, child = str(split["parent"]), str(split["child"]["group_id"])
            except (KeyError, TypeError):
                continue
            group = self.node.groups.get(parent)
            if group is None or group.closed or not group.is_leader or self.node.is_log_replica(parent):
                continue
            if split.get("state") == "finished":
                state_machine = group.state_machine
                assert isinstance(state_machine, PartitionStateMachine)
                fence = state_machine.splits.fence(int(split["split_hash"]), int(split["child"]["hash_end"]))
                if fence is None or fence.dropped:
                    continue
            task = self._tasks.get((parent, child))
            if task is not None and not task.done():
                continue
            self._tasks[(parent, child)] = asyncio.ensure_future(self._drive(dict(split)))

    async def handle_split_load(self, params: dict[str, Any]) -> Any:
        """A parent's driver loading this node's child replica: node.propose without admission control,
        which would throttle the copy as if it were client load and count it towards splitting the child."""
        group = self.node.groups.get(params.get("group"))  # type: ignore[arg-type]
        if group is None or group.closed or self.node.is_log_replica(group.group_id):
            raise RpcError(NO_SUCH_GROUP, f"{self.node.process_id} hosts no replica of {params.get('group')!r}")
        command = params.get("command")
        try:
            op = json.loads(command)["op"] if isinstance(command, str) else None
        except (ValueError, KeyError, TypeError):
            op = None
        if op != "split_load":
            raise RpcError("Invalid", "node.split_load carries split_load commands only")
        if not group.is_leader:
            raise not_leader(group.leader_hint)
        return await as_rpc_errors(group.propose(command.encode(), PROPOSE_TIMEOUT_S))

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            await cancel_and_wait(task)

    def status(self) -> dict[str, Any]:
        running = sorted(f"{p}->{c}" for (p, c), task in self._tasks.items() if not task.done())
        fences = []
        for group_id, group in list(self.node.groups.items()):
            if isinstance(group.state_machine, PartitionStateMachine) and not group.closed:
                fences.extend(
                    {"group": group_id, "child": m.child, "fenced_at": m.fenced_at, "dropped": m.dropped}
                    for m in group.state_machine.splits.moved
                )
        return {"running": running, "completed": list(self.completed), "failures": self.failures, "fences": fences}

    # ---- one drive ----------------------------------------------------------------------------

    async def _drive(self, split: dict[str, Any]) -> None:
        parent, child = split["parent"], split["child"]["group_id"]
        try:
            # A report answered before our finish_split landed still says "pending": the split is done here.
            finished_here = any(c["parent"] == parent and c["child"] == child for c in self.completed)
            if split.get("state") == "pending" and not finished_here:
                await self._split(split)
            await self._drop(split)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the next report starts the drive again
            self.failures += 1
            log.warning("split of %s into %s paused: %r", parent, child, error)

    def _parent(self, parent: str) -> tuple[Any, PartitionStateMachine]:
        group = self.node.groups.get(parent)
        if group is None or group.closed or not group.is_leader:
            raise SplitStepFailed(f"{self.node.process_id} no longer leads {parent}")
        state_machine = group.state_machine
        assert isinstance(state_machine, PartitionStateMachine)
        return group, state_machine

    async def _split(self, split: dict[str, Any]) -> None:
        parent, child = split["parent"], split["child"]
        hash_from, hash_to = int(split["split_hash"]), int(child["hash_end"])
        group, state_machine = self._parent(parent)
        fence = state_machine.splits.fence(hash_from, hash_to)
        if fence is None:
            command = encode_split_command(
                "split_fence", hash_from=hash_from, hash_to=hash_to, child=child["group_id"]
            )
            result = await group.propose(command, PROPOSE_TIMEOUT_S)
            if not isinstance(result, dict) or result.get("status") != "ok":
                raise SplitStepFailed(f"fence of {parent} refused: {result}")
        fenced_s = time.monotonic()
        loaded, sealed_before = await self._load(parent, child, hash_from, hash_to)
        await self._call_metadata(
            "meta.finish_split",
            {"table": split["table"], "table_id": split["table_id"], "group": parent, "child": child["group_id"]},
        )
        finished_s = time.monotonic()
        # Two drives can overlap when the parent's lead moves mid-split: the child's seal lets one load it.
        self.completed.append(
            {"parent": parent, "child": child["group_id"], "items": loaded, "fence_to_finish_s": finished_s - fenced_s,
             "child_was_sealed": sealed_before}
        )  # fmt: skip
        del self.completed[:-KEPT_COMPLETIONS]
        log.info("split %s into %s: %d items, %.2fs fence to finish%s", parent, child["group_id"], loaded,
                 finished_s - fenced_s, " (the child was loaded by an earlier drive)" if sealed_before else "")

    async def _load(self, parent: str, child: dict[str, Any], hash_from: int, hash_to: int) -> tuple[int, bool]:
        """Copies the frozen range into the child in bounded batches; the last batch seals the child.
        Returns the items this drive loaded and whether an earlier drive had sealed the child already."""
        after: tuple[int, bytes] | None = None
        batch: list[list[Any]] = []
        batch_bytes = 0
        loaded = 0
        while True:
            _, state_machine = self._parent(parent)  # a deposed leader stops copying
            rows = state_machine.store.scan_range(hash_from, hash_to, after, READ_PAGE_ITEMS)
            for row_hash, key, item_json in rows:
                row_bytes = len(item_json) + len(key) * 2 + 32
                if batch and batch_bytes + row_bytes > LOAD_BATCH_BYTES:
                    if await self._send_load(child, batch, last=False) == "sealed":
                        return loaded, True  # an earlier drive loaded everything and sealed the child
                    loaded += len(batch)
                    batch, batch_bytes = [], 0
                batch.append([row_hash, base64.b64encode(key).decode(), json.loads(item_json)])
                batch_bytes += row_bytes
                after = (row_hash, key)
            if len(rows) < READ_PAGE_ITEMS:
                break
        if await self._send_load(child, batch, last=True) == "sealed":
            return loaded, True
        return loaded + len(batch), False

    async def _send_load(self, child: dict[str, Any], items: list[list[Any]], last: bool) -> str:
        command = encode_split_command("split_load", items=items, last=last).decode()
        result = await self._propose_child(child, command)
        status = result.get("status") if isinstance(result, dict) else None
        if status not in ("ok", "sealed"):
            raise SplitStepFailed(f"load into {child['group_id']} refused: {result}")
        return str(status)

    async def _drop(self, split: dict[str, Any]) -> None:
        hash_from, hash_to = int(split["split_hash"]), int(split["child"]["hash_end"])
        group, state_machine = self._parent(split["parent"])
        fence = state_machine.splits.fence(hash_from, hash_to)
        if fence is None or fence.dropped:
            return
        command = encode_split_command("split_drop", hash_from=hash_from, hash_to=hash_to)
        result = await group.propose(command, PROPOSE_TIMEOUT_S)
        if not isinstance(result, dict) or result.get("status") != "ok":
            raise SplitStepFailed(f"drop in {split['parent']} refused: {result}")

    # ---- RPCs ---------------------------------------------------------------------------------

    async def _propose_child(self, child: dict[str, Any], command: str) -> Any:
        """node.split_load to the child's leader: the child may still be opening and electing its first one.
        Loads are idempotent until the child seals, and a sealed child answers "sealed": retrying is safe."""
        try:
            return await call_leader(
                self.node.peers, self.node.leader_hints, child["group_id"], list(child["members"]), "node.split_load",
                {"group": child["group_id"], "command": command}, timeout_s=PROPOSE_TIMEOUT_S + 1.0,
                budget_s=STEP_BUDGET_S, retry_pause_s=RETRY_PAUSE_S,
            )  # fmt: skip
        except NoLeaderAnswered as error:
            raise SplitStepFailed(f"child {child['group_id']}: {error}") from error

    async def _call_metadata(self, method: str, params: dict[str, Any]) -> Any:
        metadata_ids = [spec.process_id for spec in self.node.topology.by_role("metadata")]
        try:
            result = await call_leader(
                self.node.peers, self.node.leader_hints, METADATA_GROUP, metadata_ids, method, params,
                timeout_s=PROPOSE_TIMEOUT_S + 1.0, budget_s=STEP_BUDGET_S, retry_pause_s=RETRY_PAUSE_S,
            )  # fmt: skip
        except NoLeaderAnswered as error:
            raise SplitStepFailed(f"{method}: {error}") from error
        if not isinstance(result, dict) or result.get("status") != "ok":
            raise SplitStepFailed(f"{method} refused: {result}")
        return result
