"""Reading admission state at the end of a run is defensive: a store that answers nothing is "not available"."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from cluster.runtime.topology import ProcessSpec, Topology
from gameday.checks.admission_probe import read_admission_observations


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens there


class FakeCluster:
    def __init__(self, endpoints: dict[str, str]) -> None:
        self._endpoints = endpoints
        self._topology = Topology([
            ProcessSpec("metadata-a", "metadata", "az-a", "127.0.0.1", _closed_port()),
            ProcessSpec("node-a1", "node", "az-a", "127.0.0.1", _closed_port()),
        ])  # fmt: skip

    def topology(self) -> Topology:
        return self._topology

    def endpoints(self) -> dict[str, str]:
        return self._endpoints


@pytest.fixture
def router_with_admission() -> Iterator[str]:
    """A real HTTP server answering GET /admin/admission like a router (contract §6), 404 elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path != "/admin/admission":
                self.send_error(404)
                return
            body = json.dumps({"router": "router-a", "enabled": True, "throttled": {"table": 1, "partition": 41}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_nothing_answering_is_not_available_not_an_error() -> None:
    observations = read_admission_observations(FakeCluster({"az-a": f"http://127.0.0.1:{_closed_port()}"}))
    assert observations["splits"] is None and observations["routers"] == [] and observations["nodes"] == {}
    assert {error.split(":")[0] for error in observations["errors"]} == {"metadata-a", "node-a1"}


def test_router_counters_are_read_where_the_endpoint_exists(router_with_admission: str) -> None:
    cluster = FakeCluster({"az-a": router_with_admission, "az-b": f"http://127.0.0.1:{_closed_port()}"})
    observations = read_admission_observations(cluster)
    assert observations["routers"] == [{"router": "router-a", "enabled": True, "throttled": {"table": 1, "partition": 41}}]
