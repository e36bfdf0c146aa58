"""A real Prometheus (the Debian package's binary) for one game day, with its data in the run directory.

``start_prometheus`` writes ``prometheus.yml`` and the customer-facing alarm rules into the run
directory, starts ``prometheus`` on a free loopback port with its TSDB in ``RUN_DIR/prometheus`` and
returns once it is ready. ``stop()`` ends it (SIGTERM, then SIGKILL); the TSDB stays for later
browsing (``browse_command`` says how). The child dies with us even on SIGKILL (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dashboards.alert_rules import AlertThresholds, render_rules
from dashboards.prometheus_config import write_scrape_config

CONFIG_FILE = "prometheus.yml"
RULES_FILE = "prometheus-rules.yml"
DATA_DIR = "prometheus"
LOG_FILE = "prometheus.log"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0
_PR_SET_PDEATHSIG = 1


class PrometheusError(RuntimeError):
    """Prometheus is missing, refused its configuration, or never became ready."""


def find_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise PrometheusError(
            "--prometheus needs the prometheus binary on PATH: install the Debian package "
            "(`apt-get install prometheus`, as .ci/install-system-packages does)"
        )
    return path


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook: the child gets SIGTERM when the thread that started it dies, however it dies.

    libc is loaded here, before the fork: in the child, between fork and exec, only the C call runs
    (no import, no dlopen, no lock another thread might have held at the fork). Linux only.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return hook


def browse_command(binary: str, run_dir: Path, port: int = 9090) -> str:
    """The command that reopens a finished run's data in the Prometheus UI."""
    return (
        f"{binary} --config.file={run_dir / CONFIG_FILE} --storage.tsdb.path={run_dir / DATA_DIR} "
        f"--web.listen-address=127.0.0.1:{port}"
    )


@dataclass
class PrometheusServer:
    binary: str
    run_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        path = self.run_dir / LOG_FILE
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> int:
        """SIGTERM (Prometheus flushes its head block), SIGKILL after STOP_GRACE_S; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()
        return int(self.process.returncode)


def _wait_ready(server: PrometheusServer, timeout_s: float) -> None:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        if server.process.poll() is not None:
            raise PrometheusError(
                f"prometheus exited with {server.process.returncode} at start; {server.run_dir / LOG_FILE}:\n"
                + server.log_tail()
            )
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise PrometheusError(f"prometheus was not ready within {timeout_s:g} s; see {server.run_dir / LOG_FILE}")


def start_prometheus(
    run_dir: Path,
    targets: Mapping[str, Sequence[str]],
    thresholds: AlertThresholds,
    *,
    samples_min: int | None = None,
    scrape_interval_s: float = 1.0,
    binary: str | None = None,
) -> PrometheusServer:
    """Scrape ``targets`` (job → ["127.0.0.1:PORT", ...]) every ``scrape_interval_s`` with the alarm rules."""
    binary = binary or find_prometheus()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RULES_FILE).write_text(render_rules(thresholds, samples_min), encoding="utf-8")
    config = write_scrape_config(run_dir / CONFIG_FILE, targets, scrape_interval_s, rule_files=[RULES_FILE])
    port = _free_loopback_port()
    log = (run_dir / LOG_FILE).open("ab")
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={run_dir / DATA_DIR}",
        f"--web.listen-address=127.0.0.1:{port}",
        # A game day's data is small and is the record of the run: never expire it.
        "--storage.tsdb.retention.time=100y",
    ]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C reaches us, not it: we stop it after the verdict
            preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509 - one C call, nothing else, before exec
        )
    except OSError as error:
        log.close()
        raise PrometheusError(f"cannot start {binary}: {error}") from error
    server = PrometheusServer(binary, run_dir, port, process, log)
    try:
        _wait_ready(server, READY_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server
