"""The recorder API for your own locustfile (`gameday run --locustfile PATH`): record operations into the
game day's history, so our checkers judge them, and count them in Locust's statistics.

    from loadgen.recorder import GameDay, measure

    game_day = GameDay.from_environment()          # once, at module level

    class Orders(User):
        def on_start(self):
            self.endpoint = game_day.next_endpoint()  # round robin over the routers
            self.client = game_day.dynamodb_client(self.endpoint)
            self.recorder = game_day.recorder(self.endpoint)

        @task
        def count_an_order(self):
            self.recorder.record("incr", "orders", 1, lambda: ...)  # returns the CompletedOperation
            measure("list orders", lambda: ...)  # counted in the statistics, not recorded

`record(f, key, value, action)` writes the invoke, runs `action` (your requests; it returns the value an
ok completion records) and writes exactly one completion: `ok`, or `fail`/`info` from the exception it
raised (a timeout of a write is `info`: it may have happened; DESIGN §4). It never raises a request's
error: the outcome is in the returned `CompletedOperation`. Operations judged by the register model:
`read` (value None; `action` returns what it read, None for absent), `write` (value written), `cas`
([expected, new]), `incr` (1; `action` returns the new count). Keys are yours: one key is one register
or one counter, never both.

What the game day gives the file, by environment variable (`GameDay.from_environment` reads them):

- GAMEDAY_ENDPOINTS: a JSON object, router name → URL, in the order users are bound round robin;
- GAMEDAY_HISTORY: the history file to record into (unset: operations are counted, not recorded);
- GAMEDAY_SEED: the run's seed, e.g. for a fresh table name per run (`orders-{seed}`);
- GAMEDAY_PROCESS_BLOCK: this Locust process's block of history process numbers.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.dynamodb_client import ClientSettings, make_client
from loadgen.endpoints import Endpoint, EndpointAssigner
from loadgen.locust_requests import fire_request
from loadgen.operations import PlannedOperation
from loadgen.recording import CompletedOperation, ProcessNumbers, run_recorded
from verify.history import HistoryWriter

ENDPOINTS_VARIABLE = "GAMEDAY_ENDPOINTS"
HISTORY_VARIABLE = "GAMEDAY_HISTORY"
SEED_VARIABLE = "GAMEDAY_SEED"
PROCESS_BLOCK_VARIABLE = "GAMEDAY_PROCESS_BLOCK"
DEFAULT_ENDPOINT = "http://127.0.0.1:8000"  # a file started by hand, outside a game day
REQUEST_TYPE = "gameday"  # Locust's request type of recorded operations


@dataclass(frozen=True)
class GameDaySettings:
    endpoints: tuple[Endpoint, ...]
    history_path: Path | None
    seed: int
    process_block: int

    @staticmethod
    def from_environment(environment: Mapping[str, str]) -> GameDaySettings:
        text = environment.get(ENDPOINTS_VARIABLE)
        by_name = json.loads(text) if text else {DEFAULT_ENDPOINT: DEFAULT_ENDPOINT}
        if not isinstance(by_name, dict) or not by_name:
            raise ValueError(f"{ENDPOINTS_VARIABLE} must be a JSON object of router name to URL, got {text!r}")
        history = environment.get(HISTORY_VARIABLE)
        return GameDaySettings(
            endpoints=tuple(Endpoint(str(name), str(url)) for name, url in by_name.items()),
            history_path=Path(history) if history else None,
            seed=int(environment.get(SEED_VARIABLE, "0")),
            process_block=int(environment.get(PROCESS_BLOCK_VARIABLE, "0")),
        )

    def environment(self) -> dict[str, str]:
        """The variables that hand these settings to a locustfile's process (the inverse of from_environment)."""
        variables = {
            ENDPOINTS_VARIABLE: json.dumps({endpoint.name: endpoint.url for endpoint in self.endpoints}),
            SEED_VARIABLE: str(self.seed),
            PROCESS_BLOCK_VARIABLE: str(self.process_block),
        }
        if self.history_path is not None:
            variables[HISTORY_VARIABLE] = str(self.history_path)
        return variables


