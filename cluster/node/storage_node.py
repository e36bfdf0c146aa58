"""A storage node: hosts one replica of many partition groups and answers item requests for them.

Which groups a node hosts comes from the metadata service; each group's directory keeps a copy of its
membership so that a restarted node reopens its replicas without waiting for metadata.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from cluster.admission.capacity_units import read_units, read_units_up_front, write_units
from cluster.admission.partition_admission import Kind, PartitionAdmission
from cluster.api.attribute_values import item_size_bytes
from cluster.api.key_conditions import StoreBounds
from cluster.api.secondary_indexes import LOCAL, IndexSpec
from cluster.metadata.metadata_server import METADATA_GROUP
from cluster.node.index_propagator import IndexPropagator
from cluster.node.log_replica_manager import LogReplicaManager
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.planted_apply_crash import PlantedApplyCrash
from cluster.node.split_driver import SplitDriver
from cluster.node.transaction_janitor import TransactionJanitor
from cluster.node.ttl_sweeper import TtlSweeper
from cluster.replication.group_runner import GroupRunner
from cluster.replication.leader_calls import NoLeaderAnswered, call_leader
from cluster.replication.remote_errors import (
    MOVED,
    NO_SUCH_GROUP,
    THROTTLED,
    as_rpc_errors,
    not_leader,
)
from cluster.replication.replica_host import ReplicaHost
from cluster.replication.wal_only_state_machine import WalOnlyStateMachine
from cluster.runtime.planted_bugs import planted_raft_settings, planted_sync_bugs
from cluster.runtime.rpc import RpcError
from cluster.runtime.task_cancel import cancel_and_wait
from cluster.runtime.topology import Topology
from cluster.scrub.coordinator import ScrubCoordinator
from cluster.scrub.settings import scrub_settings
from cluster.storage.durable_directories import make_durable_directories, write_durably

log = logging.getLogger(__name__)

PROPOSE_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 1.0
REPORT_INTERVAL_TICKS = 5
# Leadership returns to each group's preferred member (placement spread those evenly over nodes),
# but only after the current leader has held it this long, so failovers settle before rebalancing.
REBALANCE_INTERVAL_TICKS = 20
REBALANCE_AFTER_LEADING_TICKS = 60
# A led partition's item count and bytes go to the metadata service with the reports, counted again at
# most this often (a COUNT over the partition; DynamoDB itself refreshes them about every six hours).
STATS_REFRESH_TICKS = 40
MAX_SCAN_LIMIT = 1000


class StorageNode(ReplicaHost):
    def __init__(self, process_id: str, topology: Topology, data_dir: Path) -> None:
        super().__init__(process_id, topology)
        # PLANTED BUGS of the partition groups' core and WAL (harness self-tests only; with none switched
        # on, the config and the sync setting stay exactly as the host made them).
        self.raft_config = dataclasses.replace(self.raft_config, **planted_raft_settings(topology.faults_enabled))
        sync_bugs = planted_sync_bugs(topology.faults_enabled)
        if sync_bugs is not None and self.wal_sync is True:
            self.wal_sync = sync_bugs
        self._planted_apply_crash = PlantedApplyCrash() if "hidden-group-crash" in topology.faults_enabled else None
        self.groups_dir = data_dir / "groups"
        make_durable_directories(self.groups_dir)
        self.members: dict[str, list[str]] = {}
        self._metadata_ids = [spec.process_id for spec in topology.by_role("metadata")]
        self._ticks = 0
        self._stopping = False
        self._leading_since_tick: dict[str, int] = {}
        self._stats: dict[str, tuple[int, int, int]] = {}  # group -> (items, bytes, tick counted)
        self._report_task: asyncio.Task[None] | None = None
        # PLANTED BUG stale-consistent-read (harness self-tests only): serve ConsistentRead GetItem from
        # whatever this replica applied, leader or not, lease or not.
        self._stale_consistent_reads = "stale-consistent-read" in topology.faults_enabled
        self.scrub = ScrubCoordinator(self, data_dir, scrub_settings(
            os.environ, data_dir, enabled=topology.scrub_enabled, archive=topology.archive
        ))
        # Groups this node hosts only as a log replica (WAL only: never leads, serves no reads).
        self.log_replica_groups: set[str] = set()
        self.log_replicas = LogReplicaManager(
            self, enabled=topology.log_replicas_enabled, directory=data_dir / "log_replicas"
        )
        # Token buckets per partition replica and for the node; eventually consistent reads are charged
        # at the replica that serves them, everything else at the leader (cluster/admission/).
        self.admission = PartitionAdmission(topology.admission, time.monotonic())
        self.split_driver = SplitDriver(self)
        self.ttl = TtlSweeper(self)
        self.janitor = TransactionJanitor(self)
        self.index_propagator = IndexPropagator(self)
        for method, handler in (
            ("node.open_log_replica", self.log_replicas.handle_open),
            ("node.drop_log_replica", self.log_replicas.handle_drop),
            ("node.propose", self.handle_propose),
            ("node.get", self.handle_get),
            ("node.scan", self.handle_scan),
            ("node.query", self.handle_query),
            ("node.get_many", self.handle_get_many),
            ("status", self.status),
        ):
            self.register(method, handler)

    async def start(self) -> None:
        for group_file in sorted(self.groups_dir.glob("*/group.json")):
            description = json.loads(group_file.read_text())
            self.open_group(
                description["group_id"], description["members"], description.get("log_replicas"),
                description.get("learners"),
            )
        await super().start()
        self.scrub.start()

    async def stop(self) -> None:
        # From here the tick loop, which runs until the host stops, starts no new report, move or sweep:
        # a task started after its manager stopped would outlive it.
        self._stopping = True
        if self._report_task is not None:
            await cancel_and_wait(self._report_task)
        await self.scrub.stop()
        await self.log_replicas.stop()
        await self.split_driver.stop()
        await self.ttl.stop()
        await self.janitor.stop()
        await self.index_propagator.stop()
        await super().stop()

    # ---- groups -------------------------------------------------------------------------------

    def open_group(
        self,
        group_id: str,
        members: list[str],
        log_replicas: list[str] | None = None,
        learners: list[str] | None = None,
    ) -> GroupRunner:
        """`members` are the group's storage replicas as placed; `log_replicas` and `learners` what the
        group had when this node joined as one (membership entries in the WAL take precedence later)."""
        log_replicas = list(log_replicas or [])
        learners = list(learners or [])
        directory = self.groups_dir / group_id
        make_durable_directories(directory)
        description_file = directory / "group.json"
        if not description_file.exists():
            description = {"group_id": group_id, "members": members}
            if log_replicas or learners:
                description["log_replicas"] = log_replicas
                description["learners"] = learners
            write_durably(description_file, json.dumps(description).encode())
        if self.process_id in log_replicas + learners:
            return self._open_log_replica(group_id, members, log_replicas, learners, directory)
        state_directory = directory / "state"

        def discard_state() -> PartitionStateMachine:
            state_machine.close()
            # Rename first so a crash mid-delete never leaves a half state that looks whole.
            trash = directory / ".discarded-state"
            shutil.rmtree(trash, ignore_errors=True)
            state_directory.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            return PartitionStateMachine(state_directory, self.scrub.replica_state(group_id), before_apply)

        before_apply = self._planted_apply_crash.hook(group_id) if self._planted_apply_crash is not None else None
        state_machine = PartitionStateMachine(state_directory, self.scrub.replica_state(group_id), before_apply)
        runner = GroupRunner(
            group_id,
            self.process_id,
            members,
            directory,
            state_machine,
            self.send,
            self.raft_config,
            self.new_rng(),
            wal_sync=self.wal_sync,
            on_dirty=self.mark_dirty,
            discard_state=discard_state,
            ack_before_quorum="ack-before-quorum" in self.topology.faults_enabled,
            **self._snapshot_options(group_id),
        )
        self.members[group_id] = list(members)
        self.add_group(runner)
        return runner

    def _open_log_replica(
        self, group_id: str, members: list[str], log_replicas: list[str], learners: list[str], directory: Path
    ) -> GroupRunner:
        runner = GroupRunner(
            group_id,
            self.process_id,
            members,
            directory,
            WalOnlyStateMachine(),
            self.send,
            self.raft_config,
            self.new_rng(),
            wal_sync=self.wal_sync,
            on_dirty=self.mark_dirty,
            log_replicas=log_replicas,
            learners=learners,
            **self._snapshot_options(group_id, log_replica=True),
        )
        self.log_replica_groups.add(group_id)
        self.add_group(runner)
        return runner

    def _snapshot_options(self, group_id: str, log_replica: bool = False) -> dict[str, Any]:
        return {
            "snapshot_every_entries": self.topology.snapshot_every_entries,
            "fetch_chunk": self.snapshot_fetcher(group_id),
            # A log replica's archive is never replayed (it never leads): its segments go once compacted.
            "may_drop_segment": None if log_replica else lambda segment: self.scrub.may_drop_segment(group_id, segment),
            "on_log_restart": lambda data, snapshot, sequence: self.scrub.archive_restarted_log(
                group_id, data, snapshot.index, snapshot.term, sequence
            ),
        }

    def is_log_replica(self, group_id: str) -> bool:
        return group_id in self.log_replica_groups

    def drop_group(self, group_id: str) -> None:
        self.log_replica_groups.discard(group_id)
        self.admission.forget(group_id)
        self.remove_group(group_id)
        self.scrub.forget_group(group_id)
        self.members.pop(group_id, None)
        directory = self.groups_dir / group_id
        if directory.exists():
            # Rename first so a crash mid-delete never leaves a half group that looks whole.
            trash = self.groups_dir / f".deleted-{group_id}"
            directory.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)

    # ---- periodic work ------------------------------------------------------------------------

    def on_tick(self) -> None:
        self._ticks += 1
        if self._stopping:
            return
        if self._ticks % REPORT_INTERVAL_TICKS == 0 and (self._report_task is None or self._report_task.done()):
            self._report_task = asyncio.ensure_future(self._report_to_metadata())
        if self._ticks % REBALANCE_INTERVAL_TICKS == 0:
            self._return_leadership_to_preferred_members()
        self.log_replicas.on_tick()
        self.ttl.on_tick()
        self.janitor.on_tick()
        self.index_propagator.on_tick()

    async def _partition_stats(self, leading: dict[str, int]) -> dict[str, list[Any]]:
        """[items, bytes] of each partition this node leads, and {code: [items, bytes]} of its local
        secondary indexes when it has any, recounted every STATS_REFRESH_TICKS (in a thread: a count reads
        the whole partition)."""
        stats: dict[str, list[Any]] = {}
        for group_id in leading:
            group = self.groups.get(group_id)
            state_machine = group.state_machine if group is not None else None
            if not isinstance(state_machine, PartitionStateMachine):
                continue
            counted = self._stats.get(group_id)
            if counted is None or self._ticks - counted[2] >= STATS_REFRESH_TICKS:
                try:
                    (items, size), local = await asyncio.get_running_loop().run_in_executor(
                        None, state_machine.describe_counts
                    )
                except sqlite3.Error as error:  # a group closing under us: it is simply not counted now
                    log.info("no item count for %s: %s", group_id, error)
                    continue
                counted = self._stats[group_id] = (items, size, self._ticks, local)
            stats[group_id] = [counted[0], counted[1]]
            if counted[3]:
                stats[group_id].append({code: list(pair) for code, pair in counted[3].items()})
        for group_id in set(self._stats) - set(leading):
            del self._stats[group_id]  # counted afresh if it leads the group again
        return stats

    def _preferred_member(self, group_id: str) -> str:
        """The member leadership returns to: the first placed (placement spreads these evenly)."""
        return self.members.get(group_id, [self.process_id])[0]

    def _return_leadership_to_preferred_members(self) -> None:
        for group_id, group in self.groups.items():
            if not group.is_leader:
                self._leading_since_tick.pop(group_id, None)
                continue
            since = self._leading_since_tick.setdefault(group_id, self._ticks)
            preferred = self._preferred_member(group_id)
            if preferred == self.process_id or self._ticks - since < REBALANCE_AFTER_LEADING_TICKS:
                continue
            if group.follower_caught_up(preferred):
                if not self.scrub.cleared_for_leadership(group_id, preferred):
                    continue  # a scrub round must first show its data equals ours (it may hold bit rot)
                log.info("handing leadership of %s back to its preferred member %s", group_id, preferred)
                group.transfer_leadership(preferred)

    async def _report_to_metadata(self) -> None:
        leading = {group_id: group.replica.term for group_id, group in self.groups.items() if group.is_leader}
        stats = await self._partition_stats(leading)
        params = {
            "node": self.process_id, "leading": leading, "stats": stats,
            "consumption": self.admission.consumption(set(leading), time.monotonic()),
            "index_settings": self.index_propagator.settings_report(leading),
            "index_backfilled": self.index_propagator.backfill_report(leading),
        }  # fmt: skip
        try:  # one pass over the metadata replicas: the next report comes soon enough
            response = await call_leader(
                self.peers, self.leader_hints, METADATA_GROUP, self._metadata_ids, "meta.node_report", params,
                timeout_s=1.0,
            )  # fmt: skip
        except NoLeaderAnswered:
            return
        self._apply_assignments(response)

    def _apply_assignments(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        assigned = {a["group_id"]: a["members"] for a in response.get("assignments", [])}
        for group_id, members in assigned.items():
            if group_id not in self.groups:
                log.info("opening replica of %s (members %s)", group_id, members)
                self.open_group(group_id, members)
        if response.get("authoritative"):
            self.ttl.on_assignments(response.get("assignments", []))
            self.index_propagator.on_assignments(response.get("assignments", []))
            # Log replicas are the groups' own business, not the catalogue's: their leaders remove them.
            for group_id in [g for g in self.groups if g not in assigned and not self.is_log_replica(g)]:
                log.info("dropping replica of %s: its table is gone", group_id)
                self.drop_group(group_id)
        self.split_driver.on_report(response)

    # ---- requests -----------------------------------------------------------------------------

    def _group(self, params: dict[str, Any]) -> GroupRunner:
        group = self.groups.get(params.get("group"))  # type: ignore[arg-type]
        if group is None or group.closed or self.is_log_replica(group.group_id):
            raise RpcError(NO_SUCH_GROUP, f"{self.process_id} hosts no replica of {params.get('group')!r}")
        return group

    def _admit(self, group_id: str, kind: Kind, units: float, key_hash: Any) -> None:
        """Charges the group's and the node's buckets, or refuses before any work (no propose, no read)."""
        sampled_hash = key_hash if isinstance(key_hash, int) else None
        if not self.admission.admit(group_id, kind, units, sampled_hash, time.monotonic()):
            raise RpcError(THROTTLED, f"partition {group_id} on {self.process_id} is over its {kind} capacity")

    async def handle_propose(self, params: dict[str, Any]) -> Any:
        group = self._group(params)
        command = params.get("command")
        if not isinstance(command, str):
            raise RpcError("Invalid", "propose needs a command string")
        if not group.is_leader:
            raise not_leader(group.leader_hint)
        units = params.get("units")
        self._admit(group.group_id, "write", float(units) if isinstance(units, int | float) and units > 0
                    else write_units(len(command)), params.get("hash"))
        return await as_rpc_errors(group.propose(command.encode(), PROPOSE_TIMEOUT_S))

    async def handle_get(self, params: dict[str, Any]) -> Any:
        group = self._group(params)
        try:
            partition_hash = int(params["hash"])
            key = base64.b64decode(params["key"])
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError("Invalid", f"get needs hash and key: {error!r}") from error
        consistent = bool(params.get("consistent"))
        if not consistent or group.is_leader:  # a consistent read at a follower is refused below anyway
            self._admit(group.group_id, "read", read_units_up_front(consistent), partition_hash)
        if params.get("consistent") and not self._stale_consistent_reads:
            await as_rpc_errors(group.wait_consistent_read(READ_TIMEOUT_S))
        state_machine = group.state_machine
        assert isinstance(state_machine, PartitionStateMachine)
        moved_to = state_machine.splits.moved_child(partition_hash)
        if moved_to is not None:
            raise RpcError(MOVED, f"hash {partition_hash} moved to {moved_to}", {"child": moved_to})
        item = state_machine.get(partition_hash, key)
        if item is not None:
            self.admission.settle(
                group.group_id, "read",
                read_units(item_size_bytes(item), consistent) - read_units_up_front(consistent), time.monotonic(),
            )
        return {"item": item}

    async def handle_get_many(self, params: dict[str, Any]) -> Any:
        """BatchGetItem's keys that live in this partition: one read, one answer per key, in order."""
        group = self._group(params)
        try:
            keys = [(int(key_hash), base64.b64decode(key)) for key_hash, key in params["keys"]]
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError("Invalid", f"get_many needs [hash, key] pairs: {error!r}") from error
        consistent = bool(params.get("consistent"))
        if not consistent or group.is_leader:
            self._admit(group.group_id, "read", read_units_up_front(consistent) * len(keys), None)
        if consistent and not self._stale_consistent_reads:
            await as_rpc_errors(group.wait_consistent_read(READ_TIMEOUT_S))
        state_machine = group.state_machine
        assert isinstance(state_machine, PartitionStateMachine)
        for partition_hash, _ in keys:
            moved_to = state_machine.splits.moved_child(partition_hash)
            if moved_to is not None:
                raise RpcError(MOVED, f"hash {partition_hash} moved to {moved_to}", {"child": moved_to})
        items = [state_machine.get(partition_hash, key) for partition_hash, key in keys]
        extra = sum(read_units(item_size_bytes(item), consistent) - read_units_up_front(consistent)
                    for item in items if item is not None)
        self.admission.settle(group.group_id, "read", extra, time.monotonic())
        return {"items": items}

    async def handle_scan(self, params: dict[str, Any]) -> Any:
        group = self._group(params)
        after_param = params.get("after")
        try:
            after = (int(after_param[0]), base64.b64decode(after_param[1])) if after_param else None
            limit = max(1, min(int(params.get("limit") or MAX_SCAN_LIMIT), MAX_SCAN_LIMIT))
            local_index = _local_index(params)
        except (KeyError, TypeError, ValueError, IndexError, AssertionError) as error:
            raise RpcError("Invalid", f"bad scan position: {error!r}") from error
        consistent = bool(params.get("consistent"))
        if not consistent or group.is_leader:
            self._admit(group.group_id, "read", read_units_up_front(consistent), None)
        if params.get("consistent"):
            await as_rpc_errors(group.wait_consistent_read(READ_TIMEOUT_S))
        state_machine = group.state_machine
        assert isinstance(state_machine, PartitionStateMachine)
        owned = params.get("range")  # the partition's range as the router knows it
        if isinstance(owned, list) and len(owned) == 2:
            moved = state_machine.splits.moved_overlapping(max(int(owned[0]), after[0] if after else 0), int(owned[1]))
            if moved is not None:
                raise RpcError(MOVED, f"hashes from {moved.hash_from} moved to {moved.child}", {"child": moved.child})
        rows = state_machine.scan(after, limit, local_index)
        scanned_bytes = sum(item_size_bytes(item) for _, _, item in rows)
        self.admission.settle(
            group.group_id, "read", read_units(scanned_bytes, consistent) - read_units_up_front(consistent),
            time.monotonic(),
        )
        return {"items": [[h, base64.b64encode(k).decode(), item] for h, k, item in rows]}

    async def handle_query(self, params: dict[str, Any]) -> Any:
        """Query: one partition key's items within key bounds, in sort-key order."""
        group = self._group(params)
        try:
            partition_hash = int(params["hash"])
            bounds = StoreBounds.from_json(params["bounds"])
            after = base64.b64decode(params["after"]) if params.get("after") else None
            limit = max(1, min(int(params.get("limit") or MAX_SCAN_LIMIT), MAX_SCAN_LIMIT))
            local_index = _local_index(params)
        except (KeyError, TypeError, ValueError, IndexError, AssertionError) as error:
            raise RpcError("Invalid", f"bad query: {error!r}") from error
        consistent = bool(params.get("consistent"))
        if not consistent or group.is_leader:
            self._admit(group.group_id, "read", read_units_up_front(consistent), partition_hash)
        if consistent:
            await as_rpc_errors(group.wait_consistent_read(READ_TIMEOUT_S))
        state_machine = group.state_machine
        assert isinstance(state_machine, PartitionStateMachine)
        moved_to = state_machine.splits.moved_child(partition_hash)
        if moved_to is not None:
            raise RpcError(MOVED, f"hash {partition_hash} moved to {moved_to}", {"child": moved_to})
        rows = state_machine.query(partition_hash, bounds, after, bool(params.get("forward", True)), limit, local_index)
        self.admission.settle(
            group.group_id, "read", read_units(sum(size for _, _, size in rows), consistent) - read_units_up_front(consistent),
            time.monotonic(),
        )
        # Each item goes as the JSON text it is stored as, with its size: the router needs the size for the
        # page limit and capacity, and passes the text on; decoding, sizing and encoding every item again
        # here and there was most of a page's cost.
        return {"items": [[base64.b64encode(k).decode(), text, size] for k, text, size in rows]}

    def _group_status(self, group_id: str, group: GroupRunner) -> dict[str, Any]:
        # A group led by its preferred member stays led so: tests and operators can tell settled leaders.
        return {**group.status(), "preferred": self._preferred_member(group_id)}

    def status(self, params: dict[str, Any]) -> Any:
        spec = self.topology.get(self.process_id)
        return {
            "process": self.process_id,
            "role": "node",
            "az": spec.az,
            "leading": sorted(group_id for group_id, group in self.groups.items() if group.is_leader),
            # Ticks since this host started: how fast its Raft clock runs, seen from outside (clock-skew).
            "ticks": self._ticks,
            "groups": [self._group_status(group_id, group) for group_id, group in self.groups.items()],
            "scrub": self.scrub.status(),
            "log_replicas": self.log_replicas.status(),
            "admission": self.admission.status(),
            "splits": self.split_driver.status(),
            "ttl": self.ttl.status(),
            "transactions": self.janitor.status(),
            "indexes": self.index_propagator.status(),
        }


def _local_index(params: dict[str, Any]) -> IndexSpec | None:
    """The local secondary index a Query or Scan reads (the router sends its spec), or None: the table."""
    spec = params.get("local_index")
    if spec is None:
        return None
    index = IndexSpec.from_json(spec)
    if index.kind != LOCAL:
        raise ValueError(f"{index.name} is not a local secondary index")
    return index
