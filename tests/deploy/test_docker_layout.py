"""The Docker backend's names, labels, topology and leftover rule: pure, no daemon needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.deploy.docker_layout import (
    PROCESS_PORT,
    ClusterNames,
    build_docker_topology,
    cluster_id,
    is_abandoned,
    labels,
    process_command,
)
from cluster.deploy.local_processes import ClusterError


def test_cluster_id_is_stable_per_directory_and_differs_between_directories(tmp_path: Path) -> None:
    assert cluster_id(tmp_path / "a") == cluster_id(tmp_path / "a" / ".." / "a")
    assert cluster_id(tmp_path / "a") != cluster_id(tmp_path / "b")
    names = ClusterNames(cluster_id(tmp_path / "a"))
    assert names.container("node-a1").startswith("gameday-gd") and names.container("node-a1").endswith("-node-a1")


def test_labels_carry_the_cluster_and_its_directory(tmp_path: Path) -> None:
    found = labels("gd123", tmp_path, process="node-a1", role="node")
    assert found == {
        "gameday.managed": "1", "gameday.cluster": "gd123", "gameday.data-dir": str(tmp_path.resolve()),
        "gameday.process": "node-a1", "gameday.role": "node",
    }


def test_topology_puts_each_process_at_its_alias_on_one_port() -> None:
    topology = build_docker_topology(3, 2, 4)
    assert len(topology.by_role("node")) == 6 and len(topology.by_role("metadata")) == 3
    assert {spec.host for spec in topology.processes} == {spec.process_id for spec in topology.processes}
    assert {spec.port for spec in topology.processes} == {PROCESS_PORT}
    assert process_command("node-a1")[-4:] == ["--id", "node-a1", "--data-dir", "/var/lib/gameday/data"]


def test_topology_refuses_a_shape_without_three_azs() -> None:
    with pytest.raises(ClusterError, match="at least 3"):
        build_docker_topology(2, 2, 4)


@pytest.mark.parametrize(
    ("state", "owner_alive", "abandoned"),
    [
        (None, True, True),  # its directory is gone
        ({"cluster": "other"}, True, True),  # its directory now holds another cluster
        ({"cluster": "gd1", "detached": True}, False, False),  # `gameday cluster up` left it running on purpose
        ({"cluster": "gd1"}, True, False),  # its game day still runs
        ({"cluster": "gd1"}, False, True),  # its game day crashed
    ],
)
def test_leftovers_are_what_no_live_owner_or_detached_cluster_claims(state, owner_alive, abandoned) -> None:
    assert is_abandoned(state, "gd1", owner_alive) is abandoned
