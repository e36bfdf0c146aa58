"""Real DynamoDB endpoints for canary tests: one ``moto_server`` process per pretend AZ, always killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoEndpoints:
    """moto_server processes by AZ; ``kill`` and ``pause`` stand for an endpoint outage and a hang."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}

    def start(self, azs: list[str]) -> dict[str, str]:
        for az in azs:
            port = free_port()
            with (self._log_dir / f"moto-{az}.log").open("wb") as log:
                self._processes[az] = subprocess.Popen(
                    [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
                )
            self.urls[az] = f"http://127.0.0.1:{port}"
        for az in azs:
            self._wait_ready(az)
        return dict(self.urls)

    def _wait_ready(self, az: str) -> None:
        deadline_s = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline_s:
            if self._processes[az].poll() is not None:
                raise RuntimeError(f"moto_server for {az} exited; see {self._log_dir}")
            try:
                with urllib.request.urlopen(self.urls[az] + "/moto-api/", timeout=1.0):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server for {az} not ready within {STARTUP_TIMEOUT_S} s")

    def kill(self, az: str) -> None:
        process = self._processes[az]
        process.kill()
        process.wait()

    def pause(self, az: str) -> None:
        # A stopped process still has its listening socket: connects succeed, answers never come.
        os.kill(self._processes[az].pid, signal.SIGSTOP)

    def stop_all(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.kill()  # SIGKILL also ends a SIGSTOPped process
            process.wait()


@pytest.fixture
def moto_endpoints(tmp_path: Path) -> Iterator[MotoEndpoints]:
    endpoints = MotoEndpoints(tmp_path)
    try:
        yield endpoints
    finally:
        endpoints.stop_all()
