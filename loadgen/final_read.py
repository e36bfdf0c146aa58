"""The set workload's final read: one strongly consistent read of the whole set, by its own process."""

from __future__ import annotations

from typing import Any

from loadgen.dynamodb_operations import read_set
from loadgen.recording import FINAL_READER_PROCESS, CompletedOperation, run_recorded
from loadgen.set_workload import SetWorkload
from verify.history import HistoryWriter


def record_final_read_set(client: Any, table: str, history: HistoryWriter) -> CompletedOperation:
    """Run after every adding user has stopped, so each ok add must appear in what it reads."""
    return run_recorded(
        history, FINAL_READER_PROCESS, SetWorkload.final_read(), lambda: read_set(client, table)
    )
