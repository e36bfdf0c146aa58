"""The HTTP API's shapes, defaults and status codes, against our server in a subprocess."""

from __future__ import annotations

import socket

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from chaos.toxiproxy.subprocess_server import RunningToxiproxy
from tests.chaos.toxiproxy_socket_helpers import connect, round_trip_s

pytest_plugins = ["tests.chaos.toxiproxy_test_support"]
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def api(toxiproxy: Toxiproxy, toxiproxy_process: RunningToxiproxy) -> str:
    return toxiproxy_process.url


def test_version(api: str, toxiproxy: Toxiproxy) -> None:
    response = requests.get(f"{api}/version", timeout=5)
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")
    assert toxiproxy.version() is not None


def test_create_returns_the_real_port_and_defaults(api: str, echo_upstream: str) -> None:
    response = requests.post(f"{api}/proxies", json={"name": "a", "upstream": echo_upstream}, timeout=5)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "a" and body["upstream"] == echo_upstream
    assert body["enabled"] is True and body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert requests.get(f"{api}/proxies", timeout=5).json() == {"a": body}
    assert requests.get(f"{api}/proxies/a", timeout=5).json() == body


def test_create_disabled_proxy_does_not_listen(api: str, echo_upstream: str) -> None:
    body = {"name": "off", "upstream": echo_upstream, "listen": "127.0.0.1:0", "enabled": False}
    response = requests.post(f"{api}/proxies", json=body, timeout=5)
    assert response.status_code == 201 and response.json()["enabled"] is False


def test_client_sees_duplicate_and_missing(toxiproxy: Toxiproxy, echo_upstream: str, api: str) -> None:
    toxiproxy.create(upstream=echo_upstream, name="dup")
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=echo_upstream, name="dup")
    duplicate = requests.post(f"{api}/proxies", json={"name": "dup", "upstream": echo_upstream}, timeout=5)
    assert (duplicate.status_code, duplicate.json()) == (409, {"error": "proxy already exists", "status": 409})
    assert toxiproxy.get_proxy("nope") is None
    missing = Proxy(name="nope", upstream=echo_upstream, enabled=True, listen="127.0.0.1:1")
    with pytest.raises(NotFound):
        missing.destroy()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/proxies/missing"), ("POST", "/proxies/missing"), ("DELETE", "/proxies/missing"),
     ("GET", "/proxies/missing/toxics"), ("POST", "/proxies/missing/toxics")],
)
def test_missing_proxy_is_404(api: str, method: str, path: str) -> None:
    response = requests.request(method, f"{api}{path}", json={}, timeout=5)
    assert (response.status_code, response.json()) == (404, {"error": "proxy not found", "status": 404})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
        ({"name": 3, "upstream": "127.0.0.1:1"}, "bad request body: json: cannot unmarshal number"),
        ({"name": "x", "upstream": "no-port"}, "invalid address"),
    ],
)
def test_bad_proxy_is_400(api: str, body: dict[str, object], message: str) -> None:
    response = requests.post(f"{api}/proxies", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["status"] == 400 and response.json()["error"].startswith(message)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b"\xff\xfe", b"null", b'"text"', b"{" * 5000])
def test_malformed_json_is_400_and_the_server_lives(api: str, echo_upstream: str, raw: bytes) -> None:
    for path in ("/proxies", "/populate"):
        response = requests.post(f"{api}{path}", data=raw, timeout=5)
        assert response.status_code == 400, (path, raw[:10])
        assert response.json()["error"].startswith("bad request body")
    requests.post(f"{api}/proxies", json={"name": "p", "upstream": echo_upstream}, timeout=5)
    for path in ("/proxies/p", "/proxies/p/toxics", "/proxies/p/toxics/none"):
        assert requests.post(f"{api}{path}", data=raw, timeout=5).status_code in (400, 404)
    assert requests.get(f"{api}/version", timeout=5).status_code == 200


def test_garbage_on_the_api_socket_does_not_crash_the_server(api: str, toxiproxy_process: RunningToxiproxy) -> None:
    for garbage in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9\r\n\r\n", b"POST /proxies HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
        with socket.create_connection((toxiproxy_process.host, toxiproxy_process.port), timeout=5) as sock:
            sock.sendall(garbage)
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert requests.get(f"{api}/version", timeout=5).status_code == 200


def test_keep_alive_serves_several_requests_on_one_connection(toxiproxy_process: RunningToxiproxy) -> None:
    request = f"GET /version HTTP/1.1\r\nHost: {toxiproxy_process.host}\r\n\r\n".encode()
    with socket.create_connection((toxiproxy_process.host, toxiproxy_process.port), timeout=5) as sock:
        sock.sendall(request + request)
        received = b""
        while received.count(b'"version"') < 2:
            chunk = sock.recv(4096)
            assert chunk, "server closed a keep-alive connection"
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2


def test_unknown_route_and_browsers(api: str) -> None:
    assert requests.get(f"{api}/nothing", timeout=5).status_code == 404
    assert requests.get(f"{api}/proxies/x/other", timeout=5).status_code == 404
    assert requests.put(f"{api}/proxies", timeout=5).status_code == 405
    browser = requests.get(f"{api}/proxies", headers={"User-Agent": "Mozilla/5.0"}, timeout=5)
    assert browser.status_code == 403


