"""The index workload's checker (loadgen/index_workload.py). Pure.

`write` (key: the item, value `{"slot": s, "w": n}` with n unique) puts an item under index key s; `read`
(key: a slot; value on ok: [[item, w], ...]) Queries one slot of the global secondary index; the final
`read-index` (value: {"table": [[item, slot, w]...], "index": [...], "converged_after_s": t or None}) reads
the table and the whole index once the load has stopped and every fault was healed.

`add-index` (key: the index's name) is an UpdateTable adding a second index during the run; the final read
then also says that index's status (`added_status`: None when the table has no such index) and its entries
(`added`, when ACTIVE).

An index may lag its table (DynamoDB's GSIs are eventually consistent) but never invent: every entry a read
returns must be a write of that item, to that slot, invoked before the read completed. After the heal the
index must equal the table, and so must an index added during the run: backfilled (ACTIVE) and equal, or,
only when its UpdateTable's outcome is unknown, absent. How far it lagged is measured, not judged: for each ok write, the time from its
completion to the start of the first read of its slot that returned it (writes overwritten before any read
saw them give no sample).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from verify.operations import FAIL, OK, Operation

WRITE = "write"
READ = "read"
FINAL_READ = "read-index"
ADD_INDEX = "add-index"
MAX_LISTED = 10
NS = 1_000_000_000


class IndexModelMismatchError(ValueError):
    """The history holds an operation that is no index write or read, or a malformed one."""


@dataclass
class IndexResult:
    validity: bool | str
    write_counts: dict[str, int]
    read_count: int
    converged_after_s: float | None  # the final read's; None when it never agreed or there was none
    anomalies: dict[str, list[str]] = field(default_factory=dict)  # kind -> the first few explanations
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    lag_samples: list[tuple[float, float]] = field(default_factory=list)  # (write's completion in history s, lag s)
    reason: str | None = None

    @property
    def lag_median_s(self) -> float | None:
        return statistics.median(lag for _, lag in self.lag_samples) if self.lag_samples else None

    @property
    def lag_max_s(self) -> float | None:
        return max((lag for _, lag in self.lag_samples), default=None)


def check_index(operations: Iterable[Operation]) -> IndexResult:
    writes: dict[int, Operation] = {}  # by unique w
    write_counts = {OK: 0, FAIL: 0, "info": 0}
    reads: list[Operation] = []
    finals: list[Operation] = []
    adds: list[Operation] = []
    for operation in operations:
        if operation.function == WRITE:
            value = _write_value(operation)
            writes[value["w"]] = operation
            write_counts[operation.outcome if operation.outcome in (OK, FAIL) else "info"] += 1
        elif operation.function == READ:
            if operation.outcome == OK:
                reads.append(operation)
        elif operation.function == FINAL_READ:
            if operation.outcome == OK:
                finals.append(operation)
        elif operation.function == ADD_INDEX:
            adds.append(operation)
        else:
            raise IndexModelMismatchError(
                f"line {operation.invoke_line_number}: f {operation.function!r} is no index operation "
                f"({WRITE}, {READ}, {FINAL_READ}, {ADD_INDEX})"
            )
    anomalies: dict[str, list[str]] = {}
    counts: dict[str, int] = {}

    def found(kind: str, text: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        if len(anomalies.setdefault(kind, [])) < MAX_LISTED:
            anomalies[kind].append(text)

    for read in reads:
        for item, w in _entries(read):
            write = writes.get(w)
            if write is None or write.key != item:
                found("phantom", f"line {read.complete_line_number}: read of {read.key} returned {item} with "
                                 f"w={w}, which no write of {item} wrote")  # fmt: skip
            elif _write_value(write)["slot"] != read.key:
                found("wrong-slot", f"line {read.complete_line_number}: read of {read.key} returned {item} "
                                    f"w={w}, written to {_write_value(write)['slot']}")  # fmt: skip
            elif read.complete_time_ns is not None and read.complete_time_ns < write.invoke_time_ns:
                found("from-the-future", f"line {read.complete_line_number}: read of {read.key} returned {item} "
                                         f"w={w} before its write (line {write.invoke_line_number}) began")  # fmt: skip
    converged_after_s = None
    if finals:
        final = _final_value(finals[-1])
        table_rows, index_rows = final["table"], final["index"]
        converged_after_s = final.get("converged_after_s")
        for row in sorted(table_rows - index_rows):
            found("not-converged", f"item {row[0]} in {row[1]} with w={row[2]} is missing from the index")
        for row in sorted(index_rows - table_rows):
            found("not-converged", f"index entry {row[0]} in {row[1]} with w={row[2]} is not the table's item")
        for kind, text in _added_index_anomalies(adds, final, table_rows):
            found(kind, text)
    result = IndexResult(True, write_counts, len(reads), converged_after_s, anomalies, counts,
                         _lag_samples(writes.values(), reads))  # fmt: skip
    if counts:
        result.validity = False
        result.reason = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    elif not finals:
        result.validity = "unknown"
        result.reason = "no final read of the index: its convergence after the faults is not judged"
    return result


def _added_index_anomalies(
    adds: list[Operation], final: dict[str, Any], table_rows: set[tuple[str, str, int]]
) -> list[tuple[str, str]]:
    """What the final read says of the index added during the run, judged by its UpdateTable's outcome."""
    status, added_rows = final["added_status"], final["added"]
    acknowledged = any(add.outcome == OK for add in adds)
    if status is None:
        # A failed UpdateTable added nothing, an unknown one may have; an acknowledged one must have.
        return [("added-index-lost", "an acknowledged add-index's index is not in the table")] if acknowledged else []
    if not adds:
        return [("added-index-unasked", f"the table has an index no add-index asked for (status {status})")]
    if all(add.outcome == FAIL for add in adds):
        return [("added-index-unasked", f"the table has the index of a failed add-index (status {status})")]
    if status != "ACTIVE" or added_rows is None:
        return [("not-backfilled", f"the added index is {status}, not ACTIVE, after the heal and the read's budget")]
    anomalies = [("added-not-converged", f"item {row[0]} in {row[1]} with w={row[2]} is missing from the added index")
                 for row in sorted(table_rows - added_rows)]  # fmt: skip
    anomalies += [("added-not-converged", f"added index entry {row[0]} in {row[1]} with w={row[2]} is not the "
                   "table's item") for row in sorted(added_rows - table_rows)]  # fmt: skip
    return anomalies


