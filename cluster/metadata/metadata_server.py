"""A metadata replica: the catalogue group plus the soft state of who leads which partition.

Leader hints are not replicated: nodes report them to the metadata leader every few ticks, and a new
metadata leader relearns them within one report interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from cluster.admission.gac_service import GacService
from cluster.metadata.catalogue import NodePlacement, TableEntry, with_item_stats
from cluster.metadata.catalogue_state_machine import CatalogueStateMachine
from cluster.metadata.ledger_service import LedgerService
from cluster.metadata.split_service import SplitService
from cluster.replication.group_runner import GroupRunner
from cluster.replication.remote_errors import as_rpc_errors, not_leader
from cluster.replication.replica_host import ReplicaHost
from cluster.runtime.rpc import RpcError
from cluster.runtime.topology import Topology

log = logging.getLogger(__name__)

METADATA_GROUP = "metadata"
PROPOSE_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 2.0
# A leader report older than this is not offered as a hint.
LEADER_REPORT_TTL_S = 3.0


class MetadataServer(ReplicaHost):
    def __init__(self, process_id: str, topology: Topology, data_dir: Path) -> None:
        super().__init__(process_id, topology)
        nodes = [NodePlacement(spec.process_id, spec.az) for spec in topology.by_role("node")]
        voters = [spec.process_id for spec in topology.by_role("metadata")]
        directory = data_dir / METADATA_GROUP
        self.catalogue = CatalogueStateMachine(directory, nodes, topology.partitions_per_table)
        self.group = GroupRunner(
            METADATA_GROUP,
            process_id,
            voters,
            directory,
            self.catalogue,
            self.send,
            self.raft_config,
            self.new_rng(),
            wal_sync=self.wal_sync,
            on_dirty=self.mark_dirty,
            # Few entries (tables, splits, elections), but a cluster left up for days compacts them too.
            snapshot_every_entries=topology.snapshot_every_entries,
            fetch_chunk=self.snapshot_fetcher(METADATA_GROUP),
        )
        self.add_group(self.group)
        self.leader_reports: dict[str, tuple[str, int, float]] = {}
        # group -> (items, bytes) as its leader last counted them: DescribeTable's ItemCount and TableSizeBytes.
        self.partition_stats: dict[str, tuple[int, int]] = {}
        self.local_index_stats: dict[str, dict[str, tuple[int, int]]] = {}  # group -> LSI code -> (items, bytes)
        self.index_settings: dict[str, str] = {}  # base partition -> fingerprint of the GSIs it maintains
        # base partition -> the GSIs whose entries (a backfill's included) it has all delivered
        self.index_backfilled: dict[str, set[str]] = {}
        self._activations_in_flight: set[str] = set()  # table names, and "table/index" for an index
        # Read requests served, for the metadata-load plots: routers' per-table lookups and full catalogues.
        self.lookups_served = 0
        self.catalogues_served = 0
        self.register("meta.create_table", self.create_table)
        self.register("meta.delete_table", self.delete_table)
        self.register("meta.update_ttl", self.update_ttl)
        self.register("meta.update_table", self.update_table)
        self.register("meta.catalogue", self.get_catalogue)
        self.register("meta.lookup_table", self.lookup_table)
        self.register("meta.node_report", self.node_report)
        # Global admission control: routers' per-table tokens, from the leader only (soft state).
        self.gac = GacService(topology.admission, self.group, lambda: self.catalogue.tables)
        self.register("gac.acquire", self.gac.acquire)
        self.splits = SplitService(
            lambda: self.catalogue.tables,
            self._propose,
            lambda: as_rpc_errors(self.group.wait_consistent_read(READ_TIMEOUT_S)),
            getattr(topology, "admission", None),
        )
        self.ledger = LedgerService(self._propose)
        self.register("meta.txn_begin", self.ledger.begin)
        self.register("meta.txn_decide", self.ledger.decide)
        self.register("meta.txn_finish", self.ledger.finish)
        self.register("meta.split_partition", self.splits.split_partition)
        self.register("meta.finish_split", self.splits.finish_split)
        self.register("status", self.status)

    async def _propose(self, command: dict[str, Any]) -> Any:
        if not self.group.is_leader:
            raise not_leader(self.group.leader_hint)
        return await as_rpc_errors(self.group.propose(json.dumps(command).encode(), PROPOSE_TIMEOUT_S))

    async def create_table(self, params: dict[str, Any]) -> Any:
        return await self._propose({"op": "create_table", **params})

    async def delete_table(self, params: dict[str, Any]) -> Any:
        return await self._propose({"op": "delete_table", "name": params.get("name")})

    async def update_ttl(self, params: dict[str, Any]) -> Any:
        name, enabled, attribute = params.get("name"), params.get("enabled"), params.get("attribute")
        if not isinstance(name, str) or not isinstance(enabled, bool) or not isinstance(attribute, str):
            raise RpcError("Invalid", "update_ttl needs name, enabled (bool) and attribute")
        return await self._propose({"op": "update_ttl", "name": name, "enabled": enabled, "attribute": attribute})

    async def update_table(self, params: dict[str, Any]) -> Any:
        result = await self._propose({**params, "op": "update_table"})
        if isinstance(result, dict) and result.get("status") == "ok":
            # Reports from before the change must not activate an index created now (a name used before).
            for partition in TableEntry.from_json(result["table"]).partitions:
                self.index_backfilled.pop(partition.group_id, None)
        return result

    def _fresh_leaders(self) -> dict[str, str]:
        now = time.monotonic()
        return {
            group: node for group, (node, _, seen) in self.leader_reports.items() if now - seen < LEADER_REPORT_TTL_S
        }

    async def get_catalogue(self, params: dict[str, Any]) -> Any:
        await as_rpc_errors(self.group.wait_consistent_read(READ_TIMEOUT_S))
        self.catalogues_served += 1
        return {
            "tables": {name: with_item_stats(entry, self.partition_stats, self.local_index_stats) for name, entry in self.catalogue.tables.items()},
            "leaders": self._fresh_leaders(),
        }

    async def lookup_table(self, params: dict[str, Any]) -> Any:
        """One table's partition map and its groups' leader hints: a router cache's lookup.

        `consistent` (a router's cache miss) is answered by the leader only, so a table created a moment
        ago is found; otherwise (the constant-work refresh) any replica answers from what it applied.
        """
        name = params.get("name")
        if not isinstance(name, str):
            raise RpcError("Invalid", "lookup_table needs a table name")
        if params.get("consistent", True):
            await as_rpc_errors(self.group.wait_consistent_read(READ_TIMEOUT_S))
        self.lookups_served += 1
        entry = self.catalogue.tables.get(name)
        if entry is None:
            return {"status": "not_found"}
        leaders = self._fresh_leaders()
        return {
            "status": "ok",
            "table": entry.to_json(),
            "leaders": {p.group_id: leaders[p.group_id] for p in entry.all_partitions() if p.group_id in leaders},
        }

    async def node_report(self, params: dict[str, Any]) -> Any:
        node_id = params.get("node")
        leading = params.get("leading")
        if not isinstance(node_id, str) or not isinstance(leading, dict):
            raise RpcError("Invalid", "node_report needs node and leading")
        await as_rpc_errors(self.group.wait_consistent_read(READ_TIMEOUT_S))
        now = time.monotonic()
        for group_id, term in leading.items():
            previous = self.leader_reports.get(group_id)
            if previous is None or int(term) >= previous[1] or now - previous[2] > LEADER_REPORT_TTL_S:
                self.leader_reports[group_id] = (node_id, int(term), now)
        self._note_stats(leading, params.get("stats"))
        self._note_index_settings(leading, params.get("index_settings"), params.get("index_backfilled"))
        self._activate_ready_tables()
        self._activate_ready_indexes()
        self._purge_old_decisions()
        self.splits.on_node_report(params.get("consumption"), self.group.is_leader)
        assignments, splits = self.splits.report_answer(node_id)
        for entry in self.catalogue.tables.values():
            indexed = entry.indexed_table()
            index_settings = None if indexed is None else {
                "indexes": indexed.to_json(),
                "index_partitions": {name: [p.to_json() for p in partitions]
                                     for name, partitions in entry.index_partitions.items()},
            }  # fmt: skip
            for partition in entry.partitions:
                if node_id in partition.members:
                    assignment = {"group_id": partition.group_id, "members": partition.members, "table": entry.name,
                                  "ttl_attribute": entry.ttl["attribute"] if entry.ttl else None}
                    if index_settings is not None:  # what its leader keeps the GSIs with (cluster/node/index_propagator.py)
                        assignment.update(index_settings)
                    assignments.append(assignment)
            for partitions in entry.index_partitions.values():
                assignments.extend(
                    {"group_id": p.group_id, "members": p.members, "table": entry.name, "ttl_attribute": None}
                    for p in partitions if node_id in p.members
                )  # fmt: skip
        return {"assignments": assignments, "authoritative": True, "splits": splits}

    def _note_stats(self, leading: dict[str, Any], stats: Any) -> None:
        if not isinstance(stats, dict):
            return  # a node from before item counts
        for group_id, value in stats.items():
            if group_id in leading and isinstance(value, list) and len(value) in (2, 3) and _is_count_pair(value[:2]):
                self.partition_stats[group_id] = (value[0], value[1])
                local = value[2] if len(value) == 3 else {}  # the partition's LSIs, by code: [items, bytes]
                valid = isinstance(local, dict) and all(_is_count_pair(pair) for pair in local.values())
                self.local_index_stats[group_id] = {str(c): (p[0], p[1]) for c, p in local.items()} if valid else {}

    def _note_index_settings(self, leading: dict[str, Any], settings: Any, backfilled: Any) -> None:
        """Which GSI settings each led partition applied (an IndexedTable fingerprint), and which GSIs it has
        delivered every entry of, as its leader says."""
        if isinstance(settings, dict):
            for group_id, fingerprint in settings.items():
                if group_id in leading and isinstance(fingerprint, str):
                    self.index_settings[group_id] = fingerprint
        if isinstance(backfilled, dict):
            for group_id, names in backfilled.items():
                if group_id in leading and isinstance(names, list):
                    self.index_backfilled[group_id] = {name for name in names if isinstance(name, str)}

    def _activate_ready_indexes(self) -> None:
        """A GSI UpdateTable created goes ACTIVE once every base partition delivered all its entries and each
        of its own partitions has a leader."""
        leaders = self._fresh_leaders()
        for entry in self.catalogue.tables.values():
            for index in entry.creating_indexes:
                key = f"{entry.name}/{index}"
                if key in self._activations_in_flight or index not in entry.index_partitions:
                    continue
                if not all(index in self.index_backfilled.get(p.group_id, ()) for p in entry.partitions):
                    continue
                if all(p.group_id in leaders for p in entry.index_partitions[index]):
                    self._activations_in_flight.add(key)
                    command = {"op": "activate_index", "name": entry.name, "table_id": entry.table["table_id"],
                               "index": index}  # fmt: skip
                    task = asyncio.ensure_future(self._propose(command))
                    task.add_done_callback(lambda t, key=key: self._activation_done(key, t))

    def _activate_ready_tables(self) -> None:
        leaders = self._fresh_leaders()
        for entry in self.catalogue.tables.values():
            if entry.table["status"] != "CREATING" or entry.name in self._activations_in_flight:
                continue
            indexed = entry.indexed_table()
            fingerprint = indexed.fingerprint() if indexed is not None else None
            if fingerprint is not None and any(self.index_settings.get(p.group_id) != fingerprint for p in entry.partitions):
                continue  # a write taken before its partition knew the GSIs would never reach them
            if all(partition.group_id in leaders for partition in entry.all_partitions()):
                self._activations_in_flight.add(entry.name)
                command = {"op": "activate_table", "name": entry.name, "table_id": entry.table["table_id"]}
                task = asyncio.ensure_future(self._propose(command))
                task.add_done_callback(lambda t, name=entry.name: self._activation_done(name, t))

    def _purge_old_decisions(self) -> None:
        command = self.ledger.purge_due() if self.group.is_leader else None
        if command is not None:
            task = asyncio.ensure_future(self._propose(command))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retried a minute later

    def _activation_done(self, name: str, task: asyncio.Task[Any]) -> None:
        self._activations_in_flight.discard(name)
        if not task.cancelled() and task.exception() is not None:
            # Retried at the next report; said, as split_service says its own, so that a bug is not silent.
            log.warning("activating table %s failed: %r", name, task.exception())

    def status(self, params: dict[str, Any]) -> Any:
        spec = self.topology.get(self.process_id)
        return {
            "process": self.process_id,
            "role": "metadata",
            "az": spec.az,
            "groups": [self.group.status()],
            "leading": [METADATA_GROUP] if self.group.is_leader else [],
            "lookups_served": self.lookups_served,
            "catalogues_served": self.catalogues_served,
            "admission": self.gac.status(),
            "splits": self.splits.summaries(),
        }


def _is_count_pair(pair: Any) -> bool:
    return isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, int) and n >= 0 for n in pair)
