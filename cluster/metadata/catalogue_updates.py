"""UpdateTable in the catalogue: pure, deterministic on every metadata replica.

The router checks the request against the table it knows; what depends on the order of changes (the table
still ACTIVE, an index name still free or still there) is checked again here, in log order. A created GSI
gets its own partitions at once (their nodes open them from the next node report) and stays CREATING, the
table UPDATING, until every base partition has backfilled it and delivered its entries (`activate_index`,
proposed by the metadata leader from the nodes' reports). A deleted GSI leaves at once: its partitions
are no longer assigned, so their nodes drop them, and the base partitions stop maintaining it.
"""

from __future__ import annotations

from typing import Any

from cluster.metadata.catalogue import INDEX_GROUP, NodePlacement, TableEntry, place_partitions

CREATING_INDEXES = "creating_indexes"  # in the table's JSON: the GSIs still backfilling
_NEXT_INDEX_NUMBER = "next_index_number"  # an index's groups are "<id>-i<number>p<k>"; never reused


def _next_index_number(entry: TableEntry) -> int:
    numbers = [
        int(match.group(1))
        for partitions in entry.index_partitions.values()
        for partition in partitions
        if (match := INDEX_GROUP.search(partition.group_id))
    ]
    return max(int(entry.table.get(_NEXT_INDEX_NUMBER) or 0), max(numbers, default=-1) + 1)


def update_table(
    entry: TableEntry, command: dict[str, Any], nodes: list[NodePlacement], existing: list[TableEntry]
) -> dict[str, Any]:
    """Applies one UpdateTable to `entry` (the caller persists it when the answer is ok)."""
    table = entry.table
    name = table["name"]
    if table.get("table_id") != command["table_id"]:
        return {"status": "not_found"}  # deleted and created again since the router read it
    if table.get("status") != "ACTIVE":
        return {"status": "in_use", "message": f"Attempt to change a resource which is still in use: Table is being "
                f"{'created' if table.get('status') == 'CREATING' else 'updated'}: {name}"}  # fmt: skip
    if command.get("create") and entry.pending_split() is not None:
        # A child partition made from a copy would not know which of its GSIs it still has to backfill.
        return {"status": "in_use", "message": "Attempt to change a resource which is still in use: Table "
                f"partition is being split: {name}"}  # fmt: skip
    specs = [dict(spec) for spec in table.get("indexes") or []]
    names = {spec["name"] for spec in specs}
    created = [dict(spec) for spec in command.get("create") or []]
    deleted = [str(index) for index in command.get("delete") or []]
    updated = {str(index): (int(read), int(write)) for index, read, write in command.get("update") or []}
    for index in [*deleted, *updated]:
        if index not in names:
            # The router's words for it (cluster/api/update_table_request.py): the index went meanwhile.
            return {"status": "index_not_found", "message": f"Requested resource not found: Index {index} for "
                    f"table {name}"}  # fmt: skip
    for spec in created:
        if spec["name"] in names:
            return {"status": "invalid", "message": "Attempting to create an index which already exists"}
    number = _next_index_number(entry)
    for spec in specs:
        if spec["name"] in updated:
            spec["read_capacity_units"], spec["write_capacity_units"] = updated[spec["name"]]
    specs = [spec for spec in specs if spec["name"] not in deleted]
    for index in deleted:
        entry.index_partitions.pop(index, None)
    placed = list(existing)
    for spec in created:
        entry.index_partitions[spec["name"]] = place_partitions(
            table["table_id"], len(entry.partitions), nodes, placed, f"i{number}"
        )
        placed.append(TableEntry({}, entry.index_partitions[spec["name"]]))
        number += 1
        specs.append(spec)
    table["indexes"] = specs
    table[_NEXT_INDEX_NUMBER] = number
    creating = [index for index in entry.creating_indexes if index not in deleted] + [s["name"] for s in created]
    table[CREATING_INDEXES] = creating
    if "attribute_definitions" in command:
        table["attribute_definitions"] = command["attribute_definitions"]
    if command.get("billing_mode"):
        table["billing_mode"] = command["billing_mode"]
    if command.get("read_capacity_units") is not None:
        table["read_capacity_units"] = int(command["read_capacity_units"])
        table["write_capacity_units"] = int(command["write_capacity_units"])
    elif command.get("billing_mode") == "PAY_PER_REQUEST":
        table["read_capacity_units"] = table["write_capacity_units"] = 0
    table["status"] = "UPDATING" if creating else "ACTIVE"
    return {"status": "ok", "table": entry.to_json()}


def activate_index(entry: TableEntry, command: dict[str, Any]) -> dict[str, Any]:
    """A created GSI is backfilled everywhere: ACTIVE, and the table with it once none is left CREATING."""
    if entry.table.get("table_id") != command["table_id"]:
        return {"status": "not_found"}
    creating = [index for index in entry.creating_indexes if index != command["index"]]
    entry.table[CREATING_INDEXES] = creating
    if not creating and entry.table.get("status") == "UPDATING":
        entry.table["status"] = "ACTIVE"
    return {"status": "ok", "table": entry.to_json()}
