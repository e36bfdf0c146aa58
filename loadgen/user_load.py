"""A user's own locustfile beside our workloads (`gameday run --locustfile PATH`).

It runs as one more Locust process against the same routers: its users are bound round robin by the
recorder API (loadgen/recorder.py), which it finds through environment variables, and whatever it
records goes into its own history shard, merged and judged like ours. `check_locustfile` runs before the
cluster starts, so a missing or broken file costs nothing.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadgen.endpoints import Endpoint
from loadgen.recorder import GameDaySettings
from loadgen.run import (
    CSV_PREFIX,
    SHARD_STEM,
    STOP_TIMEOUT_S,
    LoadRun,
    prepare_shard_directory,
)

USER_LOAD = "user"  # its name among the run's loads, in summary.json and the report
PROCESS_BLOCK = 900  # its history process numbers: a block no load of ours uses


@dataclass(frozen=True)
class UserLoad:
    """`gameday run --locustfile PATH --locust-users N`, checked (`check_locustfile`)."""

    locustfile: Path
    users: int = 2


class LocustfileError(ValueError):
    """The file cannot be a locustfile: missing, unreadable, or not Python that compiles."""


def check_locustfile(path: Path) -> Path:
    """The resolved path of a file that exists and compiles; the error names the file and the reason."""
    resolved = Path(path).expanduser().resolve()
    try:
        source = resolved.read_bytes()
    except OSError as error:
        raise LocustfileError(f"--locustfile {path}: cannot read it: {error.strerror or error}") from None
    try:
        compile(source, str(resolved), "exec")
    except SyntaxError as error:
        raise LocustfileError(
            f"--locustfile {path}: not valid Python: {error.msg} (line {error.lineno}, column {error.offset})"
        ) from None
    except ValueError as error:  # e.g. NUL bytes
        raise LocustfileError(f"--locustfile {path}: not valid Python: {error}") from None
    return resolved


def start_user_load(
    locustfile: Path, endpoints: Mapping[str, str], users: int, out_dir: Path, seed: int, duration_s: float | None = None
) -> LoadRun:
    """Start Locust headless on `locustfile` (one process, `users` users); stop it like ours (`LoadRun`)."""
    if users < 1:
        raise ValueError(f"need users >= 1, got {users}")
    out_dir = Path(out_dir).resolve()
    shard_directory = prepare_shard_directory(out_dir)
    settings = GameDaySettings(
        endpoints=tuple(Endpoint(name, url) for name, url in endpoints.items()),
        history_path=shard_directory / f"{SHARD_STEM}.jsonl",
        seed=seed,
        process_block=PROCESS_BLOCK,
    )
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--host", next(iter(endpoints.values())), "-u", str(users), "-r", str(users),
        "--stop-timeout", f"{STOP_TIMEOUT_S:g}", "--csv", str(out_dir / CSV_PREFIX),
        "--exit-code-on-error", "0", "--only-summary",
    ]  # fmt: skip
    if duration_s is not None:
        command += ["-t", f"{max(1, math.ceil(duration_s))}s"]
    # LoadRun puts this checkout on PYTHONPATH: the file imports `loadgen.recorder` wherever it lives.
    return LoadRun(endpoints, USER_LOAD, out_dir, "", {"master": command}, duration_s, settings.environment())
