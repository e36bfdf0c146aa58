"""Carries a base partition's index changes to its global secondary indexes' partitions, asynchronously.

On the node leading a base partition of a table with GSIs: first it makes the partition know its table's
GSIs (an `index_specs` entry, from the catalogue's assignment), then, each round, it reads the oldest
changes waiting in the partition's outbox, sends each index partition its share through that partition's
log (`index_apply`), and once every share was taken proposes `index_trim` to drop them from the outbox. A
share delivered again (a lost answer, a new leader that starts over) changes nothing: each index partition
keeps the highest change number it took from each source (cluster/node/index_maintenance.py). So an index
lags its table while an index partition has no leader and catches up once it has one, in log order.
Run from the node's tick, like the TTL sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from cluster.api.index_entries import IndexedTable
from cluster.metadata.catalogue import PartitionInfo
from cluster.node.group_host import GroupHost
from cluster.node.index_maintenance import (
    SEQ_STRIDE,
    encode_backfill,
    encode_delivery,
    encode_specs,
    encode_trim,
)
from cluster.node.partition_state_machine import PartitionStateMachine
from cluster.node.ticked_task import TickedTask
from cluster.replication.group_runner import GroupRunner
from cluster.replication.leader_calls import NoLeaderAnswered, call_leader

log = logging.getLogger(__name__)

ROUND_EVERY_TICKS = 1  # an empty outbox costs a counter check; a change waits at most a tick for its round
MAX_CHANGES_PER_ROUND = 200
CALL_TIMEOUT_S = 2.0


class IndexPropagator:
    def __init__(self, node: GroupHost, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.clock = clock
        # Per base partition this node hosts: its table's GSIs and their partitions, as last assigned.
        self._wanted: dict[str, tuple[IndexedTable, dict[str, list[PartitionInfo]]]] = {}
        self.rounds = TickedTask(ROUND_EVERY_TICKS, self._round)
        self.delivered_changes = 0
        self.failed_deliveries = 0
        # Per led base partition: its oldest waiting change and since when this node has seen it waiting.
        self._waiting_since: dict[str, tuple[int, float]] = {}
        self._failing: set[str] = set()  # said once when a partition's deliveries start failing, once when they mend
        # PLANTED BUG index-drop-on-leader-change (harness self-tests only): a new leader trims its outbox
        # undelivered, as if the old leader had delivered everything.
        self._drop_on_leader_change = "index-drop-on-leader-change" in node.topology.faults_enabled
        self._led: set[str] = set()  # the base partitions led at the last round

    def on_tick(self) -> None:
        self.rounds.on_tick(bool(self._wanted))

    async def stop(self) -> None:
        await self.rounds.stop()

    def on_assignments(self, assignments: list[dict[str, Any]]) -> None:
        """The catalogue's word (authoritative node reports) on which hosted partitions have GSIs."""
        wanted = {}
        for assignment in assignments:
            if assignment.get("indexes"):
                partitions = {
                    name: [PartitionInfo.from_json(p) for p in partitions]
                    for name, partitions in (assignment.get("index_partitions") or {}).items()
                }
                wanted[assignment["group_id"]] = (IndexedTable.from_json(assignment["indexes"]), partitions)
        self._wanted = wanted

    def settings_report(self, leading: dict[str, int]) -> dict[str, str]:
        """Fingerprints of the GSI settings each led partition applied: the catalogue activates a table
        with GSIs only once all its partitions maintain them."""
        report = {}
        for group_id in leading:
            state_machine = self._state_machine(group_id)
            if state_machine is not None and state_machine.indexes.table is not None:
                report[group_id] = state_machine.indexes.table.fingerprint()
        return report

    def backfill_report(self, leading: dict[str, int]) -> dict[str, list[str]]:
        """Per led base partition, the GSIs whose entries it has all delivered (backfill included): the
        catalogue makes a GSI that UpdateTable added ACTIVE once every base partition says so."""
        report = {}
        for group_id in leading:
            state_machine = self._state_machine(group_id)
            if state_machine is None or state_machine.indexes.table is None:
                continue
            indexes = state_machine.indexes
            oldest = state_machine.store.outbox_read(1)
            oldest_seq = oldest[0][0] if oldest else None
            pending = indexes.pending_backfills()
            report[group_id] = [
                spec.name for spec in indexes.table.specs
                if spec.name not in pending and _delivered_through(indexes.backfilled_at(spec.name), oldest_seq)
            ]  # fmt: skip
        return report

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "indexed_partitions": len(self._wanted),
            "delivered_changes": self.delivered_changes,
            "failed_deliveries": self.failed_deliveries,
            "oldest_waiting_s": round(max((now - since for _, since in self._waiting_since.values()), default=0.0), 3),
        }

    def _state_machine(self, group_id: str) -> PartitionStateMachine | None:
        group = self.node.groups.get(group_id)
        if group is None or group.closed or not isinstance(group.state_machine, PartitionStateMachine):
            return None
        return group.state_machine

    async def _round(self) -> None:
        led_before, self._led = self._led, set()
        for group_id, (table, partitions) in list(self._wanted.items()):
            group = self.node.groups.get(group_id)
            state_machine = self._state_machine(group_id)
            if group is None or state_machine is None or not group.is_leader:
                self._waiting_since.pop(group_id, None)
                continue
            self._led.add(group_id)
            try:
                if self._drop_on_leader_change and group_id not in led_before:
                    pending = state_machine.store.outbox_read(10**9)
                    if pending:
                        await group.propose(encode_trim(pending[-1][0]), CALL_TIMEOUT_S)
                if state_machine.indexes.table != table:
                    await group.propose(encode_specs(table), CALL_TIMEOUT_S)
                # A GSI added to a table with items: one backfill entry a round, the next items in key order.
                for name, cursor in sorted(state_machine.indexes.pending_backfills().items())[:1]:
                    await group.propose(encode_backfill(name, cursor), CALL_TIMEOUT_S)
                self._note_oldest(group_id, state_machine)
                if state_machine.store.outbox_count:
                    await self._deliver(group, state_machine, partitions)
                if group_id in self._failing:
                    self._failing.discard(group_id)
                    log.info("index changes of %s are delivered again", group_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again; the outbox keeps every change
                self.failed_deliveries += 1
                if group_id not in self._failing:
                    self._failing.add(group_id)
                    log.warning("index changes of %s not delivered (retried every round): %r", group_id, error)

    def _note_oldest(self, group_id: str, state_machine: PartitionStateMachine) -> None:
        oldest = state_machine.store.outbox_read(1)
        if not oldest:
            self._waiting_since.pop(group_id, None)
        elif self._waiting_since.get(group_id, (None, 0.0))[0] != oldest[0][0]:
            self._waiting_since[group_id] = (oldest[0][0], self.clock())

    async def _deliver(
        self, group: GroupRunner, state_machine: PartitionStateMachine, partitions: dict[str, list[PartitionInfo]]
    ) -> None:
        rows = state_machine.store.outbox_read(MAX_CHANGES_PER_ROUND)
        if not rows:
            return
        through = rows[-1][0]
        shares: dict[str, tuple[PartitionInfo, list[tuple[int, int, bytes, str | None, int | None]]]] = {}
        maintained = {spec.name for spec in state_machine.indexes.table.specs} if state_machine.indexes.table else set()
        for seq, index_name, partition_hash, key, item, size in rows:
            if index_name not in maintained:
                continue  # a GSI UpdateTable deleted: its changes go with the trim, undelivered
            target = _partition_for(partitions.get(index_name) or [], partition_hash)
            if target is None:
                raise ValueError(f"no partition of index {index_name} holds hash {partition_hash}")
            shares.setdefault(target.group_id, (target, []))[1].append((seq, partition_hash, key, item, size))
        answers = await asyncio.gather(
            *(self._send(group.group_id, target, through, share) for target, share in shares.values()),
            return_exceptions=True,
        )
        problems = [answer for answer in answers if isinstance(answer, BaseException) or answer.get("status") != "ok"]
        if problems:
            raise RuntimeError(f"{len(problems)} of {len(answers)} index partitions refused or did not answer: "
                               f"{problems[0]!r}")  # fmt: skip
        await group.propose(encode_trim(through), CALL_TIMEOUT_S)
        self.delivered_changes += len(rows)

    async def _send(
        self, source: str, target: PartitionInfo, through: int, share: list[tuple[int, int, bytes, str | None, int | None]]
    ) -> dict[str, Any]:
        command = encode_delivery(source, through, share)
        try:
            answer = await call_leader(
                self.node.peers, self.node.leader_hints, target.group_id, target.members, "node.propose",
                {"group": target.group_id, "command": command.decode()}, timeout_s=CALL_TIMEOUT_S,
            )  # fmt: skip
        except NoLeaderAnswered as error:
            raise RuntimeError(f"{target.group_id}: {error}") from error
        return answer if isinstance(answer, dict) else {"status": "no answer", "answer": answer}


def _delivered_through(backfilled_at: int | None, oldest_waiting_seq: int | None) -> bool:
    """Has every change recorded up to the backfill's last entry left the outbox?"""
    if backfilled_at is None or oldest_waiting_seq is None:
        return True
    return oldest_waiting_seq >= (backfilled_at + 1) * SEQ_STRIDE


def _partition_for(partitions: list[PartitionInfo], partition_hash: int) -> PartitionInfo | None:
    return next((p for p in partitions if p.hash_start <= partition_hash < p.hash_end), None)
