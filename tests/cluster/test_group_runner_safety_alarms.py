"""A Raft safety violation seen by the core reaches the store's log as an ERROR record (which the
`store-errors` verifier fails a run on): a group driven through a real host's I/O loop, in process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from cluster.core.messages import Message, MessageKind
from cluster.core.types import Entry
from cluster.deploy.local_processes import build_topology
from cluster.replication.replica_host import ReplicaHost
from tests.cluster.conftest import one_voter_group, tick_until_leader


def test_a_leader_without_a_committed_entry_is_logged_as_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))

    async def scenario() -> None:
        pump = asyncio.ensure_future(host._pump_forever())
        try:
            group = one_voter_group(host, tmp_path / "g")
            await tick_until_leader(group)
            await group.propose(b"x", timeout_s=5.0)
            committed = group.replica.commit_index
            # A "leader" of a later term whose log lacks what this group committed: its no-op at index 1.
            group.deliver(Message(MessageKind.APPEND, "node-b1", "node-a1", group.replica.term + 1,
                                  entries=(Entry(group.replica.term + 1, 1, b""),), commit=1))  # fmt: skip
            for _ in range(50):
                if "raft safety violation" in caplog.text:
                    break
                await asyncio.sleep(0.02)
            assert group.replica.commit_index == committed and group.replica.term_at(1) != group.replica.term
        finally:
            pump.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pump
            host._sync_pool.shutdown(wait=True)

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and "raft safety violation seen by node-a1" in errors[0].getMessage()
    assert "leader completeness: leader node-b1" in errors[0].getMessage()
