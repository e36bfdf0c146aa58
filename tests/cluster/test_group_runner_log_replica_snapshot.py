"""A log replica holds no state, so a leader's snapshot is installed from its metadata alone: no fetch,
the log restarts after the snapshot, and a restart finds it there."""

from __future__ import annotations

from pathlib import Path

from cluster.core.membership import Membership
from cluster.core.messages import Message, MessageKind
from cluster.deploy.local_processes import build_topology
from cluster.replication.replica_host import ReplicaHost
from tests.cluster.conftest import one_voter_group


def test_a_log_replica_installs_a_snapshot_from_its_metadata_alone(tmp_path: Path) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))
    group = one_voter_group(host, tmp_path / "group")
    snapshot = Message(
        MessageKind.SNAPSHOT, "node-b1", "node-a1", 5, log_term=5, index=100, commit=100,
        snapshot_membership=Membership(("node-a1", "node-b1")).encode(),
    )  # fmt: skip
    try:
        group.deliver(snapshot)
        ready = group.prepare()
        assert ready is not None and ready.snapshot is not None
        group.finish(ready)
        assert group.replica.snapshot_index == 100 and group.replica.commit_index == 100
        assert group.state_machine.applied_index == 100
        assert group.snapshots_installed == 1
        assert group.wal.last_index == 100  # the old log is gone; the next entry is 101
        group.close()
        reopened = one_voter_group(host, tmp_path / "group")
        assert reopened.replica.snapshot_index == 100 and reopened.state_machine.applied_index == 100
        reopened.close()
    finally:
        group.close()
        host._sync_pool.shutdown(wait=True)

