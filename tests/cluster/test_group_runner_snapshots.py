"""Runtime snapshots, in process: three GroupRunners with real partition state machines (SQLite) and real
WAL files, wired by an in-memory network that can cut a replica off. A replica copies its state every few
entries and compacts its log behind the previous copy; a replica cut off for longer than the log keeps
catches up by fetching the leader's copy chunk by chunk; a restarted replica starts from its snapshot and
the WAL's tail, also when a power loss cost it its state."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.api.item_commands import PutCommand, encode_command
from cluster.core.config import RaftConfig
from cluster.core.membership import Membership
from cluster.core.messages import Message
from cluster.core.types import Entry, HardState, SnapshotMeta
from cluster.metadata.catalogue import NodePlacement
from cluster.metadata.catalogue_state_machine import CatalogueStateMachine
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.replication.group_runner import GroupRunner
from cluster.replication.snapshot_files import SnapshotFiles
from cluster.replication.state_machine import SnapshotStateMachine
from cluster.storage.wal import WriteAheadLog

GROUP = "t0000000-p0"
NODES = ("node-a", "node-b", "node-c")
EVERY = 40  # entries between copies: small, so a test of a few hundred writes compacts several times
CONFIG = RaftConfig(election_ticks_min=10, election_ticks_max=20, heartbeat_ticks=2, lease_ticks=7)


class Network:
    """Delivers every message sent in a round at the start of the next; `cut` replicas hear and say nothing."""

    def __init__(self, new_state: Callable[[Path], SnapshotStateMachine] = PartitionStateMachine) -> None:
        self.new_state = new_state
        self.runners: dict[str, GroupRunner] = {}
        self.queue: deque[tuple[str, Message]] = deque()
        self.cut: set[str] = set()
        self.chunks_served = 0

    def send(self, group_id: str, recipient: str, message: Message) -> None:
        self.queue.append((recipient, message))

    def fetcher(self, own: str):  # noqa: ANN201
        async def fetch_chunk(peer: str, index: int, offset: int) -> tuple[bytes, int]:
            if own in self.cut or peer in self.cut:
                raise ConnectionError(f"{own} cannot reach {peer}")
            self.chunks_served += 1
            # Small chunks, so that a transfer takes several, as a big one does with CHUNK_BYTES.
            return self.runners[peer].snapshot_files.read_chunk(index, offset, 4096)

        return fetch_chunk

    def open(self, node: str, directory: Path) -> GroupRunner:
        runner = GroupRunner(
            GROUP, node, NODES, directory / node, self.new_state(directory / node / "state"), self.send,
            CONFIG, random.Random(NODES.index(node)), wal_sync=False, snapshot_every_entries=EVERY,
            fetch_chunk=self.fetcher(node),
        )  # fmt: skip
        self.runners[node] = runner
        return runner

    async def round(self) -> None:
        pending, self.queue = self.queue, deque()
        for recipient, message in pending:
            runner = self.runners.get(recipient)
            if runner is not None and not runner.closed and recipient not in self.cut and message.sender not in self.cut:
                runner.deliver(message)
        for runner in list(self.runners.values()):
            if runner.closed:
                continue
            runner.tick()
            ready = runner.prepare()
            if ready is not None:
                runner.finish(ready)
        await asyncio.sleep(0.001)  # let snapshot threads and fetches run

    def leader(self) -> GroupRunner | None:
        leaders = [runner for runner in self.runners.values() if not runner.closed and runner.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    async def settle(self, condition, rounds: int = 3000) -> None:  # noqa: ANN001
        for _ in range(rounds):
            if condition():
                return
            await self.round()
        raise AssertionError("the group did not get there")


def put(number: int) -> bytes:
    key = f"k{number % 25}"
    return encode_command(PutCommand(number % 7, key.encode(), {"pk": {"S": key}, "v": {"N": str(number)}}))


async def write(network: Network, first: int, count: int, command: Callable[[int], bytes] = put) -> None:
    for number in range(first, first + count):
        await network.settle(lambda: network.leader() is not None)
        leader = network.leader()
        assert leader is not None
        future = leader.submit(command(number))
        await network.settle(future.done)
        assert future.result()["status"] == "ok"


def items(runner: GroupRunner) -> list[tuple[int, bytes, dict]]:
    machine = runner.state_machine
    assert isinstance(machine, PartitionStateMachine)
    return machine.scan(None, 10_000)


def close_all(network: Network) -> None:
    for runner in network.runners.values():
        runner.close()


@pytest.fixture
def network(tmp_path: Path):  # noqa: ANN201
    network = Network()
    try:
        yield network
    finally:
        close_all(network)


async def _cut_off_replica_catches_up_from_the_leaders_snapshot(network: Network, tmp_path: Path) -> None:
    for node in NODES:
        network.open(node, tmp_path)
    await write(network, 0, 20)
    behind = next(node for node in NODES if not network.runners[node].is_leader)
    network.cut.add(behind)
    await write(network, 20, 6 * EVERY)
    leader = network.leader()
    assert leader is not None
    # The log holds at most two copies' worth of entries; the rest lives in the snapshot.
    assert leader.replica.snapshot_index > 20
    assert leader.replica.last_index - leader.replica.snapshot_index <= 2 * EVERY + 5
    assert leader.snapshots_taken >= 5
    network.cut.clear()
    lagging = network.runners[behind]
    await network.settle(lambda: lagging.state_machine.applied_index == leader.state_machine.applied_index)
    assert lagging.snapshots_installed == 1
    assert network.chunks_served >= 2  # fetched in chunks
    assert items(lagging) == items(leader)
    assert lagging.replica.snapshot_index == lagging.snapshot_files.load().meta.index  # type: ignore[union-attr]


def test_a_replica_cut_off_past_the_log_catches_up_from_the_leaders_snapshot(network: Network, tmp_path: Path) -> None:
    asyncio.run(_cut_off_replica_catches_up_from_the_leaders_snapshot(network, tmp_path))


async def _restart_from_snapshot(network: Network, tmp_path: Path, lose_state: bool) -> None:
    for node in NODES:
        network.open(node, tmp_path)
    await write(network, 0, 5 * EVERY)
    follower = next(node for node in NODES if not network.runners[node].is_leader)
    old = network.runners[follower]
    await network.settle(lambda: old.state_machine.applied_index == network.leader().state_machine.applied_index)  # type: ignore[union-attr]
    before = items(old)
    snapshot_index, applied = old.replica.snapshot_index, old.state_machine.applied_index
    assert snapshot_index > 0
    old.close()
    if lose_state:
        shutil.rmtree(tmp_path / follower / "state")  # as a power loss that cut SQLite below the log's start
    reopened = network.open(follower, tmp_path)
    assert reopened.replica.snapshot_index == snapshot_index
    assert reopened.replica.last_index >= applied
    assert reopened.wal.last_index >= applied
    await network.settle(lambda: reopened.state_machine.applied_index >= applied)
    assert items(reopened) == before
    await write(network, 5 * EVERY, 10)
    await network.settle(lambda: reopened.state_machine.applied_index == network.leader().state_machine.applied_index)  # type: ignore[union-attr]
    assert items(reopened) == items(network.leader())  # type: ignore[arg-type]


@pytest.mark.parametrize("lose_state", [False, True], ids=["state-kept", "state-lost"])
def test_a_restarted_replica_starts_from_its_snapshot_and_the_wal_tail(
    network: Network, tmp_path: Path, lose_state: bool
) -> None:
    asyncio.run(_restart_from_snapshot(network, tmp_path, lose_state))


def test_an_install_a_crash_cut_before_the_wal_restarted_is_finished_when_the_replica_opens(tmp_path: Path) -> None:
    """current.json names the leader's snapshot at 100, but the WAL still holds the old log (1..50): the
    open restarts the WAL after the snapshot and tells the archive, before any new entry is written."""
    leader = PartitionStateMachine(tmp_path / "leader")
    leader.apply([Entry(3, index, put(index)) for index in range(1, 101)])
    files = SnapshotFiles(tmp_path / "node" / "snapshot", sync=False)
    copy = files.new_data_temporary()
    assert leader.write_snapshot(copy) == 100
    files.publish(copy, 100)
    files.make_current(SnapshotMeta(100, 3, Membership(NODES).encode()))
    wal, _ = WriteAheadLog.open(tmp_path / "node" / "wal", sync=False)
    with wal:
        wal.append([Entry(1, index, put(index)) for index in range(1, 51)], HardState(3, None, 40))
        wal.sync()
    restarts: list[tuple[int, int]] = []
    runner = GroupRunner(
        GROUP, "node-a", NODES, tmp_path / "node", PartitionStateMachine(tmp_path / "node" / "state"),
        lambda *_: None, CONFIG, random.Random(1), wal_sync=False, snapshot_every_entries=EVERY,
        on_log_restart=lambda data, meta, sequence: restarts.append((meta.index, sequence)),
    )  # fmt: skip
    try:
        assert restarts == [(100, runner.wal.current_sequence)]
        assert runner.wal.highest_entry_index == 0 and runner.wal.last_index == 100
        assert runner.state_machine.applied_index == 100 and runner.replica.last_index == 100
        assert items(runner) == leader.scan(None, 10_000)
    finally:
        runner.close()
        leader.close()


PLACEMENTS = [NodePlacement(f"node-{az}{n}", f"az-{az}") for az in "abc" for n in (1, 2)]


def catalogue_command(number: int) -> bytes:
    """Tables come and go (a create, then a TTL change, then a delete), as a long-lived cluster's do."""
    name = f"table-{number // 3}"
    if number % 3 == 0:
        key_schema = {"hash_name": "pk", "hash_type": "S", "range_name": None, "range_type": None}
        command = {"op": "create_table", "name": name, "key_schema": key_schema, "billing_mode": "PAY_PER_REQUEST",
                   "created_at_s": float(number)}  # fmt: skip
    elif number % 3 == 1:
        command = {"op": "update_ttl", "name": name, "enabled": True, "attribute": "expires"}
    elif number % 6 == 2:
        command = {"op": "delete_table", "name": name}
    else:
        command = {"op": "update_ttl", "name": name, "enabled": False, "attribute": "expires"}
    return json.dumps(command).encode()


