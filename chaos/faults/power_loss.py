"""cluster-power-off: a data-centre power outage, every storage node at once, losing unsynced writes.

SIGKILL alone keeps the page cache, so it cannot show a store that forgets to fsync. Two models:

- "fuse" (the local backend's default, cluster.deploy.local_processes.POWER_LOSS_MODELS): each node's
  data directory is a lazyfs mount (chaos/lazyfs) that knows nothing of the store's files; after the
  SIGKILLs each disk drops every write, create, rename and unlink no fsync made durable (power-off and
  az-power-off do the same for their nodes; kill-leader is a crash and keeps the page cache).
- "store-mark" (Docker, or where FUSE cannot run): with every node down, each write-ahead log is cut
  back to the durable mark the store itself writes after it believes it fsynced. It trusts the store:
  an fsync of the wrong file or a missing directory fsync passes.

Heal powers the nodes on. A correct store loses nothing it acknowledged; one that skips fsync does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.process_faults import _power_off, _PoweredOffProcesses
from chaos.lazyfs.power_cut import lose_unsynced_data
from cluster.storage.wal_durable_mark import cut_to_durable_mark
from cluster.storage.wal_segments import LOCK_FILE_NAME


def wal_directories(process_dir: Path) -> list[Path]:
    """Every write-ahead log under one process's data directory (one per replica it hosts)."""
    return sorted(lock.parent for lock in process_dir.rglob(LOCK_FILE_NAME) if lock.parent.name == "wal")


def power_loss_model(cluster: Any) -> str:
    """The backend's power-loss model; a backend that does not say (Docker, stand-ins) cuts store marks."""
    model = getattr(cluster, "power_loss_model", None)
    return model() if callable(model) else "store-mark"


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
        model = power_loss_model(context.cluster)
        if model == "fuse":
            reports = lose_unsynced_data(context.cluster, self.powered_off)
            return {
                "process_ids": sorted(self.powered_off),
                "pids": dict(self.powered_off),
                "power_loss": "fuse",
                "lost_unsynced_bytes": {
                    process_id: (report or {}).get("lost_unsynced_bytes", 0) for process_id, report in reports.items()
                },
                "disks": reports,
            }
        # Every node is down now (its WAL lock released with it): drop what no fsync made durable.
        lost_bytes: dict[str, int] = {}
        for process_id in sorted(self.powered_off):
            if context.cluster.is_running(process_id):
                continue  # not dead within the signal timeout: cutting a live log would corrupt it
            lost = 0
            for directory in wal_directories(data_dir / "processes" / process_id):
                lost += sum(cut_to_durable_mark(directory).values())
            lost_bytes[process_id] = lost
        return {
            "process_ids": sorted(self.powered_off),
            "pids": dict(self.powered_off),
            "power_loss": "store-mark",
            "lost_unsynced_bytes": lost_bytes,
        }


def cluster_power_off(target: Mapping[str, Any]) -> ClusterPowerOff:
    return ClusterPowerOff(target)