class GameDay:
    """What one Locust process of a user's locustfile shares: endpoints, the history, process numbers."""

    def __init__(self, settings: GameDaySettings, fire_request: Callable[[CompletedOperation, str], None] | None = None) -> None:
        self.settings = settings
        self.endpoints = settings.endpoints
        self.seed = settings.seed
        self._assigner = EndpointAssigner(len(self.endpoints))
        self._processes = ProcessNumbers(settings.process_block)
        self._lock = threading.Lock()
        self._history: HistoryWriter | None = None
        self._fire_request = fire_request if fire_request is not None else _fire_locust_request

    @staticmethod
    def from_environment(environment: Mapping[str, str] | None = None) -> GameDay:
        return GameDay(GameDaySettings.from_environment(os.environ if environment is None else environment))

    def next_endpoint(self) -> Endpoint:
        """The endpoint for the next user to start: round robin over every router."""
        with self._lock:
            return self.endpoints[self._assigner.next()]

    def dynamodb_client(self, endpoint: Endpoint, read_timeout_s: float = 3.0) -> Any:
        """A boto3 DynamoDB client as our load uses it: no retries (a retried write would be recorded once
        but applied twice), short timeouts, fixed credentials."""
        return make_client(ClientSettings(endpoint.url, read_timeout_s=read_timeout_s))

    def recorder(self, endpoint: Endpoint | None = None) -> Recorder:
        """One history process at a time for one user (a single-threaded client)."""
        return Recorder(self, endpoint)

    def next_process(self) -> int:
        with self._lock:
            return self._processes.next()

    @property
    def history(self) -> HistoryWriter | None:
        with self._lock:
            if self._history is None and self.settings.history_path is not None:
                self.settings.history_path.parent.mkdir(parents=True, exist_ok=True)
                self._history = HistoryWriter(self.settings.history_path)
                atexit.register(self._history.close)
            return self._history


class _NoHistory:
    """Stands in for the history when the file runs outside a game day: operations are only counted."""

    def write(self, event: Mapping[str, Any]) -> int:
        return -1

    def complete(self, *_: Any, **__: Any) -> int:
        return -1


class Recorder:
    def __init__(self, game_day: GameDay, endpoint: Endpoint | None) -> None:
        self._game_day = game_day
        self._extra = {"endpoint": endpoint.name} if endpoint is not None else None
        self.process = game_day.next_process()

    def record(
        self, function: str, key: str, value: Any, action: Callable[[], Any], name: str | None = None
    ) -> CompletedOperation:
        """Invoke, run `action`, complete honestly; `name` is Locust's request name (default: `function`)."""
        history = self._game_day.history or _NoHistory()
        completed = run_recorded(
            history, self.process, PlannedOperation(function, key, value), action, extra=self._extra  # type: ignore[arg-type]
        )
        self._game_day._fire_request(completed, name or function)
        if completed.outcome == "info":
            self.process = self._game_day.next_process()  # DESIGN §4: a process that saw info never issues again
        return completed


def measure(name: str, action: Callable[[], Any], fire: Callable[[str, float, BaseException | None], None] | None = None) -> Any:
    """A request that is no register operation (a Query of many items, say): counted in Locust's statistics
    under `name`, not recorded. Returns what `action` returns, or None when it raised (counted as a failure)."""
    fire = fire or _fire_plain_locust_request
    started_s = time.perf_counter()
    try:
        value = action()
    except Exception as error:
        fire(name, (time.perf_counter() - started_s) * 1000.0, error)
        return None
    fire(name, (time.perf_counter() - started_s) * 1000.0, None)
    return value


def _fire_plain_locust_request(name: str, response_time_ms: float, error: BaseException | None) -> None:
    from locust import events

    events.request.fire(
        request_type=REQUEST_TYPE, name=name, response_time=response_time_ms, response_length=0, exception=error
    )


def _fire_locust_request(completed: CompletedOperation, name: str) -> None:
    from locust import events  # only inside Locust: the recorder itself is usable without it

    fire_request(events.request, completed, REQUEST_TYPE, name)
