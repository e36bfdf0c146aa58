"""The metadata group's RPCs over the transaction ledger (cluster/metadata/transaction_ledger.py).

meta.txn_decide  {txn, decision, token?, digest?}  -> {decision}: the first decision wins, through the log
meta.txn_finish  {txn}                             -> every item of a committed transaction is finished
meta.txn_token   {token}                           -> {used: {txn, digest} | None}: a consistent read
Wall-clock time is the leader's, carried in the command, so every replica applies the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.metadata.transaction_ledger import CANCEL, COMMIT, TransactionLedger
from cluster.runtime.rpc import RpcError

# How often the leader proposes dropping old decisions (from node reports, which arrive every second).
PURGE_EVERY_S = 60.0


class LedgerService:
    def __init__(
        self,
        ledger: Callable[[], TransactionLedger],
        propose: Callable[[dict[str, Any]], Awaitable[Any]],
        consistent_read: Callable[[], Awaitable[Any]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger  # the catalogue reopens its database after a snapshot: always ask
        self._propose = propose
        self._consistent_read = consistent_read
        self._clock = clock
        self._last_purge_s = clock()

    async def decide(self, params: dict[str, Any]) -> Any:
        txn, decision = params.get("txn"), params.get("decision")
        if not isinstance(txn, str) or decision not in (COMMIT, CANCEL):
            raise RpcError("Invalid", "txn_decide needs txn and a decision (commit or cancel)")
        token, digest = params.get("token"), params.get("digest")
        if token is not None and not isinstance(token, str) or digest is not None and not isinstance(digest, str):
            raise RpcError("Invalid", "txn_decide: token and digest are strings")
        return await self._propose(
            {"op": "txn_decide", "txn": txn, "decision": decision, "token": token, "digest": digest,
             "at_s": self._clock()}
        )  # fmt: skip

    async def finish(self, params: dict[str, Any]) -> Any:
        txn = params.get("txn")
        if not isinstance(txn, str):
            raise RpcError("Invalid", "txn_finish needs txn")
        return await self._propose({"op": "txn_finish", "txn": txn, "at_s": self._clock()})

    async def token(self, params: dict[str, Any]) -> Any:
        token = params.get("token")
        if not isinstance(token, str):
            raise RpcError("Invalid", "txn_token needs a token")
        await self._consistent_read()
        return {"status": "ok", "used": self._ledger().token(token, self._clock())}

    def purge_due(self) -> dict[str, Any] | None:
        """The purge command to propose now, or None (at most one a PURGE_EVERY_S)."""
        now = self._clock()
        if now - self._last_purge_s < PURGE_EVERY_S:
            return None
        self._last_purge_s = now
        return {"op": "txn_purge", "now_s": now}