def catalogue(runner: GroupRunner) -> dict[str, object]:
    machine = runner.state_machine
    assert isinstance(machine, CatalogueStateMachine)
    return {name: entry.to_json() for name, entry in machine.tables.items()}


async def _metadata_replica_catches_up(tmp_path: Path) -> None:
    network = Network(lambda path: CatalogueStateMachine(path, PLACEMENTS, 4))
    try:
        for node in NODES:
            network.open(node, tmp_path)
        await write(network, 0, 10, catalogue_command)
        behind = next(node for node in NODES if not network.runners[node].is_leader)
        network.cut.add(behind)
        await write(network, 10, 5 * EVERY, catalogue_command)
        leader = network.leader()
        assert leader is not None and leader.replica.snapshot_index > 10 and leader.snapshots_taken >= 4
        network.cut.clear()
        lagging = network.runners[behind]
        await network.settle(lambda: lagging.state_machine.applied_index == leader.state_machine.applied_index)
        assert lagging.snapshots_installed == 1
        assert catalogue(lagging) == catalogue(leader) and len(catalogue(leader)) > 10
        # And it restarts from that snapshot and its WAL's tail, the catalogue reloaded from the copy.
        lagging.close()
        reopened = network.open(behind, tmp_path)
        assert reopened.replica.snapshot_index == lagging.replica.snapshot_index
        assert catalogue(reopened) == catalogue(leader)
    finally:
        close_all(network)


def test_a_metadata_replica_cut_off_past_the_log_catches_up_from_the_catalogue_snapshot(tmp_path: Path) -> None:
    asyncio.run(_metadata_replica_catches_up(tmp_path))
