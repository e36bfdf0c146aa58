"""The Docker backend against a real daemon: up, power-off and power-on with the data kept on volumes,
pause, a container dying on its own, proxied links, leftovers of a crashed run, and a `down` that leaves
nothing labelled with the cluster behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.deploy.conftest import labelled

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

READ_BACK_TIMEOUT_S = 60.0


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, connect_timeout=2, read_timeout=5),
    )


def _read_back(client: Any) -> dict[str, Any]:
    """The item, by a consistent read retried while groups elect leaders again (bounded)."""
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    while True:
        try:
            return client.get_item(TableName="docker-test", Key={"pk": {"S": "k1"}}, ConsistentRead=True)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _eventually(predicate: Any, timeout_s: float = 10.0) -> bool:
    """A signal takes effect shortly after it is sent: poll (bounded) instead of asserting at once."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _abandoned_resources(client: Any, tmp_path: Path) -> str:
    """A network and a volume labelled as a crashed game day's: its owner pid is not a live process."""
    cluster = "gdabandoned00"
    state_dir = tmp_path / "crashed-run"
    state_dir.mkdir()
    (state_dir / "docker.json").write_text(json.dumps({"cluster": cluster, "owner": {"pid": 2**22 + 7, "start_ticks": 1}}))
    labels = {"gameday.managed": "1", "gameday.cluster": cluster, "gameday.data-dir": str(state_dir)}
    client.networks.create(f"gameday-{cluster}", labels=labels)
    client.volumes.create(f"gameday-{cluster}-node-a1", labels=labels)
    return cluster


