"""The Docker backend: every node, metadata replica and router is a container, and so is the Toxiproxy server.

Same surface as the local backend (cluster/deploy/local_processes.py), so the CLI, the chaos controller
and the game day do not care. Power-off is `docker kill`, power-on `docker start`, pause a SIGSTOP of the
container's process (`docker kill --signal SIGSTOP`; why not `docker pause`: see signal_process);
each process keeps its data on its own volume, so a killed container comes back with its data. All
containers share one network per cluster (the AZ is a label); the host reaches them only through ports
published on 127.0.0.1. The state directory holds the topology, the published ports and the owner of the
run; everything in Docker is labelled with the cluster's id (see docker_layout.py).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import random
import signal
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.deploy.docker_client import DockerUnavailable, connect
from cluster.deploy.docker_images import ImageError, ensure_image
from cluster.deploy.docker_layout import (
    DATA_IN_CONTAINER,
    LABEL_CLUSTER,
    LABEL_DATA_DIR,
    LABEL_MANAGED,
    LABEL_PROCESS,
    LABEL_ROLE,
    METRICS_PORT,
    PROCESS_PORT,
    TOPOLOGY_DIR_IN_CONTAINER,
    TOXIPROXY_API_PORT,
    TOXIPROXY_ID,
    ClusterNames,
    build_docker_topology,
    cluster_id,
    is_abandoned,
    labels,
    process_command,
    toxiproxy_command,
)
from cluster.deploy.local_processes import (
    ClusterError,
    free_port,
    port_free,
    process_state,
    wait_for_routers,
    with_settings,
)
from cluster.runtime.topology import TimingConfig, Topology

if TYPE_CHECKING:
    from chaos.network_links import ProxiedLinks

STATE_FILE = "docker.json"
# Host ports for the published container ports: under Linux's default ephemeral range (32768-60999).
PUBLISHED_PORT_RANGE = (20000, 32000)
_PORT_CHOICE = random.Random()
START_ATTEMPTS = 3
TOPOLOGY_FILE = "topology.json"
STOP_TIMEOUT_S = 5
TOXIPROXY_START_TIMEOUT_S = 30.0
START_VISIBLE_WAIT_S = 10.0


def _free_port(taken: set[int]) -> int:
    """A loopback port free now and not in `taken` (ports this cluster chose already: the daemon binds
    them only when their container starts), below the kernel's ephemeral range: the daemon binds it a
    moment later, and a port the kernel hands out to outgoing connections meanwhile would make that fail."""
    for _ in range(200):
        port = _PORT_CHOICE.randrange(*PUBLISHED_PORT_RANGE)
        if port not in taken and port_free(port):
            taken.add(port)
            return port
    while True:  # a crowded range: any free port, the start retries on a clash
        port = free_port()
        if port not in taken:
            taken.add(port)
            return port


def _chosen_ports(ports: Mapping[str, Mapping[str, Any]]) -> set[int]:
    return {port for entry in ports.values() for port in entry.values() if isinstance(port, int)}


def _process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot): a pid plus this names one process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner_alive(owner: object) -> bool:
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        return False
    return _process_start_ticks(owner["pid"]) == owner.get("start_ticks")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


class DockerCluster:
    """A cluster of containers whose state lives in `data_dir` (nothing starts until `up`).

    The directory is kept as `state_dir`, not `data_dir`: the processes' data is on Docker volumes, and
    faults that edit data files on this machine (bit-rot, cluster-power-off) look for `data_dir` and
    decline, saying they need a backend whose data is on this machine.
    """

    def __init__(self, data_dir: Path) -> None:
        self.state_dir = Path(data_dir).resolve()
        self.id = cluster_id(self.state_dir)
        self.names = ClusterNames(self.id)
        self._client: Any = None
        # Containers start in threads, and each records its pid or new ports in the one state file.
        self._state_lock = threading.RLock()

    # ---- Docker and the state file --------------------------------------------------------------

    def _docker(self) -> Any:
        if self._client is None:
            try:
                self._client = connect()
            except DockerUnavailable as error:
                raise ClusterError(str(error)) from error
        return self._client

    @property
    def topology_path(self) -> Path:
        return self.state_dir / TOPOLOGY_FILE

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def _state(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as error:
            raise ClusterError(f"{self.state_path} is corrupt ({error}); run `down` and remove it") from error
        return state if isinstance(state, dict) else {}

    def _update_state(self, **changes: Any) -> None:
        with self._state_lock:  # re-entrant: callers may hold it across their own read-modify-write
            self._write_state(changes)

    def _write_state(self, changes: dict[str, Any]) -> None:
        state = {**self._state(), "cluster": self.id, **changes}
        state = {key: value for key, value in state.items() if value is not None}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_path)

    def _environments(self) -> dict[str, dict[str, str]]:
        """Variables each process's container was last created with beyond the image's (a skewed clock)."""
        environments = self._state().get("environments")
        return environments if isinstance(environments, dict) else {}

    def _ports(self) -> dict[str, dict[str, int]]:
        ports = self._state().get("ports")
        return ports if isinstance(ports, dict) else {}

    def topology(self) -> Topology:
        if not self.topology_path.exists():
            raise ClusterError(
                f"no cluster in {self.state_dir}: run `gameday cluster up --backend docker --data-dir {self.state_dir}` first"
            )
        return Topology.load(self.topology_path)

    def _containers(self) -> dict[str, Any]:
        """process id (or "toxiproxy") -> container, for every container of this cluster, running or not."""
        found = self._docker().containers.list(all=True, filters={"label": f"{LABEL_CLUSTER}={self.id}"})
        return {container.labels.get(LABEL_PROCESS, container.name): container for container in found}

    def _container(self, process_id: str) -> Any | None:
        import docker.errors

        try:
            return self._docker().containers.get(self.names.container(process_id))
        except docker.errors.NotFound:
            return None

    # ---- the backend's surface --------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Every process `up` started (its container's main pid when last started), running or not;
        empty after `down`, so a heal sweep never starts a cluster that was brought down on purpose."""
        pids = self._state().get("pids")
        return {str(k): int(v) for k, v in pids.items()} if isinstance(pids, dict) else {}

    def is_running(self, process_id: str) -> bool:
        """True while the container runs (paused included, as a SIGSTOPped process is still running)."""
        container = self._container(process_id)
        return container is not None and bool(container.attrs["State"].get("Running"))

    def is_paused(self, process_id: str) -> bool:
        container = self._container(process_id)
        return container is not None and _paused(container)

    def endpoints(self) -> dict[str, str]:
        ports = self._ports()
        return {
            spec.az: f"http://127.0.0.1:{ports[spec.process_id]['port']}"
            for spec in self.topology().by_role("router")
            if spec.process_id in ports
        }

    def metrics_targets(self) -> dict[str, list[str]]:
        """role -> ["127.0.0.1:PORT", ...]: each process's /metrics as the host reaches it (for Prometheus)."""
        ports = self._ports()
        targets: dict[str, list[str]] = {}
        for spec in self.topology().processes:
            if spec.process_id in ports:
                targets.setdefault(spec.role, []).append(f"127.0.0.1:{ports[spec.process_id]['metrics']}")
        return targets

    def signal_process(self, process_id: str, signal_number: int) -> None:
        """SIGKILL: docker kill (power-off); SIGSTOP/SIGCONT: stop/continue its process; SIGTERM: docker stop."""
        import docker.errors

        container = self._container(process_id)
        if container is None or not container.attrs["State"].get("Running"):
            raise ClusterError(f"{process_id} is not running")
        try:
            if signal_number == signal.SIGKILL:
                container.kill()
            elif signal_number == signal.SIGSTOP:
                # The container's one process is stopped, as the local backend stops its process: the
                # chaos controller sees it paused in /proc (state T). `docker pause` freezes the cgroup
                # instead, which /proc shows as D, and the controller would not see the pause happen.
                container.kill(signal="SIGSTOP")
            elif signal_number == signal.SIGCONT:
                if container.attrs["State"].get("Paused"):
                    container.unpause()  # paused by hand with `docker pause`
                container.kill(signal="SIGCONT")
            elif signal_number == signal.SIGTERM:
                _resume(container)  # a frozen or stopped process cannot handle SIGTERM
                container.stop(timeout=STOP_TIMEOUT_S)
            else:
                container.kill(signal=int(signal_number))
        except docker.errors.APIError as error:
            # Racing its own death: a container that stopped meanwhile is "not running", like a dead pid.
            container.reload()
            if not container.attrs["State"].get("Running"):
                raise ClusterError(f"{process_id} is not running") from error
            raise ClusterError(f"docker could not signal {process_id}: {error.explanation or error}") from error

    def start_process(self, process_id: str, environment: dict[str, str] | None = None) -> int:
        """Power-on: `docker start` the container again, on its own volume; returns its main pid.

        With `environment` (the clock-skew fault), or without it after one, the container is created
        again with those variables added (a container's environment is fixed at creation): same image,
        same volume, same ports. A running container is left as it is, as the local backend does."""
        import docker.errors

        spec = self.topology().get(process_id)
        container = self._container(process_id)
        if container is None:
            raise ClusterError(f"{process_id} has no container: `up` the cluster again")
        wanted = dict(environment or {})
        if not container.attrs["State"].get("Running") and wanted != self._environments().get(process_id, {}):
            image = container.attrs["Image"]
            container.remove(force=True)
            ports = self._ports()[process_id]
            container = self._create_container(
                image, process_id, process_command(process_id), {"role": spec.role, "az": spec.az},
                {PROCESS_PORT: ports["port"], METRICS_PORT: ports["metrics"]}, volume=True, environment=wanted,
            )
            _put_topology(container, self.topology())
            with self._state_lock:
                environments = {**self._environments(), process_id: wanted}
                self._update_state(environments={k: v for k, v in environments.items() if v})
        if not container.attrs["State"].get("Running"):
            try:
                container.start()
            except docker.errors.APIError as error:
                raise ClusterError(f"docker could not start {process_id}: {error.explanation or error}") from error
        deadline = time.monotonic() + START_VISIBLE_WAIT_S
        while True:
            container.reload()
            pid = int(container.attrs["State"].get("Pid") or 0)
            if pid or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        with self._state_lock:
            self._update_state(pids={**self.pids(), process_id: pid})
        return pid

    def scrub_findings_dir(self) -> Path:
        """A directory laid out like a local cluster's data directory for the scrub's findings: each
        node's processes/<id>/scrub/findings.jsonl, copied out of its container (running or stopped).
        `down` copies them too, so they outlive the containers."""
        for process_id, container in self._containers().items():
            if container.labels.get(LABEL_ROLE) == "node":
                _copy_out(container, f"{DATA_IN_CONTAINER}/scrub/findings.jsonl",
                          self.state_dir / "processes" / process_id / "scrub" / "findings.jsonl")
        return self.state_dir

    def unsupported_fault_kinds(self) -> dict[str, str]:
        """Fault kinds this backend cannot apply, and why (for refusing a scenario before it starts)."""
        files = "edits the nodes' data files on this machine; on Docker they live on volumes"
        return {
            "bit-rot": files,
            "cluster-power-off": files + " (it drops what no fsync made durable)",
        }

    def links(self) -> ProxiedLinks | None:
        """The proxies in the Toxiproxy container in front of this cluster's links, or None without them."""
        record = self._state().get("toxiproxy")
        if not isinstance(record, dict) or not record.get("url") or not self.topology_path.exists():
            return None
        topology = self.topology()
        if not topology.links:
            return None
        from chaos.network_links import ProxiedLinks

        return ProxiedLinks(topology, record["url"], listen_host="0.0.0.0", dial_host=TOXIPROXY_ID)

    # ---- up ---------------------------------------------------------------------------------------

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
    ) -> dict[str, Any]:
        """Creates and starts whatever is not running; returns describe(). Leftovers of crashed runs go first.
        `settings` switches the store's mechanisms as on the local backend (local_processes.with_settings)."""
        if toxiproxy is not None:
            raise ClusterError(
                "--toxiproxy URL is not supported with --backend docker: the proxies must sit on the cluster's "
                "network, so the backend runs its own Toxiproxy server in a container (use --proxy-links)"
            )
        import docker.errors

        client = self._docker()
        removed = remove_abandoned(client, keep=self.id)
        if removed:
            _say(f"removed what crashed runs left in Docker: {', '.join(removed)}")
        try:
            image = ensure_image(client, _say)
        except ImageError as error:
            raise ClusterError(str(error)) from error
        topology = self._prepare_topology(azs, nodes_per_az, partitions_per_table, faults, timing, settings or {})
        self._claim()
        try:
            self._ensure_network()
            running = {pid for pid, container in self._containers().items() if container.status == "running"}
            if proxy_links:
                self._start_toxiproxy(image)
                if not running - {TOXIPROXY_ID} or not topology.links:
                    self._create_links(topology)
            elif topology.links and not running - {TOXIPROXY_ID}:
                topology.links = {}  # nothing runs through the old proxies: this start goes direct, as asked
                topology.save(self.topology_path)
                self._remove_container(TOXIPROXY_ID)
                self._update_state(toxiproxy={})
            # Containers are created and started at once: one by one, a loaded machine takes a minute.
            with ThreadPoolExecutor(max_workers=8) as pool:
                started = dict(zip(
                    [spec.process_id for spec in topology.processes],
                    pool.map(lambda spec: self._run_process(image, topology, spec.process_id, spec.role, spec.az),
                             topology.processes),
                    strict=True,
                ))
            self._update_state(pids={**self.pids(), **started})
            self.wait_until_serving(wait_s)
        except BaseException as error:
            # Ctrl-C or a failure: leave nothing behind, whatever had started.
            with contextlib.suppress(Exception):
                self.down()
            if isinstance(error, docker.errors.DockerException):
                explanation = getattr(error, "explanation", None) or error
                raise ClusterError(f"docker refused to start the cluster: {explanation}") from error
            raise
        return self.describe()

    def _prepare_topology(
        self, azs: int, nodes_per_az: int, partitions_per_table: int, faults: list[str] | None,
        timing: TimingConfig | None, settings: Mapping[str, Any],
    ) -> Topology:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.topology_path.exists():
            topology = self.topology()
            shape = (len(topology.azs), len(topology.by_role("node")) // max(1, len(topology.azs)))
            if shape != (azs, nodes_per_az):
                raise ClusterError(
                    f"{self.state_dir} holds a cluster of {shape[0]} AZs x {shape[1]} nodes; "
                    f"use another --data-dir for {azs} x {nodes_per_az}, or `down` and remove it"
                )
            if faults is not None and sorted(faults) != sorted(topology.faults_enabled):
                topology.faults_enabled = list(faults)
        else:
            topology = build_docker_topology(azs, nodes_per_az, partitions_per_table, timing)
            topology.faults_enabled = list(faults or [])
        topology = with_settings(topology, settings)
        topology.save(self.topology_path)
        # Host ports: kept across restarts (a powered-on router must answer where the load expects it).
        ports = self._ports()
        containers = self._containers()
        # Distinct ports: two processes given one port would clash when the second container starts.
        taken = _chosen_ports({process_id: ports[process_id] for process_id in containers if process_id in ports})
        for process_id in [spec.process_id for spec in topology.processes] + [TOXIPROXY_ID]:
            if process_id in containers:
                continue  # its container holds its ports already
            entry, chosen = ports.get(process_id, {}), {}
            for name in ("port", "metrics"):
                kept = entry.get(name)
                if isinstance(kept, int) and kept not in taken and port_free(kept):
                    taken.add(kept)
                    chosen[name] = kept
                else:
                    chosen[name] = _free_port(taken)
            ports[process_id] = chosen
        self._update_state(ports=ports)
        return topology

    def _claim(self) -> None:
        """Records this process as the run's owner; a normal exit without `down` detaches the cluster
        (it is meant to outlive `gameday cluster up`), a crash does not (the next `up` removes it)."""
        pid = os.getpid()
        self._update_state(owner={"pid": pid, "start_ticks": _process_start_ticks(pid)}, detached=False)
        atexit.register(self._detach_if_up)

    def _detach_if_up(self) -> None:
        with contextlib.suppress(Exception):
            if self.state_path.exists() and self.pids():
                self._update_state(detached=True)

    def _labels(self, process_id: str, **extra: str) -> dict[str, str]:
        return labels(self.id, self.state_dir, process=process_id, **extra)

    def _ensure_network(self) -> None:
        import docker.errors

        client = self._docker()
        try:
            client.networks.get(self.names.network)
        except docker.errors.NotFound:
            client.networks.create(self.names.network, driver="bridge", labels=labels(self.id, self.state_dir))

    def _create_container(self, image: str, process_id: str, command: list[str], extra_labels: dict[str, str],
                          published: dict[str, int], volume: bool, environment: dict[str, str] | None = None) -> Any:
        client = self._docker()
        volumes = {}
        if volume:
            volume_name = self.names.volume(process_id)
            with contextlib.suppress(Exception):
                client.volumes.create(volume_name, labels=self._labels(process_id))
            volumes[volume_name] = {"bind": DATA_IN_CONTAINER, "mode": "rw"}
        return client.containers.create(
            image,
            command=command,
            name=self.names.container(process_id),
            hostname=process_id,
            labels=self._labels(process_id, **extra_labels),
            # Only loopback: nothing outside this machine reaches the cluster, and the host reaches it here.
            ports={f"{port}/tcp": ("127.0.0.1", host_port) for port, host_port in published.items()},
            volumes=volumes,
            network=self.names.network,
            networking_config={self.names.network: client.api.create_endpoint_config(aliases=[process_id])},
            environment={"PYTHONUNBUFFERED": "1", **(environment or {})},
            stop_signal="SIGTERM",
        )

    def _run_process(self, image: str, topology: Topology, process_id: str, role: str, az: str) -> int:
        """Creates the container if missing, gives it the current topology, starts it; returns its pid."""

        container = self._container(process_id)
        if container is not None and container.attrs["State"].get("Running"):
            return int(container.attrs["State"].get("Pid") or 0)
        if container is not None and container.image.tags and image not in container.image.tags:
            self._remove_container(process_id)  # built from older source: recreated, the volume stays
            container = None

        def create() -> Any:
            ports = self._ports()[process_id]
            return self._create_container(
                image, process_id, process_command(process_id), {"role": role, "az": az},
                {PROCESS_PORT: ports["port"], METRICS_PORT: ports["metrics"]}, volume=True,
            )

        return self._start(process_id, container, create, topology)

    def _start(self, process_id: str, container: Any | None, create: Callable[[], Any], topology: Topology | None) -> int:
        """Starts `container` (created by `create` when None); a published port taken since it was chosen
        moves: the container is created again on new ports (its volume stays). Returns its pid."""
        import docker.errors

        for attempt in range(START_ATTEMPTS):
            if container is None:
                container = create()
            if topology is not None:
                _put_topology(container, topology)
            try:
                container.start()
                break
            except docker.errors.APIError as error:
                explanation = str(error.explanation or error)
                # "in use": something else bound the port since; "allocated": another container holds it.
                clash = "address already in use" in explanation or "port is already allocated" in explanation
                if not clash or attempt == START_ATTEMPTS - 1:
                    raise ClusterError(f"docker could not start {process_id}: {explanation}") from error
                container.remove(force=True)
                container = None
                self._choose_ports(process_id)
        container.reload()
        return int(container.attrs["State"].get("Pid") or 0)

    def _choose_ports(self, process_id: str) -> None:
        with self._state_lock:
            ports = self._ports()
            taken = _chosen_ports(ports)
            ports[process_id] = {"port": _free_port(taken), "metrics": _free_port(taken)}
            self._update_state(ports=ports)

    def _remove_container(self, process_id: str) -> None:
        container = self._container(process_id)
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    # ---- Toxiproxy ----------------------------------------------------------------------------------

    def _start_toxiproxy(self, image: str) -> None:

        container = self._container(TOXIPROXY_ID)

        def create() -> Any:
            return self._create_container(
                image, TOXIPROXY_ID, toxiproxy_command(), {"role": "toxiproxy"},
                {TOXIPROXY_API_PORT: self._ports()[TOXIPROXY_ID]["port"]}, volume=False,
            )

        if container is None or not container.attrs["State"].get("Running"):
            self._start(TOXIPROXY_ID, container, create, None)
            container = self._container(TOXIPROXY_ID)
        url = f"http://127.0.0.1:{self._ports()[TOXIPROXY_ID]['port']}"
        deadline = time.monotonic() + TOXIPROXY_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(url + "/version", timeout=2.0) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            container.reload()
            if container.status != "running" or time.monotonic() > deadline:
                logs = container.logs(tail=40).decode(errors="replace")
                raise ClusterError(f"the Toxiproxy container did not serve its API at {url}; its log ends:\n{logs}")
            time.sleep(0.1)
        self._update_state(toxiproxy={"url": url})

    def _create_links(self, topology: Topology) -> None:
        from chaos.network_links import ProxiedLinks, ToxiproxyApiError

        url = self._state()["toxiproxy"]["url"]
        try:
            topology.links = ProxiedLinks(topology, url, listen_host="0.0.0.0", dial_host=TOXIPROXY_ID).create()
        except ToxiproxyApiError as error:
            raise ClusterError(f"cannot create the Toxiproxy proxies: {error}") from error
        topology.save(self.topology_path)

    # ---- waiting, down, status ------------------------------------------------------------------------

    def wait_until_serving(self, wait_s: float) -> None:
        wait_for_routers(self.endpoints(), wait_s, self._raise_if_one_exited)

    def _raise_if_one_exited(self) -> None:
        for process_id, container in self._containers().items():
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=40).decode(errors="replace")
                raise ClusterError(f"{process_id} exited during start-up; its log ends:\n{logs}")

    def down(self) -> list[str]:
        """Removes every container, the network and every volume of this cluster (found by label, so a
        crash half-way through `up` leaves nothing either); each container's log is kept in logs/."""
        try:
            client = self._docker()
        except ClusterError:
            if not self.pids():
                return []  # nothing was started (e.g. `up` found no daemon): nothing to remove
            raise
        containers = self._containers()
        stopped = sorted(pid for pid, container in containers.items() if container.status in ("running", "paused"))
        log_dir = self.state_dir / "logs"
        if containers:
            log_dir.mkdir(parents=True, exist_ok=True)
        # The processes at once (each stop may wait its grace period), then the Toxiproxy server: while
        # any of them ran, cutting its network would have been a fault.
        processes = [(pid, container) for pid, container in containers.items() if pid != TOXIPROXY_ID]
        with contextlib.suppress(Exception):
            self.scrub_findings_dir()  # the findings live on volumes that are about to go
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda item: _retire(item[1], log_dir / f"{item[0]}.log"), processes))
        if TOXIPROXY_ID in containers:
            _retire(containers[TOXIPROXY_ID], log_dir / f"{TOXIPROXY_ID}.log")
        remove_cluster_resources(client, self.id)
        if self.state_path.exists():
            self._update_state(pids={}, toxiproxy={}, detached=None, owner=None, environments=None)
        return stopped

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "data_dir": str(self.state_dir), "backend": "docker", "endpoints": self.endpoints(),
        }
        record = self._state().get("toxiproxy")
        if isinstance(record, dict) and record.get("url") and self.topology().links:
            description["toxiproxy"] = record["url"]
        return description

    def status(self) -> dict[str, Any]:
        from cluster.deploy.status_probe import probe_status

        topology = self.topology()
        ports = self._ports()
        containers = self._containers()
        processes = []
        for spec in topology.processes:
            container = containers.get(spec.process_id)
            state = "down"
            pid = None
            if container is not None and container.attrs["State"].get("Running"):
                state = "paused" if _paused(container) else "up"
                pid = container.attrs["State"].get("Pid")
            host_port = ports.get(spec.process_id, {}).get("port")
            entry: dict[str, Any] = {
                "id": spec.process_id,
                "role": spec.role,
                "az": spec.az,
                "pid": pid,
                "state": state,
                "address": f"127.0.0.1:{host_port}",
                "container": self.names.container(spec.process_id),
            }
            environment = self._environments().get(spec.process_id)
            if pid and environment:
                entry["environment"] = dict(environment)
            if state == "up" and spec.role != "router" and host_port:
                entry.update(probe_status("127.0.0.1", int(host_port)))
            processes.append(entry)
        return {"data_dir": str(self.state_dir), "backend": "docker", "endpoints": self.endpoints(), "processes": processes}


