"""Two lanes for `make test` (pytest-xdist, `-n 2 --dist loadgroup`), and no wall-clock deadlines.

Each lane is one xdist group, so one worker runs it in collection order, module fixtures shared as in a
serial run. The processes lane has every test that starts real processes and judges their timing: the
cluster tests (game days never beside each other) and the Locust, canary and fault-injection tests,
whose probe rates and time bounds a second busy lane would disturb. The in-process lane has the rest,
mostly CPU-bound (the seeded simulations, the checkers, property tests), and runs beside it: a one-core
load that the cluster tests must bear anyway, as on a busy CI machine.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

PROCESSES_LANE = "processes"
IN_PROCESS_LANE = "in-process"
# Not all marked `cluster`, but they start processes (Locust, moto, canaries, Toxiproxy, stand-in nodes) or
# event loops and bound how long a step may take.
TIMED_PROCESS_DIRECTORIES = ("loadgen", "canaries", "chaos", "cluster")

# A property's example is judged on its result, never on how long a shared machine took to compute it.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def lane(item: pytest.Item) -> str:
    if item.get_closest_marker("cluster") is not None:
        return PROCESSES_LANE
    directory = item.path.parent.name
    return PROCESSES_LANE if directory in TIMED_PROCESS_DIRECTORIES else IN_PROCESS_LANE


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(lane(item)))
