"""Two lanes for `make test` (`-n 2 --dist loadgroup`, scheduled here), and no wall-clock deadlines.

One worker runs each lane, module after module in collection order, module fixtures shared as in a
serial run. The processes lane has every module that starts real processes and judges their timing: the
cluster tests (game days never beside each other) and the Locust, canary and fault-injection tests,
whose probe rates and time bounds a second busy lane would disturb. The in-process lane has the rest,
mostly CPU-bound (the seeded simulations, the checkers, property tests), and runs beside it: a one-core
load that the cluster tests must bear anyway, as on a busy CI machine. It finishes long before the
processes lane, so it also takes the cluster modules that judge only outcomes (what the API answers,
what a differential run finds), never a rate or a time bound: OUTCOME_ONLY_CLUSTER_MODULES.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

PROCESSES_LANE = "processes"
IN_PROCESS_LANE = "in-process"
# Not all marked `cluster`, but they start processes (Locust, moto, canaries, Toxiproxy, stand-in nodes) or
# event loops and bound how long a step may take.
TIMED_PROCESS_DIRECTORIES = ("loadgen", "canaries", "chaos", "cluster")
CLUSTER_MARK = "pytest.mark.cluster"
# They start a cluster but judge only what it answers (with generous retries where a busy machine may
# throttle), so they may run beside the processes lane. The data-plane modules go together: they share
# one cluster (tests/cluster/conftest.py, data_plane_cluster), started in the lane that runs them.
OUTCOME_ONLY_CLUSTER_MODULES = (
    "tests/api/test_api_dynalite_differential.py",
    "tests/cluster/test_cluster_api_round_trip.py",
    "tests/cluster/test_cluster_data_plane.py",
    "tests/cluster/test_cluster_data_plane_pynamodb.py",
    "tests/cluster/test_cluster_indexes.py",
    "tests/cluster/test_cluster_metrics.py",
    "tests/cluster/test_cluster_resource_sampling.py",
    "tests/cluster/test_cluster_transactions.py",
)

# A property's example is judged on its result, never on how long a shared machine took to compute it.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@cache
def module_lane(module: Path) -> str:
    """A whole module goes to one lane: to the processes lane if any of its tests is a cluster test."""
    if module.as_posix().endswith(OUTCOME_ONLY_CLUSTER_MODULES):
        return IN_PROCESS_LANE
    if module.parent.name in TIMED_PROCESS_DIRECTORIES or CLUSTER_MARK in module.read_text():
        return PROCESSES_LANE
    return IN_PROCESS_LANE


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The lanes as xdist work units. (xdist's own loadgroup suffixes node ids with the group, which
    pytest 9's node ids no longer take: every test became its own unit.) The controller sees node ids
    only, so a lane is decided per module, from its path and its source."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return module_lane(config.rootpath / nodeid.split("::", 1)[0])

    return LaneScheduling(config, log)
