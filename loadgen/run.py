"""Run the locustfile as subprocesses for the game-day orchestrator, then merge the history.

    result = run_load("http://127.0.0.1:8000", "register", users=8, duration_s=30, out_dir=Path("run"),
                      workers=2, table="gameday", keys=8)
    result = run_load({"az-a": "http://127.0.0.1:8000", "az-b": "http://127.0.0.1:8001"}, "register", ...)

The first argument is one endpoint URL, or several by name: then each Locust user is bound to one of
them, round robin (loadgen/endpoints.py), and the history records each operation's endpoint name.

`start_load` is the non-blocking form: the orchestrator applies faults while load runs, then
calls `.stop()` (SIGTERM to the Locust master: a graceful shutdown) and `.wait()`. Whatever
happens, no Locust process outlives `wait()`: a process that does not exit in time is killed.

Layout of `out_dir`: `history.jsonl` (merged), `shards/` (one history per Locust process),
`locust_stats.csv` and friends (Locust's own statistics), `logs/` (each process's output).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadgen.dynamodb_client import ClientSettings, make_client
from loadgen.endpoints import format_endpoints
from loadgen.final_read import FINAL_READ_WORKLOADS, record_final_read
from loadgen.history_merge import merge_histories
from loadgen.operations import WORKLOADS
from loadgen.register_workload import RegisterWeights
from verify.history import HistoryWriter, read_history
from verify.operations import pair_operations

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
REPOSITORY_ROOT = LOCUSTFILE.parents[1]
CSV_PREFIX = "locust"
SHARD_DIRECTORY = "shards"
SHARD_STEM = "history"
READ_TIMEOUT_S = 3.0
# Users finish their operation in flight when stopped (so it gets a real completion): allow
# one read timeout plus a margin before Locust kills them.
STOP_TIMEOUT_S = READ_TIMEOUT_S + 1.0
EXPECT_WORKERS_MAX_WAIT_S = 30
EXIT_GRACE_S = STOP_TIMEOUT_S + 20.0  # after stop(): how long processes get before SIGKILL


class LoadGeneratorError(RuntimeError):
    """Locust did not run or stop cleanly; the message names the logs to read."""


@dataclass(frozen=True)
class LoadResult:
    history_path: Path
    # f -> outcome (ok | fail | info | open) -> operations
    counts: dict[str, dict[str, int]]
    stats_paths: list[Path]
    shard_paths: list[Path]
    log_paths: list[Path]
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def operation_count(self) -> int:
        return sum(sum(by_outcome.values()) for by_outcome in self.counts.values())


class LoadRun:
    """Locust processes started by `start_load`: stop() asks them to finish, wait() collects."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        workload: str,
        out_dir: Path,
        table: str,
        commands: dict[str, list[str]],
        duration_s: float | None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """`environment`: more variables for the Locust processes (a user locustfile's GAMEDAY_*)."""
        self.endpoints = dict(endpoints)
        # The set's final read is a consistent read: any endpoint will do, the first one takes it.
        self.host = next(iter(self.endpoints.values()))
        self.workload = workload
        self.out_dir = out_dir
        self.table = table
        self.duration_s = duration_s
        self.started_s = time.monotonic()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_paths: list[Path] = []
        self._result: LoadResult | None = None
        environment = dict(os.environ) | dict(environment or {})
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPOSITORY_ROOT), environment.get("PYTHONPATH")) if part
        )
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            for name, command in commands.items():
                log_path = out_dir / "logs" / f"{name}.log"
                self._log_paths.append(log_path)
                with open(log_path, "wb") as log:
                    self._processes[name] = subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        cwd=out_dir, env=environment, start_new_session=True,
                    )  # fmt: skip
        except BaseException:
            self._kill_all()
            raise

    def extra_shard_path(self, name: str) -> Path:
        """Where another recorder of this load's operations writes (e.g. loadgen/index_admin.py): merged
        with the users' shards when the load finishes."""
        return self.out_dir / SHARD_DIRECTORY / f"{SHARD_STEM}.{name}.jsonl"

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes.items()}

    def finished_early(self) -> bool:
        """True when a Locust process exited although no duration was set (it crashed or gave up)."""
        return self.duration_s is None and any(process.poll() is not None for process in self._processes.values())

    def stop(self) -> None:
        """Ask Locust to stop gracefully: users finish the operation in flight, stats are written."""
        master = self._processes["master"]
        if master.poll() is None:
            master.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float | None = None) -> LoadResult:
        """Wait for every process (killing any still alive at the deadline), then merge the history."""
        if self._result is not None:
            return self._result
        if timeout_s is None:
            run_s = self.duration_s if self.duration_s is not None else math.inf
            timeout_s = run_s + EXPECT_WORKERS_MAX_WAIT_S + EXIT_GRACE_S
        deadline_s = time.monotonic() + timeout_s
        timed_out = False
        try:
            for process in self._processes.values():
                remaining_s = deadline_s - time.monotonic()
                try:
                    process.wait(timeout=max(remaining_s, 0.0) if math.isfinite(remaining_s) else None)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    break
        finally:
            self._kill_all()
        exit_codes = {name: process.returncode for name, process in self._processes.items()}
        self._result = self._collect(exit_codes)
        if timed_out:
            raise LoadGeneratorError(
                f"Locust did not finish within {timeout_s:g} s and was killed; logs: {self._log_paths}"
            )
        failed = {name: code for name, code in exit_codes.items() if code != 0}
        if failed:
            raise LoadGeneratorError(
                f"Locust exited with {failed}; history merged into {self._result.history_path}; "
                f"logs: {self._log_paths}"
            )
        return self._result

    def _kill_all(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.kill()
        for process in self._processes.values():
            process.wait()

    def _collect(self, exit_codes: dict[str, int]) -> LoadResult:
        shard_directory = self.out_dir / SHARD_DIRECTORY
        shard_directory.mkdir(parents=True, exist_ok=True)
        if self.workload in FINAL_READ_WORKLOADS and len(self._processes) > 1:
            # Master/worker mode: every worker has exited, so the read sees every ok write.
            client = make_client(ClientSettings(self.host, read_timeout_s=READ_TIMEOUT_S))
            with HistoryWriter(shard_directory / f"{SHARD_STEM}.final.jsonl") as history:
                record_final_read(self.workload, client, self.table, history, next(iter(self.endpoints)))
        shard_paths = sorted(shard_directory.glob(f"{SHARD_STEM}*.jsonl"))
        history_path = self.out_dir / "history.jsonl"
        merge_histories(shard_paths, history_path)
        stats_paths = sorted(self.out_dir.glob(f"{CSV_PREFIX}_*.csv"))
        return LoadResult(
            history_path, count_outcomes(history_path), stats_paths, shard_paths, self._log_paths, exit_codes
        )

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._result is None:
            self.stop()
            try:
                self.wait(timeout_s=EXIT_GRACE_S)
            except LoadGeneratorError:
                if exc_info[0] is None:
                    raise


def count_outcomes(history_path: Path) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for operation in pair_operations(read_history(history_path)):
        by_outcome = counts.setdefault(operation.function, {"ok": 0, "fail": 0, "info": 0, "open": 0})
        by_outcome[operation.outcome] += 1
    return counts


def prepare_shard_directory(out_dir: Path) -> Path:
    """OUT_DIR/shards, emptied of history shards: one from an earlier run there must not be merged."""
    shard_directory = out_dir / SHARD_DIRECTORY
    shard_directory.mkdir(parents=True, exist_ok=True)
    for stale in shard_directory.glob(f"{SHARD_STEM}*.jsonl"):
        stale.unlink()
    return shard_directory


def endpoints_by_name(host: str | Mapping[str, str]) -> dict[str, str]:
    """One URL (named by itself) or name → URL, checked: at least one endpoint."""
    endpoints = {host: host} if isinstance(host, str) else dict(host)
    if not endpoints:
        raise ValueError("need at least one endpoint")
    return endpoints


def start_load(
    host: str | Mapping[str, str],
    workload: str,
    users: int,
    duration_s: float | None,
    out_dir: Path,
    *,
    workers: int = 0,
    table: str,
    keys: int,
    spawn_rate: float | None = None,
    weights: RegisterWeights | None = None,
    wait_ms: float = 10.0,
    seed: int | None = None,
    workload_arguments: Sequence[str] = (),
) -> LoadRun:
    """Start Locust headless (`workers` > 0: one master and that many workers). duration None: until stop().

    `host`: one endpoint URL, or endpoint name → URL to bind each user to one of them, round robin.

    `workload_arguments`: more locustfile options, e.g. the hot-key workload's (hot_key_workload.locust_arguments).
    """
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, got {workload!r}")
    if users < 1 or workers < 0:
        raise ValueError(f"need users >= 1 and workers >= 0, got users={users}, workers={workers}")
    out_dir = Path(out_dir).resolve()
    shard_directory = prepare_shard_directory(out_dir)
    weights = weights or RegisterWeights()
    endpoints = endpoints_by_name(host)
    workload_options = [
        "--endpoints", format_endpoints(endpoints), "--workload", workload, "--table", table, "--keys", str(keys),
        "--history", str(shard_directory / f"{SHARD_STEM}.jsonl"),
        "--read-weight", str(weights.read), "--write-weight", str(weights.write),
        "--cas-weight", str(weights.cas), "--incr-weight", str(weights.incr), "--wait-ms", str(wait_ms),
        "--read-timeout-ms", str(READ_TIMEOUT_S * 1000),
    ]  # fmt: skip
    if seed is not None:
        workload_options += ["--seed", str(seed)]
    workload_options += list(workload_arguments)
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    run_options = [
        "--headless", "--host", next(iter(endpoints.values())), "-u", str(users), "-r", f"{spawn_rate or users:g}",
        "--stop-timeout", f"{STOP_TIMEOUT_S:g}", "--csv", str(out_dir / CSV_PREFIX),
        "--exit-code-on-error", "0", "--only-summary",
    ]  # fmt: skip
    if duration_s is not None:
        run_options += ["-t", f"{max(1, math.ceil(duration_s))}s"]
    commands: dict[str, list[str]] = {}
    if workers == 0:
        commands["master"] = locust + run_options + workload_options
    else:
        port = _free_port()
        commands["master"] = locust + run_options + workload_options + [
            "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--expect-workers", str(workers), "--expect-workers-max-wait", str(EXPECT_WORKERS_MAX_WAIT_S),
        ]  # fmt: skip
        for number in range(workers):
            commands[f"worker{number}"] = locust + workload_options + [
                "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
            ]  # fmt: skip
    return LoadRun(endpoints, workload, out_dir, table, commands, duration_s)


def run_load(
    host: str | Mapping[str, str],
    workload: str,
    users: int,
    duration_s: float,
    out_dir: Path,
    *,
    workers: int = 0,
    table: str,
    keys: int,
    spawn_rate: float | None = None,
    weights: RegisterWeights | None = None,
    wait_ms: float = 10.0,
    seed: int | None = None,
    workload_arguments: Sequence[str] = (),
) -> LoadResult:
    """Run load for `duration_s` and return the merged history's counts and Locust's stats paths."""
    with start_load(
        host, workload, users, duration_s, out_dir, workers=workers, table=table, keys=keys,
        spawn_rate=spawn_rate, weights=weights, wait_ms=wait_ms, seed=seed, workload_arguments=workload_arguments,
    ) as run:  # fmt: skip
        return run.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
