"""What the Docker backend creates for one cluster, by name and label (pure: no Docker, no files).

Every container, network and volume carries `gameday.managed=1` and the cluster's id, so `down` removes
exactly what `up` created and a later `up` can find what a crashed run left behind. The id follows from
the cluster's state directory, so two clusters on one machine never share a resource.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.runtime.topology import ProcessSpec, TimingConfig, Topology

LABEL_MANAGED = "gameday.managed"
LABEL_CLUSTER = "gameday.cluster"
LABEL_DATA_DIR = "gameday.data-dir"
LABEL_PROCESS = "gameday.process"
LABEL_ROLE = "gameday.role"
LABEL_AZ = "gameday.az"

# Inside the cluster network every process listens on the same ports of its own container; the host
# reaches them through ports published on 127.0.0.1 only.
PROCESS_PORT = 7000
METRICS_PORT = 9100
TOXIPROXY_API_PORT = 8474
TOXIPROXY_ID = "toxiproxy"  # its container's alias on the network: processes dial toxiproxy:PORT
TOPOLOGY_DIR_IN_CONTAINER = "/etc/gameday"
TOPOLOGY_IN_CONTAINER = f"{TOPOLOGY_DIR_IN_CONTAINER}/topology.json"
DATA_IN_CONTAINER = "/var/lib/gameday/data"


def cluster_id(state_dir: Path) -> str:
    """A short, stable id for the cluster whose state lives in `state_dir` (resolved)."""
    return "gd" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ClusterNames:
    cluster: str

    @property
    def network(self) -> str:
        return f"gameday-{self.cluster}"

    def container(self, process_id: str) -> str:
        return f"gameday-{self.cluster}-{process_id}"

    def volume(self, process_id: str) -> str:
        return f"gameday-{self.cluster}-{process_id}"


def labels(cluster: str, state_dir: Path, **extra: str) -> dict[str, str]:
    base = {LABEL_MANAGED: "1", LABEL_CLUSTER: cluster, LABEL_DATA_DIR: str(state_dir.resolve())}
    return {**base, **{f"gameday.{key.replace('_', '-')}": value for key, value in extra.items()}}


def build_docker_topology(
    azs: int, nodes_per_az: int, partitions_per_table: int, timing: TimingConfig | None = None
) -> Topology:
    """The same shape as the local backend's, with each process at its container alias on the network."""
    from cluster.deploy.local_processes import ClusterError

    if azs < 3:
        raise ClusterError(f"--azs must be at least 3 (a group places one replica per AZ), got {azs}")
    if azs > 26:
        raise ClusterError(f"--azs must be at most 26, got {azs}")
    if nodes_per_az < 1:
        raise ClusterError(f"--nodes-per-az must be at least 1, got {nodes_per_az}")
    letters = string.ascii_lowercase
    processes: list[ProcessSpec] = []

    def add(process_id: str, role: str, az: str) -> None:
        processes.append(ProcessSpec(process_id, role, az, process_id, PROCESS_PORT, METRICS_PORT))

    for az_index in range(azs):
        az = f"az-{letters[az_index]}"
        for node_number in range(1, nodes_per_az + 1):
            add(f"node-{letters[az_index]}{node_number}", "node", az)
        if az_index < 3:
            add(f"meta-{letters[az_index]}", "metadata", az)
        add(f"router-{letters[az_index]}", "router", az)
    return Topology(processes, partitions_per_table=partitions_per_table, timing=timing or TimingConfig())


def process_command(process_id: str) -> list[str]:
    return [
        "python", "-m", "cluster.runtime.process_main",
        "--topology", TOPOLOGY_IN_CONTAINER, "--id", process_id, "--data-dir", DATA_IN_CONTAINER,
    ]


def toxiproxy_command() -> list[str]:
    return ["python", "-m", "gameday.commands.toxiproxy", "serve", "--host", "0.0.0.0", "--port", str(TOXIPROXY_API_PORT)]


def is_abandoned(state: dict[str, Any] | None, cluster: str, owner_alive: bool) -> bool:
    """Whether resources labelled `cluster` are a crashed run's leftovers that nobody will `down`.

    `state` is the state file found in the resources' data directory (None: gone). A cluster whose
    directory is gone or holds another cluster is abandoned; so is one whose owner (the process that ran
    `up`) died without detaching it: `gameday cluster up` detaches on a normal exit, a game day never does.
    """
    if state is None or state.get("cluster") != cluster:
        return True
    if state.get("detached"):
        return False
    return not owner_alive
