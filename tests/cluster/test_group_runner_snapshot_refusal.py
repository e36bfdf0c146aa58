"""The runtime does not compact its logs yet, so it cannot install a snapshot: a SNAPSHOT message that
reaches a group (from a misbehaving peer) is dropped with a warning, and the group stays as it was."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cluster.core.membership import Membership
from cluster.core.messages import Message, MessageKind
from cluster.deploy.local_processes import build_topology
from cluster.replication.replica_host import ReplicaHost
from tests.cluster.conftest import one_voter_group


def test_a_snapshot_message_is_refused_naming_the_sender(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))
    group = one_voter_group(host, tmp_path / "group")
    snapshot = Message(
        MessageKind.SNAPSHOT, "node-b1", "node-a1", 5, log_term=5, index=100, commit=100,
        snapshot_membership=Membership(("node-a1",)).encode(),
    )  # fmt: skip
    try:
        with caplog.at_level(logging.WARNING):
            group.deliver(snapshot)
        assert "dropped a snapshot from node-b1" in caplog.text
        assert len(group._inbox) == 0
        assert group.replica.snapshot is None and group.replica.commit_index == 0
        group.deliver(Message(MessageKind.APPEND, "node-b1", "node-a1", 5))  # other messages still go in
        assert len(group._inbox) == 1
    finally:
        group.close()
        host._sync_pool.shutdown(wait=True)
