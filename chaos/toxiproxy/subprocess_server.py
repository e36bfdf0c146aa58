"""Runs the Toxiproxy-compatible server as a child process, for tests and the game-day harness."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

# `serve` prints this, followed by the URL, once the API accepts connections.
READY_PREFIX = "toxiproxy listening on "
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


class ToxiproxyStartError(RuntimeError):
    """The server process exited or stayed silent instead of announcing its address."""


@dataclass(frozen=True)
class RunningToxiproxy:
    host: str
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def wait_for_ready_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    deadline_s = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (remaining_s := deadline_s - time.monotonic()) > 0:
            if not selector.select(remaining_s):
                continue
            line = process.stdout.readline()
            if not line:
                raise ToxiproxyStartError(f"toxiproxy server exited with code {process.wait()} before it was ready")
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
    raise ToxiproxyStartError(f"toxiproxy server not ready after {timeout_s} s")


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def running_toxiproxy_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningToxiproxy]:
    """Starts `gameday toxiproxy serve` (port 0: a free port) and always terminates it on exit."""
    command = [sys.executable, "-m", "gameday.commands.toxiproxy", "serve", "--host", host, "--port", str(port)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    try:
        url = wait_for_ready_line(process, START_TIMEOUT_S)
        bound_host, _, bound_port = url.removeprefix("http://").rpartition(":")
        yield RunningToxiproxy(bound_host.strip("[]"), int(bound_port), process)
    finally:
        stop_process(process)
