"""Applies replicated item commands to a partition's ItemStore, identically on every replica.

Conditions are evaluated here, at apply time, against the state every replica shares at that log
index: that is what makes a conditional put linearizable without locks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.api.errors import ApiError
from cluster.api.item_writes import apply_delete, apply_put
from cluster.api.requests import ConditionSource
from cluster.core.types import Entry
from cluster.scrub.commands import ReplicaScrubState
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


class PartitionStateMachine:
    def __init__(self, directory: Path, scrub: ReplicaScrubState | None = None) -> None:
        """`scrub` applies scrub markers and repairs; without it they change nothing (a reference replay)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.store = ItemStore(directory / "items.sqlite")
        self.scrub = scrub

    @property
    def applied_index(self) -> int:
        return self.store.applied_index

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        results: dict[int, Any] = {}
        todo = [entry for entry in entries if entry.index > self.store.applied_index]
        if not todo:
            return results
        with self.store.transaction(todo[-1].index):
            for entry in todo:
                if entry.command:
                    scrubbed = self.scrub.apply(entry.index, entry.command, self.store) if self.scrub else None
                    results[entry.index] = scrubbed if scrubbed is not None else self._apply_one(entry.command)
        return results

    def _apply_one(self, command_bytes: bytes) -> dict[str, Any]:
        try:
            command = json.loads(command_bytes)
            partition_hash = int(command["hash"])
            key = base64.b64decode(command["key"])
            condition = ConditionSource.from_json(command["condition"]) if command.get("condition") else None
            current_json = self.store.get(partition_hash, key)
            current = json.loads(current_json) if current_json is not None else None
            if command["op"] == "put":
                outcome = apply_put(command["item"], condition, current)
            elif command["op"] == "delete":
                outcome = apply_delete(condition, current)
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
        return {"status": "ok", "old": current if command.get("return_old") else None}

    def get(self, partition_hash: int, key: bytes) -> dict | None:
        item_json = self.store.get(partition_hash, key)
        return json.loads(item_json) if item_json is not None else None

    def scan(self, after: tuple[int, bytes] | None, limit: int) -> list[tuple[int, bytes, dict]]:
        return [(h, k, json.loads(item)) for h, k, item in self.store.scan(after, limit)]

    def close(self) -> None:
        self.store.close()
