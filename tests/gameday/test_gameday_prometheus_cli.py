"""`gameday run --prometheus` without the prometheus binary: a clear error, exit 2, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_missing_prometheus_binary_is_refused_before_anything_starts(tmp_path: Path) -> None:
    environment = {**os.environ, "PATH": str(tmp_path)}  # an empty directory: no prometheus on PATH
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "run", "smoke", "--prometheus", "--out", str(run_dir)],
        cwd=Path(__file__).resolve().parents[2], env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--prometheus needs the prometheus binary" in result.stderr and "apt-get install prometheus" in result.stderr
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()
