"""The metadata group's RPCs over the transaction ledger (cluster/metadata/transaction_ledger.py).

meta.txn_begin   {txn, token?, digest?}  -> {status: ok | in_progress | repeated | unfinished | mismatch}
meta.txn_decide  {txn, decision}         -> {decision}: the first decision wins, through the log
meta.txn_finish  {txns: [txn, ...]}      -> every item of these committed transactions is finished
Wall-clock time is the leader's, carried in the command, so every replica applies the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.metadata.transaction_ledger import CANCEL, COMMIT
from cluster.runtime.rpc import RpcError

# How often the leader proposes dropping old decisions (from node reports, which arrive every second).
PURGE_EVERY_S = 60.0


class LedgerService:
    def __init__(
        self, propose: Callable[[dict[str, Any]], Awaitable[Any]], clock: Callable[[], float] = time.time
    ) -> None:
        self._propose = propose
        self._clock = clock
        self._last_purge_s = clock()

    async def begin(self, params: dict[str, Any]) -> Any:
        txn, token, digest = params.get("txn"), params.get("token"), params.get("digest")
        if not isinstance(txn, str) or not all(value is None or isinstance(value, str) for value in (token, digest)):
            raise RpcError("Invalid", "txn_begin needs txn; token and digest are strings")
        return await self._propose({"op": "txn_begin", "txn": txn, "token": token, "digest": digest, "at_s": self._clock()})

    async def decide(self, params: dict[str, Any]) -> Any:
        txn, decision = params.get("txn"), params.get("decision")
        if not isinstance(txn, str) or decision not in (COMMIT, CANCEL):
            raise RpcError("Invalid", "txn_decide needs txn and a decision (commit or cancel)")
        return await self._propose({"op": "txn_decide", "txn": txn, "decision": decision, "at_s": self._clock()})

    async def finish(self, params: dict[str, Any]) -> Any:
        txns = params.get("txns")
        if not isinstance(txns, list) or not txns or not all(isinstance(txn, str) for txn in txns):
            raise RpcError("Invalid", "txn_finish needs txns, a list of transaction ids")
        return await self._propose({"op": "txn_finish", "txns": txns, "at_s": self._clock()})

    def purge_due(self) -> dict[str, Any] | None:
        """The purge command to propose now, or None (at most one a PURGE_EVERY_S)."""
        now = self._clock()
        if now - self._last_purge_s < PURGE_EVERY_S:
            return None
        self._last_purge_s = now
        return {"op": "txn_purge", "now_s": now}