def test_docker_cluster_lifecycle(docker_cluster: Any, docker_client: Any, tmp_path: Path) -> None:
    from chaos.controller import ChaosController
    from cluster.deploy.docker_cluster import _copy_out, remove_cluster_resources

    abandoned = _abandoned_resources(docker_client, tmp_path)
    try:
        description = docker_cluster.up(proxy_links=True, wait_s=90)
        assert labelled(docker_client, abandoned) == [], "up must remove what a crashed run left behind"
    finally:
        remove_cluster_resources(docker_client, abandoned)

    # The host reaches the containers only through ports published on loopback.
    assert set(description["endpoints"]) == {"az-a", "az-b", "az-c"}
    for container in docker_client.containers.list(filters={"label": f"gameday.cluster={docker_cluster.id}"}):
        bindings = [b for bs in container.attrs["NetworkSettings"]["Ports"].values() for b in bs or []]
        assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}, container.name
    # Every link chaos may cut goes through the Toxiproxy container, dialled by its name.
    topology = docker_cluster.topology()
    assert topology.address("router-a", "node-b1")[0] == "toxiproxy"
    assert docker_cluster.links().toxics_active() == []

    dynamodb = _client(description["endpoints"]["az-a"])
    dynamodb.create_table(
        TableName="docker-test", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    dynamodb.get_waiter("table_exists").wait(TableName="docker-test", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.put_item(TableName="docker-test", Item={"pk": {"S": "k1"}, "v": {"N": "42"}})

    # Power off every storage node (docker kill), power them on (docker start): the item can only come
    # back from the nodes' volumes.
    nodes = [spec.process_id for spec in topology.by_role("node")]
    for node in nodes:
        docker_cluster.signal_process(node, signal.SIGKILL)
    assert not any(docker_cluster.is_running(node) for node in nodes)
    assert set(docker_cluster.pids()) >= set(nodes), "a powered-off process is still one `up` started"
    for node in nodes:
        assert docker_cluster.start_process(node) > 0
    assert _read_back(dynamodb)["Item"]["v"] == {"N": "42"}

    # Files come out of a container (the scrub's findings are read this way): here, its topology.
    copied = tmp_path / "copied-topology.json"
    container = docker_client.containers.get(docker_cluster.names.container("node-a1"))
    assert _copy_out(container, "/etc/gameday/topology.json", copied)
    assert json.loads(copied.read_text())["links"] == topology.links
    assert not _copy_out(container, "/no/such/file", tmp_path / "nothing")
    assert docker_cluster.scrub_findings_dir() == docker_cluster.state_dir

    # Pause and resume one node.
    docker_cluster.signal_process("node-c1", signal.SIGSTOP)
    assert _eventually(lambda: docker_cluster.is_paused("node-c1")) and docker_cluster.is_running("node-c1")
    assert {p["id"]: p["state"] for p in docker_cluster.status()["processes"]}["node-c1"] == "paused"
    docker_cluster.signal_process("node-c1", signal.SIGCONT)
    assert _eventually(lambda: not docker_cluster.is_paused("node-c1"))

    # A restart with an added variable (the clock-skew fault) creates the container again, on its volume.
    docker_cluster.signal_process("node-a2", signal.SIGTERM)
    docker_cluster.start_process("node-a2", environment={"GAMEDAY_CLOCK_RATE": "1.01"})
    environment = docker_client.containers.get(docker_cluster.names.container("node-a2")).attrs["Config"]["Env"]
    assert "GAMEDAY_CLOCK_RATE=1.01" in environment
    docker_cluster.signal_process("node-a2", signal.SIGTERM)
    docker_cluster.start_process("node-a2")
    environment = docker_client.containers.get(docker_cluster.names.container("node-a2")).attrs["Config"]["Env"]
    assert not any(variable.startswith("GAMEDAY_CLOCK_RATE=") for variable in environment)
    assert _read_back(dynamodb)["Item"]["v"] == {"N": "42"}

    # A container that dies on its own (no fault killed it) is found and powered on by the heal sweep,
    # which is what the game day reports as an unplanned fault.
    docker_client.containers.get(docker_cluster.names.container("node-b2")).kill()
    events: list[dict[str, Any]] = []
    ChaosController(docker_cluster, events.append).heal_all()
    sweeps = [event["value"] for event in events if event["f"] == "heal-all"]
    assert sweeps and "node-b2" in sweeps[0]["powered_on"], events
    assert docker_cluster.is_running("node-b2")

    stopped = docker_cluster.down()
    assert set(stopped) >= set(nodes) | {"toxiproxy"}
    assert labelled(docker_client, docker_cluster.id) == []
    assert docker_cluster.pids() == {}
    assert (docker_cluster.state_dir / "logs" / "node-a1.log").exists(), "each container's log is kept"


def test_cluster_down_from_the_cli_leaves_nothing_behind(tmp_path: Path, docker_client: Any, docker_image: str) -> None:
    """`gameday cluster up --backend docker` outlives its command; `cluster down` removes everything."""
    import subprocess
    import sys

    from cluster.deploy.docker_cluster import DockerCluster, remove_cluster_resources

    root = Path(__file__).resolve().parents[2]
    data_dir = tmp_path / "cluster"
    cluster_id = DockerCluster(data_dir).id
    environment = {**os.environ, "PYTHONPATH": str(root)}

    def gameday(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gameday.cli", "cluster", *arguments, "--backend", "docker", "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=180, env=environment, cwd=tmp_path, check=False,
        )

    try:
        up = gameday("up", "--wait", "90")
        assert up.returncode == 0, up.stderr
        assert set(json.loads(up.stdout)["endpoints"]) == {"az-a", "az-b", "az-c"}
        # The command has exited: its cluster runs on, detached, and is no leftover for the next `up`.
        assert json.loads((data_dir / "docker.json").read_text())["detached"] is True
        status = gameday("status")
        assert status.returncode == 0, status.stderr
        assert {p["state"] for p in json.loads(status.stdout)["processes"]} == {"up"}
        down = gameday("down")
        assert down.returncode == 0, down.stderr
        assert labelled(docker_client, cluster_id) == []
    finally:
        gameday("down")
        remove_cluster_resources(docker_client, cluster_id)
