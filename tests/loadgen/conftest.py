"""A real DynamoDB emulator (moto_server) as a subprocess on a free loopback port, per test."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import gameday.cli

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def moto_endpoint(tmp_path: Path) -> Iterator[str]:
    if not MOTO_SERVER.exists():
        pytest.skip(f"{MOTO_SERVER} not installed (pip install 'moto[server]')")
    port = free_port()
    with open(tmp_path / "moto_server.log", "wb") as log:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline_s = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}; see {tmp_path}/moto_server.log")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline_s:
                    raise RuntimeError("moto_server did not listen in time") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gameday_check(history: Path, model: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """`gameday check HISTORY --model MODEL` through the real CLI; returns (exit code, verdict)."""
    # Other subcommands are built in parallel by others; dispatch through those that import.
    available = tuple(name for name in gameday.cli.COMMAND_MODULES if importlib.util.find_spec(name) is not None)
    monkeypatch.setattr(gameday.cli, "COMMAND_MODULES", available)
    capsys.readouterr()
    code = gameday.cli.main(["check", str(history), "--model", model])
    return code, json.loads(capsys.readouterr().out)
