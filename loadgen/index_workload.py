"""Index workload: writes that move items between the keys of a global secondary index, Queries of that
index, and a final read once the load has stopped; verify/index_checker.py judges the history (every entry
read belongs to a write of that item to that index key, and after the heal the index equals the table) and
measures how far the index lagged behind the table.

Items `ix<n>` carry an index key `slot` (one of SLOTS) and a unique value `w`; a `write` puts both, a
`read` Queries one slot of the index (eventually consistent, as every GSI read is), and the final
`read-index` reads the whole table (consistent Scan) and the whole index until they agree or its budget
runs out. Pure planning (randomness passed in); the requests are `execute_index` and `read_index_final`.

A game day may also add a second index while the faults go on (`add-index`, an UpdateTable issued once
by loadgen/index_admin.py): its backfill then runs under them, and the final read waits for it to be
ACTIVE and equal to the table too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from loadgen.dynamodb_client import PARTITION_KEY
from loadgen.operations import PlannedOperation, UniqueValues, check_weights

KEY_PREFIX = "ix"
SLOTS = 4
SLOT_ATTRIBUTE = "slot"
VALUE_ATTRIBUTE = "w"
INDEX_NAME = "by-slot"
FINAL_READ = "read-index"
# The final read's budget for the index to catch up with the table after the last heal (the goal:
# converged within 5 s of it; the load's own wind-down comes first, so this leaves room on a busy machine).
FINAL_CONVERGE_BUDGET_S = 15.0
FINAL_POLL_S = 0.2

# What ensure_table creates for this workload: the index every read Queries.
GLOBAL_INDEX = {
    "IndexName": INDEX_NAME,
    "KeySchema": [{"AttributeName": SLOT_ATTRIBUTE, "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [VALUE_ATTRIBUTE]},
}
INDEX_ATTRIBUTES = [{"AttributeName": SLOT_ATTRIBUTE, "AttributeType": "S"}]
ADD_INDEX = "add-index"
# The index an `add-index` creates during the run: the same key, what a backfill must fill in.
ADDED_INDEX_NAME = "by-slot-added"
ADDED_INDEX = {**GLOBAL_INDEX, "IndexName": ADDED_INDEX_NAME}


def slot_name(number: int) -> str:
    return f"slot-{number}"


class IndexWorkload:
    def __init__(self, keys: int, values: UniqueValues, rng: random.Random, read_weight: float = 1.0,
                 write_weight: float = 1.0) -> None:  # fmt: skip
        if keys < 1:
            raise ValueError(f"keys must be >= 1, got {keys}")
        check_weights(read_weight, write_weight)
        self.keys = [f"{KEY_PREFIX}{n}" for n in range(keys)]
        self._values = values
        self._rng = rng
        self._weights = (read_weight, write_weight)

    def plan(self) -> PlannedOperation:
        slot = slot_name(self._rng.randrange(SLOTS))
        if self._rng.choices(("read", "write"), self._weights)[0] == "read":
            return PlannedOperation("read", slot, None)
        return PlannedOperation("write", self._rng.choice(self.keys), {"slot": slot, "w": self._values.next()})

    @staticmethod
    def final_read() -> PlannedOperation:
        return PlannedOperation(FINAL_READ, None, None)

    @staticmethod
    def add_index() -> PlannedOperation:
        return PlannedOperation(ADD_INDEX, ADDED_INDEX_NAME, None)


def add_index(client: Any, table: str) -> str:
    """UpdateTable creating ADDED_INDEX (the table then backfills it); answers its name."""
    client.update_table(
        TableName=table, AttributeDefinitions=INDEX_ATTRIBUTES, GlobalSecondaryIndexUpdates=[{"Create": ADDED_INDEX}]
    )
    return ADDED_INDEX_NAME


def execute_index(client: Any, table: str, operation: PlannedOperation) -> Any:
    if operation.function == "write":
        client.put_item(TableName=table, Item={
            PARTITION_KEY: {"S": operation.key}, SLOT_ATTRIBUTE: {"S": operation.value["slot"]},
            VALUE_ATTRIBUTE: {"N": str(operation.value["w"])},
        })  # fmt: skip
        return operation.value
    if operation.function == "read":
        return query_slot(client, table, operation.key)
    raise ValueError(f"unknown index function {operation.function!r}")


def query_slot(client: Any, table: str, slot: str) -> list[list[Any]]:
    """[item key, w] of every entry of one slot, every page followed."""
    entries: list[list[Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = client.query(
            TableName=table, IndexName=INDEX_NAME, KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": SLOT_ATTRIBUTE}, ExpressionAttributeValues={":s": {"S": slot}},
            **({"ExclusiveStartKey": start} if start else {}),
        )  # fmt: skip
        entries += [[item[PARTITION_KEY]["S"], int(item[VALUE_ATTRIBUTE]["N"])] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return sorted(entries)


def _scan(client: Any, table: str, **options: Any) -> list[list[Any]]:
    """[item key, slot, w] of every item (or index entry) carrying a slot."""
    rows: list[list[Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = client.scan(TableName=table, **options, **({"ExclusiveStartKey": start} if start else {}))
        rows += [[item[PARTITION_KEY]["S"], item[SLOT_ATTRIBUTE]["S"], int(item[VALUE_ATTRIBUTE]["N"])]
                 for item in page["Items"] if SLOT_ATTRIBUTE in item]  # fmt: skip
        start = page.get("LastEvaluatedKey")
        if start is None:
            return sorted(rows)


def read_index_final(
    client: Any, table: str, budget_s: float = FINAL_CONVERGE_BUDGET_S, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The table (consistent) and the whole index, read again until they agree or `budget_s` has passed:
    what was read last, and how long the index took to agree (None: it never did). When the table has the
    index an `add-index` created, that one too must be ACTIVE (backfilled) and agree: `added_status` is its
    IndexStatus (None: the table has no such index) and `added` what it held (None unless ACTIVE)."""
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        table_rows = _scan(client, table, ConsistentRead=True)
        index_rows = _scan(client, table, IndexName=INDEX_NAME)
        added_status = _index_status(client, table, ADDED_INDEX_NAME)
        added_rows = _scan(client, table, IndexName=ADDED_INDEX_NAME) if added_status == "ACTIVE" else None
        agreed = table_rows == index_rows and added_status in (None, "ACTIVE") and added_rows in (None, table_rows)
        waited = clock() - started
        if agreed or waited >= budget_s:
            return {"table": table_rows, "index": index_rows, "added_status": added_status, "added": added_rows,
                    "attempts": attempts, "converged_after_s": round(waited, 3) if agreed else None}  # fmt: skip
        sleep(FINAL_POLL_S)


def _index_status(client: Any, table: str, index_name: str) -> str | None:
    indexes = client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    return next((index["IndexStatus"] for index in indexes if index["IndexName"] == index_name), None)
