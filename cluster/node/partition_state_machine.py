"""Applies replicated item commands to a partition's ItemStore, identically on every replica.

Conditions are evaluated here, at apply time, against the state every replica shares at that log
index: that is what makes a conditional put linearizable without locks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.api.attribute_values import item_size_bytes
from cluster.api.errors import ApiError
from cluster.api.item_writes import apply_delete, apply_put, apply_update, update_return_attributes
from cluster.api.key_conditions import StoreBounds
from cluster.api.requests import ConditionSource, UpdateSource
from cluster.core.types import Entry
from cluster.node.partition_splits import SplitState
from cluster.scrub.commands import ReplicaScrubState
from cluster.storage.durable_directories import make_durable_directories
from cluster.storage.item_store import ItemStore


def encode_put_command(
    partition_hash: int, key: bytes, item: dict, condition: ConditionSource | None, return_old: bool
) -> bytes:
    return json.dumps(
        {
            "op": "put",
            "hash": partition_hash,
            "key": base64.b64encode(key).decode(),
            "item": item,
            "condition": condition.to_json() if condition else None,
            "return_old": return_old,
        },
        separators=(",", ":"),
    ).encode()


def encode_delete_command(
    partition_hash: int, key: bytes, condition: ConditionSource | None, return_old: bool
) -> bytes:
    return json.dumps(
        {
            "op": "delete",
            "hash": partition_hash,
            "key": base64.b64encode(key).decode(),
            "condition": condition.to_json() if condition else None,
            "return_old": return_old,
        },
        separators=(",", ":"),
    ).encode()


def encode_update_command(
    partition_hash: int,
    key: bytes,
    key_item: dict,
    update: UpdateSource | None,
    condition: ConditionSource | None,
    return_values: str,
) -> bytes:
    return json.dumps(
        {
            "op": "update",
            "hash": partition_hash,
            "key": base64.b64encode(key).decode(),
            "key_item": key_item,
            "update": update.to_json() if update else None,
            "condition": condition.to_json() if condition else None,
            "return_values": return_values,
        },
        separators=(",", ":"),
    ).encode()


def encode_batch_command(writes: list[tuple[int, bytes, dict | None]]) -> bytes:
    """Puts (item) and deletes (None) of one partition, applied together."""
    return json.dumps(
        {
            "op": "batch",
            "writes": [
                {"hash": write_hash, "key": base64.b64encode(key).decode(), "item": item}
                for write_hash, key, item in writes
            ],
        },
        separators=(",", ":"),
    ).encode()


class PartitionStateMachine:
    def __init__(
        self,
        directory: Path,
        scrub: ReplicaScrubState | None = None,
        before_apply: Callable[[Sequence[Entry]], None] | None = None,
    ) -> None:
        """`scrub` applies scrub markers and repairs; without it they change nothing (a reference replay).
        `before_apply` sees each batch first; only the planted hidden-group-crash bug sets it."""
        make_durable_directories(directory)
        self.store = ItemStore(directory / "items.sqlite")
        self.scrub = scrub
        self.splits = SplitState(self.store)
        self._before_apply = before_apply

    @property
    def applied_index(self) -> int:
        return self.store.applied_index

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        results: dict[int, Any] = {}
        todo = [entry for entry in entries if entry.index > self.store.applied_index]
        if not todo:
            return results
        if self._before_apply is not None:
            self._before_apply(todo)
        try:
            with self.store.transaction(todo[-1].index):
                for entry in todo:
                    if entry.command:
                        scrubbed = self.scrub.apply(entry.index, entry.command, self.store) if self.scrub else None
                        results[entry.index] = (
                            scrubbed if scrubbed is not None else self._apply_one(entry.command, entry.index)
                        )
        except BaseException:
            self.splits.reload()  # memory may be ahead of the rolled-back transaction
            raise
        return results

    def _apply_one(self, command_bytes: bytes, index: int = 0) -> dict[str, Any]:
        try:
            command = json.loads(command_bytes)
            if str(command["op"]).startswith("split_"):
                return self.splits.apply(index, command)
            if command["op"] == "batch":
                return self._apply_batch(command["writes"])
            partition_hash = int(command["hash"])
            moved_to = self.splits.moved_child(partition_hash)
            if moved_to is not None:
                # Certainly not applied: the router looks the table up again and sends it to the child.
                return {"status": "moved", "child": moved_to}
            key = base64.b64decode(command["key"])
            condition = ConditionSource.from_json(command["condition"]) if command.get("condition") else None
            current_json = self.store.get(partition_hash, key)
            current = json.loads(current_json) if current_json is not None else None
            if command["op"] == "put":
                outcome = apply_put(command["item"], condition, current)
            elif command["op"] == "delete":
                outcome = apply_delete(condition, current)
            elif command["op"] == "update":
                update = UpdateSource.from_json(command["update"]) if command.get("update") else None
                outcome = apply_update(update, condition, current, command["key_item"])
            else:
                return {"status": "invalid", "message": f"unknown command {command['op']!r}"}
        except ApiError as error:
            # Deterministic on every replica, so rejecting here keeps replicas equal.
            return {"status": "invalid", "message": error.message}
        except (KeyError, TypeError, ValueError) as error:
            return {"status": "invalid", "message": f"malformed command: {error!r}"}
        if outcome.condition_failed:
            return {"status": "condition_failed", "old": current}
        if outcome.changed:
            if outcome.new_item is None:
                self.store.delete(partition_hash, key)
            else:
                self.store.put(partition_hash, key, json.dumps(outcome.new_item, separators=(",", ":")))
        # What the write costs (ReturnConsumedCapacity): the larger of the old and new item.
        write_bytes = max(item_size_bytes(current or {}), item_size_bytes(outcome.new_item or {}))
        if command["op"] == "update":
            attributes = update_return_attributes(command["return_values"], update, current, outcome.new_item)
            return {"status": "ok", "attributes": attributes, "write_bytes": write_bytes}
        return {"status": "ok", "old": current if command.get("return_old") else None, "write_bytes": write_bytes}

    def _apply_batch(self, writes: list[dict[str, Any]]) -> dict[str, Any]:
        """BatchWriteItem's puts and deletes for this partition, all in this one log entry."""
        decoded = [(int(write["hash"]), base64.b64decode(write["key"]), write.get("item")) for write in writes]
        for partition_hash, _, _ in decoded:
            moved_to = self.splits.moved_child(partition_hash)
            if moved_to is not None:
                return {"status": "moved", "child": moved_to}  # none applied: the router regroups them all
        for partition_hash, key, item in decoded:
            if item is None:
                self.store.delete(partition_hash, key)
            else:
                self.store.put(partition_hash, key, json.dumps(item, separators=(",", ":")))
        return {"status": "ok"}

    def get(self, partition_hash: int, key: bytes) -> dict | None:
        item_json = self.store.get(partition_hash, key)
        return json.loads(item_json) if item_json is not None else None

    def scan(self, after: tuple[int, bytes] | None, limit: int) -> list[tuple[int, bytes, dict]]:
        """The partition's own items: a range it moved to a child is skipped (the child answers for it)."""
        rows = self.store.scan_excluding(after, limit, self.splits.excluded_ranges())
        return [(h, k, json.loads(item)) for h, k, item in rows]

    def query(
        self, partition_hash: int, bounds: StoreBounds, after: bytes | None, forward: bool, limit: int
    ) -> list[tuple[bytes, dict]]:
        """One partition key's items within `bounds`, in sort-key order (or reversed)."""
        rows = self.store.query(partition_hash, bounds.prefix, bounds.lower, bounds.upper, after, forward, limit)
        return [(k, json.loads(item)) for k, item in rows]

    def close(self) -> None:
        self.store.close()
