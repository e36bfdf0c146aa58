"""Catalogue commands of a split: validated, idempotent, persisted, backward compatible."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.core.types import Entry
from cluster.metadata.catalogue import HASH_SPACE, NodePlacement, TableEntry
from cluster.metadata.catalogue_state_machine import CatalogueStateMachine

NODES = [NodePlacement(f"node-{az}{n}", f"az-{az}") for az in "abc" for n in (1, 2)]
KEY_SCHEMA = {"hash_name": "pk", "hash_type": "S", "range_name": None, "range_type": None}


class Catalogue:
    """A catalogue state machine fed one command per log index, as the metadata group would."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.machine = CatalogueStateMachine(directory, NODES, default_partition_count=2)
        self.index = 0

    def apply(self, command: dict) -> dict:
        self.index += 1
        return self.machine.apply([Entry(1, self.index, json.dumps(command).encode())])[self.index]

    def reopen(self) -> None:
        self.machine.close()
        self.machine = CatalogueStateMachine(self.directory, NODES, default_partition_count=2)


def active_table(catalogue: Catalogue, name: str = "t") -> TableEntry:
    created = catalogue.apply(
        {"op": "create_table", "name": name, "key_schema": KEY_SCHEMA, "billing_mode": "PAY_PER_REQUEST",
         "created_at_s": 1.0}
    )
    assert created["status"] == "ok", created
    table_id = created["table"]["table"]["table_id"]
    assert catalogue.apply({"op": "activate_table", "name": name, "table_id": table_id})["status"] == "ok"
    return catalogue.machine.tables[name]


def begin(catalogue: Catalogue, entry: TableEntry, group: str, split_hash: int, **extra: object) -> dict:
    return catalogue.apply(
        {"op": "begin_split", "name": entry.name, "table_id": entry.table["table_id"], "parent_group": group,
         "split_hash": split_hash, "reason": "test", "begun_wall_s": 5.0, **extra}
    )


def finish(catalogue: Catalogue, entry: TableEntry, group: str, child: str) -> dict:
    return catalogue.apply(
        {"op": "finish_split", "name": entry.name, "table_id": entry.table["table_id"], "parent_group": group,
         "child_group": child, "finished_wall_s": 6.0}
    )


def test_begin_then_finish_moves_the_upper_range_to_a_child_led_elsewhere(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    entry = active_table(catalogue)
    parent, other = entry.partitions[0], entry.partitions[1].group_id
    split_hash = parent.hash_end // 4
    begun = begin(catalogue, entry, parent.group_id, split_hash)
    assert begun["status"] == "ok", begun
    child = begun["split"]["child"]
    assert child["group_id"] == f"{entry.table['table_id'][:8]}-p2"
    assert (child["hash_start"], child["hash_end"]) == (split_hash, HASH_SPACE // 2)
    assert child["members"][0] != parent.members[0]
    azs = {node.node_id: node.az for node in NODES}
    assert sorted(azs[m] for m in child["members"]) == ["az-a", "az-b", "az-c"]
    # Not routable yet: the parent still answers for the whole range.
    assert [p.group_id for p in catalogue.machine.tables["t"].partitions] == [parent.group_id, other]
    assert begin(catalogue, entry, parent.group_id, split_hash)["split"] == begun["split"]  # a repeat
    assert begin(catalogue, entry, other, 3 * HASH_SPACE // 4)["status"] == "busy"

    finished = finish(catalogue, entry, parent.group_id, child["group_id"])
    assert finished["status"] == "ok", finished
    assert finish(catalogue, entry, parent.group_id, child["group_id"])["status"] == "ok"  # a repeat
    catalogue.reopen()  # persisted with the entry
    table = catalogue.machine.tables["t"]
    ranges = [(p.group_id, p.hash_start, p.hash_end) for p in table.partitions]
    assert ranges == [
        (parent.group_id, 0, split_hash), (child["group_id"], split_hash, HASH_SPACE // 2),
        (other, HASH_SPACE // 2, HASH_SPACE),
    ]
    assert table.table["partition_count"] == 3
    assert table.pending_split() is None
    assert table.splits[0]["finished_wall_s"] == 6.0
    assert begin(catalogue, table, parent.group_id, split_hash)["status"] == "ok"  # still a repeat, no new split


def test_begin_split_is_validated(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    entry = active_table(catalogue)
    parent = entry.partitions[0]
    for split_hash in (parent.hash_start, parent.hash_end, parent.hash_end + 5):
        result = begin(catalogue, entry, parent.group_id, split_hash)
        assert result["status"] == "invalid" and "strictly inside" in result["message"]
    assert begin(catalogue, entry, "nope-p9", 5)["status"] == "invalid"
    assert begin(catalogue, entry, parent.group_id, 5, max_partitions=2)["status"] == "limit"
    other = catalogue.apply({"op": "begin_split", "name": "missing", "table_id": "x", "parent_group": "g",
                             "split_hash": 1})
    assert other["status"] == "not_found"
    assert catalogue.apply({"op": "begin_split", "name": "t"})["status"] == "invalid"  # malformed
    assert finish(catalogue, entry, parent.group_id, "nope-p2")["status"] == "not_found"
    assert catalogue.machine.tables["t"].splits == []


def test_entries_without_splits_read_and_write_as_before() -> None:
    old = {"table": {"name": "t"}, "partitions": [
        {"group_id": "g-p0", "index": 0, "hash_start": 0, "hash_end": HASH_SPACE, "members": ["a", "b", "c"]}
    ]}
    entry = TableEntry.from_json(old)
    assert entry.splits == [] and entry.pending_split() is None
    assert entry.to_json() == old
