"""The split side of a partition's state machine: fences, loads and drops, applied alike on every replica.

A parent fences the range it hands to its child (`split_fence`): from that log index on, its writes
there answer "moved" and the range stays frozen, so the items the split driver copies (`split_load`,
into the child) are exactly the parent's at the fence. After the catalogue made the child routable the
parent deletes its copies (`split_drop`); the fence stays, so a late request still learns it moved.
A child seals itself with its last load: a load arriving later (a replaced driver still running) is
refused, so it can never overwrite writes the child accepted once routable.

The state lives in the item store's notes, written in the same transaction as the entry that changed it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any

from cluster.api.attribute_values import item_size_bytes
from cluster.storage.item_store import ItemStore

HASH_SPACE = 1 << 64
_NOTE = "splits"


@dataclass
class MovedRange:
    hash_from: int  # inclusive
    hash_to: int  # exclusive
    child: str
    fenced_at: int  # log index of the fence
    dropped: bool = False


class SplitState:
    def __init__(self, store: ItemStore) -> None:
        self.store = store
        self.moved: list[MovedRange] = []
        self.sealed = False
        self.reload()

    def reload(self) -> None:
        """Reads the persisted state (also after a rolled-back transaction left memory ahead of disk)."""
        note = self.store.get_note(_NOTE)
        data = json.loads(note) if note else {}
        self.moved = [MovedRange(**moved) for moved in data.get("moved", [])]
        self.sealed = bool(data.get("sealed", False))

    def _save(self) -> None:
        self.store.set_note(
            _NOTE, json.dumps({"moved": [asdict(m) for m in self.moved], "sealed": self.sealed}, sort_keys=True)
        )

    # ---- queries ------------------------------------------------------------------------------

    def moved_child(self, partition_hash: int) -> str | None:
        for moved in self.moved:
            if moved.hash_from <= partition_hash < moved.hash_to:
                return moved.child
        return None

    def moved_overlapping(self, hash_start: int, hash_end: int) -> MovedRange | None:
        return next((m for m in self.moved if m.hash_from < hash_end and hash_start < m.hash_to), None)

    def fence(self, hash_from: int, hash_to: int) -> MovedRange | None:
        return next((m for m in self.moved if (m.hash_from, m.hash_to) == (hash_from, hash_to)), None)

    def excluded_ranges(self) -> list[tuple[int, int]]:
        return [(m.hash_from, m.hash_to) for m in self.moved]

    # ---- commands -----------------------------------------------------------------------------

    def apply(self, index: int, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "split_fence":
            return self._fence(index, int(command["hash_from"]), int(command["hash_to"]), str(command["child"]))
        if op == "split_load":
            return self._load(command["items"], bool(command.get("last")))
        if op == "split_drop":
            return self._drop(int(command["hash_from"]), int(command["hash_to"]))
        return {"status": "invalid", "message": f"unknown command {op!r}"}

    def _fence(self, index: int, hash_from: int, hash_to: int, child: str) -> dict[str, Any]:
        existing = self.fence(hash_from, hash_to)
        if existing is not None:
            return {"status": "ok", "fenced_at": existing.fenced_at, "child": existing.child}
        if not 0 <= hash_from < hash_to <= HASH_SPACE:
            return {"status": "invalid", "message": f"bad split range [{hash_from}, {hash_to})"}
        if self.moved_overlapping(hash_from, hash_to) is not None:
            return {"status": "invalid", "message": f"range [{hash_from}, {hash_to}) overlaps a moved range"}
        if self.store.locks_in_range(hash_from, hash_to):
            # Locks stay with the parent's items, which the split copies without them: the fence waits
            # until the transactions holding them are decided (the driver tries again).
            return {"status": "busy", "message": "prepared transactions hold items of the range"}
        self.moved.append(MovedRange(hash_from, hash_to, child, index))
        self._save()
        return {"status": "ok", "fenced_at": index, "child": child}

    def _load(self, items: list[list[Any]], last: bool) -> dict[str, Any]:
        if self.sealed:
            return {"status": "sealed"}
        rows = [(int(h), base64.b64decode(k), item) for h, k, item in items]
        for partition_hash, key, item in rows:
            # Sized as the parent's writes sized it: a table with LSIs counts its collections by these sizes.
            self.store.put(partition_hash, key, json.dumps(item, separators=(",", ":")), item_size_bytes(item))
        if last:
            self.sealed = True
            self._save()
        return {"status": "ok", "loaded": len(rows), "sealed": self.sealed}

    def _drop(self, hash_from: int, hash_to: int) -> dict[str, Any]:
        moved = self.fence(hash_from, hash_to)
        if moved is None:
            return {"status": "invalid", "message": f"no fence for [{hash_from}, {hash_to})"}
        if moved.dropped:
            return {"status": "ok", "dropped": 0}
        dropped = self.store.delete_range(hash_from, hash_to)
        moved.dropped = True
        self._save()
        return {"status": "ok", "dropped": dropped}


def encode_split_command(op: str, **fields: Any) -> bytes:
    return json.dumps({"op": op, **fields}, separators=(",", ":")).encode()
