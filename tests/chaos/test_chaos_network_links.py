"""ProxiedLinks against our Toxiproxy server (a real subprocess) and real TCP peers on loopback, no cluster."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from chaos.network_links import UPSTREAM, ProxiedLinks, ToxiproxyApiError
from chaos.toxiproxy.subprocess_server import RunningToxiproxy, running_toxiproxy_server
from cluster.runtime.topology import ProcessSpec, Topology

# The echo_upstream fixture lives there.
pytest_plugins = ["tests.chaos.toxiproxy_test_support"]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def toxiproxy_server() -> Iterator[RunningToxiproxy]:
    with running_toxiproxy_server() as running:
        yield running


@pytest.fixture
def links(toxiproxy_server: RunningToxiproxy, echo_upstream: str) -> Iterator[ProxiedLinks]:
    """Two nodes whose real address is an echo server, so bytes through a proxy come back if it lets them."""
    port = int(echo_upstream.rpartition(":")[2])
    topology = Topology([
        ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", port),
        ProcessSpec("node-b1", "node", "az-b", "127.0.0.1", port),
    ])
    proxied = ProxiedLinks(topology, toxiproxy_server.url)
    topology.links = proxied.create()
    yield proxied
    proxied.heal_all()


def _echoes(address: str, timeout_s: float = 0.5) -> bool:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(b"ping")
        try:
            return sock.recv(4) == b"ping"
        except TimeoutError:
            return False


def test_create_returns_one_loopback_proxy_per_directed_link(links: ProxiedLinks) -> None:
    mapping = links.topology.links
    assert set(mapping) == {"node-a1", "node-b1"}
    assert set(mapping["node-a1"]) == {"node-b1"} and set(mapping["node-b1"]) == {"node-a1"}
    proxies = links.proxies()
    assert {"node-a1--node-b1", "node-b1--node-a1"} <= set(proxies)
    assert proxies["node-a1--node-b1"]["upstream"] == f"127.0.0.1:{links.topology.get('node-b1').port}"
    assert all(int(address.rpartition(":")[2]) != links.topology.get("node-b1").port
               for targets in mapping.values() for address in targets.values())
    assert mapping["node-a1"]["node-b1"].startswith("127.0.0.1:") and _echoes(mapping["node-a1"]["node-b1"])
    # A second create with the same links keeps the proxies where the processes already dial them.
    assert links.create(preferred_listen=mapping) == mapping


def test_one_way_cut_stops_only_that_stream_and_heal_restores_it(links: ProxiedLinks) -> None:
    address = links.topology.links["node-a1"]["node-b1"]
    assert links.cut("node-a1", "node-b1", streams=[UPSTREAM], label="test") == ["test-upstream"]
    assert links.toxics_active() == [
        {"proxy": "node-a1--node-b1", "toxic": "test-upstream", "type": "timeout", "stream": "upstream"}
    ]
    assert not _echoes(address)
    assert _echoes(links.topology.links["node-b1"]["node-a1"])  # the other direction's link is untouched
    assert links.heal("node-a1", "node-b1") == ["test-upstream"]
    assert links.heal("node-a1", "node-b1") == []  # idempotent
    assert links.toxics_active() == [] and _echoes(address)


def test_latency_applies_to_both_streams_and_heal_all_clears_everything(links: ProxiedLinks) -> None:
    address = links.topology.links["node-b1"]["node-a1"]
    links.add_latency("node-b1", "node-a1", latency_ms=100, jitter_ms=0)
    links.limit_bandwidth("node-a1", "node-b1", rate_kilobytes_per_s=16)
    links.cut("node-a1", "node-b1")
    assert len(links.toxics_active()) == 6
    started_s = time.monotonic()
    assert _echoes(address, timeout_s=2)
    assert time.monotonic() - started_s >= 0.19  # 100 ms each way
    links.heal_all()
    assert links.toxics_active() == []


def test_an_unreachable_api_is_a_typed_error_naming_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = ProxiedLinks(Topology([]), f"http://127.0.0.1:{port}", api_timeout_s=1)
    with pytest.raises(ToxiproxyApiError, match=f"127.0.0.1:{port}.*is the server running"):
        unreachable.heal_all()
