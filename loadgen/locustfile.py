"""Locust glue: users that issue DynamoDB operations and record each one in the history.

    locust -f loadgen/locustfile.py --headless -u 8 -r 8 -t 10s --host http://127.0.0.1:8000 \\
        --workload register --table loadgen --keys 4 --history history.jsonl

    ... --endpoints az-a=http://127.0.0.1:8000,az-b=http://127.0.0.1:8001   # instead of --host

Each user is one history process; after an `info` it takes a fresh process number (and keeps its
endpoint). Each user is bound to one endpoint, round robin over `--endpoints` in the order users start
(a worker's round starts at its index), and every user draws from all keys, so every key is reached
through every endpoint; each history event records its endpoint's name in an extra `endpoint` field. Options
fall back to LOADGEN_* environment variables. In master/worker mode every worker writes its
own shard `<history stem>.worker<index><suffix>` (Locust copies the master's options to all
workers, so the path is derived from the worker index); `loadgen.run` merges the shards.
The set workload's final read-set runs here in a standalone run; in master/worker mode the
caller runs it after every worker has stopped (`loadgen.run` does).
"""

from __future__ import annotations

import logging
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

try:
    import loadgen  # noqa: F401 - installed, or run from the repository root
except ImportError:  # `locust -f loadgen/locustfile.py` from anywhere: find the package by path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from locust import User, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadgen.bank_workload import BankWorkload, bank_setup, execute_bank, open_accounts  # noqa: E402
from loadgen.dynamodb_client import ClientSettings, ensure_table, make_client  # noqa: E402
from loadgen.dynamodb_operations import SET_SORT_KEY, execute  # noqa: E402
from loadgen.endpoints import Endpoint, EndpointAssigner, parse_endpoints  # noqa: E402
from loadgen.final_read import FINAL_READ_WORKLOADS, record_final_read  # noqa: E402
from loadgen.hot_key_session import HotKeyLoad, HotKeyOptions, HotUserRole, add_hot_key_options  # noqa: E402
from loadgen.index_workload import GLOBAL_INDEX, INDEX_ATTRIBUTES, IndexWorkload, execute_index  # noqa: E402
from loadgen.list_append_workload import ListAppendWorkload, execute_list_append  # noqa: E402
from loadgen.locust_requests import fire_request  # noqa: E402
from loadgen.operations import WORKLOADS, UniqueValues  # noqa: E402
from loadgen.recording import CompletedOperation, ProcessNumbers, run_recorded  # noqa: E402
from loadgen.register_workload import RegisterWeights, RegisterWorkload  # noqa: E402
from loadgen.set_workload import SetWorkload  # noqa: E402
from verify.bank_checker import BANK_SETUP  # noqa: E402
from verify.history import WORKLOAD_PROCESS, HistoryWriter  # noqa: E402

logger = logging.getLogger("loadgen")
REQUEST_TYPE = "dynamodb"


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--workload", choices=list(WORKLOADS), default="register",
                        env_var="LOADGEN_WORKLOAD",
                        help="register (read/write/cas), set (add + final read-set), hot-key (register users on "
                             "cold keys + hot users on one partition's keys, loadgen/hot_key_workload.py) or bank "
                             "(transactional transfers between --keys accounts and reads of them all) or list-append (transactions "
                             "appending to and reading lists at --keys keys, judged as Elle does) or index (items "
                             "moved between the keys of a global secondary index, Queries of it and a final read)")
    parser.add_argument("--endpoints", default=None, env_var="LOADGEN_ENDPOINTS",
                        help="NAME=URL,NAME=URL (or URL,URL): each user is bound to one, round robin; "
                             "default: --host alone")
    parser.add_argument("--table", default="loadgen", env_var="LOADGEN_TABLE",
                        help="table to use; created when missing (hash key pk, S; the set workload's also range "
                             "key sk, N: its final read is a Query per item collection)")
    parser.add_argument("--keys", type=int, default=8, env_var="LOADGEN_KEYS", help="register keys r0..rN-1")
    parser.add_argument("--history", default="history.jsonl", env_var="LOADGEN_HISTORY",
                        help="history file (JSON Lines, DESIGN §4); workers write <stem>.worker<i><suffix>")
    parser.add_argument("--read-weight", type=float, default=1.0, env_var="LOADGEN_READ_WEIGHT")
    parser.add_argument("--write-weight", type=float, default=1.0, env_var="LOADGEN_WRITE_WEIGHT")
    parser.add_argument("--cas-weight", type=float, default=1.0, env_var="LOADGEN_CAS_WEIGHT")
    parser.add_argument("--incr-weight", type=float, default=0.0, env_var="LOADGEN_INCR_WEIGHT",
                        help="register workload: increments (UpdateItem ADD) of counter keys c0..cN-1, read back too")
    parser.add_argument("--wait-ms", type=float, default=10.0, env_var="LOADGEN_WAIT_MS",
                        help="pause of each user between operations")
    parser.add_argument("--connect-timeout-ms", type=float, default=1000.0, env_var="LOADGEN_CONNECT_TIMEOUT_MS")
    parser.add_argument("--read-timeout-ms", type=float, default=3000.0, env_var="LOADGEN_READ_TIMEOUT_MS")
    parser.add_argument("--seed", type=int, default=None, env_var="LOADGEN_SEED",
                        help="seed of the operation mix (default: random, logged)")  # fmt: skip
    add_hot_key_options(parser)


