"""Set workload generator: every operation adds a unique element; one final read-set reads them all.

Elements are stored in a few item collections of a range-key table, so the final read-set is a strongly
consistent Query of each (loadgen/dynamodb_operations.py `read_set`), followed page by page."""

from __future__ import annotations

from loadgen.operations import PlannedOperation, UniqueValues

SET_KEY = "set"  # the history key of the one set (the checker groups operations by key)


class SetWorkload:
    def __init__(self, values: UniqueValues) -> None:
        self._values = values

    def plan(self) -> PlannedOperation:
        return PlannedOperation("add", SET_KEY, self._values.next())

    @staticmethod
    def final_read() -> PlannedOperation:
        return PlannedOperation("read-set", SET_KEY, None)
