"""cluster-power-off: a data-centre power outage, every storage node at once, losing unsynced writes.

SIGKILL alone keeps the page cache, so it cannot show a store that forgets to fsync. This fault does
what a power loss does to the disks (as Jepsen's lazyfs does): with every node down, each write-ahead
log is cut back to the point its last real fsync made durable (the WAL's durable mark), then heal
powers the nodes on. A correct store loses nothing it acknowledged; one that skips fsync does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.process_faults import _power_off, _PoweredOffProcesses
from cluster.storage.wal_durable_mark import cut_to_durable_mark
from cluster.storage.wal_segments import LOCK_FILE_NAME


def wal_directories(process_dir: Path) -> list[Path]:
    """Every write-ahead log under one process's data directory (one per replica it hosts)."""
    return sorted(lock.parent for lock in process_dir.rglob(LOCK_FILE_NAME) if lock.parent.name == "wal")


class ClusterPowerOff(_PoweredOffProcesses):
    kind = "cluster-power-off"

    def start(self, context: FaultContext) -> dict[str, Any]:
        topology = context.cluster.topology()
        node_ids = [spec.process_id for spec in topology.by_role("node")]
        wanted = list(self.target.get("process_ids") or node_ids)
        data_dir = getattr(context.cluster, "data_dir", None)
        if not isinstance(data_dir, Path):
            raise FaultNotApplicable("cluster-power-off needs a backend whose nodes keep their data on this machine")
        self.powered_off = _power_off(context, wanted)
        if not self.powered_off:
            raise FaultNotApplicable("no storage node is running")
        # Every node is down now (its WAL lock released with it): drop what no fsync made durable.
        lost_bytes: dict[str, int] = {}
        for process_id in sorted(self.powered_off):
            if context.cluster.is_running(process_id):
                continue  # not dead within the signal timeout: cutting a live log would corrupt it
            lost = 0
            for directory in wal_directories(data_dir / "processes" / process_id):
                lost += sum(cut_to_durable_mark(directory).values())
            lost_bytes[process_id] = lost
        return {"process_ids": sorted(self.powered_off), "pids": dict(self.powered_off), "lost_unsynced_bytes": lost_bytes}


def cluster_power_off(target: Mapping[str, Any]) -> ClusterPowerOff:
    return ClusterPowerOff(target)
