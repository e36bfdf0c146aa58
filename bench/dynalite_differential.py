"""Differential test of our store against dynalite: one seeded sequence of valid and invalid
requests of every operation we support, sent to a real local cluster and to dynalite (an emulator
that copies AWS's validation closely), answers compared after normalising what may differ.

    .venv/bin/python -m bench.dynalite_differential --seed 1 --requests 3000 [--messages 2]

Prints agreement per operation and the top mismatch classes, each with one example. Exit code 0
when agreement is at least --min-agreement, 1 below it, 2 when dynalite cannot be installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.differential_compare import (
    WRITE_OPERATIONS,
    Answer,
    Tally,
    aws_expectation,
    eventually_consistent_read,
    format_report,
    mismatch,
    written_items,
)
from bench.differential_requests import Call, generate
from bench.http_load import call as http_call
from bench.targets import ensure_dynalite, server_process
from cluster.deploy.local_processes import LocalCluster, free_port

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 15.0
TABLE_WAIT_S = 30.0
STALE_READ_RETRIES = 20
STALE_READ_PAUSE_S = 0.05


class DynaliteUnavailable(Exception):
    """npm or the dynalite package could not be found or installed."""


async def _send(port: int, call: Call) -> Answer:
    try:
        status, body = await http_call(HOST, port, call.operation, call.body, REQUEST_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as error:  # no answer is an answer too: it mismatches
        return Answer(0, {"__type": f"transport#{type(error).__name__}", "message": str(error)})
    return Answer(status, body)


async def _wait_table(port: int, name: str, present: bool) -> None:
    """Table creation and deletion are asynchronous in DynamoDB: wait before the next request."""
    deadline = time.monotonic() + TABLE_WAIT_S
    probe = Call("DescribeTable", {"TableName": name}, None)
    while time.monotonic() < deadline:
        answer = await _send(port, probe)
        if present and answer.status == 200 and answer.body.get("Table", {}).get("TableStatus") == "ACTIVE":
            return
        if not present and answer.error_code == "ResourceNotFoundException":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"table {name} did not become {'ACTIVE' if present else 'deleted'} on port {port}")


async def run_calls(
    calls: list[Call], ours_port: int, dynalite_port: int, on_mismatch: Callable[[int, str], None] | None = None
) -> Tally:
    tally = Tally()
    schemas = KeySchemas(dynalite_port)
    for index, call in enumerate(calls):
        ours = await _send(ours_port, call)
        expected = aws_expectation(call)
        # Where dynalite is known to differ from AWS, ours is judged against AWS's documented answer,
        # and dynalite never sees the request (it might write what AWS refuses).
        theirs = expected if expected is not None else await _send(dynalite_port, call)
        for _ in range(STALE_READ_RETRIES):
            if mismatch(call, ours, theirs) is None or not eventually_consistent_read(call):
                break
            # An eventually consistent read may miss a write its replica has yet to apply; read again.
            await asyncio.sleep(STALE_READ_PAUSE_S)
            ours = await _send(ours_port, call)
            tally.stale_read_retries[call.operation] += 1
        label = tally.add(call, ours, theirs, judged_by_docs=expected is not None)
        if label is not None:
            if on_mismatch is not None:
                on_mismatch(index, label)
            if call.operation in WRITE_OPERATIONS:
                await _copy_written_items(call, schemas, ours_port, dynalite_port)
        if call.operation in ("CreateTable", "DeleteTable"):
            name = call.body.get("TableName")
            for port, answer in ((ours_port, ours), (dynalite_port, theirs)):
                if answer.status == 200 and isinstance(name, str):
                    await _wait_table(port, name, present=call.operation == "CreateTable")
    return tally


class KeySchemas:
    """Key attribute names of dynalite's tables, asked once per table."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.known: dict[str, list[str]] = {}

    async def key_names(self, table: str) -> list[str] | None:
        if table not in self.known:
            answer = await _send(self.port, Call("DescribeTable", {"TableName": table}, None))
            if answer.status != 200:
                return None
            self.known[table] = [element["AttributeName"] for element in answer.body["Table"]["KeySchema"]]
        return self.known[table]


async def _copy_written_items(call: Call, schemas: KeySchemas, ours_port: int, dynalite_port: int) -> None:
    """After the two stores disagreed on a write, give ours dynalite's copy of every item the request
    touched, so that one disagreement is counted once and not again by every later read of those items."""
    for table, item in written_items(call):
        names = await schemas.key_names(table)
        if names is None or not all(name in item for name in names):
            continue
        key = {name: item[name] for name in names}
        answer = await _send(dynalite_port, Call("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}, None))
        if answer.status != 200:
            continue
        if "Item" in answer.body:
            await _send(ours_port, Call("PutItem", {"TableName": table, "Item": answer.body["Item"]}, None))
        else:
            await _send(ours_port, Call("DeleteItem", {"TableName": table, "Key": key}, None))


@contextlib.contextmanager
def running_dynalite() -> Iterator[int]:
    """dynalite in memory on a free port, tables ACTIVE and gone at once (no simulated delays)."""
    cli = ensure_dynalite()
    if cli is None:
        raise DynaliteUnavailable("dynalite is not installed and `npm install dynalite@4` failed (is npm on PATH?)")
    port = free_port()
    with server_process(["node", str(cli), "--port", str(port), "--createTableMs", "0", "--deleteTableMs", "0"], port):
        asyncio.run(_wait_serving(port))
        yield port


async def _wait_serving(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await _send(port, Call("ListTables", {}, None))).status == 200:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"dynalite does not answer on port {port} after {timeout_s}s")


@contextlib.contextmanager
def running_cluster(directory: Path) -> Iterator[int]:
    """A real local cluster (3 AZs x 2 nodes, replicated); yields the port of one router."""
    cluster = LocalCluster(directory)
    try:
        endpoints = cluster.up(wait_s=60, power_loss="store-mark")["endpoints"]
        yield int(endpoints["az-a"].rsplit(":", 1)[1])
    finally:
        cluster.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=20, help="mismatch classes to show")
    parser.add_argument("--messages", type=int, default=0, help="per operation, examples of differing error messages")
    parser.add_argument("--min-agreement", type=float, default=0.99)
    args = parser.parse_args(argv)
    calls = generate(args.seed, args.requests)
    print(f"seed {args.seed}: {len(calls)} requests", file=sys.stderr)
    try:
        with (
            running_dynalite() as dynalite_port,
            tempfile.TemporaryDirectory(prefix="differential-") as directory,
            running_cluster(Path(directory) / "cluster") as ours_port,
        ):
            tally = asyncio.run(run_calls(calls, ours_port, dynalite_port))
    except DynaliteUnavailable as error:
        print(f"cannot compare: {error}", file=sys.stderr)
        return 2
    print(format_report(tally, args.seed, len(calls), top=args.top, messages=args.messages))
    return 0 if tally.agreement() >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
