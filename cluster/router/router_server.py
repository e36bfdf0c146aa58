"""A request router process: stateless, one per AZ, DynamoDB's JSON API over HTTP."""

from __future__ import annotations

from typing import Any

from cluster.router.admin_routes import admin_response, is_admin_path
from cluster.router.cluster_client import ClusterClient
from cluster.router.dynamodb_service import DynamoDbService, protocol_error_response
from cluster.router.http_server import HttpRequest, HttpResponse, HttpServer
from cluster.runtime.metrics_router import RouterMetrics
from cluster.runtime.topology import Topology


class RouterServer:
    def __init__(self, process_id: str, topology: Topology) -> None:
        self.process_id = process_id
        self.topology = topology
        self.cluster = ClusterClient(process_id, topology)
        self.service = DynamoDbService(self.cluster, f"dynamodb.{topology.get(process_id).az}.local")
        self.metrics = RouterMetrics(topology.get(process_id).az, self.service.handlers, self.cluster.retry_counts)
        self._serve_api = self.metrics.instrument(self.service.handle)
        self.http = HttpServer(self._handle, protocol_error_response)

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if is_admin_path(request.path):
            return admin_response(request, self.cluster)
        return await self._serve_api(request)

    async def start(self) -> None:
        spec = self.topology.get(self.process_id)
        await self.cluster.start()
        await self.http.start(spec.host, spec.port)

    async def stop(self) -> None:
        await self.http.stop()
        await self.cluster.stop()

    def status(self) -> dict[str, Any]:
        return {"process": self.process_id, "role": "router", "az": self.topology.get(self.process_id).az}
