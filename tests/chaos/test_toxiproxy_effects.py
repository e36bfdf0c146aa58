"""Effects of toxics on real traffic through our server, driven by the unmodified toxiproxy-python client.

Timing bounds are generous (lower bound a few ms under the toxic, upper bound hundreds of ms
over) so that a loaded 2-core machine cannot make them flake.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.proxy import Proxy

from chaos.toxiproxy.subprocess_server import RunningToxiproxy
from tests.chaos.toxiproxy_socket_helpers import connect, receive_exactly, receive_until_closed, round_trip_s

# The fixtures (toxiproxy_process, toxiproxy, echo_upstream, echo_proxy, closing_upstream) live there.
pytest_plugins = ["tests.chaos.toxiproxy_test_support"]

pytestmark = pytest.mark.timeout(60)


def test_no_toxic_forwards_both_ways(echo_proxy: Proxy) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: several reads, both directions
    with connect(echo_proxy) as sock:
        sock.sendall(payload[:1000])
        assert receive_exactly(sock, 1000) == payload[:1000]
        sock.sendall(payload)
        assert receive_exactly(sock, len(payload)) == payload


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_adds_to_round_trip_on_new_connections(echo_proxy: Proxy, stream: str) -> None:
    echo_proxy.add_toxic(type="latency", stream=stream, attributes={"latency": 100})
    with connect(echo_proxy) as sock:
        elapsed_s = round_trip_s(sock)
    assert 0.095 <= elapsed_s < 0.5


def test_latency_added_and_removed_on_a_live_connection(echo_proxy: Proxy) -> None:
    with connect(echo_proxy) as sock:
        assert round_trip_s(sock) < 0.09
        echo_proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 10})
        assert 0.085 <= round_trip_s(sock) < 0.5
        echo_proxy.destroy_toxic("latency_downstream")
        assert round_trip_s(sock) < 0.09


def test_toxicity_zero_never_applies(echo_proxy: Proxy) -> None:
    echo_proxy.add_toxic(type="latency", toxicity=0.0, attributes={"latency": 300})
    for _ in range(3):
        with connect(echo_proxy) as sock:
            assert round_trip_s(sock) < 0.25


def test_timeout_stops_data_then_closes(echo_proxy: Proxy) -> None:
    with connect(echo_proxy) as sock:
        assert round_trip_s(sock) < 0.09
        echo_proxy.add_toxic(type="timeout", attributes={"timeout": 300})
        started_s = time.monotonic()
        sock.sendall(b"lost")
        assert receive_until_closed(sock) == b""
        assert 0.25 <= time.monotonic() - started_s < 1.5


def test_timeout_zero_holds_the_connection_open_until_removed(echo_proxy: Proxy) -> None:
    echo_proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    with connect(echo_proxy, timeout_s=0.4) as sock:
        sock.sendall(b"lost")
        with pytest.raises(socket.timeout):
            sock.recv(10)
        # Removing a timeout toxic closes the connections it spoiled, as Toxiproxy's Cleanup does.
        echo_proxy.destroy_toxic("timeout_downstream")
        sock.settimeout(5)
        assert receive_until_closed(sock) == b""
    with connect(echo_proxy) as sock:
        assert round_trip_s(sock) < 0.25


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_reset_peer_resets_the_client(echo_proxy: Proxy, stream: str) -> None:
    echo_proxy.add_toxic(type="reset_peer", stream=stream, attributes={"timeout": 200})
    with connect(echo_proxy) as sock:
        started_s = time.monotonic()
        sock.sendall(b"doomed")
        if stream == "downstream":
            with pytest.raises(ConnectionResetError):
                receive_until_closed(sock)
        else:  # the upstream got the RST; the client sees its side closed, no data
            assert receive_until_closed(sock) == b""
        assert 0.19 <= time.monotonic() - started_s < 1.5


def test_bandwidth_limits_throughput(echo_proxy: Proxy) -> None:
    payload = b"x" * 50_000
    with connect(echo_proxy) as sock:
        fast_s = round_trip_s(sock, payload)
        echo_proxy.add_toxic(type="bandwidth", attributes={"rate": 100})  # 100 KB/s → 0.5 s for 50 KB
        slow_s = round_trip_s(sock, payload)
    assert fast_s < 0.3
    assert 0.45 <= slow_s < 2.5


def test_limit_data_closes_after_the_limit(echo_proxy: Proxy) -> None:
    echo_proxy.add_toxic(type="limit_data", attributes={"bytes": 10})
    with connect(echo_proxy) as sock:
        sock.sendall(b"0123456789abcdefghij")
        assert receive_until_closed(sock) == b"0123456789"


def test_slicer_splits_and_delays_without_losing_bytes(echo_proxy: Proxy) -> None:
    echo_proxy.add_toxic(type="slicer", attributes={"average_size": 10, "size_variation": 4, "delay": 30_000})
    payload = bytes(range(100))
    with connect(echo_proxy) as sock:
        started_s = time.monotonic()
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(1000))
            assert pieces[-1], "closed early"
        elapsed_s = time.monotonic() - started_s
    assert b"".join(pieces) == payload
    assert len(pieces) >= 2
    assert elapsed_s >= 0.1  # at least 7 pieces, 30 ms apart


def test_slow_close_delays_the_close(toxiproxy: Toxiproxy, closing_upstream: str) -> None:
    proxy = toxiproxy.create(upstream=closing_upstream, name="closer")
    with connect(proxy) as sock:
        started_s = time.monotonic()
        assert receive_until_closed(sock) == b""
        prompt_close_s = time.monotonic() - started_s
    proxy.add_toxic(type="slow_close", attributes={"delay": 300})
    with connect(proxy) as sock:
        started_s = time.monotonic()
        assert receive_until_closed(sock) == b""
        slow_close_s = time.monotonic() - started_s
    assert prompt_close_s < 0.2
    assert 0.29 <= slow_close_s < 1.5


def test_disabled_proxy_refuses_new_connections_and_cuts_open_ones(echo_proxy: Proxy) -> None:
    sock = connect(echo_proxy)
    try:
        assert round_trip_s(sock) < 0.25
        echo_proxy.disable()
        assert receive_until_closed(sock) == b""
        with pytest.raises(ConnectionRefusedError):
            connect(echo_proxy).close()
        echo_proxy.enable()
        with connect(echo_proxy) as again:  # re-listens on the same address
            assert round_trip_s(again) < 0.25
    finally:
        sock.close()


def test_reset_enables_proxies_and_removes_toxics(toxiproxy: Toxiproxy, echo_proxy: Proxy) -> None:
    echo_proxy.add_toxic(type="latency", attributes={"latency": 300})
    echo_proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    echo_proxy.disable()
    assert toxiproxy.reset()
    proxy = toxiproxy.get_proxy("echo")
    assert proxy is not None and proxy.enabled
    assert proxy.toxics() == {}
    with connect(proxy) as sock:
        assert round_trip_s(sock) < 0.25


def test_updating_a_toxic_changes_live_connections(echo_proxy: Proxy, toxiproxy_process: RunningToxiproxy) -> None:
    echo_proxy.add_toxic(type="latency", attributes={"latency": 300})
    with connect(echo_proxy) as sock:
        assert 0.29 <= round_trip_s(sock) < 0.9
        url = f"{toxiproxy_process.url}/proxies/echo/toxics/latency_downstream"
        assert requests.post(url, json={"attributes": {"latency": 0}}, timeout=5).status_code == 200
        assert round_trip_s(sock) < 0.25
