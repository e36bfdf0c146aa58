"""The local backend: every node, metadata replica and router is its own OS process on loopback.

The data directory holds the topology, the pids of what `up` started, each process's data and logs.
`down` stops exactly the processes recorded there (checked against /proc, so a recycled pid is never
signalled), and a later `up` on the same directory finds all the data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.deploy.listen_ports import (
    claim_port,
    free_listen_port,
    free_listen_ports,
    own_claims,
    release_claims,
)
from cluster.runtime.topology import ProcessSpec, TimingConfig, Topology, TopologyError

if TYPE_CHECKING:  # the harness's link module is only loaded when a cluster asks for proxied links
    from chaos.network_links import ProxiedLinks

DEFAULT_DATA_DIR = Path("runs/cluster")
STATE_FILE = "processes.json"
EXEC_VISIBLE_WAIT_S = 5.0
TOPOLOGY_FILE = "topology.json"
TOXIPROXY_LOG = "toxiproxy.log"
TOXIPROXY_START_TIMEOUT_S = 15.0
# How a power-off loses unsynced data. "fuse": each storage node's data directory is a lazyfs mount (its
# own process, chaos/lazyfs) that keeps unsynced writes and names in memory, knowing nothing of the store's
# files; power-off faults call lose_power after their SIGKILL. "store-mark": the old model, only
# cluster-power-off loses data, cutting each WAL back to the durable mark the store itself records.
POWER_LOSS_MODELS = ("fuse", "store-mark")
DEFAULT_POWER_LOSS = "fuse"
LAZYFS_DEATH_TIMEOUT_S = 5.0


class ClusterError(Exception):
    """Something a user must act on: the message says what went wrong and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    return free_listen_port(host)


def _free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    return free_listen_ports(count, host)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def build_topology(azs: int, nodes_per_az: int, partitions_per_table: int, timing: TimingConfig | None = None) -> Topology:
    if azs < 3:
        raise ClusterError(f"--azs must be at least 3 (a group places one replica per AZ), got {azs}")
    if nodes_per_az < 1:
        raise ClusterError(f"--nodes-per-az must be at least 1, got {nodes_per_az}")
    letters = string.ascii_lowercase
    shape: list[tuple[str, str, str]] = []  # (process id, role, AZ)
    for az_index in range(azs):
        az = f"az-{letters[az_index]}"
        shape += [(f"node-{letters[az_index]}{number}", "node", az) for number in range(1, nodes_per_az + 1)]
        if az_index < 3:
            shape.append((f"meta-{letters[az_index]}", "metadata", az))
        shape.append((f"router-{letters[az_index]}", "router", az))
    ports = iter(_free_ports(2 * len(shape)))
    processes = [
        ProcessSpec(process_id, role, az, "127.0.0.1", next(ports), next(ports)) for process_id, role, az in shape
    ]
    return Topology(processes, partitions_per_table=partitions_per_table, timing=timing or TimingConfig())


def _process_ports(spec: ProcessSpec) -> list[int]:
    return [port for port in (spec.port, spec.metrics_port) if port]


def _listen_ports(topology: Topology) -> list[int]:
    """Every port the cluster's processes and proxies listen on."""
    ports = [port for spec in topology.processes for port in _process_ports(spec)]
    return ports + [int(listen.rpartition(":")[2]) for targets in topology.links.values() for listen in targets.values()]


def with_settings(topology: Topology, settings: Mapping[str, Any]) -> Topology:
    """The topology with the store's mechanism switches changed; an unknown or invalid one is a ClusterError."""
    allowed = {
        "router_cache_mode", "scrub_enabled", "log_replicas_enabled", "archive", "admission", "snapshot_every_entries",
    }
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ClusterError(f"unknown store settings {unknown}; known: {sorted(allowed)}")
    try:
        return dataclasses.replace(topology, **settings)
    except (TopologyError, TypeError) as error:
        raise ClusterError(f"invalid store settings {dict(settings)}: {error}") from error