@dataclass(frozen=True)
class LoadOptions:
    workload: str
    table: str
    keys: int
    history_path: Path
    weights: RegisterWeights
    wait_s: float
    client_settings: ClientSettings  # its endpoint_url is the first endpoint's
    seed: int
    hot_key: HotKeyOptions | None = None
    endpoints: tuple[Endpoint, ...] = ()

    @staticmethod
    def from_environment(environment: Environment) -> LoadOptions:
        options = environment.parsed_options
        if options.endpoints:
            endpoints = parse_endpoints(options.endpoints)
        elif environment.host is not None:
            endpoints = (Endpoint(environment.host, environment.host),)
        else:
            raise ValueError("--host or --endpoints is required: the DynamoDB endpoint(s), e.g. http://127.0.0.1:8000")
        return LoadOptions(
            workload=options.workload,
            table=options.table,
            keys=options.keys,
            history_path=Path(options.history),
            weights=RegisterWeights(options.read_weight, options.write_weight, options.cas_weight, options.incr_weight),
            wait_s=options.wait_ms / 1000.0,
            client_settings=ClientSettings(
                endpoint_url=endpoints[0].url,
                connect_timeout_s=options.connect_timeout_ms / 1000.0,
                read_timeout_s=options.read_timeout_ms / 1000.0,
            ),
            seed=options.seed if options.seed is not None else random.SystemRandom().randrange(2**32),
            hot_key=HotKeyOptions.from_parsed(options) if options.workload == "hot-key" else None,
            endpoints=endpoints,
        )


def shard_path(history_path: Path, worker_index: int) -> Path:
    return history_path.with_name(f"{history_path.stem}.worker{worker_index}{history_path.suffix}")


class LoadSession:
    """Everything one Locust process shares among its users; built once, on the first test_start."""

    def __init__(self, options: LoadOptions, worker_index: int, history_path: Path) -> None:
        self.options = options
        # One client per endpoint, shared by the users bound to it (a boto3 client is thread-safe and
        # these are greenlets); each user sends every request through its own endpoint's client.
        self.endpoints = options.endpoints
        boto_session = boto3.session.Session()  # one loaded service model for every endpoint's client
        self.clients = [
            make_client(replace(options.client_settings, endpoint_url=endpoint.url), boto_session)
            for endpoint in self.endpoints
        ]
        self.client = self.clients[0]  # table set-up and the standalone final read: any endpoint will do
        # Hot and cold users (the hot-key workload) each get their own round, so neither kind can end up
        # on one endpoint because of how the two kinds interleave in start order.
        self.endpoint_assigners = {
            hot: EndpointAssigner(len(self.endpoints), worker_index) for hot in (False, True)
        }
        history_path.parent.mkdir(parents=True, exist_ok=True)
        self.history = HistoryWriter(history_path)
        # Another load on the same store (the hot-key workload's hot users) takes another block.
        block = options.hot_key.process_block + worker_index if options.hot_key else worker_index
        self.processes = ProcessNumbers(block)
        values = UniqueValues(block)
        rng = random.Random(options.seed + worker_index)
        self.workload: RegisterWorkload | SetWorkload | BankWorkload | ListAppendWorkload | IndexWorkload
        self.hot_key: HotKeyLoad | None = None
        if options.hot_key is not None:
            self.hot_key = options.hot_key.start(options.keys, options.weights, values, rng, self.history)
            self.workload = self.hot_key.cold
        elif options.workload == "register":
            self.workload = RegisterWorkload(options.keys, options.weights, values, rng)
        elif options.workload == "index":
            weights = options.weights
            self.workload = IndexWorkload(options.keys, values, rng, weights.read, weights.write + weights.cas)
        elif options.workload == "list-append":
            weights = options.weights
            self.workload = ListAppendWorkload(options.keys, values, rng, weights.read, weights.write + weights.cas)
        elif options.workload == "bank":
            # Reads weigh as the register workload's; transfers as its writes and cas together.
            weights = options.weights
            self.workload = BankWorkload(options.keys, rng, weights.read, weights.write + weights.cas)
        else:
            self.workload = SetWorkload(values)
        self.final_read_done = False