def _paused(container: Any) -> bool:
    """Frozen with `docker pause`, or its process stopped by SIGSTOP (the pause fault)."""
    state = container.attrs["State"]
    if not state.get("Running"):
        return False
    return bool(state.get("Paused")) or process_state(int(state.get("Pid") or 0)) == "T"


def _copy_out(container: Any, path_in_container: str, destination: Path) -> bool:
    """Copies one file out of a container (running or stopped); False when it has no such file."""
    import docker.errors

    try:
        stream, _ = container.get_archive(path_in_container)
        archive = io.BytesIO(b"".join(stream))
    except docker.errors.NotFound:
        return False
    with tarfile.open(fileobj=archive) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        extracted = tar.extractfile(member) if member is not None else None
        if extracted is None:
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(extracted.read())
    return True


def _retire(container: Any, log_path: Path) -> None:
    """Stops a container gracefully, keeps its log, removes it (each step best effort: `down` goes on)."""
    with contextlib.suppress(Exception):
        if container.status in ("running", "paused"):
            _resume(container)  # a frozen or stopped process cannot handle SIGTERM
            container.stop(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(Exception):
        log_path.write_bytes(container.logs())
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _resume(container: Any) -> None:
    if container.attrs["State"].get("Paused"):
        container.unpause()
    container.kill(signal="SIGCONT")


def _put_topology(container: Any, topology: Topology) -> None:
    """Writes topology.json into the (created or stopped) container, where process_main reads it at start."""
    payload = json.dumps(topology.to_json(), indent=2).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("topology.json")
        info.size = len(payload)
        info.mode = 0o644
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(payload))
    if not container.put_archive(TOPOLOGY_DIR_IN_CONTAINER, archive.getvalue()):
        raise ClusterError(f"could not write the topology into {container.name}")


