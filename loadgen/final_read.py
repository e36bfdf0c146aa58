"""The final reads, by their own process once every user stopped: the set workload's (one strongly
consistent read of the whole set) and the index workload's (the table and its index until they agree)."""

from __future__ import annotations

from typing import Any

from loadgen.dynamodb_operations import read_set
from loadgen.index_workload import IndexWorkload, read_index_final
from loadgen.recording import FINAL_READER_PROCESS, CompletedOperation, run_recorded
from loadgen.set_workload import SetWorkload
from verify.history import HistoryWriter

FINAL_READ_WORKLOADS = ("set", "index")  # the workloads whose history ends with a final read


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


def record_final_index_read(
    client: Any, table: str, history: HistoryWriter, endpoint_name: str | None = None
) -> CompletedOperation:
    """Run after every writing user has stopped and every fault was healed: the index must come to equal
    the table within the read's budget."""
    return run_recorded(
        history, FINAL_READER_PROCESS, IndexWorkload.final_read(), lambda: read_index_final(client, table),
        extra={"endpoint": endpoint_name} if endpoint_name is not None else None,
    )  # fmt: skip


def record_final_read(
    workload: str, client: Any, table: str, history: HistoryWriter, endpoint_name: str | None = None
) -> CompletedOperation | None:
    """The workload's final read, if it has one."""
    if workload == "set":
        return record_final_read_set(client, table, history, endpoint_name)
    if workload == "index":
        return record_final_index_read(client, table, history, endpoint_name)
    return None
