"""The Locust side of the hot-key workload: which user is hot, when the hot phase runs, its events.

One `HotKeyLoad` per load process (built beside the session). The hot phase is timed from the moment
the load process started its users; its start and end are written to the history as `workload` events
(with the wall time, so the verifier can place the metadata service's split times, which are wall-clock,
on the history's monotonic clock).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent

from loadgen.dynamodb_operations import execute
from loadgen.hot_key_workload import (
    HOT_PHASE_END,
    HOT_PHASE_START,
    THROTTLE_CODES,
    Backoff,
    ColdWorkload,
    HotKeySettings,
    HotWorkload,
    cold_keys,
    hot_keys,
    is_hot_user,
)
from loadgen.operations import UniqueValues
from loadgen.recording import CompletedOperation, run_recorded
from loadgen.register_workload import RegisterWeights
from verify.history import WORKLOAD_PROCESS, HistoryWriter

BEFORE, HOT, AFTER = "before", "hot", "after"
IDLE_POLL_S = 0.1  # how often an idle hot user looks at the clock


class HotKeyLoad:
    def __init__(
        self,
        settings: HotKeySettings,
        cold_clients: int,
        partitions_per_table: int,
        keys: int,
        weights: RegisterWeights,
        values: UniqueValues,
        rng: random.Random,
        history: HistoryWriter,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.cold_clients = cold_clients
        self.hot_key_names = hot_keys(settings.hot_keys, partitions_per_table)
        self.cold_key_names = cold_keys(keys, partitions_per_table)
        self.cold = ColdWorkload(self.cold_key_names, weights, values, rng)
        self.hot = HotWorkload(self.hot_key_names, values, rng)
        self.partitions_per_table = partitions_per_table
        self._rng = rng
        self._history = history
        self._clock = clock
        self._wall_clock = wall_clock
        self.started_s = clock()
        self._users_started = 0
        self.marked: set[str] = set()

    def next_user_is_hot(self) -> bool:
        number = self._users_started
        self._users_started += 1
        return is_hot_user(number, self.cold_clients, self.settings.hot_clients)

    def new_backoff(self) -> Backoff:
        return Backoff(random.Random(self._rng.random()))

    def phase(self) -> str:
        """Where the hot phase stands now; marks its start and end in the history the first time they are seen."""
        elapsed_s = self._clock() - self.started_s
        if elapsed_s < self.settings.hot_start_s:
            return BEFORE
        if elapsed_s < self.settings.hot_end_s:
            self._mark(HOT_PHASE_START)
            return HOT
        self._mark(HOT_PHASE_START)
        self._mark(HOT_PHASE_END)
        return AFTER

    def seconds_until_start(self) -> float:
        return max(0.0, self.started_s + self.settings.hot_start_s - self._clock())

    def close(self) -> None:
        """The load is stopping: a hot phase that began but did not reach its end is closed here."""
        if HOT_PHASE_START in self.marked and HOT_PHASE_END not in self.marked:
            self._mark(HOT_PHASE_END, cut_short=True)

    def _mark(self, name: str, cut_short: bool = False) -> None:
        if name in self.marked:
            return
        self.marked.add(name)
        value = {
            "wall_s": self._wall_clock(),
            "hot_keys": self.hot_key_names,
            "hot_clients": self.settings.hot_clients,
            "planned_start_s": self.settings.hot_start_s,
            "planned_duration_s": self.settings.hot_duration_s,
            "partitions_per_table": self.partitions_per_table,
        }
        if cut_short:
            value["cut_short"] = True
        self._history.write({"process": WORKLOAD_PROCESS, "type": "info", "f": name, "value": value})


def add_hot_key_options(parser: Any) -> None:
    """The locustfile's options of the hot-key workload (LOADGEN_* environment variables as fallback)."""
    parser.add_argument("--partitions-per-table", type=int, default=4, env_var="LOADGEN_PARTITIONS_PER_TABLE",
                        help="hot-key: the table's initial partition count (to find keys of one partition)")
    parser.add_argument("--cold-clients", type=int, default=4, env_var="LOADGEN_COLD_CLIENTS",
                        help="hot-key: users running the register workload on cold keys")
    parser.add_argument("--hot-clients", type=int, default=8, env_var="LOADGEN_HOT_CLIENTS",
                        help="hot-key: users hammering the hot keys during the hot phase")
    parser.add_argument("--hot-keys", type=int, default=4, env_var="LOADGEN_HOT_KEYS",
                        help="hot-key: keys of the first partition the hot users hammer")
    parser.add_argument("--hot-start-s", type=float, default=20.0, env_var="LOADGEN_HOT_START_S",
                        help="hot-key: seconds after the users start before the hot phase")
    parser.add_argument("--hot-duration-s", type=float, default=30.0, env_var="LOADGEN_HOT_DURATION_S",
                        help="hot-key: length of the hot phase in seconds")
    parser.add_argument("--process-block", type=int, default=0, env_var="LOADGEN_PROCESS_BLOCK",
                        help="hot-key: first block of history process numbers and values (a second load "
                             "process on the same table takes another)")  # fmt: skip


@dataclass(frozen=True)
class HotKeyOptions:
    settings: HotKeySettings
    cold_clients: int
    partitions_per_table: int
    process_block: int = 0

    @staticmethod
    def from_parsed(options: Any) -> HotKeyOptions:
        if options.cold_clients < 0 or options.partitions_per_table < 1 or not 0 <= options.process_block < 900:
            raise ValueError(
                f"need --cold-clients >= 0, --partitions-per-table >= 1 and 0 <= --process-block < 900, got "
                f"{options.cold_clients}, {options.partitions_per_table}, {options.process_block}"
            )
        return HotKeyOptions(
            HotKeySettings(options.hot_keys, options.hot_clients, options.hot_start_s, options.hot_duration_s),
            options.cold_clients,
            options.partitions_per_table,
            options.process_block,
        )

    def start(
        self, keys: int, weights: RegisterWeights, values: UniqueValues, rng: random.Random, history: HistoryWriter
    ) -> HotKeyLoad:
        return HotKeyLoad(self.settings, self.cold_clients, self.partitions_per_table, keys, weights, values, rng, history)


class HotUserRole:
    """What makes a Locust user a hot one: idle outside the hot phase, hammering with back-off inside it."""

    def __init__(self, load: HotKeyLoad) -> None:
        self.load = load
        self.backoff = load.new_backoff()
        self.throttled = 0

    def operate(
        self,
        history: HistoryWriter,
        client: Any,
        table: str,
        process: int,
        new_process: Callable[[], int],
        report: Callable[[CompletedOperation], None],
        extra: dict[str, Any] | None = None,
    ) -> int:
        """One step of a hot user; returns its process number (a fresh one after an `info`, DESIGN §4)."""
        phase = self.load.phase()
        if phase != HOT:
            gevent.sleep(min(IDLE_POLL_S, self.load.seconds_until_start()) if phase == BEFORE else IDLE_POLL_S)
            return process
        workload = self.load.hot
        operation = workload.plan()
        completed = run_recorded(
            history, process, operation, lambda: execute(client, table, operation), record_error=True, extra=extra
        )
        workload.observe(operation, completed.outcome, completed.value)
        report(completed)
        if completed.failure is not None and completed.failure.error_code in THROTTLE_CODES:
            self.throttled += 1
            gevent.sleep(self.backoff.after_throttle())
        elif completed.outcome == "ok":
            self.backoff.after_success()
        return new_process() if completed.outcome == "info" else process

