"""Entry point of every cluster process: `python -m cluster.runtime.process_main --topology F --id ID`.

SIGTERM and SIGINT stop the process cleanly; SIGKILL is the chaos "power-off" and must also be safe,
which is the WAL's job, not this file's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from cluster.runtime.topology import Topology, TopologyError


async def _run(process_id: str, topology: Topology, data_dir: Path) -> None:
    spec = topology.get(process_id)
    role = spec.role
    server: object
    if role == "node":
        from cluster.node.storage_node import StorageNode

        server = StorageNode(process_id, topology, data_dir)
    elif role == "metadata":
        from cluster.metadata.metadata_server import MetadataServer

        server = MetadataServer(process_id, topology, data_dir)
    else:
        from cluster.router.router_server import RouterServer

        server = RouterServer(process_id, topology)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log = logging.getLogger(__name__)

    def on_signal(signal_number: int) -> None:
        # Said once per stop request: gameday/checks/store_errors.py tells a stop that was asked for (a fault's
        # restart, `down`) from a process that died on its own.
        log.info("process-stop id=%s pid=%d signal=%s", process_id, os.getpid(), signal.Signals(signal_number).name)
        stop.set()

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, on_signal, signal_number)
    await server.start()  # type: ignore[attr-defined]
    metrics = None
    if spec.metrics_port:
        from cluster.runtime.process_metrics import start_metrics_server

        metrics = await start_metrics_server(role, server, spec.host, spec.metrics_port)
    log.info("%s (%s) serving", process_id, role)
    await stop.wait()
    if metrics is not None:
        await metrics.stop()
    await server.stop()  # type: ignore[attr-defined]
    log.info("process-exit id=%s pid=%d status=clean", process_id, os.getpid())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one process of the cluster.")
    parser.add_argument("--topology", type=Path, required=True)
    parser.add_argument("--id", required=True, dest="process_id")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format=f"%(asctime)s {args.process_id} %(levelname)s %(name)s: %(message)s"
    )
    try:
        topology = Topology.load(args.topology)
        topology.get(args.process_id)
    except TopologyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.data_dir.mkdir(parents=True, exist_ok=True)
    # First line of every start (one per incarnation in the appended log), before anything can fail.
    logging.getLogger(__name__).info(
        "process-start id=%s role=%s pid=%d", args.process_id, topology.get(args.process_id).role, os.getpid()
    )
    asyncio.run(_run(args.process_id, topology, args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
