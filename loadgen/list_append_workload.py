"""List-append workload (Elle's, VLDB 2020) over DynamoDB transactions: each operation is a `txn` of one
to three micro-operations on distinct keys, either appends of unique elements (one TransactWriteItems
of `SET #l = list_append(if_not_exists(#l, :empty), :e)` updates) or reads of whole lists (one
TransactGetItems); DynamoDB has no transaction that both reads and writes. verify/list_append_checker.py
infers each key's version order from the lists read and looks for dependency cycles (G0, G1c, G-single,
G2), aborted and intermediate reads.

Pure planning (randomness passed in); the requests are `execute_list_append` below.
"""

from __future__ import annotations

import random
from typing import Any

from loadgen.dynamodb_client import PARTITION_KEY
from loadgen.operations import PlannedOperation, UniqueValues, check_weights

KEY_PREFIX = "l"
LIST_ATTRIBUTE = "elements"
LIST_NAMES = {"#l": LIST_ATTRIBUTE}
MAX_MICRO_OPERATIONS = 3


class ListAppendWorkload:
    def __init__(
        self, keys: int, values: UniqueValues, rng: random.Random, read_weight: float = 1.0, append_weight: float = 1.0
    ) -> None:
        if keys < 1:
            raise ValueError(f"keys must be >= 1, got {keys}")
        check_weights(read_weight, append_weight)
        self.keys = [f"{KEY_PREFIX}{n}" for n in range(keys)]
        self._values = values
        self._rng = rng
        self._weights = (read_weight, append_weight)

    def plan(self) -> PlannedOperation:
        count = self._rng.randint(1, min(MAX_MICRO_OPERATIONS, len(self.keys)))
        keys = self._rng.sample(self.keys, count)
        if self._rng.choices(("r", "append"), self._weights)[0] == "r":
            return PlannedOperation("txn", None, [["r", key, None] for key in keys])
        return PlannedOperation("txn", None, [["append", key, self._values.next()] for key in keys])


def execute_list_append(client: Any, table: str, operation: PlannedOperation) -> list[list[Any]]:
    """The transaction's micro-operations as completed: appends as sent, reads with the list they saw."""
    micro = operation.value
    if all(kind == "append" for kind, _, _ in micro):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {PARTITION_KEY: {"S": key}},
                        "UpdateExpression": "SET #l = list_append(if_not_exists(#l, :empty), :e)",
                        "ExpressionAttributeNames": LIST_NAMES,
                        "ExpressionAttributeValues": {":empty": {"L": []}, ":e": {"L": [{"N": str(element)}]}}}}
            for _, key, element in micro
        ])  # fmt: skip
        return micro
    if not all(kind == "r" for kind, _, _ in micro):
        raise ValueError(f"a DynamoDB transaction either reads or writes, got {micro!r}")
    answer = client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": {PARTITION_KEY: {"S": key}}}} for _, key, _ in micro]
    )
    completed = []
    for (_, key, _), response in zip(micro, answer["Responses"], strict=True):
        elements = (response.get("Item") or {}).get(LIST_ATTRIBUTE, {"L": []})["L"]
        completed.append(["r", key, [int(element["N"]) for element in elements]])
    return completed
