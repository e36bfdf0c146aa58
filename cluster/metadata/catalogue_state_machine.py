"""The metadata group's state machine: the catalogue, persisted in SQLite with its applied index."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.api.attribute_values import KeySchema
from cluster.api.errors import ApiError
from cluster.api.tables import TableInfo
from cluster.api.time_to_live import change_ttl
from cluster.core.types import Entry
from cluster.metadata.catalogue import NodePlacement, TableEntry, place_table, table_id_for
from cluster.metadata.catalogue_splits import begin_split, finish_split
from cluster.metadata.catalogue_updates import activate_index, update_table
from cluster.metadata.transaction_ledger import TransactionLedger
from cluster.storage.sqlite_copies import copy_database, replace_database_file


class CatalogueStateMachine:
    def __init__(self, directory: Path, nodes: list[NodePlacement], default_partition_count: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.nodes = sorted(nodes, key=lambda n: n.node_id)
        self.default_partition_count = default_partition_count
        self.path = directory / "catalogue.sqlite"
        self._open()

    def _open(self) -> None:
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, entry TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        row = self._db.execute("SELECT value FROM meta WHERE name = 'applied_index'").fetchone()
        self._applied_index = int(row[0]) if row else 0
        self.tables: dict[str, TableEntry] = self._load_tables()
        self.ledger = TransactionLedger(self._db)

    def _load_tables(self) -> dict[str, TableEntry]:
        return {
            name: TableEntry.from_json(json.loads(entry))
            for name, entry in self._db.execute("SELECT name, entry FROM tables")
        }

    @property
    def applied_index(self) -> int:
        return self._applied_index

    def apply(self, entries: Sequence[Entry]) -> dict[int, Any]:
        results: dict[int, Any] = {}
        todo = [entry for entry in entries if entry.index > self._applied_index]
        if not todo:
            return results
        self._db.execute("BEGIN")
        try:
            for entry in todo:
                if entry.command:
                    results[entry.index] = self._apply_checked(entry.index, entry.command)
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('applied_index', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (todo[-1].index,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            # The in-memory view may be ahead of the rolled-back rows: reload it.
            self.tables = self._load_tables()
            raise
        self._applied_index = todo[-1].index
        return results

    def _save(self, entry: TableEntry) -> None:
        self.tables[entry.name] = entry
        self._db.execute(
            "INSERT INTO tables (name, entry) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET entry = excluded.entry",
            (entry.name, json.dumps(entry.to_json())),
        )

    def _apply_checked(self, index: int, command_bytes: bytes) -> dict[str, Any]:
        # A malformed command is rejected the same way on every replica, so replicas stay equal.
        try:
            return self._apply_one(index, command_bytes)
        except (KeyError, TypeError, ValueError, ApiError) as error:
            return {"status": "invalid", "message": f"malformed command: {error!r}"}

    def _apply_one(self, index: int, command_bytes: bytes) -> dict[str, Any]:
        try:
            command = json.loads(command_bytes)
            op = command["op"]
        except (ValueError, KeyError, TypeError) as error:
            return {"status": "invalid", "message": f"malformed command: {error!r}"}
        if op.startswith("txn_"):
            return self.ledger.apply(command)
        if op == "create_table":
            name = command["name"]
            if name in self.tables:
                return {"status": "in_use", "table": self.tables[name].to_json()}
            table_id = table_id_for(name, index)
            partition_count = int(command.get("partition_count") or self.default_partition_count)
            table = TableInfo(
                name=name,
                key_schema=KeySchema.from_json(command["key_schema"]),
                status="CREATING",
                creation_time_s=float(command["created_at_s"]),
                table_id=table_id,
                billing_mode=command["billing_mode"],
                read_capacity_units=int(command.get("read_capacity_units") or 0),
                write_capacity_units=int(command.get("write_capacity_units") or 0),
                partition_count=partition_count,
                indexes=[dict(spec) for spec in command.get("indexes") or []],
                attribute_definitions=command.get("attribute_definitions"),
            )
            global_names = [spec.name for spec in TableEntry(table.to_json()).global_indexes()]
            partitions, index_partitions = place_table(
                table_id, partition_count, global_names, self.nodes, list(self.tables.values())
            )
            entry = TableEntry(table.to_json(), partitions, index_partitions=index_partitions)
            self._save(entry)
            return {"status": "ok", "table": entry.to_json()}
        if op == "activate_table":
            existing = self.tables.get(command["name"])
            if existing is None or existing.table["table_id"] != command["table_id"]:
                return {"status": "not_found"}
            existing.table["status"] = "ACTIVE"
            self._save(existing)
            return {"status": "ok", "table": existing.to_json()}
        if op == "delete_table":
            existing = self.tables.pop(command["name"], None)
            if existing is None:
                return {"status": "not_found"}
            self._db.execute("DELETE FROM tables WHERE name = ?", (command["name"],))
            existing.table["status"] = "DELETING"
            return {"status": "ok", "table": existing.to_json()}
        if op == "update_ttl":
            existing = self.tables.get(command["name"])
            if existing is None:
                return {"status": "not_found"}
            setting, refused = change_ttl(existing.ttl, bool(command["enabled"]), str(command["attribute"]))
            if refused:
                return {"status": "invalid", "message": refused}
            existing.ttl = setting
            self._save(existing)
            return {"status": "ok", "table": existing.to_json()}
        if op in ("update_table", "activate_index"):
            existing = self.tables.get(command["name"])
            if existing is None:
                return {"status": "not_found"}
            if op == "update_table":
                result = update_table(existing, command, self.nodes, [t for t in self.tables.values() if t is not existing])
            else:
                result = activate_index(existing, command)
            if result["status"] == "ok":
                self._save(existing)
            return result
        if op in ("begin_split", "finish_split"):
            existing = self.tables.get(command["name"])
            if existing is None:
                return {"status": "not_found", "message": f"no table {command['name']!r}"}
            if op == "begin_split":
                result = begin_split(existing, command, self.nodes, list(self.tables.values()))
            else:
                result = finish_split(existing, command)
            self._save(existing)
            return result
        return {"status": "invalid", "message": f"unknown command {op!r}"}

    def write_snapshot(self, destination: Path) -> int:
        """A copy of the catalogue at one applied index in `destination` (not fsynced); returns that index.
        Runs in a worker thread beside apply: the copy reads through its own connection."""
        return copy_database(self.path, destination)

    def restore_snapshot(self, source: Path, index: int) -> None:
        """Replace the catalogue with a snapshot's copy through `index` (the leader's)."""
        self._db.close()
        replace_database_file(self.path, source)
        self._open()
        if self._applied_index != index:
            raise ValueError(f"snapshot {source} holds applied index {self._applied_index}, not {index}")

    def close(self) -> None:
        self._db.close()
