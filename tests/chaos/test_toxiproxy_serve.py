"""`gameday toxiproxy serve`: argument wiring and a clean stop on SIGTERM / Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import pytest
import requests

from chaos.toxiproxy.subprocess_server import READY_PREFIX, wait_for_ready_line
from gameday.commands.toxiproxy import register, serve_command

pytestmark = pytest.mark.timeout(60)


def test_register_adds_toxiproxy_serve_with_defaults() -> None:
    parser = argparse.ArgumentParser(prog="gameday")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["toxiproxy", "serve"])
    assert (args.host, args.port, args.handler) == ("127.0.0.1", 8474, serve_command)
    args = parser.parse_args(["toxiproxy", "serve", "--host", "127.0.0.1", "--port", "0"])
    assert args.port == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "gameday.commands.toxiproxy", "serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = wait_for_ready_line(process, 15)
        assert requests.get(f"{url}/version", timeout=5).status_code == 200
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/version", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_serve_reports_a_busy_port() -> None:
    command = [sys.executable, "-m", "gameday.commands.toxiproxy", "serve", "--port", "0"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = wait_for_ready_line(first, 15)
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [*command[:-1], port], capture_output=True, text=True, timeout=30, check=False
        )
        assert second.returncode == 2
        assert "cannot listen" in second.stderr and READY_PREFIX not in second.stdout
    finally:
        first.terminate()
        first.wait(10)
        assert first.stdout is not None
        first.stdout.close()
