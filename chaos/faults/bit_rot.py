"""bit-rot: silent corruption of data at rest on one storage node, for a scrub to find.

A flipped byte in a write-ahead log is loud by design (its checksum makes the replica refuse to
start). The dangerous case is a byte that rots in the materialised state: the replica starts, and
serves a wrong value to every eventually consistent read. This fault models that: with the node
powered off, it changes one character of the stored JSON of a few items in the replicas' SQLite
files, keeping the JSON valid and the item a valid DynamoDB item (a digit of an "N" value, a letter
or digit of an "S" value), so nothing but a comparison of replicas can tell. Heal powers the node on;
the data stays corrupted, because repairing it is the scrub's job (cluster/scrub/: it finds every rotten
item and repairs it from a healthy replica; gameday/checks/scrub.py matches the "corrupted" records this
fault reports against the scrub's findings).

Which items rot follows from a seed derived from the target (and its optional "seed"), so a replay
of the same schedule on the same data corrupts the same items in the same way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import sqlite3
import string
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.process_faults import _power_off, _PoweredOffProcesses
from cluster.api.attribute_values import KeySchema, canonical_number, encode_key
from cluster.storage.item_store import ItemStore

DEFAULT_ITEMS = 1
# Bounds the walk over a node's items when most of them have nothing corruptible (key-only items).
MAX_ITEMS_EXAMINED = 10_000
ITEMS_FILE_NAME = "items.sqlite"
_DIGITS = string.digits
_STRING_CHARACTERS = string.ascii_letters + string.digits
# Same encoding the partition state machine writes, so a re-encoded item differs only where we changed it.
_SEPARATORS = (",", ":")


@dataclass(frozen=True)
class ItemCorruption:
    attribute: str
    type_name: str  # "S" or "N"
    old_value: str
    new_value: str
    new_item_json: str


def _key_attributes(item: Mapping[str, Any], key: bytes) -> set[str]:
    """Attributes that may be part of the item's primary key: the node does not know the key schema,
    so an attribute whose encoding starts or ends the stored key bytes is left alone (changing a key
    attribute would make a different item, not a rotten one)."""
    names: set[str] = set()
    for name, value in item.items():
        if not isinstance(value, dict) or len(value) != 1:
            continue
        type_name = next(iter(value))
        if type_name not in ("S", "N", "B"):
            continue
        try:
            encoded = encode_key({name: value}, KeySchema(name, type_name))
        except (ValueError, TypeError, KeyError, ArithmeticError):
            continue
        if key.startswith(encoded) or key.endswith(encoded):
            names.add(name)
    return names


def _changed_number(old: str, rng: random.Random) -> str | None:
    """One digit of a canonical number replaced so the result is still canonical and different."""
    positions = [index for index, character in enumerate(old) if character in _DIGITS]
    rng.shuffle(positions)
    for position in positions:
        replacements = [digit for digit in _DIGITS if digit != old[position]]
        rng.shuffle(replacements)
        for digit in replacements:
            candidate = old[:position] + digit + old[position + 1:]
            try:
                # Canonical: no new leading or trailing zero, so the number reads back exactly as stored.
                if canonical_number(candidate) == candidate:
                    return candidate
            except ValueError:
                continue
    return None


def _changed_string(old: str, rng: random.Random) -> str | None:
    """One ASCII letter or digit replaced by another: one character in the value and in the JSON text."""
    positions = [index for index, character in enumerate(old) if character in _STRING_CHARACTERS]
    if not positions:
        return None
    position = rng.choice(positions)
    replacement = rng.choice([character for character in _STRING_CHARACTERS if character != old[position]])
    return old[:position] + replacement + old[position + 1:]


def corrupt_item_json(item_json: str, key: bytes, rng: random.Random) -> ItemCorruption | None:
    """The item with one character of one non-key S or N value changed, or None when it has none.

    The returned JSON differs from `item_json` in exactly one character (checked, not assumed: an item
    whose stored text does not re-encode identically is skipped rather than rewritten wholesale).
    """
    try:
        item = json.loads(item_json)
    except ValueError:
        return None
    if not isinstance(item, dict) or json.dumps(item, separators=_SEPARATORS) != item_json:
        return None
    keys = _key_attributes(item, key)
    candidates = sorted(
        name for name, value in item.items()
        if name not in keys and isinstance(value, dict) and len(value) == 1
        and next(iter(value)) in ("S", "N") and isinstance(next(iter(value.values())), str)
    )
    rng.shuffle(candidates)
    for name in candidates:
        type_name, old_value = next(iter(item[name].items()))
        new_value = _changed_number(old_value, rng) if type_name == "N" else _changed_string(old_value, rng)
        if new_value is None:
            continue
        changed = dict(item)
        changed[name] = {type_name: new_value}
        new_item_json = json.dumps(changed, separators=_SEPARATORS)
        differing = sum(1 for a, b in zip(item_json, new_item_json, strict=False) if a != b)
        if len(new_item_json) == len(item_json) and differing == 1:
            return ItemCorruption(name, type_name, old_value, new_value, new_item_json)
    return None


def seed_of(target: Mapping[str, Any]) -> int:
    """A stable seed from the target (never Python's salted hash()): the same plan rots the same items."""
    return zlib.crc32(json.dumps(dict(target), sort_keys=True, default=str).encode())


def item_files(process_dir: Path) -> list[tuple[str, Path]]:
    """(group, items.sqlite) of every replica a node's data directory holds, in group order."""
    groups_dir = process_dir / "groups"
    if not groups_dir.is_dir():
        return []
    return [
        (path.parent.parent.name, path)
        for path in sorted(groups_dir.glob(f"*/state/{ITEMS_FILE_NAME}"))
        if not path.parent.parent.name.startswith(".")  # a group being deleted or discarded
    ]


def count_items(path: Path) -> int:
    """Items in one replica's file, read-only: safe while the node still runs (SQLite in WAL mode)."""
    try:
        # closing(): a connection's own context manager only ends a transaction, it never closes.
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
            return int(database.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def _all_keys(store: ItemStore) -> list[tuple[int, bytes]]:
    keys: list[tuple[int, bytes]] = []
    after: tuple[int, bytes] | None = None
    while True:
        page = store.scan(after, 1000)
        keys.extend((partition_hash, key) for partition_hash, key, _ in page)
        if len(page) < 1000:
            return keys
        after = (page[-1][0], page[-1][1])


def corrupt_node_items(process_dir: Path, wanted: int, rng: random.Random) -> list[dict[str, Any]]:
    """Rots up to `wanted` items among a stopped node's replicas; returns exactly what changed."""
    stores = {group: ItemStore(path) for group, path in item_files(process_dir)}
    try:
        candidates = [(group, h, k) for group, store in stores.items() for h, k in _all_keys(store)]
        rng.shuffle(candidates)
        corrupted: list[dict[str, Any]] = []
        for group, partition_hash, key in candidates[:MAX_ITEMS_EXAMINED]:
            if len(corrupted) >= wanted:
                break
            store = stores[group]
            stored = store.get_sized(partition_hash, key)
            if stored is None:
                continue
            item_json, size = stored
            corruption = corrupt_item_json(item_json, key, rng)
            if corruption is None:
                continue
            # Outside a transaction on purpose: the applied index must not move, as rot would not move it. The
            # recorded size stays: rot changes the item's bytes, not the replicated bookkeeping beside them
            # (an LSI table's collection sizes must stay equal on every replica).
            store.put(partition_hash, key, corruption.new_item_json, size)
            corrupted.append({
                "group": group,
                "file": str(store.path),
                "hash": partition_hash,
                "key": base64.b64encode(key).decode(),
                "attribute": corruption.attribute,
                "type": corruption.type_name,
                "old": corruption.old_value,
                "new": corruption.new_value,
            })
        return corrupted
    finally:
        for store in stores.values():
            store.close()


class BitRot(_PoweredOffProcesses):
    """Power off one node, rot items of its replicas at rest; heal powers it on, still corrupted."""

    kind = "bit-rot"

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_id = self.target["process_id"]
        data_dir = getattr(context.cluster, "data_dir", None)
        if not isinstance(data_dir, Path):
            raise FaultNotApplicable("bit-rot needs a backend whose nodes keep their data on this machine")
        process_dir = data_dir / "processes" / process_id
        wanted = int(self.target.get("items", DEFAULT_ITEMS))
        if wanted < 1:
            raise ValueError(f"bit-rot items must be at least 1, got {wanted}")
        if not context.cluster.is_running(process_id):
            raise FaultNotApplicable(f"{process_id} is not running")
        # Checked before the power-off, so a skip does not restart a node for nothing.
        if not any(count_items(path) for _, path in item_files(process_dir)):
            raise FaultNotApplicable(f"{process_id} holds no items yet: nothing to rot")
        self.powered_off = _power_off(context, [process_id])
        if not self.powered_off:
            raise FaultNotApplicable(f"{process_id} is not running")
        if context.cluster.is_running(process_id):
            raise FaultNotApplicable(f"{process_id} did not stop: its files cannot be changed under it")
        corrupted = corrupt_node_items(process_dir, wanted, random.Random(seed_of(self.target)))
        if not corrupted:
            self.heal(context)  # a skipped fault leaves the cluster as it found it
            raise FaultNotApplicable(f"{process_id} holds no item with a non-key S or N value to rot")
        return {
            "process_ids": [process_id],
            "pids": dict(self.powered_off),
            "az": self.target.get("az"),
            "seed": seed_of(self.target),
            "corrupted": corrupted,
        }

    def heal(self, context: FaultContext) -> dict[str, Any]:
        result = super().heal(context)
        if result.get("healed") is not False:
            result["data"] = "left corrupted: finding and repairing rotten items is the scrub's job"
        return result


def bit_rot(target: Mapping[str, Any]) -> BitRot:
    return BitRot(target)
