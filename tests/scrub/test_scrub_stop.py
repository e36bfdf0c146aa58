"""A node stops its scrub before its groups stop applying: a seal marker applied in between must neither
close the group nor be lost. In-process: the node is built and a group opened, never started."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cluster.core.types import Entry
from cluster.node.storage_node import StorageNode
from cluster.runtime.topology import ProcessSpec, Topology
from cluster.scrub.commands import encode_marker


def test_a_seal_applied_after_the_scrub_stopped_stays_sealed_for_the_next_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        topology = Topology([ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", 1)])
        node = StorageNode("node-a1", topology, tmp_path / "data")
        group = node.open_group("t1-p0", ["node-a1"])
        try:
            await node.scrub.stop()  # what StorageNode.stop does before the host's pump stops
            # Its archive pool is shut down now; submitting the copy raised and closed the group (seen in CI).
            marker = Entry(1, 1, encode_marker(True))
            group.wal.append([marker], None)
            group.state_machine.apply([marker])
            assert group.state_machine.applied_index == 1
            assert group.wal.closed_segments(), "the seal itself still happens"
            assert node.scrub.archive is not None
            assert node.scrub.archive.names("t1-p0", "node-a1") == []  # archived at the next start instead
        finally:
            group.close()
            node._sync_pool.shutdown()

    asyncio.run(scenario())
