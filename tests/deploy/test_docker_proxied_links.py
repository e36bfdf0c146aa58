"""Proxies for a server in a container: they listen on every interface and processes dial them by the
server's name (ProxiedLinks' listen_host / dial_host), here against our server and an echo peer."""

from __future__ import annotations

import socket

import pytest

from chaos.network_links import ProxiedLinks
from chaos.toxiproxy.subprocess_server import running_toxiproxy_server
from cluster.runtime.topology import ProcessSpec, Topology

pytest_plugins = ["tests.chaos.toxiproxy_test_support"]
pytestmark = pytest.mark.timeout(60)


def test_links_listen_on_every_interface_and_are_dialled_by_name(echo_upstream: str) -> None:
    port = int(echo_upstream.rpartition(":")[2])
    topology = Topology([
        ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", port),
        ProcessSpec("node-b1", "node", "az-b", "127.0.0.1", port),
    ])
    with running_toxiproxy_server() as server:
        links = ProxiedLinks(topology, server.url, listen_host="0.0.0.0", dial_host="localhost")
        topology.links = links.create()
        host, dialled_port = topology.address("node-a1", "node-b1")
        assert host == "localhost"
        listen = links.proxies()["node-a1--node-b1"]["listen"]
        assert listen.rpartition(":")[0].strip("[]") in ("0.0.0.0", "::", "") and listen.endswith(f":{dialled_port}")
        with socket.create_connection((host, dialled_port), timeout=5) as connection:
            connection.sendall(b"ping")
            assert connection.recv(4) == b"ping"
