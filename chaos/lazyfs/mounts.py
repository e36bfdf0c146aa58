"""Starting and stopping one lazyfs mount: its own OS process, so a store crash cannot take it down.

`start_mount` clears a stale mount first (a lazyfs process killed without unmounting leaves one that
answers ENOTCONN), then waits until the kernel lists the new mount. `stop_mount` unmounts cleanly
(the file system then makes everything durable, as a clean shutdown does), falls back to a lazy unmount
when busy, and kills the process only when it does not exit; it never leaves a mount behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
FUSERMOUNT = "fusermount3"


class LazyfsMountError(Exception):
    """A lazyfs mount could not be started or stopped; the message says what to do."""


def available() -> str | None:
    """None when lazyfs can run here, else why not (for a clear error before any cluster starts)."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse does not exist (load the fuse module, or give the container /dev/fuse)"
    if shutil.which(FUSERMOUNT) is None:
        return "fusermount3 is not installed (apt-get install fuse3; .ci/install-system-packages does it)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as error:
        return f"the Python binding mfusepy cannot load ({error}); pip install 'gameday-harness[lazyfs]'"
    return None


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def is_mounted(mountpoint: Path) -> bool:
    try:
        target = str(mountpoint.resolve()) if mountpoint.exists() else str(mountpoint)
    except OSError:  # a mount whose FUSE process died answers ENOTCONN: it is still in mountinfo
        target = str(mountpoint)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(_unescape(line.split()[4]) == target for line in lines if len(line.split()) > 4)


def _absolute(mountpoint: Path) -> Path:
    # resolve() would stat a dead mount point (ENOTCONN): make it absolute without touching it.
    return Path(os.path.abspath(mountpoint))


def unmount(mountpoint: Path, lazy: bool = False) -> bool:
    command = [FUSERMOUNT, "-u", "-q", *(["-z"] if lazy else []), str(_absolute(mountpoint))]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode == 0


def marker(mountpoint: Path) -> str:
    """What the lazyfs process's command line contains (a recycled pid does not)."""
    return f"chaos.lazyfs.serve --mount {_absolute(mountpoint)}"


def start_mount(mountpoint: Path, log_path: Path, timeout_s: float = START_TIMEOUT_S) -> int:
    """Mounts lazyfs over `mountpoint` (created if missing) in a new process; returns its pid."""
    problem = available()
    if problem:
        raise LazyfsMountError(f"lazyfs cannot run: {problem}")
    mountpoint = _absolute(mountpoint)
    if is_mounted(mountpoint):
        unmount(mountpoint, lazy=True)  # stale (its process died): nothing is served through it any more
    mountpoint.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "chaos.lazyfs.serve", "--mount", str(mountpoint)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the user's terminal must not unmount a node's disk
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_mounted(mountpoint):
            return process.pid
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise LazyfsMountError(f"lazyfs for {mountpoint} exited during start-up; its log ends:\n{tail}")
        time.sleep(0.02)
    process.kill()
    process.wait()
    unmount(mountpoint, lazy=True)
    raise LazyfsMountError(f"lazyfs did not mount {mountpoint} within {timeout_s:.0f}s; see {log_path}")


def _alive(pid: int, expected_marker: str) -> bool:
    """True when `pid` runs with `expected_marker` in its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return expected_marker in cmdline and state != "Z"


def process_serves(pid: int, mountpoint: Path) -> bool:
    """True when `pid` is the live lazyfs process of `mountpoint` (not a recycled pid)."""
    return _alive(pid, marker(mountpoint))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_mount(mountpoint: Path, pid: int | None, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Unmounts (clean when possible: unsynced data is written back) and waits for the process to exit."""
    mountpoint = _absolute(mountpoint)
    expected = marker(mountpoint)
    if is_mounted(mountpoint) and not unmount(mountpoint):
        unmount(mountpoint, lazy=True)  # busy: detached now, the process ends when the last file closes
    deadline = time.monotonic() + timeout_s
    while pid is not None and _alive(pid, expected) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    if pid is not None and _alive(pid, expected):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if pid is not None:
        for _ in range(100):
            _reap(pid)
            if not _alive(pid, expected):
                break
            time.sleep(0.02)
    if is_mounted(mountpoint):
        unmount(mountpoint, lazy=True)
    if is_mounted(mountpoint):
        raise LazyfsMountError(f"{mountpoint} is still mounted; run: {FUSERMOUNT} -u -z {mountpoint}")
