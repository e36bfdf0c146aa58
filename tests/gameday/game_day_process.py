"""One `gameday` CLI run as a child process, stopped like a user would stop it if it overstays.

On a timeout the run gets SIGINT first (it heals, stops its load and cluster and keeps its record) and
SIGKILL only if it does not end then, so a stuck run leaves no cluster process behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

INTERRUPT_GRACE_S = 90


def run_gameday(arguments: list[str], cwd: Path, timeout_s: float) -> tuple[int, str]:
    """The exit code and the merged output of `gameday ARGUMENTS` run in CWD."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", *arguments],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        output += f"\n(stopped: the run took more than {timeout_s:.0f} s)"
    finally:
        if process.poll() is None:  # an exception in the test itself (Ctrl-C of pytest): stop the run
            process.kill()
            process.wait()
    return process.returncode, output
