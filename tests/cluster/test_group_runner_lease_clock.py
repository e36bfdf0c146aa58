"""A group's lease reads wait while its tick clock is behind real time (in process, one voter, a real host).

The host reports the ticks a paused process missed (ReplicaHost._tick_loop -> GroupRunner.advance_clock);
until the core has counted them, and whenever the last tick is older than max_tick_gap_s, no consistent read
is served: a read that arrives the moment a stopped leader resumes must not beat the tick that tells it
how long it was stopped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.replication.group_runner import GroupRunner
from cluster.replication.replica_host import ReplicaHost
from tests.cluster.conftest import one_voter_group, tick_until_leader


async def _leading_group(host: ReplicaHost, directory: Path) -> GroupRunner:
    group = one_voter_group(host, directory)
    await tick_until_leader(group)
    await group.propose(b"x", timeout_s=5.0)
    return group


async def _read_served(group: GroupRunner, within_s: float) -> bool:
    try:
        await asyncio.wait_for(group.wait_consistent_read(5.0), within_s)
        return True
    except TimeoutError:
        return False


def test_a_stale_tick_clock_or_an_unapplied_jump_holds_reads_until_the_next_tick(tmp_path: Path) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))

    async def scenario() -> None:
        pump = asyncio.ensure_future(host._pump_forever())
        try:
            group = await _leading_group(host, tmp_path / "g")
            group.max_tick_gap_s = 0.05
            group.tick()
            assert await _read_served(group, 1.0), "a fresh clock serves at once"
            await asyncio.sleep(0.2)  # no tick for four gaps: as after a SIGSTOP, before the tick loop ran
            read = asyncio.ensure_future(_read_served(group, 2.0))
            await asyncio.sleep(0.2)
            assert not read.done(), "served on a tick clock that stood still"
            group.advance_clock(40)  # what the tick loop reports when it wakes late
            group.tick()
            assert await read, "the next tick (with the jump applied) lets the read through"
        finally:
            pump.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pump
            host._sync_pool.shutdown(wait=True)

    asyncio.run(scenario())


def test_every_group_of_a_host_waits_at_most_two_ticks_of_silence(tmp_path: Path) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))
    group = one_voter_group(host, tmp_path / "g")
    assert group.max_tick_gap_s == pytest.approx(2 * host.tick_s)
    host._sync_pool.shutdown(wait=True)
