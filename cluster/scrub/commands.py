"""Scrub commands that travel through a group's log, and how a replica applies them.

A marker pins one log index: every replica digests its applied state when it applies the marker, so
the digests compare like with like whatever else the replicas are doing. A repair names its target
replica; only that replica changes anything, and only items still exactly as rotten as they were at
the marker (a write since then already replaced them, and the next round checks again). That keeps
applying deterministic: every replica computes the same effects from the same entries.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import item_size_bytes
from cluster.scrub.digests import StateDigest, digest_state, item_digest
from cluster.storage.item_store import ItemStore

MARKER_OP = "scrub-marker"
REPAIR_OP = "scrub-repair"
_PREFIX = b'{"op":"scrub-'
# Digests kept per replica: enough for a leader to ask about a marker a few rounds old.
KEPT_DIGESTS = 8
# Of those, the newest keep their item records too (28+ bytes an item, the part that grew with the data
# in issue 15's soaks); an older marker still compares by range checksums, and a mismatch found there is
# repaired by the next round, at a newer marker.
KEPT_ITEM_DIGESTS = 2
_SCAN_PAGE = 1000


@dataclass(frozen=True)
class ItemRewrite:
    partition_hash: int
    key: bytes
    expected_digest: str | None  # the damaged replica's item at the marker; rewritten only if still so
    item_json: str | None  # the healthy item (None: the item must not exist)


def encode_marker(seal: bool) -> bytes:
    return json.dumps({"op": MARKER_OP, "seal": seal}, separators=(",", ":")).encode()


def encode_repair(target: str, marker_index: int, rewrites: Sequence[ItemRewrite]) -> bytes:
    return json.dumps(
        {
            "op": REPAIR_OP,
            "target": target,
            "marker": marker_index,
            "items": [
                [r.partition_hash, base64.b64encode(r.key).decode(), r.expected_digest, r.item_json]
                for r in rewrites
            ],
        },
        separators=(",", ":"),
    ).encode()


def is_scrub_command(command: bytes) -> bool:
    return command.startswith(_PREFIX)


def iterate_items(store: ItemStore) -> Iterator[tuple[int, bytes, str]]:
    after: tuple[int, bytes] | None = None
    while True:
        page = store.scan(after, _SCAN_PAGE)
        yield from page
        if len(page) < _SCAN_PAGE:
            return
        after = (page[-1][0], page[-1][1])


class ReplicaScrubState:
    """The scrub side of one replica's state machine: digests at markers, repairs aimed at it."""

    def __init__(self, replica_id: str, on_marker: Callable[[int, bool], None] | None = None) -> None:
        self.replica_id = replica_id
        self.on_marker = on_marker
        self.digests: OrderedDict[int, StateDigest] = OrderedDict()
        self.repaired_items = 0

    def apply(self, index: int, command: bytes, store: ItemStore) -> dict[str, Any] | None:
        """The result of a scrub command at `index`, or None when `command` is not one."""
        if not is_scrub_command(command):
            return None
        try:
            decoded = json.loads(command)
            op = decoded["op"]
        except (ValueError, KeyError, TypeError) as error:
            return {"status": "invalid", "message": f"malformed scrub command: {error!r}"}
        if op == MARKER_OP:
            self.digests[index] = digest_state(index, iterate_items(store))
            while len(self.digests) > KEPT_DIGESTS:
                self.digests.popitem(last=False)
            for older in list(self.digests.values())[:-KEPT_ITEM_DIGESTS]:
                older.range_items = None
            if self.on_marker is not None:
                self.on_marker(index, bool(decoded.get("seal")))
            return {"status": "ok", "marker": index}
        if op == REPAIR_OP:
            return self._repair(decoded, store)
        return {"status": "invalid", "message": f"unknown scrub command {op!r}"}

    def _repair(self, decoded: dict[str, Any], store: ItemStore) -> dict[str, Any]:
        if decoded.get("target") != self.replica_id:
            return {"status": "ok", "repaired": 0, "target": decoded.get("target")}
        repaired = skipped = 0
        try:
            for partition_hash, key_text, expected, item_json in decoded["items"]:
                key = base64.b64decode(key_text)
                if item_digest(store.get(int(partition_hash), key)) != expected:
                    skipped += 1  # written since the marker: the next round judges the new value
                    continue
                if item_json is None:
                    store.delete(int(partition_hash), key)
                else:
                    # With its size, as the write that made it recorded it: the collection sizes of a table
                    # with LSIs must stay the same on every replica, and only this one is repaired.
                    text = str(item_json)
                    store.put(int(partition_hash), key, text, item_size_bytes(json.loads(text)))
                repaired += 1
        except (KeyError, TypeError, ValueError) as error:
            return {"status": "invalid", "message": f"malformed scrub repair: {error!r}"}
        self.repaired_items += repaired
        return {"status": "ok", "repaired": repaired, "skipped": skipped, "target": self.replica_id}