def remove_cluster_resources(client: Any, cluster: str) -> list[str]:
    """Force-removes every container, network and volume labelled with `cluster`; returns their names."""
    selector = {"label": f"{LABEL_CLUSTER}={cluster}"}
    removed = []
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(Exception):
            container.remove(force=True)
            removed.append(container.name)
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(Exception):
            network.remove()
            removed.append(network.name)
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(Exception):
            volume.remove(force=True)
            removed.append(volume.name)
    return removed


def remove_abandoned(client: Any, keep: str) -> list[str]:
    """Removes the resources of every other cluster that a crashed run left behind (docker_layout.is_abandoned)."""
    data_dirs: dict[str, str] = {}
    selector = {"label": LABEL_MANAGED}
    for resource in (
        *client.containers.list(all=True, filters=selector),
        *client.networks.list(filters=selector),
        *client.volumes.list(filters=selector),
    ):
        resource_labels = resource.attrs.get("Labels") or getattr(resource, "labels", None) or {}
        if isinstance(resource.attrs.get("Config"), dict):
            resource_labels = resource.attrs["Config"].get("Labels") or resource_labels
        cluster = resource_labels.get(LABEL_CLUSTER)
        if cluster and cluster != keep:
            data_dirs.setdefault(cluster, resource_labels.get(LABEL_DATA_DIR, ""))
    removed = []
    for cluster, data_dir in sorted(data_dirs.items()):
        state_path = Path(data_dir) / STATE_FILE if data_dir else None
        state = None
        if state_path is not None and state_path.exists():
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(state_path.read_text())
        if is_abandoned(state if isinstance(state, dict) else None, cluster, _owner_alive((state or {}).get("owner"))):
            removed.extend(remove_cluster_resources(client, cluster))
    return removed
