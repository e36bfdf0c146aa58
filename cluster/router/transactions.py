"""TransactWriteItems and TransactGetItems: a coordinator in the router, two-phase commit over the groups.

Write: every item is prepared on its partition's leader (locked, its condition checked, its new value
computed: cluster/node/transaction_participant.py). If every item voted yes, the coordinator asks the
ledger (the metadata group, cluster/metadata/transaction_ledger.py) to record the commit; the first
decision recorded wins, so a janitor that cancelled an abandoned transaction meanwhile wins over a
late coordinator. Then every lock is committed (or, on any no, released). The coordinator keeps nothing
that matters: if it dies, each participant's janitor finishes its lock by the ledger's word.

Read: every item is read under a shared lock, then released. While all the locks are held no write can
land on any of them, so the items were all current at once: serializable. An item a write holds
cancels the read with TransactionConflict, as DynamoDB does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.admission.capacity_units import read_units, write_units
from cluster.api.attribute_values import (
    encode_key,
    extract_key,
    item_size_bytes,
    partition_hash,
    validate_key,
)
from cluster.api.consumed_capacity import CONSUMED_UNITS
from cluster.api.errors import (
    ApiError,
    IdempotentParameterMismatchException,
    InternalServerError,
    TransactionCanceledException,
    TransactionInProgressException,
    reason_collection_too_large,
    reason_condition_failed,
    reason_conflict,
    reason_none,
    reason_validation,
)
from cluster.api.item_collections import COLLECTION_SIZES, written_collection
from cluster.api.projection import project
from cluster.api.request_types import TransactGetItemsRequest, TransactWrite, TransactWriteItemsRequest
from cluster.api.secondary_indexes import check_index_keys
from cluster.api.transact_requests import duplicate_item_error
from cluster.api.transaction_commands import (
    KIND_OF_WRITE,
    READ,
    TxnFinishCommand,
    TxnPrepareCommand,
    encode_txn_command,
)
from cluster.api.update_expressions import check_key_unchanged
from cluster.metadata.catalogue import TableEntry
from cluster.metadata.transaction_ledger import CANCEL, COMMIT
from cluster.router import partition_calls
from cluster.router.cluster_client import ClusterClient
from cluster.router.crash_points import TXN_AFTER_COMMIT_DECISION, TXN_AFTER_PREPARE

# How long the coordinator keeps sending one item's commit before answering that the outcome is unknown
# (the janitor finishes it), and a release (which the janitor finishes too, and nobody waits for).
COMMIT_BUDGET_S = 10.0
RELEASE_BUDGET_S = 1.0
FINISH_RETRY_PAUSE_S = 0.05


@dataclass(frozen=True)
class _Participant:
    entry: TableEntry
    command: TxnPrepareCommand
    return_on_failure: str = "NONE"

    @property
    def item_hash(self) -> int:
        return self.command.partition_hash



def _reason(participant: _Participant, vote: Any) -> dict[str, Any]:
    """The CancellationReason of one item, from its vote (an exception: its outcome is unknown)."""
    if not isinstance(vote, dict):
        return reason_none()
    status = vote.get("status")
    if status == "condition_failed":
        old = vote.get("old") if participant.return_on_failure == "ALL_OLD" else None
        return reason_condition_failed(old or None)
    if status == "txn_conflict":
        return reason_conflict()
    if status == "invalid":
        return reason_validation(str(vote.get("message")))
    if status == "collection_too_large":
        return reason_collection_too_large()
    return reason_none()


def _voted_yes(vote: Any) -> bool:
    return isinstance(vote, dict) and vote.get("status") == "ok"


# How long finished transactions gather before one ledger entry reports them all: at a few hundred
# transactions a second, one entry instead of dozens, at the price of a retry's fast answer that much later.
FINISH_BATCH_S = 0.05


class TransactionCoordinator:
    def __init__(self, cluster: ClusterClient, new_txn_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.cluster = cluster
        self._new_txn_id = new_txn_id
        # PLANTED BUG txn-commit-without-votes (harness self-tests only): one yes is enough to commit.
        self._commit_without_votes = "txn-commit-without-votes" in cluster.topology.faults_enabled
        self._background: set[asyncio.Task[Any]] = set()
        self._finished: list[str] = []  # committed and written, not yet reported to the ledger

    # ---- TransactWriteItems -----------------------------------------------------------------------

    async def transact_write_items(self, request: TransactWriteItemsRequest) -> dict[str, Any]:
        txn = self._new_txn_id()
        # Every participant is located (tables, keys, duplicates checked) before anything is written.
        participants = [await self._write_participant(txn, write) for write in request.writes]
        self._check_distinct(participants)
        units: dict[str, float] = {}
        for participant in participants:
            size = item_size_bytes(participant.command.item or participant.command.key_item)
            charge = 2 * write_units(size)  # a transactional write costs twice a plain one, as in DynamoDB
            self.cluster.admission.charge(participant.entry, "write", charge)
            units[participant.entry.name] = units.get(participant.entry.name, 0.0) + charge
        # Registered while the items are prepared (one round trip less): the decision waits for both, and
        # the ledger refuses a commit it has no registration for, so the order that matters is kept.
        begin = self.cluster.call_metadata(
            "meta.txn_begin", {"txn": txn, "token": request.client_request_token, "digest": request.digest()}
        )
        begun, votes = await asyncio.gather(begin, self._prepare_all(participants), return_exceptions=True)
        if not isinstance(begun, dict) or begun.get("status") != "ok":
            await asyncio.gather(self._finish_all(txn, participants, votes, commit=False), self._decide(txn, CANCEL))
            if isinstance(begun, BaseException):
                raise begun
            # The token's earlier transaction decides the answer, whatever this one's items voted.
            return await self._token_seen(str(begun.get("status")), str(begun.get("txn")), request)
        if self._commit_without_votes and any(_voted_yes(vote) for vote in votes):
            participants = [p for p, vote in zip(participants, votes, strict=True) if _voted_yes(vote)]
            votes = [vote for vote in votes if _voted_yes(vote)]
        if not all(_voted_yes(vote) for vote in votes):
            await asyncio.gather(self._finish_all(txn, participants, votes, commit=False), self._decide(txn, CANCEL))
            raise self._cancelled(participants, votes)
        self.cluster.crash_points.reached(TXN_AFTER_PREPARE, txn)
        if await self._decide(txn, COMMIT) != COMMIT:
            # A janitor took the transaction for abandoned (it took this long) and cancelled it first.
            await self._finish_all(txn, participants, votes, commit=False)
            raise TransactionCanceledException([reason_conflict() for _ in participants])
        self.cluster.crash_points.reached(TXN_AFTER_COMMIT_DECISION, txn)
        collections: dict[tuple[str, int], tuple[_Participant, int]] = {}
        await self._commit_everywhere(txn, participants, collections)
        sizes: dict[str, list[list[Any]]] = {}
        for participant, size in collections.values():
            written = written_collection(participant.command.key_item, participant.entry.key_schema.hash_name, size)
            sizes.setdefault(participant.entry.name, []).append(written)
        return {CONSUMED_UNITS: units, COLLECTION_SIZES: sizes}

    async def _decide(self, txn: str, decision: str) -> str | None:
        """The ledger's decision after asking for `decision` (None: the ledger did not answer; a cancel
        is then made by the janitors, and a commit was perhaps recorded: the caller must not say no)."""
        try:
            answer = await self.cluster.call_metadata("meta.txn_decide", {"txn": txn, "decision": decision})
        except ApiError:
            if decision == COMMIT:
                raise
            return None
        return str(answer.get("decision"))

    async def _commit_everywhere(
        self,
        txn: str,
        participants: Sequence[_Participant],
        collections: dict[tuple[str, int], tuple[_Participant, int]] | None = None,
    ) -> None:
        """Committed in the ledger: write every item, then tell the ledger they are finished. `collections`
        gathers the item collections written (tables with LSIs), by table and partition key hash."""
        votes = [{"status": "ok"}] * len(participants)
        if not await self._finish_all(txn, participants, votes, commit=True, collections=collections):
            # The janitors finish the items left, but not before this answer: not a success yet.
            raise InternalServerError("transaction committed; some of its items are still being written")
        # Lets a retry under the same token answer at once and the ledger drop the decision sooner; if
        # it is lost, a retry finishes the items again and the ledger keeps the decision longer. Reported
        # in batches: one ledger entry for every transaction finished within FINISH_BATCH_S, not one each.
        self._finished.append(txn)
        if len(self._finished) == 1:
            task = asyncio.ensure_future(self._report_finished())
            self._background.add(task)
            task.add_done_callback(self._forget)

    async def _report_finished(self) -> None:
        await asyncio.sleep(FINISH_BATCH_S)
        txns, self._finished = self._finished, []
        await self.cluster.call_metadata("meta.txn_finish", {"txns": txns})

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a lost finish only keeps a decision longer

    async def _token_seen(self, status: str, earlier: str, request: TransactWriteItemsRequest) -> dict[str, Any]:
        """The ledger knows the request's ClientRequestToken from an earlier transaction `earlier`."""
        if status == "mismatch":
            raise IdempotentParameterMismatchException(
                "The request uses the same client token as a previous, but non-identical request."
            )
        if status == "in_progress":
            raise TransactionInProgressException()
        if status == "unfinished":
            # Committed, but its coordinator did not report every item written: the same request names
            # the same items, so this one finishes them before it answers success.
            participants = [await self._write_participant(earlier, write) for write in request.writes]
            await self._commit_everywhere(earlier, participants)
        elif status != "repeated":
            raise InternalServerError(f"unexpected ledger answer {status!r}")
        return {CONSUMED_UNITS: {}}

    async def _write_participant(self, txn: str, write: TransactWrite) -> _Participant:
        entry = await self.cluster.table(write.table_name)
        schema = entry.key_schema
        key = extract_key(write.item, schema) if write.kind == "Put" else validate_key(write.key, schema)
        if write.item is not None:
            check_index_keys(write.item, entry.index_specs)
        command = TxnPrepareCommand(
            txn,
            KIND_OF_WRITE[write.kind],
            partition_hash(key, schema),
            encode_key(key, schema),
            key,
            write.item,
            write.update,
            write.condition,
            entry.local_indexes() if write.kind in ("Put", "Update") else (),
        )
        if write.update is not None:
            check_key_unchanged(write.update.parse(), schema.key_names)
        return _Participant(entry, command, write.return_on_failure)

    @staticmethod
    def _check_distinct(participants: Sequence[_Participant]) -> None:
        seen = {(p.entry.name, p.command.key) for p in participants}
        if len(seen) != len(participants):
            raise duplicate_item_error()

    def _cancelled(self, participants: Sequence[_Participant], votes: Sequence[Any]) -> ApiError:
        refused = [vote for vote in votes if isinstance(vote, dict) and not _voted_yes(vote)]
        if not refused:
            # No item said no, some could not answer: the outcome of those is what the client learns.
            errors = [vote for vote in votes if isinstance(vote, BaseException)]
            first = errors[0]
            return first if isinstance(first, ApiError) else InternalServerError(f"prepare failed: {first!r}")
        return TransactionCanceledException([_reason(p, vote) for p, vote in zip(participants, votes, strict=True)])

    # ---- TransactGetItems -------------------------------------------------------------------------

    async def transact_get_items(self, request: TransactGetItemsRequest) -> dict[str, Any]:
        txn = self._new_txn_id()
        participants = []
        units: dict[str, float] = {}
        for get in request.gets:
            entry = await self.cluster.table(get.table_name)
            schema = entry.key_schema
            key = validate_key(get.key, schema)
            command = TxnPrepareCommand(txn, READ, partition_hash(key, schema), encode_key(key, schema), key)
            participants.append(_Participant(entry, command))
        self._check_distinct(participants)
        for participant in participants:
            self.cluster.admission.charge(participant.entry, "read", 2 * read_units(0, True))
        votes = await self._prepare_all(participants)
        released = await self._finish_all(txn, participants, votes, commit=False, held=True)
        if not all(_voted_yes(vote) for vote in votes):
            raise self._cancelled(participants, votes)
        if not released:
            # A lock was gone before its release (a janitor took the read for abandoned) or the release
            # did not answer: the items may not have been current at one moment.
            raise TransactionCanceledException([reason_conflict() for _ in participants])
        responses = []
        for get, participant, vote in zip(request.gets, participants, votes, strict=True):
            item = vote.get("item")
            name = participant.entry.name
            units[name] = units.get(name, 0.0) + 2 * read_units(item_size_bytes(item) if item else 0, True)
            responses.append({"Item": project(item, get.projection)} if item else {})
        return {"Responses": responses, CONSUMED_UNITS: units}

    # ---- both phases ------------------------------------------------------------------------------

    async def _prepare_all(self, participants: Sequence[_Participant]) -> list[Any]:
        async def prepare(participant: _Participant) -> Any:
            command = encode_txn_command(participant.command)
            return await partition_calls.propose(self.cluster, participant.entry, participant.item_hash, command)

        return list(await asyncio.gather(*(prepare(p) for p in participants), return_exceptions=True))

    async def _finish_all(
        self,
        txn: str,
        participants: Sequence[_Participant],
        votes: Sequence[Any],
        commit: bool,
        held: bool = False,
        collections: dict[tuple[str, int], tuple[_Participant, int]] | None = None,
    ) -> bool:
        """Commit or release every item that may hold a lock (voted yes, or could not say); True when all
        are finished (with `held`: and each lock was still there to finish). A release that fails is left
        to the janitor: the transaction is not committed."""

        async def finish(participant: _Participant) -> bool:
            command = encode_txn_command(
                TxnFinishCommand(txn, participant.item_hash, participant.command.key, commit)
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (COMMIT_BUDGET_S if commit else RELEASE_BUDGET_S)
            while True:
                try:
                    result = await partition_calls.propose(
                        self.cluster, participant.entry, participant.item_hash, command
                    )
                    if _voted_yes(result):
                        if collections is not None and "collection_bytes" in result:
                            collections[participant.entry.name, participant.item_hash] = (
                                participant, int(result["collection_bytes"]),
                            )  # fmt: skip
                        return bool(result.get("applied")) or not held
                except Exception:  # noqa: BLE001 - any failure is retried until the budget ends
                    pass
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(FINISH_RETRY_PAUSE_S)

        maybe_locked = [
            p for p, vote in zip(participants, votes, strict=True) if not isinstance(vote, dict) or _voted_yes(vote)
        ]
        results = await asyncio.gather(*(finish(p) for p in maybe_locked))
        return all(results)
