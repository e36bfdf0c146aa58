"""Bad input on the Docker backend: a clear error that says what to do, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gameday(arguments: list[str], environment: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gameday.cli", *arguments], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **environment}, cwd=cwd, check=False,
    )


@pytest.fixture
def closed_docker_socket(tmp_path: Path) -> str:
    """A unix socket path where nothing listens (bound once, then closed)."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
    return f"unix://{path}"


def test_cluster_up_without_a_daemon_says_how_to_start_one(tmp_path: Path, closed_docker_socket: str) -> None:
    result = _gameday(
        ["cluster", "up", "--backend", "docker", "--data-dir", str(tmp_path / "cluster")],
        {"DOCKER_HOST": closed_docker_socket}, tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "no Docker daemon answers at " + closed_docker_socket in result.stderr
    assert "dockerd" in result.stderr and "DOCKER_HOST" in result.stderr
    assert "Traceback" not in result.stderr


def test_game_day_without_a_daemon_is_unknown_and_names_the_cause(tmp_path: Path, closed_docker_socket: str) -> None:
    result = _gameday(
        ["run", "smoke", "--backend", "docker", "--out", str(tmp_path / "run")],
        {"DOCKER_HOST": closed_docker_socket}, tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no Docker daemon answers" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_image_that_cannot_be_built_names_the_build_command(
    tmp_path: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cluster.deploy.docker_cluster import DockerCluster
    from cluster.deploy.local_processes import ClusterError

    monkeypatch.setenv("GAMEDAY_DOCKER_IMAGE", "gameday-harness:no-such-tag")
    cluster = DockerCluster(tmp_path / "cluster")
    try:
        with pytest.raises(ClusterError, match="make docker-images"):
            cluster.up(wait_s=5)
    finally:
        cluster.down()