def process_alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line contains `marker` (our process, not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return marker in cmdline and state != "Z"


def process_state(pid: int) -> str:
    """The kernel's one-letter state: R/S running or sleeping, T stopped (paused), Z zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "?"


@dataclass
class LocalCluster:
    data_dir: Path

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        # lazyfs's report of the last power loss of each process's disk (see lose_power).
        self.power_loss_reports: dict[str, dict[str, Any]] = {}
        # Whether a power loss also tears the last written page (a random prefix of it reaches the disk).
        self.tear_on_power_loss = True

    @property
    def topology_path(self) -> Path:
        return self.data_dir / TOPOLOGY_FILE

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def topology(self) -> Topology:
        if not self.topology_path.exists():
            raise ClusterError(f"no cluster in {self.data_dir}: run `gameday cluster up --data-dir {self.data_dir}` first")
        return Topology.load(self.topology_path)

    def pids(self) -> dict[str, int]:
        if not self.state_path.exists():
            return {}
        try:
            return {k: int(v) for k, v in json.loads(self.state_path.read_text()).get("pids", {}).items()}
        except (OSError, ValueError, AttributeError) as error:
            raise ClusterError(f"{self.state_path} is corrupt ({error}); stop stray processes and remove it") from error

    def _state(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as error:
            raise ClusterError(f"{self.state_path} is corrupt ({error}); stop stray processes and remove it") from error
        return state if isinstance(state, dict) else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_path)

    def _save_pids(self, pids: dict[str, int]) -> None:
        # Everything else in the state (the Toxiproxy server's record) is kept as it was.
        self._write_state({**self._state(), "pids": pids})

    def _toxiproxy_record(self) -> dict[str, Any]:
        """{"url": ..., and when this cluster started the server itself: "pid", "marker"}, or {}."""
        record = self._state().get("toxiproxy")
        return record if isinstance(record, dict) else {}

    def _save_toxiproxy_record(self, record: dict[str, Any]) -> None:
        state = self._state()
        if record:
            state["toxiproxy"] = record
        else:
            state.pop("toxiproxy", None)
        self._write_state(state)

    def _marker(self, process_id: str) -> str:
        return f"--id {process_id} --data-dir {self.data_dir / 'processes' / process_id}"

    def is_running(self, process_id: str) -> bool:
        pid = self.pids().get(process_id)
        return pid is not None and process_alive(pid, self._marker(process_id))

    def endpoints(self) -> dict[str, str]:
        topology = self.topology()
        return {spec.az: f"http://{spec.host}:{spec.port}" for spec in topology.by_role("router")}

    # ---- up / down ----------------------------------------------------------------------------

    def up(
        self,
        azs: int = 3,
        nodes_per_az: int = 2,
        partitions_per_table: int = 4,
        wait_s: float = 60.0,
        faults: list[str] | None = None,
        timing: TimingConfig | None = None,
        toxiproxy: str | None = None,
        proxy_links: bool = False,
        settings: Mapping[str, Any] | None = None,
        power_loss: str | None = None,
    ) -> dict[str, Any]:
        """Starts whatever is not running. With `proxy_links` (implied by a `toxiproxy` URL) every link
        chaos may cut goes through a Toxiproxy proxy: our server, started and owned by this cluster, or
        the Toxiproxy 2.x at `toxiproxy`. `settings` switches the store's mechanisms (topology fields:
        scrub_enabled, log_replicas_enabled, router_cache_mode...) for processes started from now on.
        `power_loss` ("fuse" or "store-mark", see POWER_LOSS_MODELS) applies to nodes started from now on;
        None keeps the cluster's recorded model (DEFAULT_POWER_LOSS for a new one)."""
        if power_loss is not None and power_loss not in POWER_LOSS_MODELS:
            raise ClusterError(f"power_loss must be one of {list(POWER_LOSS_MODELS)}, got {power_loss!r}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if power_loss is not None or "power_loss" not in self._state():
            self._write_state({**self._state(), **_power_loss_choice(power_loss)})
        if self.topology_path.exists():
            topology = self.topology()
            shape = (len(topology.azs), len(topology.by_role("node")) // max(1, len(topology.azs)))
            if shape != (azs, nodes_per_az):
                raise ClusterError(
                    f"{self.data_dir} holds a cluster of {shape[0]} AZs x {shape[1]} nodes; "
                    f"use another --data-dir for {azs} x {nodes_per_az}, or `down` and remove it"
                )
            changed = False
            for index, spec in enumerate(topology.processes):
                # A restarted cluster keeps its topology; a port taken meanwhile by someone else moves.
                if self.is_running(spec.process_id):
                    continue
                if not self._port_still_ours(spec.port):
                    spec = topology.processes[index] = dataclasses.replace(spec, port=free_port())
                    changed = True
                if spec.metrics_port and not self._port_still_ours(spec.metrics_port):
                    topology.processes[index] = dataclasses.replace(spec, metrics_port=free_port())
                    changed = True
            if faults is not None and sorted(faults) != sorted(topology.faults_enabled):
                topology.faults_enabled = list(faults)
                changed = True
            if settings:
                switched = with_settings(topology, settings)
                changed = changed or switched != topology
                topology = switched
            if changed:
                topology.save(self.topology_path)
        else:
            topology = build_topology(azs, nodes_per_az, partitions_per_table, timing)
            topology.faults_enabled = list(faults or [])
            topology = with_settings(topology, settings or {})
            topology.save(self.topology_path)
        own_claims(_listen_ports(topology), self._claim_owner)
        try:
            if proxy_links or toxiproxy is not None:
                self._create_proxy_links(topology, toxiproxy)
            elif topology.links and not any(self.is_running(spec.process_id) for spec in topology.processes):
                # Nothing runs through the old proxies any more: this start goes direct, as asked.
                topology.links = {}
                topology.save(self.topology_path)
                self._stop_owned_toxiproxy()
        except ClusterError:
            self.down()
            raise
        pids = self.pids()
        try:
            for spec in topology.processes:
                if not self.is_running(spec.process_id):
                    self._ensure_lazyfs(spec.process_id)
                    pids[spec.process_id] = self._spawn(spec.process_id)
                    self._save_pids(pids)
        except ClusterError:
            self.down()
            raise
        try:
            self.wait_until_serving(wait_s)
        except ClusterError:
            self.down()
            raise
        return self.describe()

    # ---- Toxiproxy links ------------------------------------------------------------------------

    def links(self) -> ProxiedLinks | None:
        """The proxies in front of this cluster's links, or None when it was started without them."""
        record = self._toxiproxy_record()
        if not record.get("url") or not self.topology_path.exists():
            return None
        topology = self.topology()
        if not topology.links:
            return None
        from chaos.network_links import ProxiedLinks

        return ProxiedLinks(topology, record["url"])

    def toxiproxy_pid(self) -> int | None:
        """The pid of the Toxiproxy server this cluster started and still runs, else None."""
        record = self._toxiproxy_record()
        pid, marker = record.get("pid"), record.get("marker")
        if isinstance(pid, int) and isinstance(marker, str) and process_alive(pid, marker):
            return pid
        return None

    def _create_proxy_links(self, topology: Topology, toxiproxy: str | None) -> None:
        """Proxies for every directed link, written into the topology before any process reads it."""
        from chaos.network_links import ProxiedLinks, ToxiproxyApiError

        if toxiproxy is not None:
            self._stop_owned_toxiproxy()
            record: dict[str, Any] = {"url": toxiproxy.rstrip("/")}
        elif self.toxiproxy_pid() is not None:
            record = self._toxiproxy_record()
        else:
            record = self._start_toxiproxy()
        self._save_toxiproxy_record(record)
        try:
            # The old links are preferred: processes still running keep dialling the same ports.
            topology.links = ProxiedLinks(topology, record["url"]).create(preferred_listen=topology.links)
        except ToxiproxyApiError as error:
            raise ClusterError(f"cannot create the Toxiproxy proxies: {error}") from error
        topology.save(self.topology_path)
        own_claims(_listen_ports(topology), self._claim_owner)

    def _start_toxiproxy(self) -> dict[str, Any]:
        """Our Toxiproxy-compatible server as a process of this cluster, detached like the others."""
        port = free_port()
        command = [
            sys.executable, "-m", "gameday.commands.toxiproxy", "serve", "--host", "127.0.0.1", "--port", str(port)
        ]
        # The pid alone could be recycled; the command line with its own port identifies our server.
        marker = " ".join(command[1:])
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        log_path = log_dir / TOXIPROXY_LOG
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the user's terminal must not cut the whole network
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        record = {"url": f"http://127.0.0.1:{port}", "pid": process.pid, "marker": marker}
        from chaos.toxiproxy.subprocess_server import READY_PREFIX

        deadline = time.monotonic() + TOXIPROXY_START_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(log_path, "rb") as log_file:
                log_file.seek(offset)
                written = log_file.read().decode(errors="replace")
            if READY_PREFIX in written:
                return record
            if process.poll() is not None:
                raise ClusterError(f"the Toxiproxy server exited during start-up; its log ends:\n{written[-2000:]}")
            time.sleep(0.05)
        _stop_pid(process.pid, marker, 5.0)
        raise ClusterError(f"the Toxiproxy server did not start within {TOXIPROXY_START_TIMEOUT_S:.0f}s; see {log_path}")

    def _stop_owned_toxiproxy(self, timeout_s: float = 5.0) -> bool:
        """Stops the Toxiproxy server this cluster started (never one given by URL); True if it ran."""
        record = self._toxiproxy_record()
        pid, marker = record.get("pid"), record.get("marker")
        stopped = isinstance(pid, int) and isinstance(marker, str) and _stop_pid(pid, marker, timeout_s)
        if record:
            self._save_toxiproxy_record({})
        return bool(stopped)

    def _environments(self) -> dict[str, dict[str, str]]:
        """Extra environment variables each process was last started with (e.g. a skewed clock)."""
        environments = self._state().get("environments")
        return environments if isinstance(environments, dict) else {}

    def _save_environment(self, process_id: str, environment: dict[str, str] | None) -> None:
        # Recorded so status() shows why a process behaves differently; a plain start clears it.
        state = self._state()
        environments = dict(self._environments())
        if environment:
            environments[process_id] = dict(environment)
        else:
            environments.pop(process_id, None)
        if environments:
            state["environments"] = environments
        else:
            state.pop("environments", None)
        self._write_state(state)

    def _spawn(self, process_id: str, environment: dict[str, str] | None = None) -> int:
        process_dir = self.data_dir / "processes" / process_id
        process_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        with open(log_dir / f"{process_id}.log", "ab") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "cluster.runtime.process_main",
                    "--topology", str(self.topology_path),
                    "--id", process_id,
                    "--data-dir", str(process_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the user's terminal must not power off the cluster
                env={**os.environ, **environment} if environment else None,
            )
        self._save_environment(process_id, environment)
        # Between fork and exec /proc shows the parent's command line, and a child that is merely
        # young would look dead to process_alive(): wait (bounded) until the exec is visible.
        deadline = time.monotonic() + EXEC_VISIBLE_WAIT_S
        while not process_alive(process.pid, self._marker(process_id)) and time.monotonic() < deadline:
            if process.poll() is not None:
                break  # it really exited; wait_until_serving reports it with its log
            time.sleep(0.005)
        return process.pid

    def start_process(self, process_id: str, environment: dict[str, str] | None = None) -> int:
        """Power-on: start a stopped process again on the same data directory, with `environment`
        added to this process's own (a running process is left as it is, whatever it was started with)."""
        self.topology().get(process_id)
        if self.is_running(process_id):
            return self.pids()[process_id]
        self._ensure_lazyfs(process_id)
        pids = self.pids()
        # Without an environment the call stays _spawn(process_id): subclasses that override _spawn with
        # that signature (the controller tests' stand-ins) keep working.
        pids[process_id] = self._spawn(process_id, environment) if environment else self._spawn(process_id)
        self._save_pids(pids)
        return pids[process_id]

    def signal_process(self, process_id: str, signal_number: int) -> None:
        pid = self.pids().get(process_id)
        if pid is None or not process_alive(pid, self._marker(process_id)):
            raise ClusterError(f"{process_id} is not running")
        if signal_number in (signal.SIGKILL, signal.SIGTERM):
            # Its ports stay ours while it is down: it starts on them again.
            own_claims(_process_ports(self.topology().get(process_id)), self._claim_owner)
        os.kill(pid, signal_number)
        if signal_number == signal.SIGKILL:
            _reap(pid)

    def wait_until_serving(self, wait_s: float) -> None:
        wait_for_routers(self.endpoints(), wait_s, self._raise_if_one_exited)

    def _raise_if_one_exited(self) -> None:
        for process_id, pid in self.pids().items():
            if not process_alive(pid, self._marker(process_id)):
                log_path = self.data_dir / "logs" / f"{process_id}.log"
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                raise ClusterError(f"{process_id} exited during start-up; its log ends:\n{tail}")

    def down(self, timeout_s: float = 10.0) -> list[str]:
        try:
            return self._stop_processes(timeout_s)
        finally:
            # After the processes (a mount cannot go while a node uses it), and even when stopping failed.
            self._stop_lazyfs_mounts()
            if self.topology_path.exists():
                release_claims(_listen_ports(self.topology()), self._claim_owner)

    @property
    def _claim_owner(self) -> str:
        return str(self.data_dir.resolve())

    def _port_still_ours(self, port: int) -> bool:
        """Free, and claimed by no other cluster since this one stopped (listen_ports.py)."""
        return port_free(port) and claim_port(port, owner=self._claim_owner)

    def _stop_processes(self, timeout_s: float) -> list[str]:
        pids = self.pids()
        stopped = []
        for process_id, pid in pids.items():
            if process_alive(pid, self._marker(process_id)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)  # a paused process cannot handle SIGTERM
                    os.kill(pid, signal.SIGTERM)
                stopped.append(process_id)
        deadline = time.monotonic() + timeout_s
        for process_id, pid in pids.items():
            while process_alive(pid, self._marker(process_id)) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if process_alive(pid, self._marker(process_id)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self._save_pids({})
        # After the processes: while any of them ran, cutting its network would have been a fault.
        if self._stop_owned_toxiproxy(timeout_s):
            stopped.append("toxiproxy")
        return stopped

    # ---- lazyfs: the independent power-loss model -------------------------------------------------

    def power_loss_model(self) -> str:
        """"fuse" or "store-mark": how this cluster's power-offs lose unsynced data (POWER_LOSS_MODELS)."""
        model = self._state().get("power_loss")
        return model if model in POWER_LOSS_MODELS else "store-mark"

    def _lazyfs_records(self) -> dict[str, dict[str, Any]]:
        records = self._state().get("lazyfs")
        return records if isinstance(records, dict) else {}

    def _save_lazyfs_record(self, process_id: str, record: dict[str, Any] | None) -> None:
        state = self._state()
        records = dict(self._lazyfs_records())
        if record:
            records[process_id] = record
        else:
            records.pop(process_id, None)
        if records:
            state["lazyfs"] = records
        else:
            state.pop("lazyfs", None)
        self._write_state(state)

    def lazyfs_mount(self, process_id: str) -> Path | None:
        """The data directory of `process_id` when a live lazyfs mount covers it, else None."""
        from chaos.lazyfs.mounts import is_mounted, process_serves

        record = self._lazyfs_records().get(process_id)
        if not record:
            return None
        mount = Path(record["mount"])
        return mount if process_serves(int(record["pid"]), mount) and is_mounted(mount) else None

    def power_loss_description(self) -> dict[str, Any]:
        """The model and, when the default fell back to "store-mark", why (for the report)."""
        state = self._state()
        description: dict[str, Any] = {"model": self.power_loss_model()}
        if state.get("power_loss_fallback"):
            description["fallback"] = state["power_loss_fallback"]
        return description

    def _ensure_lazyfs(self, process_id: str) -> None:
        """Mounts lazyfs over a storage node's data directory before the node starts (fuse model only)."""
        if self.power_loss_model() != "fuse" or self.topology().get(process_id).role != "node":
            return
        if self.lazyfs_mount(process_id) is not None:
            return
        from chaos.lazyfs.mounts import LazyfsMountError, start_mount

        mount = self.data_dir / "processes" / process_id
        try:
            pid = start_mount(mount, self.data_dir / "logs" / f"lazyfs-{process_id}.log")
        except LazyfsMountError as error:
            raise ClusterError(str(error)) from error
        self._save_lazyfs_record(process_id, {"pid": pid, "mount": str(mount), "power_losses": 0})

    def lose_power(self, process_id: str) -> dict[str, Any] | None:
        """The disk of a powered-off (SIGKILLed) node loses what no fsync made durable, as at a power cut.

        Returns lazyfs's report (what was dropped, what was torn), or None when no lazyfs mount covers the
        node's data directory (the store-mark model, or not a storage node). A process crash (kill-leader)
        does not call this: the OS keeps the page cache of a crashed process."""
        mount = self.lazyfs_mount(process_id)
        if mount is None:
            return None
        pid = self.pids().get(process_id)
        deadline = time.monotonic() + LAZYFS_DEATH_TIMEOUT_S
        while pid is not None and process_alive(pid, self._marker(process_id)) and time.monotonic() < deadline:
            time.sleep(0.005)
            _reap(pid)
        record = dict(self._lazyfs_records()[process_id])
        if pid is not None and process_alive(pid, self._marker(process_id)):
            report = {"skipped": "the node did not die: its disk keeps its cache"}
            self.power_loss_reports[process_id] = report
            return report
        from chaos.lazyfs.control import LazyfsControlError, lose_power

        # Torn pages are seeded by the node and its count of power losses: one schedule, one outcome.
        losses = int(record.get("power_losses", 0))
        torn_seed = zlib.crc32(f"{process_id}/{losses}".encode())
        try:
            report = lose_power(mount, torn_seed=torn_seed if self.tear_on_power_loss else None)
        except LazyfsControlError as error:
            raise ClusterError(f"power loss of {process_id}'s disk failed: {error}") from error
        self.power_loss_reports[process_id] = report
        self._save_lazyfs_record(process_id, {**record, "power_losses": losses + 1})
        return report

    def _stop_lazyfs_mounts(self) -> list[str]:
        from chaos.lazyfs.mounts import LazyfsMountError, stop_mount

        stopped, problems = [], []
        for process_id, record in self._lazyfs_records().items():
            try:
                stop_mount(Path(record["mount"]), int(record["pid"]))
                stopped.append(process_id)
            except (LazyfsMountError, OSError, subprocess.SubprocessError) as error:
                problems.append(f"{process_id}: {error}")
                continue
            self._save_lazyfs_record(process_id, None)
        if problems:
            raise ClusterError("could not unmount lazyfs: " + "; ".join(problems))
        return stopped

    # ---- status -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {"data_dir": str(self.data_dir), "endpoints": self.endpoints()}
        toxiproxy_url = self._toxiproxy_record().get("url")
        if toxiproxy_url and self.topology().links:
            description["toxiproxy"] = toxiproxy_url
        return description

    def status(self) -> dict[str, Any]:
        from cluster.deploy.status_probe import probe_status

        topology = self.topology()
        pids = self.pids()
        environments = self._environments()
        processes = []
        for spec in topology.processes:
            pid = pids.get(spec.process_id)
            running = pid is not None and process_alive(pid, self._marker(spec.process_id))
            entry: dict[str, Any] = {
                "id": spec.process_id,
                "role": spec.role,
                "az": spec.az,
                "pid": pid if running else None,
                "state": ("paused" if process_state(pid) == "T" else "up") if running and pid else "down",
                "address": f"{spec.host}:{spec.port}",
            }
            if spec.role == "node" and self.lazyfs_mount(spec.process_id) is not None:
                entry["disk"] = "lazyfs"
            environment = environments.get(spec.process_id)
            if running and environment:
                entry["environment"] = dict(environment)
            if running and spec.role != "router" and entry["state"] == "up":
                entry.update(probe_status(spec.host, spec.port))
            processes.append(entry)
        return {"data_dir": str(self.data_dir), "endpoints": self.endpoints(), "processes": processes}


def _power_loss_choice(asked: str | None) -> dict[str, Any]:
    """The state fields for a power-loss model: what was asked, else lazyfs when it can run here."""
    if asked is not None:
        return {"power_loss": asked, "power_loss_fallback": None}
    from chaos.lazyfs.mounts import available

    problem = available() if DEFAULT_POWER_LOSS == "fuse" else None
    if problem:
        return {"power_loss": "store-mark", "power_loss_fallback": f"lazyfs unavailable: {problem}"}
    return {"power_loss": DEFAULT_POWER_LOSS, "power_loss_fallback": None}


def _stop_pid(pid: int, marker: str, timeout_s: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout_s`, a process we started; False when it was not running."""
    if not process_alive(pid, marker):
        _reap(pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process_alive(pid, marker) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if process_alive(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collects our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_for_routers(endpoints: Mapping[str, str], wait_s: float, raise_if_one_exited: Callable[[], None]) -> None:
    """Until every router answers ListTables (any backend); `raise_if_one_exited` names a process that died."""
    deadline = time.monotonic() + wait_s
    pending = dict(endpoints)
    last_problem = "routers not answering yet"
    while time.monotonic() < deadline:
        raise_if_one_exited()
        for az, url in list(pending.items()):
            ok, last_problem = _list_tables_works(url)
            if ok:
                pending.pop(az)
        if not pending:
            return
        time.sleep(0.2)
    raise ClusterError(f"cluster did not serve within {wait_s:.0f}s: {last_problem}")


def _list_tables_works(url: str) -> tuple[bool, str]:
    request = urllib.request.Request(
        url,
        data=b"{}",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:
            return response.status == 200, f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"{url} answered {error.code}: {error.read()[:200]!r}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{url}: {error}"
