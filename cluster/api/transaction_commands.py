"""The log commands of a transaction on one item: prepare (lock it and vote), then commit or release.

A coordinator (cluster/router/transactions.py) proposes one prepare per item to the item's partition,
then, after the ledger recorded its decision, a commit or a release to each; every replica applies them
alike (cluster/node/transaction_participant.py). JSON in the log, like the item commands.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cluster.api.item_commands import local_indexes_json, local_indexes_of
from cluster.api.request_types import ConditionSource, UpdateSource
from cluster.api.secondary_indexes import IndexSpec

Item = dict[str, Any]

PUT, UPDATE, DELETE, CHECK, READ = "put", "update", "delete", "check", "read"
PREPARE_KINDS = (PUT, UPDATE, DELETE, CHECK, READ)
# What TransactWriteItems' members become.
KIND_OF_WRITE = {"Put": PUT, "Update": UPDATE, "Delete": DELETE, "ConditionCheck": CHECK}
TXN_OPS = ("txn_prepare", "txn_commit", "txn_release")


@dataclass(frozen=True)
class TxnPrepareCommand:
    """Lock one item for transaction `txn` if no conflicting lock holds it and the condition holds; a
    write's new item is computed now and kept in the lock until the commit writes it."""

    txn: str
    kind: str
    partition_hash: int
    key: bytes
    key_item: Item  # an update that creates the item starts from its key
    item: Item | None = None  # put
    update: UpdateSource | None = None  # update
    condition: ConditionSource | None = None
    local_indexes: tuple[IndexSpec, ...] = ()  # a put's or an update's: as UpdateCommand's

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "txn_prepare",
            "txn": self.txn,
            "kind": self.kind,
            "hash": self.partition_hash,
            "key": base64.b64encode(self.key).decode(),
            "key_item": self.key_item,
            "item": self.item,
            "update": self.update.to_json() if self.update else None,
            "condition": self.condition.to_json() if self.condition else None,
            **local_indexes_json(self.local_indexes),
        }


@dataclass(frozen=True)
class TxnFinishCommand:
    """Commit (write the locked item's new value) or release one item's lock of transaction `txn`.
    Idempotent: without that lock it changes nothing."""

    txn: str
    partition_hash: int
    key: bytes
    commit: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "txn_commit" if self.commit else "txn_release",
            "txn": self.txn,
            "hash": self.partition_hash,
            "key": base64.b64encode(self.key).decode(),
        }


TxnCommand = TxnPrepareCommand | TxnFinishCommand


def encode_txn_command(command: TxnCommand) -> bytes:
    return json.dumps(command.to_json(), separators=(",", ":")).encode()


def decode_txn_command(decoded: dict[str, Any]) -> TxnCommand:
    """Raises KeyError, TypeError or ValueError on a malformed command (answered as invalid alike everywhere)."""
    op = decoded["op"]
    txn = str(decoded["txn"])
    partition_hash = int(decoded["hash"])
    key = base64.b64decode(decoded["key"])
    if op in ("txn_commit", "txn_release"):
        return TxnFinishCommand(txn, partition_hash, key, op == "txn_commit")
    if op != "txn_prepare":
        raise ValueError(f"unknown command {op!r}")
    kind = str(decoded["kind"])
    if kind not in PREPARE_KINDS:
        raise ValueError(f"unknown prepare kind {kind!r}")
    return TxnPrepareCommand(
        txn,
        kind,
        partition_hash,
        key,
        dict(decoded["key_item"]),
        decoded.get("item"),
        UpdateSource.from_json(decoded["update"]) if decoded.get("update") else None,
        ConditionSource.from_json(decoded["condition"]) if decoded.get("condition") else None,
        local_indexes_of(decoded),
    )
