"""The index workload's one administrative operation: at a set time into a game day, UpdateTable adds a
second global secondary index to the index table, recorded in the load's history like any operation
(`add-index`, by a process of its own), so that its backfill runs under the faults and the final read
judges it (loadgen/index_workload.py, verify/index_checker.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from loadgen.dynamodb_client import ClientSettings, make_client
from loadgen.index_workload import IndexWorkload, add_index
from loadgen.recording import ADMIN_PROCESS, run_recorded
from verify.history import HistoryWriter

READ_TIMEOUT_S = 10.0  # an UpdateTable waits for the metadata group, which a fault may be moving
TABLE_POLL_S = 0.5


class ScheduledIndexAdd:
    """Adds the index `at_s` after `start_s` (time.monotonic), unless stopped first. Its history goes to
    `shard_path`, which the load merges with its users' when it finishes (loadgen/run.py)."""

    def __init__(self, endpoint_url: str, table: str, shard_path: Path, start_s: float, at_s: float) -> None:
        self._client = make_client(ClientSettings(endpoint_url, read_timeout_s=READ_TIMEOUT_S))
        self._table = table
        self._shard_path = shard_path
        self._delay_s = at_s
        self._start_s = start_s
        self._stop = threading.Event()
        self.outcome: str | None = None  # once run: ok, fail or info
        self._thread = threading.Thread(target=self._run, name="add-index", daemon=True)

    def start(self) -> ScheduledIndexAdd:
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(max(0.0, self._start_s + self._delay_s - time.monotonic())):
            return
        # The load's first user creates the table; on a busy machine it may be ACTIVE late (an UpdateTable
        # before is refused). Not recorded: the operation judged is the UpdateTable, not this wait.
        while not self._table_active():
            if self._stop.wait(TABLE_POLL_S):
                return
        with HistoryWriter(self._shard_path) as history:
            completed = run_recorded(history, ADMIN_PROCESS, IndexWorkload.add_index(),
                                     lambda: add_index(self._client, self._table), record_error=True)  # fmt: skip
        self.outcome = completed.outcome

    def _table_active(self) -> bool:
        try:
            return bool(self._client.describe_table(TableName=self._table)["Table"]["TableStatus"] == "ACTIVE")
        except Exception:  # absent, or the router did not answer (a fault): asked again
            return False

    def stop(self, timeout_s: float = READ_TIMEOUT_S + 5.0) -> None:
        """Cancels it if it has not begun; otherwise waits for its answer (its history must be whole before
        the load merges it)."""
        self._stop.set()
        self._thread.join(timeout_s)
