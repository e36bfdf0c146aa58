"""Run one planned operation and record it: invoke, then exactly one completion (DESIGN §4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loadgen.operations import PlannedOperation
from loadgen.outcomes import READ_FUNCTIONS, Failure, Outcome, classify, failure_from_exception
from verify.history import HistoryWriter

PROCESSES_PER_BLOCK = 1_000_000
# The final read-set is issued by a process of its own, outside every worker's block.
FINAL_READER_PROCESS = 999 * PROCESSES_PER_BLOCK
# So is the index workload's administrative add-index (loadgen/index_admin.py).
ADMIN_PROCESS = FINAL_READER_PROCESS + 1


class ProcessNumbers:
    """History process numbers unique across load processes: block `block_index` of the integers."""

    def __init__(self, block_index: int) -> None:
        if not 0 <= block_index < 999:
            raise ValueError(f"block_index must be in [0, 999), got {block_index}")
        self._next_process = block_index * PROCESSES_PER_BLOCK
        self._end_process = self._next_process + PROCESSES_PER_BLOCK

    def next(self) -> int:
        process = self._next_process
        if process >= self._end_process:
            raise OverflowError("this load process used up its block of process numbers")
        self._next_process = process + 1
        return process


@dataclass(frozen=True)
class CompletedOperation:
    operation: PlannedOperation
    process: int
    outcome: Outcome
    value: Any  # the completion's value as recorded
    duration_s: float
    failure: Failure | None = None
    error: BaseException | None = None


def run_recorded(
    history: HistoryWriter,
    process: int,
    operation: PlannedOperation,
    action: Callable[[], Any],
    timer: Callable[[], float] = time.perf_counter,
    record_error: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> CompletedOperation:
    """Invoke, run `action` (the requests; returns the ok value), complete with an honest outcome.

    An interruption (the user being stopped mid-request) is recorded too, then re-raised, so no
    operation is left without its completion. With `record_error`, a failed request's DynamoDB error code
    goes into an extra `error` field of its completion (history readers ignore it; the admission verdict
    counts throttles by it). `extra` fields go into the invoke and the completion alike, e.g. the endpoint
    the request went through (DESIGN §4 allows extra fields; history readers ignore them).
    """
    function, key = operation.function, operation.key
    extra = dict(extra or {})
    history.write({**extra, "process": process, "type": "invoke", "f": function, "key": key, "value": operation.value})
    started_s = timer()
    try:
        value = action()
    except BaseException as error:
        duration_s = timer() - started_s
        failure = failure_from_exception(error)
        outcome = classify(function, failure)
        recorded_value = None if function in READ_FUNCTIONS else operation.value
        error_extra = {"error": failure.error_code} if record_error and failure.error_code else {}
        history.complete(process, outcome, function, key, recorded_value, extra={**extra, **error_extra})
        if not isinstance(error, Exception):
            raise
        return CompletedOperation(operation, process, outcome, recorded_value, duration_s, failure, error)
    duration_s = timer() - started_s
    history.complete(process, "ok", function, key, value, extra=extra)
    return CompletedOperation(operation, process, "ok", value, duration_s)
