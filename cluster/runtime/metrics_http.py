"""``GET /metrics`` of one cluster process, served on its own port from the process's event loop.

Serving from the event loop (not prometheus_client's HTTP thread) means every collector reads the
process's state between two steps of the loop, never in the middle of one; a paused process answers
no scrape, which is what Prometheus should see.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cluster.router.http_server import HttpRequest, HttpResponse, HttpServer

METRICS_PATH = "/metrics"


def _text_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class MetricsServer:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._http = HttpServer(self._handle, _text_response)
        self.port = 0

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.path.split("?")[0] != METRICS_PATH:
            return _text_response(404, f"not found: this server only answers GET {METRICS_PATH}\n")
        if request.method != "GET":
            return _text_response(405, f"{request.method} not allowed; GET {METRICS_PATH}\n")
        return HttpResponse(200, generate_latest(self.registry), {"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> int:
        self.port = await self._http.start(host, port)
        return self.port

    async def stop(self) -> None:
        await self._http.stop()
