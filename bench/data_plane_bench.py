"""UpdateItem against PutItem, and Query of one partition, on our cluster beside moto_server and dynalite,
in one run on one machine. `make bench` runs it.

At 32 closed-loop clients on one router: PutItem overwriting existing items, and UpdateItem
`SET #n = :v ADD #c :one` (ReturnValues NONE) on the same items, which keeps their size. Query reads
one partition key holding 100 items of a range-key table with ConsistentRead: the whole partition in
one page, and in pages of Limit 10 following LastEvaluatedKey (11 pages a walk: the tenth still carries
a LastEvaluatedKey, the eleventh comes back empty, as in DynamoDB). Each cell runs `--trials` short
times, PutItem and UpdateItem alternating which goes first; the table shows medians and the range, and
UpdateItem / PutItem is the median of the per-trial ratios, so that load from other processes on the
machine falls on both sides of it. On our cluster it also reads every cluster process's CPU time around
each write trial: CPU per operation hardly moves with the machine's other load, where throughput does.

    .venv/bin/python -m bench.data_plane_bench [--seconds 4] [--trials 5] [--skip-references]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.http_load import LoadResult, call, run_load
from bench.store_bench import VALUE
from bench.targets import create_table, each_reference, running_cluster

CLIENTS = 32
OURS = "gameday cluster (3 replicas, fsync), one router"
WRITE_TABLE = "bench-writes"
QUERY_TABLE = "bench-query"
KEYS_PER_CLIENT = 100
PARTITION_KEY = "partition-0"
PARTITION_ITEMS = 100
PAGE_LIMIT = 10
BATCH_WRITE_ITEMS = 25
UPDATE_GOAL = 0.85  # UpdateItem within 15 % of PutItem
QUERY_GOAL_PAGES_S = 1000.0
THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException")

PUT = "PutItem"
UPDATE = "UpdateItem"
QUERY_WHOLE = "Query, 100 items a page"
QUERY_PAGED = f"Query, Limit {PAGE_LIMIT} + LastEvaluatedKey"
CELLS = (PUT, UPDATE, QUERY_WHOLE, QUERY_PAGED)
UNITS = {PUT: "ops/s", UPDATE: "ops/s", QUERY_WHOLE: "pages/s", QUERY_PAGED: "pages/s"}

Results = dict[str, list[LoadResult]]  # cell -> one result per trial


def _key(client: int, sequence: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{client}-{sequence % KEYS_PER_CLIENT}"}}


def _value(sequence: int) -> dict[str, Any]:
    """As long as VALUE, and new at every write: a write that changes nothing is not stored again."""
    return {"S": f"{sequence:010d}{VALUE[10:]}"}


def put_body(client: int, sequence: int) -> dict[str, Any]:
    # The attributes UpdateItem sets, at the size it leaves them: both write items of one size.
    item = {**_key(client, sequence), "n": _value(sequence), "c": {"N": "1"}}
    return {"TableName": WRITE_TABLE, "Item": item}


def update_body(client: int, sequence: int) -> dict[str, Any]:
    return {
        "TableName": WRITE_TABLE,
        "Key": _key(client, sequence),
        "UpdateExpression": "SET #n = :v ADD #c :one",
        "ExpressionAttributeNames": {"#n": "n", "#c": "c"},
        "ExpressionAttributeValues": {":v": _value(sequence), ":one": {"N": "1"}},
        "ReturnValues": "NONE",
    }


def query_body(client: int = 0, sequence: int = 0) -> dict[str, Any]:
    return {
        "TableName": QUERY_TABLE,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": PARTITION_KEY}},
        "ConsistentRead": True,
    }


class Pagination:
    """Each client reads the partition in pages of `limit` items, following LastEvaluatedKey to the end,
    then starts over from the first page. A failed request is asked again from the same key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.walks = 0  # whole partitions read
        self._start_keys: dict[int, dict[str, Any]] = {}

    def body(self, client: int, sequence: int) -> dict[str, Any]:
        body = {**query_body(), "Limit": self.limit}
        start = self._start_keys.get(client)
        if start is not None:
            body["ExclusiveStartKey"] = start
        return body

    def observe(self, client: int, status: int, raw: bytes) -> None:
        if status != 200:
            return
        last = json.loads(raw).get("LastEvaluatedKey")
        if last is None:
            self._start_keys.pop(client, None)
            self.walks += 1
        else:
            self._start_keys[client] = last


