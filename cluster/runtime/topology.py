"""The cluster's shape, written once by the deploy backend and read by every process at start.

Addresses are per directed link: `links[source][target]` overrides the target's own address, which is
how chaos puts a Toxiproxy proxy in front of one direction of one link.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cluster.admission.settings import AdmissionSettings
from cluster.router.partition_cache import CACHE_MODES, DEFAULT_CACHE_MODE


class TopologyError(Exception):
    pass


@dataclass(frozen=True)
class ProcessSpec:
    process_id: str
    role: str  # "node" | "metadata" | "router"
    az: str
    host: str
    port: int
    # Where the process serves Prometheus' /metrics over HTTP (0: it serves none).
    metrics_port: int = 0


@dataclass(frozen=True)
class TimingConfig:
    tick_ms: int = 50
    election_ticks_min: int = 10
    election_ticks_max: int = 20
    heartbeat_ticks: int = 2
    lease_ticks: int = 7


@dataclass
class Topology:
    processes: list[ProcessSpec]
    partitions_per_table: int = 4
    timing: TimingConfig = field(default_factory=TimingConfig)
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    # Test-only switches that make the store deliberately wrong (the harness must catch them).
    faults_enabled: list[str] = field(default_factory=list)
    # How routers cache partition metadata (cluster/router/partition_cache.py): "constant-work" or "classic".
    router_cache_mode: str = DEFAULT_CACHE_MODE
    # Scrub and WAL archive (cluster/scrub/settings.py; GAMEDAY_SCRUB and GAMEDAY_ARCHIVE override them).
    scrub_enabled: bool = True
    # A group's leader adds a log replica while a storage replica is away (cluster/node/log_replica_manager.py).
    log_replicas_enabled: bool = True
    archive: str = ""  # a directory or s3://BUCKET/PREFIX; empty: DATA_DIR/archive
    # Token buckets, GAC and splits for consumption (cluster/admission/settings.py).
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    # A storage or log replica copies its state every this many applied entries and compacts its log
    # behind the copy before (cluster/replication/group_runner.py); 0: never.
    snapshot_every_entries: int = 10_000

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for spec in self.processes:
            if spec.process_id in seen:
                raise TopologyError(f"duplicate process id {spec.process_id}")
            if spec.role not in ("node", "metadata", "router"):
                raise TopologyError(f"unknown role {spec.role!r} for {spec.process_id}")
            seen.add(spec.process_id)
        if self.partitions_per_table < 1:
            raise TopologyError("partitions_per_table must be at least 1")
        if not isinstance(self.snapshot_every_entries, int) or self.snapshot_every_entries < 0:
            raise TopologyError(f"snapshot_every_entries must be a whole number >= 0, got {self.snapshot_every_entries!r}")
        if isinstance(self.admission, dict):  # e.g. a scenario's [cluster.admission] table, as parsed
            try:
                self.admission = AdmissionSettings.from_json(self.admission)
            except ValueError as error:
                raise TopologyError(str(error)) from error
        if not isinstance(self.admission, AdmissionSettings):
            raise TopologyError(f"admission must be admission settings, got {type(self.admission).__name__}")
        if self.router_cache_mode not in CACHE_MODES:
            raise TopologyError(
                f"unknown router_cache_mode {self.router_cache_mode!r}; expected one of {', '.join(CACHE_MODES)}"
            )

    def by_role(self, role: str) -> list[ProcessSpec]:
        return [spec for spec in self.processes if spec.role == role]

    def get(self, process_id: str) -> ProcessSpec:
        for spec in self.processes:
            if spec.process_id == process_id:
                return spec
        raise TopologyError(f"no process {process_id!r} in the topology")

    def address(self, source: str, target: str) -> tuple[str, int]:
        """Where `source` connects to reach `target` (through a proxy when chaos put one there)."""
        override = self.links.get(source, {}).get(target)
        if override:
            host, _, port = override.rpartition(":")
            return host, int(port)
        spec = self.get(target)
        return spec.host, spec.port

    @property
    def azs(self) -> list[str]:
        return sorted({spec.az for spec in self.processes})

    def to_json(self) -> dict:
        return {
            "processes": [asdict(spec) for spec in self.processes],
            "partitions_per_table": self.partitions_per_table,
            "timing": asdict(self.timing),
            "links": self.links,
            "faults_enabled": self.faults_enabled,
            "router_cache_mode": self.router_cache_mode,
            "scrub_enabled": self.scrub_enabled,
            "log_replicas_enabled": self.log_replicas_enabled,
            "archive": self.archive,
            "admission": self.admission.to_json(),
            "snapshot_every_entries": self.snapshot_every_entries,
        }

    @classmethod
    def from_json(cls, data: dict) -> Topology:
        try:
            return cls(
                processes=[ProcessSpec(**spec) for spec in data["processes"]],
                partitions_per_table=int(data.get("partitions_per_table", 4)),
                timing=TimingConfig(**data.get("timing", {})),
                links={str(k): dict(v) for k, v in data.get("links", {}).items()},
                faults_enabled=list(data.get("faults_enabled", [])),
                router_cache_mode=str(data.get("router_cache_mode", DEFAULT_CACHE_MODE)),
                scrub_enabled=bool(data.get("scrub_enabled", True)),
                log_replicas_enabled=bool(data.get("log_replicas_enabled", True)),
                archive=str(data.get("archive", "")),
                admission=AdmissionSettings.from_json(data.get("admission", {})),
                snapshot_every_entries=int(data.get("snapshot_every_entries", 10_000)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise TopologyError(f"malformed topology: {error!r}") from error

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2))
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> Topology:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise TopologyError(f"cannot read topology {path}: {error}") from error
