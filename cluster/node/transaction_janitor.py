"""Finishes the transaction locks their coordinators left behind, by the ledger's word.

A coordinator that dies between prepare and commit (or whose release did not arrive, or whose prepare
was applied after it gave up) leaves items locked. The node leading their partition notices a lock
still there after STALE_AFTER_S and asks the ledger for the transaction's decision, which records a
cancel when there is none yet (the first decision wins: cluster/metadata/transaction_ledger.py). It
then proposes the commit or the release: both idempotent, so a coordinator finishing at the same time
does no harm. Run from the node's tick, like the TTL sweeper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cluster.api.transaction_commands import TxnFinishCommand, encode_txn_command
from cluster.metadata.metadata_server import METADATA_GROUP
from cluster.metadata.transaction_ledger import CANCEL, COMMIT
from cluster.node.group_host import GroupHost
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.ticked_task import TickedTask
from cluster.replication.leader_calls import NoLeaderAnswered, call_leader

log = logging.getLogger(__name__)

SWEEP_INTERVAL_TICKS = 20  # a look a second at the default tick
# A coordinator finishes in well under a second, and within a few even across a metadata election; one
# this late is taken for gone. Cancelling a live but slow one costs only its transaction (its commit
# loses to the recorded cancel; a read finds its lock gone at release), never atomicity.
STALE_AFTER_S = 10.0
MAX_RESOLVED_PER_SWEEP = 50
CALL_TIMEOUT_S = 3.0

LockId = tuple[str, int, bytes, str]  # group, hash, key, txn


class TransactionJanitor:
    def __init__(self, node: GroupHost, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.clock = clock
        self._first_seen: dict[LockId, float] = {}
        self.sweeps = TickedTask(SWEEP_INTERVAL_TICKS, self._sweep)
        self.resolved = {COMMIT: 0, CANCEL: 0}

    def on_tick(self) -> None:
        self.sweeps.on_tick()

    async def stop(self) -> None:
        await self.sweeps.stop()

    def status(self) -> dict[str, Any]:
        return {"locks_watched": len(self._first_seen), "resolved": dict(self.resolved)}

    def stale_locks(self) -> list[LockId]:
        """The locks of the groups this node leads that it has seen for STALE_AFTER_S or more."""
        now = self.clock()
        present: set[LockId] = set()
        for group_id, group in list(self.node.groups.items()):
            state_machine = group.state_machine
            if group.closed or not group.is_leader or not isinstance(state_machine, PartitionStateMachine):
                continue
            for partition_hash, key, txn, _ in state_machine.store.all_locks():
                present.add((group_id, partition_hash, key, txn))
        # Forgotten once gone (or no longer led): a lock seen again starts its wait again.
        self._first_seen = {lock: self._first_seen.get(lock, now) for lock in present}
        return sorted(lock for lock, seen in self._first_seen.items() if now - seen >= STALE_AFTER_S)

    async def _sweep(self) -> None:
        decisions: dict[str, str] = {}
        for group_id, partition_hash, key, txn in self.stale_locks()[:MAX_RESOLVED_PER_SWEEP]:
            try:
                if txn not in decisions:
                    decisions[txn] = await self._decide(txn)
                group = self.node.groups.get(group_id)
                if group is None or group.closed or not group.is_leader:
                    continue
                command = TxnFinishCommand(txn, partition_hash, key, decisions[txn] == COMMIT)
                result = await group.propose(encode_txn_command(command), CALL_TIMEOUT_S)
            except Exception as error:  # no metadata leader, not leader any more: the next sweep tries again
                log.info("transaction %s lock in %s not resolved yet: %r", txn, group_id, error)
                continue
            if isinstance(result, dict) and result.get("applied"):
                self.resolved[decisions[txn]] += 1
                log.info("finished an abandoned lock of transaction %s in %s: %s", txn, group_id, decisions[txn])

    async def _decide(self, txn: str) -> str:
        """The ledger's decision for `txn`, a cancel recorded if it had none."""
        metadata_ids = [spec.process_id for spec in self.node.topology.by_role("metadata")]
        try:
            result = await call_leader(
                self.node.peers, self.node.leader_hints, METADATA_GROUP, metadata_ids, "meta.txn_decide",
                {"txn": txn, "decision": CANCEL}, timeout_s=CALL_TIMEOUT_S, budget_s=CALL_TIMEOUT_S,
            )  # fmt: skip
        except NoLeaderAnswered as error:
            raise RuntimeError(f"no ledger decision for {txn}: {error}") from error
        decision = result.get("decision") if isinstance(result, dict) else None
        if decision not in (COMMIT, CANCEL):
            raise RuntimeError(f"ledger answered {result!r} for {txn}")
        return str(decision)
