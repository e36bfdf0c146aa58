"""Start one canary process per AZ and always stop them all.

Each process runs ``python -m canaries.run`` and appends to one shared ``canaries.jsonl``
in ``out_dir`` (see ``records_file``); its stderr goes to ``canary-<az>.log`` beside it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

RECORDS_FILE_NAME = "canaries.jsonl"
# The directory that holds the ``canaries`` package, so children import it without an install.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class CanaryStartError(RuntimeError):
    """A canary process exited or stayed silent before reporting its metrics port."""


@dataclass
class _CanaryProcess:
    az: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    metrics_port: int | None = None


@dataclass
class CanaryFleet:
    """The running canary processes; ``stop()`` (or leaving a ``with`` block) ends every one."""

    out_dir: Path
    _members: list[_CanaryProcess] = field(default_factory=list)

    @property
    def records_path(self) -> Path:
        return self.out_dir / RECORDS_FILE_NAME

    @property
    def metrics_ports(self) -> dict[str, int]:
        return {member.az: member.metrics_port for member in self._members if member.metrics_port is not None}

    @property
    def pids(self) -> dict[str, int]:
        return {member.az: member.process.pid for member in self._members}

    def stop(self, grace_s: float = 10.0) -> dict[str, int]:
        """SIGTERM every canary, SIGKILL whichever is still alive after ``grace_s``; returns exit codes."""
        for member in self._members:
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        deadline_s = time.monotonic() + grace_s
        exit_codes: dict[str, int] = {}
        for member in self._members:
            try:
                member.process.wait(max(0.0, deadline_s - time.monotonic()))
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
            exit_codes[member.az] = member.process.returncode
            for stream in (member.process.stdin, member.process.stdout):
                if stream is not None:
                    stream.close()
            member.log.close()
        return exit_codes

    def __enter__(self) -> CanaryFleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_first_line(member: _CanaryProcess, deadline_s: float) -> bytes:
    stdout = member.process.stdout
    assert stdout is not None
    buffered = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while b"\n" not in buffered:
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                raise CanaryStartError(f"canary {member.az} did not report its metrics port in time")
            if not selector.select(remaining_s):
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise CanaryStartError(
                    f"canary {member.az} exited with {member.process.wait()} before starting; see {member.log.name}"
                )
            buffered += chunk
    return buffered.split(b"\n", 1)[0]


def start_canaries(
    endpoints_by_az: dict[str, dict[str, str]],
    table: str,
    out_dir: Path,
    interval_s: float,
    *,
    timeout_s: float = 1.0,
    startup_timeout_s: float = 60.0,
    python: str = sys.executable,
    cross_reads: bool = False,
) -> CanaryFleet:
    """Start one canary per AZ (canary AZ → {endpoint AZ → URL as reachable from that AZ}).

    ``cross_reads``: each canary also reads what it wrote through its own AZ's endpoint back through
    every other endpoint (canaries/cross_read.py); for endpoints of one store only.

    Returns once every canary is probing. On any start failure, the ones already started
    are stopped before the error propagates.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fleet = CanaryFleet(out_dir)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(_PACKAGE_ROOT), environment.get("PYTHONPATH", "")) if part
    )
    try:
        for az, endpoints in sorted(endpoints_by_az.items()):
            command = [
                python,
                "-m",
                "canaries.run",
                "--az",
                az,
                "--table",
                table,
                "--interval",
                str(interval_s),
                "--timeout",
                str(timeout_s),
                "--metrics-port",
                "0",
                "--out",
                str(fleet.records_path),
                "--stop-on-stdin-eof",
                "--setup-timeout",
                str(startup_timeout_s),
            ]
            for endpoint_az, url in sorted(endpoints.items()):
                command += ["--endpoint", f"{endpoint_az}={url}"]
            if cross_reads:
                command.append("--cross-reads")
            log = (out_dir / f"canary-{az}.log").open("ab")
            try:
                # stdin is a pipe that this process never writes: if we die, it closes and the canary stops.
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=environment,
                    start_new_session=True,
                )
            except BaseException:
                log.close()
                raise
            fleet._members.append(_CanaryProcess(az, process, log))
        deadline_s = time.monotonic() + startup_timeout_s + 10.0
        for member in fleet._members:
            member.metrics_port = int(json.loads(_read_first_line(member, deadline_s))["metrics_port"])
    except BaseException:
        fleet.stop()
        raise
    return fleet
