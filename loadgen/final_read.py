"""The set workload's final read: one strongly consistent read of the whole set, by its own process."""

from __future__ import annotations

from typing import Any

from loadgen.dynamodb_operations import read_set
from loadgen.recording import FINAL_READER_PROCESS, CompletedOperation, run_recorded
from loadgen.set_workload import SetWorkload
from verify.history import HistoryWriter


def record_final_read_set(
    client: Any, table: str, history: HistoryWriter, endpoint_name: str | None = None
) -> CompletedOperation:
    """Run after every adding user has stopped, so each ok add must appear in what it reads.

    A consistent read may go through any endpoint; `endpoint_name` (recorded) says which one it took.
    """
    return run_recorded(
        history, FINAL_READER_PROCESS, SetWorkload.final_read(), lambda: read_set(client, table),
        extra={"endpoint": endpoint_name} if endpoint_name is not None else None,
    )  # fmt: skip
