"""A stopping node's tick loop starts nothing new: a report, log-replica move or TTL sweep started after its
manager stopped would outlive it (in-process: the node is built, never started)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cluster.node.storage_node import REPORT_INTERVAL_TICKS, StorageNode
from cluster.runtime.topology import ProcessSpec, Topology


def _ticked_report_task(tmp_path: Path, stopping: bool) -> bool:
    async def scenario() -> bool:
        topology = Topology([ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", 1)])
        node = StorageNode("node-a1", topology, tmp_path / "data")
        node.ttl.attributes = {"t-p0": "ttl"}  # a table with TTL on: the sweeper would start on its tick too
        node._stopping = stopping
        try:
            for _ in range(REPORT_INTERVAL_TICKS * 4):
                node.on_tick()
            started = node._report_task is not None or node.ttl.sweeps.task is not None
            for task in (node._report_task, node.ttl.sweeps.task):
                if task is not None:
                    task.cancel()
            return started
        finally:
            node._sync_pool.shutdown()

    return asyncio.run(scenario())


def test_a_running_node_reports_and_sweeps_on_its_ticks_a_stopping_one_does_not(tmp_path: Path) -> None:
    assert _ticked_report_task(tmp_path / "running", stopping=False) is True
    assert _ticked_report_task(tmp_path / "stopping", stopping=True) is False