def _lag_samples(writes: Iterable[Operation], reads: list[Operation]) -> list[tuple[float, float]]:
    by_slot: dict[Any, list[tuple[int, set[tuple[str, int]]]]] = {}
    for read in sorted(reads, key=lambda r: r.invoke_time_ns):
        by_slot.setdefault(read.key, []).append((read.invoke_time_ns, {(item, w) for item, w in _entries(read)}))
    samples = []
    for write in writes:
        if write.outcome != OK or write.complete_time_ns is None:
            continue
        value = _write_value(write)
        entry = (write.key, value["w"])
        seen_at = next((at for at, seen in by_slot.get(value["slot"], [])
                        if at >= write.complete_time_ns and entry in seen), None)  # fmt: skip
        if seen_at is not None:
            samples.append((write.complete_time_ns / NS, (seen_at - write.complete_time_ns) / NS))
    return sorted(samples)


def _write_value(operation: Operation) -> dict[str, Any]:
    value = _as_dict(operation.input_value)
    if not (isinstance(value, dict) and isinstance(value.get("slot"), str) and isinstance(value.get("w"), int)):
        raise IndexModelMismatchError(
            f"line {operation.invoke_line_number}: an index write's value is {{\"slot\": s, \"w\": n}}, got {value!r}"
        )
    return value


def _as_dict(value: Any) -> Any:
    """A history's objects come frozen (verify/history.py: sorted pairs)."""
    if isinstance(value, tuple) and all(isinstance(pair, tuple) and len(pair) == 2 for pair in value):
        return dict(value)
    return value


def _final_value(read: Operation) -> dict[str, Any]:
    value = _as_dict(read.output_value)
    try:
        added = value.get("added")  # absent from histories made before add-index
        status = value.get("added_status")
        return {
            "table": {(str(item), str(slot), int(w)) for item, slot, w in value["table"]},
            "index": {(str(item), str(slot), int(w)) for item, slot, w in value["index"]},
            "added": None if added is None else {(str(item), str(slot), int(w)) for item, slot, w in added},
            "added_status": None if status is None else str(status),
            "converged_after_s": value.get("converged_after_s"),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IndexModelMismatchError(
            f"line {read.complete_line_number}: a final index read's value is {{\"table\": [[item, slot, w], ...], "
            f"\"index\": [...]}}, got {read.output_value!r} ({error})"
        ) from None


def _entries(read: Operation) -> list[tuple[str, int]]:
    value = read.output_value
    if not isinstance(value, list | tuple) or not all(isinstance(e, list | tuple) and len(e) == 2 for e in value):
        raise IndexModelMismatchError(
            f"line {read.complete_line_number}: an index read's value is [[item, w], ...], got {value!r}"
        )
    return [(str(item), int(w)) for item, w in value]
