"""The item commands a router proposes to a partition's log and every replica applies: typed here, JSON in
the log. The JSON shape is the WAL's (and the WAL archive's) format, so it must not change.

The router builds them and the node applies them; both import this module, neither imports the other.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cluster.api.requests import ConditionSource, UpdateSource
from cluster.api.secondary_indexes import IndexSpec

Item = dict[str, Any]


def _key_text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def local_indexes_json(specs: tuple[IndexSpec, ...]) -> dict[str, Any]:
    return {"local_indexes": [spec.to_json() for spec in specs]} if specs else {}


def local_indexes_of(decoded: dict[str, Any]) -> tuple[IndexSpec, ...]:
    return tuple(IndexSpec.from_json(spec) for spec in decoded.get("local_indexes") or ())


@dataclass(frozen=True)
class PutCommand:
    partition_hash: int
    key: bytes
    item: Item
    condition: ConditionSource | None = None
    return_old: bool = False
    local_indexes: tuple[IndexSpec, ...] = ()  # the table's LSIs, as UpdateCommand's

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "put",
            "hash": self.partition_hash,
            "key": _key_text(self.key),
            "item": self.item,
            "condition": self.condition.to_json() if self.condition else None,
            "return_old": self.return_old,
            **local_indexes_json(self.local_indexes),
        }


@dataclass(frozen=True)
class DeleteCommand:
    partition_hash: int
    key: bytes
    condition: ConditionSource | None = None
    return_old: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "delete",
            "hash": self.partition_hash,
            "key": _key_text(self.key),
            "condition": self.condition.to_json() if self.condition else None,
            "return_old": self.return_old,
        }


@dataclass(frozen=True)
class UpdateCommand:
    partition_hash: int
    key: bytes
    key_item: Item  # the key's attributes: an update that creates the item starts from them
    update: UpdateSource | None = None
    condition: ConditionSource | None = None
    return_values: str = "NONE"
    # The table's local secondary indexes: the updated item must respect their key types (the partition
    # learns only its GSIs), and the partition keeps their order. Absent from the JSON when there are none,
    # as in entries written before LSIs.
    local_indexes: tuple[IndexSpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "update",
            "hash": self.partition_hash,
            "key": _key_text(self.key),
            "key_item": self.key_item,
            "update": self.update.to_json() if self.update else None,
            "condition": self.condition.to_json() if self.condition else None,
            "return_values": self.return_values,
            **local_indexes_json(self.local_indexes),
        }


@dataclass(frozen=True)
class LocatedWrite:
    """One of a BatchWriteItem's puts (`item`) or deletes (`item` is None)."""

    partition_hash: int
    key: bytes
    item: Item | None


@dataclass(frozen=True)
class BatchCommand:
    """BatchWriteItem's puts and deletes for one partition, applied together in one log entry."""

    writes: tuple[LocatedWrite, ...]
    local_indexes: tuple[IndexSpec, ...] = ()  # the table's LSIs, as UpdateCommand's

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "batch",
            "writes": [
                {"hash": write.partition_hash, "key": _key_text(write.key), "item": write.item}
                for write in self.writes
            ],
            **local_indexes_json(self.local_indexes),
        }


ItemCommand = PutCommand | DeleteCommand | UpdateCommand | BatchCommand


def encode_command(command: ItemCommand) -> bytes:
    return json.dumps(command.to_json(), separators=(",", ":")).encode()


def _condition(decoded: dict[str, Any]) -> ConditionSource | None:
    return ConditionSource.from_json(decoded["condition"]) if decoded.get("condition") else None


def decode_item_command(decoded: dict[str, Any]) -> ItemCommand:
    """The typed command of a JSON-decoded log entry. Raises KeyError, TypeError or ValueError on a
    malformed or unknown one (the state machine answers those as invalid, identically on every replica)."""
    op = decoded["op"]
    if op == "batch":
        return BatchCommand(
            tuple(
                LocatedWrite(int(write["hash"]), base64.b64decode(write["key"]), write.get("item"))
                for write in decoded["writes"]
            ),
            local_indexes_of(decoded),
        )
    partition_hash = int(decoded["hash"])
    key = base64.b64decode(decoded["key"])
    if op == "put":
        return PutCommand(
            partition_hash, key, decoded["item"], _condition(decoded), bool(decoded.get("return_old")),
            local_indexes_of(decoded),
        )  # fmt: skip
    if op == "delete":
        return DeleteCommand(partition_hash, key, _condition(decoded), bool(decoded.get("return_old")))
    if op == "update":
        update = UpdateSource.from_json(decoded["update"]) if decoded.get("update") else None
        return UpdateCommand(
            partition_hash, key, decoded["key_item"], update, _condition(decoded), str(decoded["return_values"]),
            local_indexes_of(decoded),
        )  # fmt: skip
    raise ValueError(f"unknown command {op!r}")