_session: LoadSession | None = None


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    global _session
    if isinstance(environment.runner, MasterRunner) or _session is not None:
        return
    options = LoadOptions.from_environment(environment)
    if isinstance(environment.runner, WorkerRunner):
        worker_index = environment.runner.worker_index
        if worker_index < 0:
            raise RuntimeError("worker started users before the master assigned its index")
        history_path = shard_path(options.history_path, worker_index)
    else:
        worker_index, history_path = 0, options.history_path
    session = LoadSession(options, worker_index, history_path)
    ensure_table(
        session.client, options.table, sort_key=SET_SORT_KEY if options.workload == "set" else None,
        global_index=(GLOBAL_INDEX, INDEX_ATTRIBUTES) if options.workload == "index" else None,
    )
    if isinstance(session.workload, BankWorkload):
        open_accounts(session.client, options.table, session.workload.accounts)
        session.history.write({"process": WORKLOAD_PROCESS, "type": "info", "f": BANK_SETUP, "value": bank_setup(options.keys)})
    logger.info(
        "loadgen: workload %s, table %s, seed %d, history %s", options.workload, options.table,
        options.seed, history_path,
    )  # fmt: skip
    _session = session


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    """Standalone run: users are stopped when this fires, so the final read sees every ok add."""
    session = _session
    if session is None or isinstance(environment.runner, MasterRunner | WorkerRunner):
        return
    if session.options.workload not in FINAL_READ_WORKLOADS or session.final_read_done:
        return
    session.final_read_done = True
    completed = record_final_read(
        session.options.workload, session.client, session.options.table, session.history, session.endpoints[0].name
    )
    assert completed is not None
    fire_request_event(environment, completed)
    logger.info("loadgen: final %s %s", completed.operation.function, completed.outcome)


@events.quit.add_listener
def on_quit(**_: Any) -> None:
    if _session is not None:
        if _session.hot_key is not None:
            _session.hot_key.close()
        _session.history.close()


def fire_request_event(environment: Environment, completed: CompletedOperation) -> None:
    """Keep Locust's own statistics: one request entry per operation, failures named by cause."""
    fire_request(environment.events.request, completed, REQUEST_TYPE, completed.operation.function)


class DynamoDbUser(User):
    """One history process at a time: a single-threaded client issuing one operation per task."""

    hot: HotUserRole | None = None  # the hot-key workload's hot users (set in on_start)
    endpoint_index = 0  # which of the session's endpoints this user talks to (set in on_start)

    def wait_time(self) -> float:
        return 0.0 if self.hot is not None else _require_session().options.wait_s  # hot users: no think time

    def on_start(self) -> None:
        session = _require_session()
        self.process = session.processes.next()
        self.hot = HotUserRole(session.hot_key) if session.hot_key and session.hot_key.next_user_is_hot() else None
        # Bound for life: a new history process after an `info` keeps the endpoint (a client bound to a node).
        self.endpoint_index = session.endpoint_assigners[self.hot is not None].next()

    @task
    def operate(self) -> None:
        session = _require_session()
        client = session.clients[self.endpoint_index]
        endpoint = {"endpoint": session.endpoints[self.endpoint_index].name}
        if self.hot is not None:
            self.process = self.hot.operate(session.history, client, session.options.table, self.process,
                                            session.processes.next, lambda done: fire_request_event(self.environment, done),
                                            extra=endpoint)  # fmt: skip
            return
        workload = session.workload
        operation = workload.plan()
        if isinstance(workload, BankWorkload):
            accounts = workload.accounts
            action = lambda: execute_bank(client, session.options.table, accounts, operation)  # noqa: E731
        elif isinstance(workload, ListAppendWorkload):
            action = lambda: execute_list_append(client, session.options.table, operation)  # noqa: E731
        elif isinstance(workload, IndexWorkload):
            action = lambda: execute_index(client, session.options.table, operation)  # noqa: E731
        else:
            action = lambda: execute(client, session.options.table, operation)  # noqa: E731
        completed = run_recorded(session.history, self.process, operation, action, extra=endpoint)
        if isinstance(session.workload, RegisterWorkload):
            session.workload.observe(operation, completed.outcome, completed.value)
        fire_request_event(self.environment, completed)
        if completed.outcome == "info":
            # DESIGN §4: a process that saw info never issues again; this user becomes a new one.
            self.process = session.processes.next()


def _require_session() -> LoadSession:
    if _session is None:
        raise RuntimeError("loadgen session missing: test_start did not run in this process")
    return _session
