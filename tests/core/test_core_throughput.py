"""How many proposals per second a 3-replica in-memory group commits (reported with -s)."""

import time

import pytest
from core_cluster_helpers import started_cluster


def _commit_rate(batch_size: int, total: int) -> tuple[float, int]:
    # Without the safety monitor: its whole-log checks would dominate what we measure.
    simulation, leader = started_cluster(seed=1, check_invariants=False)
    steps_before = simulation.time
    started = time.perf_counter()
    for _ in range(total // batch_size):
        last = 0
        for _ in range(batch_size):
            last = leader.propose(b"x" * 100)
        simulation.run_until(lambda last=last: leader.commit_index >= last, 20)
    elapsed = time.perf_counter() - started
    return total / elapsed, simulation.time - steps_before


def test_batched_proposals_commit_quickly_through_three_replicas() -> None:
    rate, steps = _commit_rate(batch_size=100, total=20000)
    print(f"\n3 replicas, batches of 100: {rate:,.0f} proposals/s committed ({steps} steps)")
    # Each batch commits in one replication round trip (2 network steps + the local fsync). The rate is only
    # reported: on a shared machine the wall clock decides nothing.
    assert steps <= 3 * (20000 // 100)


@pytest.mark.soak
@pytest.mark.parametrize("batch_size", [1, 10, 100, 1000])
def test_commit_rate_by_batch_size(batch_size: int) -> None:
    rate, _ = _commit_rate(batch_size=batch_size, total=20000 if batch_size > 1 else 3000)
    print(f"\nbatch {batch_size}: {rate:,.0f} proposals/s")
