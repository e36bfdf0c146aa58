"""Docker tests run against a real daemon. Without one they skip, saying why; with REQUIRE_DOCKER=1 (CI)
they fail instead, so a CI machine whose daemon did not start cannot pass by skipping them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_DOCKER = os.environ.get("REQUIRE_DOCKER") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker daemon (REQUIRE_DOCKER=1 makes its absence a failure)")


def _unavailable(reason: str) -> None:
    if REQUIRE_DOCKER:
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    from cluster.deploy.docker_client import DockerUnavailable, connect

    try:
        return connect(timeout_s=30)
    except DockerUnavailable as error:
        _unavailable(str(error))


@pytest.fixture(scope="session")
def docker_image(docker_client: Any) -> str:
    """The project image for the current source, built here when missing (CI builds it before the suite)."""
    from cluster.deploy.docker_images import ImageError, ensure_image

    try:
        return ensure_image(docker_client, lambda message: print(message, file=sys.stderr))
    except ImageError as error:
        _unavailable(f"the project image cannot be built: {error}")
        raise


def labelled(client: Any, cluster: str) -> list[str]:
    """Every container, network and volume that carries `cluster`'s label."""
    selector = {"label": f"gameday.cluster={cluster}"}
    return sorted(
        [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
        + [f"network {n.name}" for n in client.networks.list(filters=selector)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
    )


@pytest.fixture
def docker_cluster(tmp_path: Path, docker_client: Any, docker_image: str) -> Iterator[Any]:
    """A DockerCluster in tmp_path (not started); always brought down, and everything labelled removed."""
    from cluster.deploy.docker_cluster import DockerCluster, remove_cluster_resources

    cluster = DockerCluster(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        try:
            cluster.down()
        finally:
            remove_cluster_resources(docker_client, cluster.id)
