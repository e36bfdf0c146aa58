"""Which deploy backend runs a cluster: local processes (the default) or Docker containers.

Every backend offers the same surface (`ClusterBackend`), so the CLI, the chaos controller and the
game day do not care where the processes live. Backends are imported lazily: the Docker one needs
the `docker` SDK, which the local backend must not require.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from cluster.runtime.topology import Topology

# name -> "module:Class"; the class is built as Class(data_dir).
BACKENDS: dict[str, str] = {
    "local": "cluster.deploy.local_processes:LocalCluster",
    "docker": "cluster.deploy.docker_cluster:DockerCluster",
}
DEFAULT_BACKEND = "local"


class UnknownBackendError(ValueError):
    pass


class ClusterBackend(Protocol):
    """What the CLI, the chaos controller and the game day use of a running cluster."""

    def up(self, **options: Any) -> dict[str, Any]: ...
    def down(self) -> list[str]: ...
    def status(self) -> dict[str, Any]: ...
    def endpoints(self) -> dict[str, str]: ...
    def topology(self) -> Topology: ...
    def pids(self) -> dict[str, int]: ...
    def is_running(self, process_id: str) -> bool: ...
    def signal_process(self, process_id: str, signal_number: int) -> None: ...
    def start_process(self, process_id: str) -> int: ...


def open_cluster(backend: str, data_dir: Path) -> ClusterBackend:
    """The cluster of `backend` whose state lives in `data_dir` (nothing starts until `up`)."""
    try:
        module_name, _, class_name = BACKENDS[backend].partition(":")
    except KeyError:
        raise UnknownBackendError(f"unknown backend {backend!r}; choose one of {', '.join(sorted(BACKENDS))}") from None
    cluster_class = getattr(importlib.import_module(module_name), class_name)
    return cluster_class(data_dir)
