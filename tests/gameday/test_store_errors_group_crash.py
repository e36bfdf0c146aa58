"""The crash-group-loop planted bug, driven through a real host's I/O loop (in process, one voter): the
host writes its `group-error` line, closes the group, and the store-errors judge reads that line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from cluster.deploy.local_processes import build_topology
from cluster.replication.group_runner import GroupRunner, ProposalOutcomeUnknown
from cluster.replication.replica_host import PLANTED_CRASH_EVERY_APPLIED_ENTRIES, ReplicaHost
from gameday.checks.store_errors import judge
from tests.cluster.conftest import one_voter_group, tick_until_leader

LOG_FORMAT = "%(asctime)s node-a1 %(levelname)s %(name)s: %(message)s"  # process_main's


async def _drive_until_closed(host: ReplicaHost, group: GroupRunner) -> int:
    """Ticks the one-voter group until it leads, then proposes until the planted crash closes it."""
    pump = asyncio.ensure_future(host._pump_forever())
    try:
        await tick_until_leader(group)
        committed = 0
        while not group.closed and committed < 2 * PLANTED_CRASH_EVERY_APPLIED_ENTRIES:
            try:
                await group.propose(b"x", timeout_s=5.0)
                committed += 1
            except ProposalOutcomeUnknown:
                break
        return committed
    finally:
        pump.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pump
        host._sync_pool.shutdown(wait=True)


def test_a_group_crash_in_the_io_loop_is_logged_once_and_judged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    topology = build_topology(3, 1, 1)
    topology.faults_enabled = ["crash-group-loop"]
    host = ReplicaHost("node-a1", topology)
    group = one_voter_group(host, tmp_path / "g")
    with caplog.at_level(logging.INFO):
        committed = asyncio.run(_drive_until_closed(host, group))
    assert group.closed and "c7114e9c-p0" not in host.groups
    assert committed < PLANTED_CRASH_EVERY_APPLIED_ENTRIES  # the leader's no-op counts too
    formatter = logging.Formatter(LOG_FORMAT)
    lines = [
        "2026-12-02 18:15:45,288 node-a1 INFO __main__: process-start id=node-a1 role=node pid=7",
        *"\n".join(formatter.format(record) for record in caplog.records).splitlines(),
        "2026-12-02 18:16:45,288 node-a1 INFO __main__: process-stop id=node-a1 pid=7 signal=SIGTERM",
    ]
    errors = [line for line in lines if "group-error" in line]
    assert len(errors) == 1 and "phase=finish" in errors[0]
    result = judge({"node-a1": lines}, [])
    assert result.valid is False
    assert result.data["counts"] == {"group-closed": 1}
    finding = result.data["findings"][0]
    assert finding["group"] == "c7114e9c-p0" and any("planted bug crash-group-loop" in line for line in finding["lines"])


def test_without_the_switch_the_same_load_closes_nothing(tmp_path: Path) -> None:
    host = ReplicaHost("node-a1", build_topology(3, 1, 1))
    group = one_voter_group(host, tmp_path / "g")
    committed = asyncio.run(_drive_until_closed(host, group))
    assert not group.closed and committed == 2 * PLANTED_CRASH_EVERY_APPLIED_ENTRIES


class _HostWhosePeriodicWorkRaises(ReplicaHost):
    def on_tick(self) -> None:
        raise KeyError("a bug in the host's periodic work")


def test_a_host_loop_that_dies_is_logged_and_judged(caplog: pytest.LogCaptureFixture) -> None:
    host = _HostWhosePeriodicWorkRaises("node-a1", build_topology(3, 1, 1))

    async def run_briefly() -> None:
        await host.start()
        try:
            await asyncio.sleep(5 * host.tick_s)
        finally:
            await host.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(run_briefly())
    formatter = logging.Formatter(LOG_FORMAT)
    lines = [
        "2026-12-02 18:15:45,288 node-a1 INFO __main__: process-start id=node-a1 role=node pid=7",
        *"\n".join(formatter.format(record) for record in caplog.records).splitlines(),
        "2026-12-02 18:16:45,288 node-a1 INFO __main__: process-stop id=node-a1 pid=7 signal=SIGTERM",
    ]
    assert sum("host-loop-error host=node-a1 loop=tick" in line for line in lines) == 1
    result = judge({"node-a1": lines}, [])
    assert result.valid is False and result.data["counts"] == {"host-loop-died": 1}