async def _batch_write(port: int, table: str, items: list[dict[str, Any]]) -> None:
    requests = {table: [{"PutRequest": {"Item": item}} for item in items]}
    for attempt in range(20):
        status, answer = await call("127.0.0.1", port, "BatchWriteItem", {"RequestItems": requests})
        if status == 200:
            requests = answer.get("UnprocessedItems") or {}
            if not requests:
                return
        elif not str(answer.get("__type", "")).endswith(THROTTLED):  # a throttle is retried, as SDKs do
            raise RuntimeError(f"BatchWriteItem failed: {status} {answer}")
        await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("BatchWriteItem left items unprocessed after 20 attempts")


async def _load_items(port: int) -> None:
    """Every item the write cells touch exists before they start, and the queried partition is full."""
    writes = [put_body(client, number)["Item"] for client in range(CLIENTS) for number in range(KEYS_PER_CLIENT)]
    rows = [{"pk": {"S": PARTITION_KEY}, "sk": {"N": str(number)}, "v": {"S": VALUE}} for number in range(PARTITION_ITEMS)]
    batches = [(WRITE_TABLE, writes[i:i + BATCH_WRITE_ITEMS]) for i in range(0, len(writes), BATCH_WRITE_ITEMS)]
    batches += [(QUERY_TABLE, rows[i:i + BATCH_WRITE_ITEMS]) for i in range(0, len(rows), BATCH_WRITE_ITEMS)]
    for start in range(0, len(batches), 8):
        await asyncio.gather(*(_batch_write(port, table, items) for table, items in batches[start:start + 8]))


async def _check_answers(port: int) -> None:
    """One of each request, answered as DynamoDB would: the numbers below count only real work."""
    status, answer = await call("127.0.0.1", port, "UpdateItem", update_body(0, 0))
    if status != 200 or answer.get("Attributes"):
        raise RuntimeError(f"UpdateItem answered {status} {answer}")
    status, answer = await call("127.0.0.1", port, "Query", query_body())
    if status != 200 or answer.get("Count") != PARTITION_ITEMS or "LastEvaluatedKey" in answer:
        raise RuntimeError(f"Query of the whole partition answered {status} {str(answer)[:300]}")
    status, answer = await call("127.0.0.1", port, "Query", Pagination(PAGE_LIMIT).body(0, 0))
    if status != 200 or answer.get("Count") != PAGE_LIMIT or "LastEvaluatedKey" not in answer:
        raise RuntimeError(f"Query with Limit {PAGE_LIMIT} answered {status} {str(answer)[:300]}")


