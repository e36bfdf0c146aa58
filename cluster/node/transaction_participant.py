"""A partition's side of a transaction: prepared items are locked until the coordinator's decision.

Applied inside the state machine's apply transaction, identically on every replica. A prepare votes:
"ok" (locked; a write's new item is computed now and kept in the lock), "txn_conflict" (another
transaction holds the item: any lock for a write, a write lock for a read), "condition_failed" or
"invalid". A commit writes what the lock holds and drops it; a release drops it. Both are idempotent, so
a coordinator and a janitor (cluster/node/transaction_janitor.py) may both send them. Plain writes to a
locked item answer "txn_conflict" (TransactionConflictException): never lost, never reordered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from cluster.api.attribute_values import item_size_bytes
from cluster.api.errors import ApiError
from cluster.api.item_writes import apply_delete, apply_put, apply_update
from cluster.api.secondary_indexes import IndexSpec, check_index_keys
from cluster.api.transaction_commands import (
    DELETE,
    PUT,
    READ,
    UPDATE,
    TxnFinishCommand,
    TxnPrepareCommand,
)
from cluster.storage.item_store import ItemStore

CONFLICT = {"status": "txn_conflict"}
# The write would grow its item collection past the limit (cluster/api/item_collections.py).
COLLECTION_TOO_LARGE = {"status": "collection_too_large"}


def item_is_locked(store: ItemStore, partition_hash: int, key: bytes) -> bool:
    return bool(store.locks_on(partition_hash, key))  # no query at all while the store holds no lock


def apply_prepare(
    store: ItemStore,
    command: TxnPrepareCommand,
    index_specs: Sequence[IndexSpec] = (),
    collection_fits: Callable[[int, int, int], bool] = lambda partition_hash, old_size, new_size: True,
) -> dict[str, Any]:
    """`index_specs`: the table's GSIs, whose key types an update's new item must respect, as a plain
    UpdateItem's must (a put's item was checked by the router already). `collection_fits(hash, old size,
    new size)`: whether the item's collection may grow so (a table with LSIs)."""
    locks = store.locks_on(command.partition_hash, command.key)
    again = any(txn == command.txn for txn, _ in locks)
    if not again and locks and (command.kind != READ or any(kind != READ for _, kind in locks)):
        return CONFLICT
    stored = store.get_sized(command.partition_hash, command.key)
    current = json.loads(stored[0]) if stored is not None else None
    if again:
        # A retried proposal of a prepare that locked already: the item is as that one saw it.
        return {"status": "ok", "again": True, **({"item": current} if command.kind == READ else {})}
    current_size = stored[1] if stored is not None and stored[1] is not None else item_size_bytes(current or {})
    try:
        match command.kind:
            case "put":
                if command.item is None:
                    return {"status": "invalid", "message": "a transaction's put carries no item"}
                outcome = apply_put(command.item, command.condition, current)
            case "update":
                outcome = apply_update(command.update, command.condition, current, command.key_item, current_size)
            case _:  # delete, check, read: the condition (if any) on the item as it is
                outcome = apply_delete(command.condition, current)
        if command.kind == UPDATE and outcome.new_item is not None and not outcome.condition_failed:
            check_index_keys(outcome.new_item, (*index_specs, *command.local_indexes))
    except ApiError as error:
        return {"status": "invalid", "message": error.message}
    if outcome.condition_failed:
        return {"status": "condition_failed", "old": current}
    new_json, new_size = None, 0
    if command.kind in (PUT, UPDATE) and outcome.new_item is not None:
        new_json = json.dumps(outcome.new_item, separators=(",", ":"))
        new_size = outcome.new_size if outcome.new_size is not None else item_size_bytes(outcome.new_item)
        if not collection_fits(command.partition_hash, current_size if current is not None else 0, new_size):
            return COLLECTION_TOO_LARGE
    kind = command.kind
    if command.kind == UPDATE and outcome.new_item is None:
        kind = DELETE  # an update that only removes, of an absent item: it stays absent
    store.add_lock(command.partition_hash, command.key, command.txn, kind, new_json, new_size)
    answer: dict[str, Any] = {"status": "ok", "write_bytes": max(current_size, new_size)}
    if command.kind == READ:
        answer["item"] = current
    return answer


def apply_finish(store: ItemStore, command: TxnFinishCommand) -> dict[str, Any]:
    lock = store.lock_of(command.partition_hash, command.key, command.txn)
    if lock is None:
        return {"status": "ok", "applied": False}
    kind, item_json, size = lock
    if command.commit:
        if kind in (PUT, UPDATE) and item_json is not None:
            store.put(command.partition_hash, command.key, item_json, size)
        elif kind == DELETE:
            store.delete(command.partition_hash, command.key)
        # CHECK and READ write nothing
    store.remove_lock(command.partition_hash, command.key, command.txn)
    answer: dict[str, Any] = {"status": "ok", "applied": True}
    collection_bytes = store.collection_bytes(command.partition_hash) if command.commit else None
    if collection_bytes is not None:  # a table with LSIs: for ReturnItemCollectionMetrics
        answer["collection_bytes"] = collection_bytes
    return answer
