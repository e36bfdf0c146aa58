"""`gameday run smoke --backend docker` runs a whole game day in containers to a valid verdict.

The suite runs smoke with its four faults closer together (every 5 s, 2-3 s each) and shorter calm phases:
the same cluster, load, faults and thresholds, 16 s less of the suite's budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import labelled
from tests.gameday.run_failures import failed_verifiers
from tests.gameday.scenario_copies import shortened_copy

pytestmark = [pytest.mark.docker, pytest.mark.cluster]


def test_smoke_game_day_on_docker_is_valid_and_leaves_nothing(tmp_path: Path, docker_client: Any, docker_image: str) -> None:
    from cluster.deploy.docker_cluster import DockerCluster, remove_cluster_resources

    root = Path(__file__).resolve().parents[2]
    run_dir = tmp_path / "run"
    cluster_id = DockerCluster(run_dir / "cluster").id
    scenario = shortened_copy(
        "smoke", tmp_path, {"warmup_s": 3, "recovery_s": 6},
        faults={"duration_s": 20, "interval_s": 5, "fault_duration_s": [2, 3]},
    )  # fmt: skip
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gameday.cli", "run", str(scenario), "--backend", "docker", "--seed", "1", "--out", str(run_dir)],
            capture_output=True, text=True, timeout=280, env={**os.environ, "PYTHONPATH": str(root)}, cwd=tmp_path,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:] + "\n" + failed_verifiers(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["backend"] == "docker"
        verdicts = {verifier["name"]: verifier["valid"] for verifier in summary["verifiers"]}
        assert verdicts and all(valid is True for valid in verdicts.values()), verdicts
        kinds = {fault["kind"] for fault in summary["faults"]}
        assert {"power-off", "pause", "kill-leader", "partition-node"} <= kinds, kinds
        assert labelled(docker_client, cluster_id) == [], "the game day's cluster must be gone"
    finally:
        remove_cluster_resources(docker_client, cluster_id)
