"""`gameday run smoke --backend docker` runs a whole game day in containers to a valid verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import labelled

pytestmark = [pytest.mark.docker, pytest.mark.cluster]


def test_smoke_game_day_on_docker_is_valid_and_leaves_nothing(tmp_path: Path, docker_client: Any, docker_image: str) -> None:
    from cluster.deploy.docker_cluster import DockerCluster, remove_cluster_resources

    root = Path(__file__).resolve().parents[2]
    run_dir = tmp_path / "run"
    cluster_id = DockerCluster(run_dir / "cluster").id
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gameday.cli", "run", "smoke", "--backend", "docker", "--seed", "1", "--out", str(run_dir)],
            capture_output=True, text=True, timeout=280, env={**os.environ, "PYTHONPATH": str(root)}, cwd=tmp_path,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["backend"] == "docker"
        verdicts = {verifier["name"]: verifier["valid"] for verifier in summary["verifiers"]}
        assert verdicts and all(valid is True for valid in verdicts.values()), verdicts
        kinds = {fault["kind"] for fault in summary["faults"]}
        assert {"power-off", "kill-leader"} <= kinds, kinds
        assert labelled(docker_client, cluster_id) == [], "the game day's cluster must be gone"
    finally:
        remove_cluster_resources(docker_client, cluster_id)
