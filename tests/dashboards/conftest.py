"""promtool for the dashboards tests: required in CI, a skip with the reason elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

# Each promtool call parses a few small files; a minute means it hung.
PROMTOOL_TIMEOUT_S = 60

PromtoolRunner = Callable[..., subprocess.CompletedProcess[str]]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def promtool_path() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is not installed: run .ci/install-system-packages (Debian package prometheus)"
        if _in_ci():
            # CI must check the rules; a skip there would pass a broken alert unnoticed.
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
        pytest.skip(reason)
    return path


@pytest.fixture
def promtool(promtool_path: str) -> PromtoolRunner:
    """Run ``promtool ARGS...``; returns the completed process (check ``returncode`` yourself)."""

    def run(*arguments: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [promtool_path, *map(str, arguments)],
            capture_output=True,
            text=True,
            timeout=PROMTOOL_TIMEOUT_S,
            cwd=cwd,
            check=False,
        )

    return run


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