def test_toxic_defaults_listing_update_and_delete(api: str, echo_proxy: Proxy) -> None:
    url = f"{api}/proxies/echo/toxics"
    created = requests.post(url, json={"type": "latency", "attributes": {"latency": 50}}, timeout=5)
    assert created.status_code == 200
    assert created.json() == {
        "attributes": {"latency": 50, "jitter": 0}, "name": "latency_downstream",
        "type": "latency", "stream": "downstream", "toxicity": 1.0,
    }
    requests.post(url, json={"type": "bandwidth", "stream": "upstream", "name": "bw", "toxicity": 0.5,
                             "attributes": {"rate": 7, "unknown": 1}}, timeout=5)
    listed = requests.get(url, timeout=5).json()
    assert [toxic["name"] for toxic in listed] == ["bw", "latency_downstream"]  # upstream first
    assert listed[0]["attributes"] == {"rate": 7} and listed[0]["toxicity"] == 0.5
    updated = requests.post(f"{url}/latency_downstream", json={"attributes": {"jitter": 5}}, timeout=5).json()
    assert updated["attributes"] == {"latency": 50, "jitter": 5} and updated["toxicity"] == 1.0
    assert requests.get(f"{url}/latency_downstream", timeout=5).json() == updated
    assert requests.get(f"{api}/proxies/echo", timeout=5).json()["toxics"][1] == updated
    assert set(echo_proxy.toxics()) == {"bw", "latency_downstream"}
    assert requests.delete(f"{url}/bw", timeout=5).status_code == 204
    assert requests.delete(f"{url}/bw", timeout=5).json() == {"error": "toxic not found", "status": 404}
    assert requests.get(f"{url}/bw", timeout=5).status_code == 404
    assert requests.post(f"{url}/bw", json={}, timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid, can be either upstream or downstream"),
        ({"type": "frobnicate"}, 400, "invalid toxic type"),
        ({"stream": "upstream"}, 400, "invalid toxic type"),
        ({"type": "latency", "name": "l2", "attributes": {"latency": "slow"}}, 400, "bad request body: json: cannot unmarshal"),
        ({"type": "latency", "toxicity": "high"}, 400, "bad request body: json: cannot unmarshal"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, 400, "bad request body"),
        ({"type": "timeout", "name": "latency_downstream"}, 409, "toxic already exists"),
    ],
)
def test_bad_toxic(api: str, echo_proxy: Proxy, body: dict[str, object], status: int, message: str) -> None:
    echo_proxy.add_toxic(type="latency")
    response = requests.post(f"{api}/proxies/echo/toxics", json=body, timeout=5)
    assert response.status_code == status
    assert response.json()["status"] == status and response.json()["error"].startswith(message)


def test_update_proxy_upstream_and_listen(api: str, echo_proxy: Proxy, echo_upstream: str) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        free_port = placeholder.getsockname()[1]
    response = requests.post(f"{api}/proxies/echo", json={"listen": f"127.0.0.1:{free_port}"}, timeout=5)
    assert response.status_code == 200
    assert response.json()["listen"] == f"127.0.0.1:{free_port}" and response.json()["enabled"] is True
    moved = Proxy(**response.json())
    with connect(moved) as sock:
        assert round_trip_s(sock) < 0.5
    dead = requests.post(f"{api}/proxies/echo", json={"upstream": "127.0.0.1:1"}, timeout=5).json()
    assert dead["upstream"] == "127.0.0.1:1"
    with connect(moved) as sock:  # upstream refuses: the proxy closes the client
        assert sock.recv(10) == b""


def test_delete_closes_the_listener(api: str, echo_proxy: Proxy) -> None:
    assert requests.delete(f"{api}/proxies/echo", timeout=5).status_code == 204
    with pytest.raises(ConnectionRefusedError):
        connect(echo_proxy).close()
    assert requests.get(f"{api}/proxies", timeout=5).json() == {}


def test_populate_creates_keeps_and_replaces(api: str, toxiproxy: Toxiproxy, echo_upstream: str) -> None:
    proxies = [{"name": "one", "upstream": echo_upstream, "listen": "127.0.0.1:0"},
               {"name": "two", "upstream": echo_upstream, "enabled": False}]
    first = requests.post(f"{api}/populate", json=proxies, timeout=5)
    assert first.status_code == 201
    assert [proxy["name"] for proxy in first.json()["proxies"]] == ["one", "two"]
    listen_of_one = first.json()["proxies"][0]["listen"]
    same = [{"name": "one", "upstream": echo_upstream, "listen": listen_of_one}]
    again = requests.post(f"{api}/populate", json=same, timeout=5).json()
    assert again["proxies"][0]["listen"] == listen_of_one
    duplicate = requests.post(f"{api}/populate", json=proxies + proxies[:1], timeout=5)
    assert duplicate.status_code == 400 and duplicate.json()["proxies"] is None
    missing = requests.post(f"{api}/populate", json=[{"name": "x"}], timeout=5)
    assert missing.json()["error"] == "missing required field: upstream at proxy 1"
    assert set(toxiproxy.proxies()) == {"one", "two"}
    created = toxiproxy.populate([{"name": "three", "upstream": echo_upstream, "listen": "127.0.0.1:0"}])
    assert [proxy.name for proxy in created] == ["three"]
