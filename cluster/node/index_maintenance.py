"""A partition's part in keeping global secondary indexes, applied alike on every replica.

A base partition learns its table's GSIs from a replicated `index_specs` entry (the leader proposes it from
the catalogue). From that log index on, every write that changes an item records, in the same transaction,
what it changes in each index: the entry to remove (an index key the item left) and the entry to write (the
item's projection under its index key). Those rows wait in the store's outbox, numbered in log order,
until the propagator (cluster/node/index_propagator.py) has delivered them and proposes `index_trim`.

An index partition applies a delivered batch (`index_apply`) only past the highest number it already took
from that source partition, so a batch delivered twice (a lost acknowledgement, a new leader starting over
from the outbox) changes nothing the second time, and entries never step back to an older value.

A GSI the `index_specs` entry adds to a partition that already holds items (UpdateTable) is backfilled:
from that entry on, writes record their changes for it like for the others, and `index_backfill` entries
(the propagator proposes them one after another) each record the entries of the next items in key order,
from a cursor every replica keeps, until the scan reaches the end. Each backfill entry records an item's
value as of its own log index, so a write before or after it wins by log order, as any write does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import Item, item_size_bytes
from cluster.api.index_entries import IndexedTable, entry_hash, entry_key
from cluster.storage.item_store import ItemStore

SPECS_OP = "index_specs"
APPLY_OP = "index_apply"
TRIM_OP = "index_trim"
BACKFILL_OP = "index_backfill"
INDEX_OPS = (SPECS_OP, APPLY_OP, TRIM_OP, BACKFILL_OP)
_SPECS_NOTE = "index_specs"
_SOURCE_NOTE = "index_source:"
# A GSI still to backfill: the (hash, key) its scan has passed ("" before the first item).
_BACKFILL_CURSOR_NOTE = "index_backfill_cursor:"
# A GSI backfilled: the log index of the backfill entry that finished it.
_BACKFILLED_NOTE = "index_backfilled:"
BACKFILL_ITEMS_PER_ENTRY = 500  # one change per item, well under SEQ_STRIDE
# Outbox numbers are log index * SEQ_STRIDE + the change's place in its entry: unique, in log order, and the
# same on every replica. An entry changes at most 100 items (a transaction's), each in 20 GSIs, twice.
SEQ_STRIDE = 4096


@dataclass(frozen=True)
class IndexChange:
    index_name: str
    partition_hash: int  # of the index key
    key: bytes  # entry_key
    item: Item | None  # the projected entry; None: remove it


def index_changes(table: IndexedTable, base_key: bytes, old: Item | None, new: Item | None) -> list[IndexChange]:
    """What replacing `old` by `new` (None: absent) under the table key `base_key` changes in each GSI."""
    changes: list[IndexChange] = []
    for spec in table.specs:
        old_key = spec.index_key(old) if old is not None else None
        new_key = spec.index_key(new) if new is not None else None
        if old_key is not None and old_key != new_key:
            changes.append(IndexChange(
                spec.name, entry_hash(old_key, spec.key_schema), entry_key(old_key, spec.key_schema, base_key), None
            ))  # fmt: skip
        if new_key is None:
            continue
        assert new is not None
        projected = spec.project(new, table.table_schema)
        if old_key == new_key and old is not None and spec.project(old, table.table_schema) == projected:
            continue  # the entry stays as it is (e.g. a KEYS_ONLY index and a change to another attribute)
        changes.append(IndexChange(
            spec.name, entry_hash(new_key, spec.key_schema), entry_key(new_key, spec.key_schema, base_key), projected
        ))  # fmt: skip
    return changes


class IndexMaintenance:
    """One partition's replicated index state: its table's GSIs (a base partition) and the outbox; the
    numbers taken from each source (an index partition)."""

    def __init__(self, store: ItemStore) -> None:
        self.store = store
        self.table: IndexedTable | None = None
        self.reload()

    def reload(self) -> None:
        note = self.store.get_note(_SPECS_NOTE)
        table = IndexedTable.from_json(json.loads(note)) if note else None
        self.table = table if table is not None and table.specs else None

    def record(self, log_index: int, changes_made: int, base_key: bytes, old: Item | None, new: Item | None) -> int:
        """Records what a write changes in the GSIs; returns the changes recorded so far in this entry."""
        if self.table is None or old == new:
            return changes_made
        return _record_changes(self.store, self.table, log_index, changes_made, base_key, old, new)

    def apply(self, command: dict[str, Any], log_index: int = 0) -> dict[str, Any]:
        op = command["op"]
        if op == SPECS_OP:
            return self._apply_specs(IndexedTable.from_json(command["table"]))
        if op == BACKFILL_OP:
            return self._apply_backfill(str(command["index"]), command.get("after"), int(command["limit"]), log_index)
        if op == TRIM_OP:
            return {"status": "ok", "trimmed": self.store.outbox_trim(int(command["through"]))}
        return self._apply_delivery(str(command["source"]), int(command["through"]), command["changes"])

    def _apply_specs(self, table: IndexedTable) -> dict[str, Any]:
        before = {spec.name for spec in self.table.specs} if self.table is not None else set()
        after = {spec.name for spec in table.specs}
        # An empty partition (a table just created with its GSIs) has nothing to backfill: no entry for it.
        added = sorted(after - before) if self.store.scan(None, 1) else []
        for name in added:
            self.store.set_note(_BACKFILL_CURSOR_NOTE + name, "")
        for name in sorted(before - after):  # deleted: a later index of that name starts over
            self.store.delete_note(_BACKFILL_CURSOR_NOTE + name)
            self.store.delete_note(_BACKFILLED_NOTE + name)
        self.store.set_note(_SPECS_NOTE, json.dumps(table.to_json(), sort_keys=True))
        self.reload()
        return {"status": "ok", "backfills": added}

    def backfill_cursor(self, name: str) -> list[Any] | None:
        """Where the backfill of GSI `name` goes on ([hash, key hex], or [] at the start); None: not pending."""
        note = self.store.get_note(_BACKFILL_CURSOR_NOTE + name)
        if note is None:
            return None
        return json.loads(note) if note else []

    def pending_backfills(self) -> dict[str, list[Any]]:
        if self.table is None:
            return {}
        cursors = {spec.name: self.backfill_cursor(spec.name) for spec in self.table.specs}
        return {name: cursor for name, cursor in cursors.items() if cursor is not None}

    def backfilled_at(self, name: str) -> int | None:
        """The log index that finished GSI `name`'s backfill; None for one never backfilled here (a GSI the
        partition had from its start needs none, and one pending has not finished)."""
        note = self.store.get_note(_BACKFILLED_NOTE + name)
        return int(note) if note else None

    def _apply_backfill(self, name: str, after: Any, limit: int, log_index: int) -> dict[str, Any]:
        cursor = self.backfill_cursor(name)
        if cursor is None or (after or []) != cursor or self.table is None:
            return {"status": "stale"}  # proposed twice, or the index is gone: every replica skips it alike
        spec = next(spec for spec in self.table.specs if spec.name == name)
        only = IndexedTable(self.table.table_schema, (spec,))
        start = (int(cursor[0]), bytes.fromhex(cursor[1])) if cursor else None
        rows = self.store.scan(start, min(limit, BACKFILL_ITEMS_PER_ENTRY))
        recorded = 0
        for _, key, item_json in rows:
            recorded = _record_changes(self.store, only, log_index, recorded, key, None, json.loads(item_json))
        if len(rows) < min(limit, BACKFILL_ITEMS_PER_ENTRY):
            self.store.delete_note(_BACKFILL_CURSOR_NOTE + name)
            self.store.set_note(_BACKFILLED_NOTE + name, str(log_index))
            return {"status": "ok", "items": len(rows), "done": True}
        last_hash, last_key, _ = rows[-1]
        self.store.set_note(_BACKFILL_CURSOR_NOTE + name, json.dumps([last_hash, last_key.hex()]))
        return {"status": "ok", "items": len(rows), "done": False}

    def _apply_delivery(self, source: str, through: int, changes: list[list[Any]]) -> dict[str, Any]:
        taken = self.source_mark(source)
        applied = 0
        for seq, partition_hash, key_text, item_json, size in changes:
            if int(seq) <= taken:
                continue  # delivered before
            key = bytes.fromhex(key_text)
            if item_json is None:
                self.store.delete(int(partition_hash), key)
            else:
                self.store.put(int(partition_hash), key, str(item_json), None if size is None else int(size))
            applied += 1
        if through > taken:
            self.store.set_note(_SOURCE_NOTE + source, str(through))
        return {"status": "ok", "applied": applied}

    def source_mark(self, source: str) -> int:
        """The highest outbox number this index partition took from `source`."""
        note = self.store.get_note(_SOURCE_NOTE + source)
        return int(note) if note else -1


def _record_changes(
    store: ItemStore, table: IndexedTable, log_index: int, changes_made: int, base_key: bytes,
    old: Item | None, new: Item | None,
) -> int:
    for change in index_changes(table, base_key, old, new):
        if changes_made >= SEQ_STRIDE:
            raise ValueError(f"one log entry changed more than {SEQ_STRIDE} index entries")
        item_json = None if change.item is None else json.dumps(change.item, separators=(",", ":"))
        size = None if change.item is None else item_size_bytes(change.item)
        store.outbox_add(log_index * SEQ_STRIDE + changes_made, change.index_name, change.partition_hash,
                         change.key, item_json, size)  # fmt: skip
        changes_made += 1
    return changes_made


def encode_backfill(index_name: str, after: list[Any], limit: int = BACKFILL_ITEMS_PER_ENTRY) -> bytes:
    return json.dumps({"op": BACKFILL_OP, "index": index_name, "after": after or None, "limit": limit},
                      separators=(",", ":")).encode()  # fmt: skip


def encode_specs(table: IndexedTable) -> bytes:
    return json.dumps({"op": SPECS_OP, "table": table.to_json()}, separators=(",", ":")).encode()


def encode_trim(through: int) -> bytes:
    return json.dumps({"op": TRIM_OP, "through": through}, separators=(",", ":")).encode()


def encode_delivery(source: str, through: int, rows: list[tuple[int, int, bytes, str | None, int | None]]) -> bytes:
    """One index partition's share of a base partition's outbox up to `through`: (seq, hash, key, item, size)."""
    changes = [[seq, partition_hash, key.hex(), item, size] for seq, partition_hash, key, item, size in rows]
    return json.dumps({"op": APPLY_OP, "source": source, "through": through, "changes": changes},
                      separators=(",", ":")).encode()  # fmt: skip
