"""A request router process: stateless, one per AZ, DynamoDB's JSON API over HTTP."""

from __future__ import annotations

from typing import Any

from cluster.router.cluster_client import ClusterClient
from cluster.router.dynamodb_service import DynamoDbService, protocol_error_response
from cluster.router.http_server import HttpServer
from cluster.runtime.topology import Topology


class RouterServer:
    def __init__(self, process_id: str, topology: Topology) -> None:
        self.process_id = process_id
        self.topology = topology
        self.cluster = ClusterClient(process_id, topology)
        self.service = DynamoDbService(self.cluster, f"dynamodb.{topology.get(process_id).az}.local")
        self.http = HttpServer(self.service.handle, protocol_error_response)

    async def start(self) -> None:
        spec = self.topology.get(self.process_id)
        await self.cluster.start()
        await self.http.start(spec.host, spec.port)

    async def stop(self) -> None:
        await self.http.stop()
        await self.cluster.stop()

    def status(self) -> dict[str, Any]:
        return {"process": self.process_id, "role": "router", "az": self.topology.get(self.process_id).az}
