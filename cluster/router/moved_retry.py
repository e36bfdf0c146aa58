"""A request that met a split: look the table up again (past the cache) and retry, within a budget.

A node answers MOVED (or a write result "moved") for a hash its group handed to a child. Nothing was
done, so the retry is safe even for a conditional write. While the split is still copying, the fresh
map still names the parent and the parent still refuses: the retries wait, bounded by the budget.
"""

from __future__ import annotations

import asyncio

from cluster.api.errors import ServiceUnavailable
from cluster.metadata.catalogue import TableEntry
from cluster.router.cluster_client import ROUTE_BUDGET_S, ClusterClient, PartitionMoved

MOVED_RETRY_PAUSE_S = 0.1


class MovedRetry:
    def __init__(self, cluster: ClusterClient, table: str, budget_s: float = ROUTE_BUDGET_S) -> None:
        self.cluster = cluster
        self.table = table
        self.budget_s = budget_s
        self._deadline: float | None = None
        self.retries = 0

    async def refreshed(self, error: PartitionMoved) -> TableEntry:
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self.budget_s
        if loop.time() >= self._deadline:
            raise ServiceUnavailable(f"partition is splitting, try again: {error}") from error
        self.retries += 1
        await asyncio.sleep(MOVED_RETRY_PAUSE_S if self.retries > 1 else 0.0)
        return await self.cluster.refresh_table(self.table)