def processes_cpu_s(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes have used (of those still running)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / ticks


async def _timed_load(
    port: int, cell: str, body: Callable[[int, int], dict[str, Any]], seconds: float, pids: Sequence[int]
) -> LoadResult:
    before = processes_cpu_s(pids)
    result = await run_load("127.0.0.1", [port], cell, body, CLIENTS, seconds)
    if pids:
        result.server_cpu_s = processes_cpu_s(pids) - before
    return result


async def measure_target(port: int, seconds: float, trials: int, pids: Sequence[int] = ()) -> Results:
    await create_table(port, WRITE_TABLE)
    await create_table(port, QUERY_TABLE, range_key="sk")
    await _load_items(port)
    await _check_answers(port)
    results: Results = {cell: [] for cell in CELLS}
    for trial in range(trials):
        writes: list[tuple[str, Callable[[int, int], dict[str, Any]]]] = [(PUT, put_body), (UPDATE, update_body)]
        if trial % 2:
            writes.reverse()  # neither always runs first, on a store (and a machine) the other warmed or loaded
        for cell, body in writes:
            results[cell].append(await _timed_load(port, cell, body, seconds, pids))
        results[QUERY_WHOLE].append(await run_load("127.0.0.1", [port], "Query", query_body, CLIENTS, seconds))
        pagination = Pagination(PAGE_LIMIT)
        results[QUERY_PAGED].append(
            await run_load("127.0.0.1", [port], "Query", pagination.body, CLIENTS, seconds, pagination.observe)
        )
    return results


# ---- the table (pure) ----------------------------------------------------------------------------


def paired_ratio(numerators: Sequence[LoadResult], denominators: Sequence[LoadResult]) -> float:
    """Median of the per-trial throughput ratios: trial n of both sides ran back to back."""
    return statistics.median(top.throughput / bottom.throughput for top, bottom in zip(numerators, denominators, strict=True))


def cell_text(results: Sequence[LoadResult]) -> str:
    rates = [result.throughput for result in results]
    errors = sum(result.errors for result in results)
    kinds: dict[str, int] = {}
    for result in results:
        for kind, count in result.error_types.items():
            kinds[kind] = kinds.get(kind, 0) + count
    text = f"{statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})"
    named = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return text + (f", {errors} errors ({named})" if errors else "")


def markdown_table(table: dict[str, Results]) -> list[str]:
    lines = [
        f"| target ({CLIENTS} clients) | " + " | ".join(f"{cell} {UNITS[cell]}" for cell in CELLS[:2])
        + f" | {UPDATE} / {PUT} | " + " | ".join(f"{cell} {UNITS[cell]}" for cell in CELLS[2:]) + " |",
        "|---|" + "---:|" * (len(CELLS) + 1),
    ]
    for name, results in table.items():
        lines.append(
            f"| {name} | {cell_text(results[PUT])} | {cell_text(results[UPDATE])} | "
            f"{paired_ratio(results[UPDATE], results[PUT]):.2f} | {cell_text(results[QUERY_WHOLE])} | "
            f"{cell_text(results[QUERY_PAGED])} |"
        )
    return lines


def cpu_per_operation_us(results: Sequence[LoadResult]) -> float | None:
    """The target's CPU per operation over every trial of a cell (None when it was not read)."""
    if any(result.server_cpu_s is None for result in results):
        return None
    operations = sum(result.operations for result in results)
    return sum(result.server_cpu_s or 0.0 for result in results) / operations * 1e6 if operations else None


def goal_lines(ours: Results) -> list[str]:
    ratio = paired_ratio(ours[UPDATE], ours[PUT])
    pages = statistics.median(result.throughput for result in ours[QUERY_WHOLE])
    put_cpu, update_cpu = cpu_per_operation_us(ours[PUT]), cpu_per_operation_us(ours[UPDATE])
    cpu_line = (
        [f"Our cluster's CPU per operation: PutItem {put_cpu:,.0f} us, UpdateItem {update_cpu:,.0f} us "
         f"(PutItem / UpdateItem {put_cpu / update_cpu:.2f}: the throughput ratio a CPU-bound store can reach)"]
        if put_cpu and update_cpu else []
    )  # fmt: skip
    return [
        f"Our UpdateItem / PutItem at {CLIENTS} clients: {ratio:.2f} "
        f"(goal >= {UPDATE_GOAL:.2f}: {'met' if ratio >= UPDATE_GOAL else 'missed'})",
        *cpu_line,
        f"Our Query of one partition, {PARTITION_ITEMS} items a page, ConsistentRead: {pages:,.0f} pages/s "
        f"(goal >= {QUERY_GOAL_PAGES_S:,.0f}: {'met' if pages >= QUERY_GOAL_PAGES_S else 'missed'})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seconds", type=float, default=4.0,
        # At least one 10 s scrub-reference period in two back-to-back trials: shorter trials saw the
        # scrub's bursts or not, and the ratio swung with them.
        help="duration of each trial of each cell",
    )  # fmt: skip
    parser.add_argument("--trials", type=int, default=5, help="trials of each cell; the table shows medians")
    parser.add_argument("--skip-references", action="store_true", help="measure only our cluster")
    args = parser.parse_args(argv)
    table: dict[str, Results] = {}
    loads = [os.getloadavg()[0]]
    with (
        tempfile.TemporaryDirectory(prefix="data-plane-bench-") as directory,
        running_cluster(Path(directory) / "cluster") as (cluster, ports),
    ):
        print("measuring the replicated cluster (3 AZs x 2 nodes, fsync on), one router...", file=sys.stderr)
        pids = list(cluster.pids().values())
        table[OURS] = asyncio.run(measure_target(ports[0], args.seconds, args.trials, pids))
        loads.append(os.getloadavg()[0])
    if not args.skip_references:
        for name, port in each_reference():
            table[name] = asyncio.run(measure_target(port, args.seconds, args.trials))
            loads.append(os.getloadavg()[0])
    print("\n".join(markdown_table(table)))
    print()
    print("\n".join(goal_lines(table[OURS])))
    # Other processes on the machine lower every number; the ratios within a row suffer least.
    print(f"Machine: {os.cpu_count()} CPUs, 1-minute load average {min(loads):.1f} to {max(loads):.1f} during the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
