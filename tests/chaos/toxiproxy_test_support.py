"""Pytest fixtures (loaded with pytest_plugins) shared by the test_toxiproxy_* modules: a real server subprocess, the real client, TCP peers."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.proxy import Proxy

from chaos.toxiproxy.subprocess_server import RunningToxiproxy, running_toxiproxy_server


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


class CloseAtOnceHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.close()


class LoopbackServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


@pytest.fixture(scope="module")
def toxiproxy_process() -> Iterator[RunningToxiproxy]:
    with running_toxiproxy_server() as running:
        yield running


@pytest.fixture
def toxiproxy(toxiproxy_process: RunningToxiproxy) -> Iterator[Toxiproxy]:
    """The unmodified PyPI client, pointed at our server, with a clean slate for each test."""
    client = Toxiproxy()
    client.update_api_consumer(toxiproxy_process.host, toxiproxy_process.port)
    client.destroy_all()
    yield client
    client.destroy_all()


def serve_in_thread(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = LoopbackServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def echo_upstream() -> Iterator[str]:
    yield from serve_in_thread(EchoHandler)


@pytest.fixture
def closing_upstream() -> Iterator[str]:
    yield from serve_in_thread(CloseAtOnceHandler)


@pytest.fixture
def echo_proxy(toxiproxy: Toxiproxy, echo_upstream: str) -> Proxy:
    return toxiproxy.create(upstream=echo_upstream, name="echo")
