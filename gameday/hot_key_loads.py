"""The hot-key workload's two loads: cold users and hot users on the same table, each user bound to one router.

Separate Locust processes because a Locust process is one CPU-bound event loop: hot users with no think
time would delay the cold users' greenlets on the client's own CPU, and the cold latency would measure
the load generator instead of the store. The hot users run in `HOT_WORKERS` Locust workers: one process
cannot send enough to hurt the store (measured: about 300 operations/s from one process, 650 from two).
Different routers because the lesson is about partitions and nodes: DynamoDB's request routers are a
large fleet, ours are three single processes, and one router saturated by hot (even throttled) requests
would slow the cold users whatever the partitions do. Both histories are merged into the register
history (disjoint blocks of process numbers and values).

Every user of both loads is bound to one router, round robin over all of them (loadgen/endpoints.py): a
stale read only shows when a key is written through one router and read through another. The hot load
starts its round at the second router, so with few users the two loads lean on different routers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from gameday.scenario import Workload
from loadgen.endpoints import rotated
from loadgen.hot_key_workload import locust_arguments
from loadgen.run import LoadRun, start_load

HOT_WORKERS = 2
COLD_LOAD = "register"  # judged (linearizability) as the register load, with the hot history merged in
HOT_LOAD = "hot-key"


def start_hot_key_loads(
    workload: Workload,
    partitions_per_table: int,
    endpoints: Mapping[str, str],
    run_dir: Path,
    workers: int,
    wait_ms: float,
    seed: int,
) -> dict[str, LoadRun]:
    """`endpoints`: router name (AZ) → URL; every user of both loads is bound to one of them."""
    hot_key = workload.hot_key
    assert hot_key is not None
    table = f"register-{seed}"  # a fresh table per run: old values would make a history lie
    weights = workload.register_weights
    loads: dict[str, LoadRun] = {}
    try:
        for name, role, users, host, load_workers, think_ms in (
            (COLD_LOAD, "cold", workload.clients, dict(endpoints), workers, wait_ms),
            (HOT_LOAD, "hot", hot_key.hot_clients, rotated(endpoints, 1), max(workers, HOT_WORKERS), 0.0),
        ):
            loads[name] = start_load(
                host, "hot-key", users, None, run_dir / f"load-{name}", workers=load_workers, table=table,
                keys=workload.keys, weights=weights, wait_ms=think_ms, seed=seed,
                workload_arguments=locust_arguments(hot_key, workload.clients, partitions_per_table, role),
            )  # fmt: skip
    except BaseException:
        for load in loads.values():  # the caller only stops what it was given
            load.stop()
            with contextlib.suppress(Exception):
                load.wait(timeout_s=30)
        raise
    return loads
