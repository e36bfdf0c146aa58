"""A storage node reads the planted-bug switches of its groups' core and WAL from the topology (and
nothing changes when none is on). In-process: the node is built, never started."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.config import RaftConfig
from cluster.core.types import Entry
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.planted_apply_crash import PlantedApplyCrash, PlantedGroupCrash
from cluster.node.storage_node import StorageNode
from cluster.runtime.topology import ProcessSpec, Topology
from cluster.storage.wal import PlantedSyncBugs


def _node(tmp_path: Path, faults: list[str]) -> StorageNode:
    topology = Topology([ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", 1)], faults_enabled=faults)
    return StorageNode("node-a1", topology, tmp_path / "data")


def _settings(node: StorageNode) -> tuple[RaftConfig, object]:
    settings = (node.raft_config, node.wal_sync)
    node._sync_pool.shutdown()  # the host's fsync threads: nothing else was started
    return settings


def test_no_switch_leaves_the_node_as_the_host_made_it(tmp_path: Path) -> None:
    config, wal_sync = _settings(_node(tmp_path, []))
    assert config.unsafe_deposed_leader_reads is False and config.unsafe_eager_step_down is False
    assert config.unsafe_commit_previous_term_by_counting is False and wal_sync is True


@pytest.mark.parametrize(
    ("bug", "field"),
    [
        ("deposed-leader-reads", "unsafe_deposed_leader_reads"),
        ("churn-commit-bug", "unsafe_commit_previous_term_by_counting"),
        ("eager-step-down", "unsafe_eager_step_down"),
        ("vote-ignores-log", "unsafe_vote_ignores_log"),
    ],
)
def test_a_core_switch_reaches_the_raft_config(tmp_path: Path, bug: str, field: str) -> None:
    config, wal_sync = _settings(_node(tmp_path, [bug]))
    assert getattr(config, field) is True and wal_sync is True


def test_wal_switches_reach_the_wal_setting_and_skip_fsync_still_wins(tmp_path: Path) -> None:
    _, wal_sync = _settings(_node(tmp_path / "one", ["fsync-wrong-file", "no-dir-fsync"]))
    assert wal_sync == PlantedSyncBugs(fsync_wrong_file=True, no_directory_fsync=True)
    _, wal_sync = _settings(_node(tmp_path / "two", ["no-dir-fsync", "skip-fsync"]))
    assert wal_sync is False


def test_hidden_group_crash_fails_an_apply_once_per_index_and_harms_no_data(tmp_path: Path) -> None:
    crash = PlantedApplyCrash(every_entries=3)
    machine = PartitionStateMachine(tmp_path / "state", before_apply=crash.hook("g1"))
    batch = [Entry(1, index, encode_command(PutCommand(7, f"k{index}".encode(), {"pk": {"S": f"k{index}"}})))
             for index in range(1, 5)]  # fmt: skip
    with pytest.raises(PlantedGroupCrash, match="hidden-group-crash: group g1 fails applying index 3"):
        machine.apply(batch)
    assert machine.applied_index == 0 and machine.get(7, b"k1") is None  # nothing of the batch landed
    machine.apply(batch)  # what a reopened group does: replay the same entries, past the index this time
    assert machine.applied_index == 4 and machine.get(7, b"k3") == {"pk": {"S": "k3"}}
    machine.close()
    # Another group crashes at its own index 3; a machine without the hook never does.
    with pytest.raises(PlantedGroupCrash):
        crash.hook("g2")(batch)
    clean = PartitionStateMachine(tmp_path / "clean")
    clean.apply(batch)
    clean.close()


def test_the_node_plants_the_crash_only_when_switched_on(tmp_path: Path) -> None:
    on, off = _node(tmp_path / "on", ["hidden-group-crash"]), _node(tmp_path / "off", [])
    assert on._planted_apply_crash is not None and off._planted_apply_crash is None
    for node in (on, off):
        _settings(node)
