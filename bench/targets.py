"""What the store benchmarks run against: our local cluster and the reference servers (moto_server,
dynalite), each started for the measurement and stopped after it, plus the table every run creates."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.http_load import call
from cluster.deploy.local_processes import LocalCluster

DYNALITE_DIR = Path(__file__).resolve().parent / ".dynalite"
MOTO = "moto_server (1 node, memory)"
DYNALITE = "dynalite (1 node, memory)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """The first truthy value of `condition`, polled every 50 ms; TimeoutError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def wait_port(port: int, timeout_s: float = 30.0, process: subprocess.Popen | None = None) -> None:
    """Until something listens on `port`; an exit of `process`, the server meant to, ends the wait at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s}s")


@contextlib.contextmanager
def server_process(command: list[str], port: int) -> Iterator[None]:
    """`command` runs while the block does, once it listens on `port`; stopped (TERM, then KILL) after it."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, process=process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_dynalite() -> Path | None:
    cli = DYNALITE_DIR / "node_modules" / "dynalite" / "cli.js"
    if cli.exists():
        return cli
    if shutil.which("npm") is None:
        return None
    DYNALITE_DIR.mkdir(exist_ok=True)
    result = subprocess.run(["npm", "install", "--silent", "--prefix", str(DYNALITE_DIR), "dynalite@4"], capture_output=True)
    return cli if result.returncode == 0 and cli.exists() else None


def _reference_commands() -> dict[str, Callable[[int], list[str]]]:
    """Name -> command line for a port, of each reference server available here (dynalite installed on first use)."""
    commands: dict[str, Callable[[int], list[str]]] = {}
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if moto:
        commands[MOTO] = lambda port: [moto, "-p", str(port)]
    dynalite = ensure_dynalite()
    if dynalite:
        commands[DYNALITE] = lambda port: ["node", str(dynalite), "--port", str(port), "--createTableMs", "0"]
    return commands


def each_reference(only: tuple[str, ...] | None = None) -> Iterator[tuple[str, int]]:
    """Starts each reference server (of those named in `only`, when given) in turn and yields its name
    and port while it runs."""
    for name, command in _reference_commands().items():
        if only is not None and name not in only:
            continue
        port = free_port()
        print(f"measuring {name}...", file=sys.stderr)
        with server_process(command(port), port):
            yield name, port


@contextlib.contextmanager
def running_cluster(directory: Path, proxy_links: bool = False) -> Iterator[tuple[LocalCluster, list[int]]]:
    """The gameday cluster (3 AZs x 2 nodes, fsync on) and the ports of its routers, one per AZ."""
    cluster = LocalCluster(directory)
    try:
        endpoints = cluster.up(proxy_links=proxy_links)["endpoints"]
        yield cluster, [int(url.rsplit(":", 1)[1]) for url in endpoints.values()]
    finally:
        cluster.down()


async def create_table(port: int, table: str, range_key: str | None = None) -> None:
    """An on-demand table keyed by the string `pk` (and the number `range_key`), waited for until ACTIVE."""
    key_schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key is not None:
        key_schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key, "AttributeType": "N"})
    await call("127.0.0.1", port, "CreateTable", {
        "TableName": table, "KeySchema": key_schema, "AttributeDefinitions": definitions,
        "BillingMode": "PAY_PER_REQUEST",
    })
    for _ in range(300):
        status, body = await call("127.0.0.1", port, "DescribeTable", {"TableName": table})
        if status == 200 and body["Table"]["TableStatus"] == "ACTIVE":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"table {table} never became ACTIVE")
