"""The node side of the scrub: rounds for the groups this node leads, the RPCs peers answer, the archive.

A round for a group: propose a marker through the log; every replica digests its state when it
applies it; collect the digests (own + peers over RPC); compare range checksums; for each damaged
(replica, range), diff item digests, fetch the healthy items and propose a repair aimed at the
damaged replica; then a second round confirms the repair (or a later one: a repair the next round
could not see stays pending, and goes with the lead; confirmation.py). Every marker that asks for it also seals
the WAL segment so the archive reaches the marker, and a reference replica replayed from the archive
is compared with the live digests (at most once per group per reference interval).

Rounds run one at a time per node, one group per interval (the bounded rate), leader-first groups
that wait for a leadership hand-back first; `scrub.run` runs them all at once on demand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cluster.node.group_host import GroupHost
from cluster.replication.group_runner import GroupRunner
from cluster.runtime.rpc import RpcError, RpcTimeout, RpcUnavailable
from cluster.runtime.task_cancel import cancel_and_wait
from cluster.scrub.commands import ItemRewrite, ReplicaScrubState, encode_marker, encode_repair
from cluster.scrub.comparison import RangeVerdict, compare_ranges, plan_key_repairs
from cluster.scrub.confirmation import PendingConfirmations, confirmed_by_round, repairs_from_wire
from cluster.scrub.digests import RANGE_COUNT, KeyId, StateDigest, describe_range, item_digest
from cluster.scrub.findings import FindingsLog
from cluster.scrub.reference import ReferenceReplica
from cluster.scrub.settings import ScrubSettings
from cluster.storage.durable_directories import make_durable_directories
from cluster.storage.wal_archive import (
    ArchivedSnapshot,
    ArchiveError,
    SegmentArchive,
    archive_sealed_segments,
    archive_snapshot,
    archived_snapshot,
    open_archive,
)
from cluster.storage.wal_errors import WalCorruptionError
from cluster.storage.wal_segments import fsync_directory, fsync_file

log = logging.getLogger(__name__)

PROPOSE_TIMEOUT_S = 2.0
PEER_TIMEOUT_S = 2.0
# How long a peer waits for its own apply to reach a marker before it answers "not yet".
PEER_APPLY_WAIT_S = 1.5
# A member counts as verified for a leadership hand-back when a round this recent found it clean.
VERIFIED_FRESH_S = 5.0
# After a start, how long a replica keeps asking its groups' leaders for a round (it may hold rot).
RESTART_REQUEST_WINDOW_S = 30.0
RESTART_REQUEST_POLL_S = 0.2
# Rounds in a row a member may fail to show its digest before the scrub raises that as an alarm
# (a replica that cannot be verified may hold anything: it is down, or it stopped catching up).
UNVERIFIABLE_AFTER_ROUNDS = 5
MAX_KEYS_PER_REPAIR = 500


class ScrubCoordinator:
    def __init__(self, node: GroupHost, data_dir: Path, settings: ScrubSettings) -> None:
        self.node = node
        self.settings = settings
        self.data_dir = data_dir / "scrub"
        self.findings = FindingsLog(self.data_dir)
        # A fresh token per process start: peers tell it, so a round knows which life it verified.
        self.incarnation = uuid.uuid4().hex[:12]
        self.replica_states: dict[str, ReplicaScrubState] = {}
        self.archive: SegmentArchive | None = open_archive(settings.archive) if settings.enabled else None
        self._archived: dict[str, set[str]] = {}
        self._archive_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-archive")
        self._archive_jobs: dict[str, asyncio.Future[Any]] = {}
        self._references: dict[str, ReferenceReplica] = {}
        self._last_reference_s: dict[str, float] = {}
        self._verified_at: dict[tuple[str, str], float] = {}  # (group, member) -> monotonic time found clean
        self._missing_rounds: dict[tuple[str, str], int] = {}  # (group, member) -> rounds in a row without digest
        self._priority: deque[str] = deque()
        self._pending = PendingConfirmations()
        self._cursor = 0
        self._wake = asyncio.Event()
        self._round_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._stopping = False
        for method, handler in (
            ("scrub.checksums", self.handle_checksums),
            ("scrub.keys", self.handle_keys),
            ("scrub.items", self.handle_items),
            ("scrub.run", self.handle_run),
            ("scrub.request", self.handle_request),
            ("scrub.findings", self.handle_findings),
        ):
            node.register(method, handler)

    # ---- lifecycle ----------------------------------------------------------------------------

    def replica_state(self, group_id: str) -> ReplicaScrubState:
        """The scrub hook for a group's state machine (a new one each time the state is reopened)."""
        state = ReplicaScrubState(self.node.process_id, lambda index, seal: self._on_marker(group_id, index, seal))
        self.replica_states[group_id] = state
        return state

    def forget_group(self, group_id: str) -> None:
        """The node dropped its replica of `group_id`: the reference replayed for it (memory and files)
        goes too, after any replay the archive thread is running for it."""
        self.replica_states.pop(group_id, None)
        self._last_reference_s.pop(group_id, None)
        reference = self._references.pop(group_id, None)
        directory = self._reference_directory(group_id)

        def remove() -> None:
            if reference is not None:
                reference.close()
            shutil.rmtree(directory, ignore_errors=True)

        try:
            self._archive_pool.submit(remove)
        except RuntimeError:  # the pool is shut down: nothing runs there any more
            remove()

    def _reference_directory(self, group_id: str) -> Path:
        return self.data_dir / "reference" / group_id

    def _remove_stray_references(self) -> None:
        """References left by groups this node no longer hosts (dropped while it was down, or before
        forget_group existed): each held a store and a position for a group nobody will ask about."""
        root = self.data_dir / "reference"
        if not root.is_dir():
            return
        for directory in root.iterdir():
            if directory.is_dir() and directory.name not in self.node.groups:
                log.info("scrub: removing the reference of %s, a group this node no longer hosts", directory.name)
                shutil.rmtree(directory, ignore_errors=True)

    def start(self) -> None:
        if not self.settings.enabled:
            return
        self._remove_stray_references()
        if self.archive is not None:
            self._archive_held_snapshots()
        for group_id in list(self.node.groups):
            self._schedule_archive(group_id)  # segments sealed before a crash, not archived yet
        self._task = asyncio.ensure_future(self._run_forever())
        self._restart_task = asyncio.ensure_future(self._ask_leaders_to_check_us())

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._restart_task):
            if task is not None:
                await cancel_and_wait(task)
        self._archive_pool.shutdown(wait=True)
        for reference in self._references.values():
            reference.close()

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "interval_s": self.settings.interval_s,
            "items_per_s": self.settings.items_per_s,
            "archive": self.archive.location if self.archive else None,
            "incarnation": self.incarnation,
            "pending_confirmations": len(self._pending),
            **self.findings.counters,
        }

    # ---- the leadership gate ------------------------------------------------------------------

    def cleared_for_leadership(self, group_id: str, member: str) -> bool:
        """True when `member` may take over `group_id`: a recent round found its state equal to the
        others'. Otherwise asks for such a round first (a restarted replica may hold rotten data)."""
        if not self.settings.enabled:
            return True
        verified = self._verified_at.get((group_id, member))
        if verified is not None and time.monotonic() - verified <= VERIFIED_FRESH_S:
            return True
        self._request(group_id)
        return False

    async def _ask_leaders_to_check_us(self) -> None:
        """A (re)started replica may have rotted while it was off: once it has caught up with each group's
        leader, it asks that leader for a round right away instead of waiting for its turn."""
        waiting = set(self.node.groups)
        deadline = time.monotonic() + RESTART_REQUEST_WINDOW_S
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(RESTART_REQUEST_POLL_S)
            for group_id in sorted(waiting):
                group = self.node.groups.get(group_id)
                if group is None or group.closed:
                    waiting.discard(group_id)
                    continue
                leader = group.leader_hint
                if leader is None or group.state_machine.applied_index < group.replica.commit_index:
                    continue
                if leader == self.node.process_id:
                    self._request(group_id)
                    waiting.discard(group_id)
                    continue
                try:
                    await self.node.peers.get(leader).call("scrub.request", {"group": group_id}, timeout_s=PEER_TIMEOUT_S)
                    waiting.discard(group_id)
                except (RpcError, RpcTimeout, RpcUnavailable, OSError) as error:
                    log.info("asking %s to scrub %s failed (retrying): %s", leader, group_id, error)

    def _request(self, group_id: str) -> None:
        if group_id not in self._priority:
            self._priority.append(group_id)
        self._wake.set()

    # ---- archive ------------------------------------------------------------------------------

    def _on_marker(self, group_id: str, index: int, seal: bool) -> None:
        if not seal or self.archive is None:
            return
        group = self.node.groups.get(group_id)
        if group is None:
            return
        try:
            group.wal.seal_current_segment()
        except Exception as error:  # a WAL that cannot seal fails its next append loudly anyway
            log.error("group %s: cannot seal the WAL segment at marker %d: %s", group_id, index, error)
            return
        self._schedule_archive(group_id)

    def archive_restarted_log(self, group_id: str, data: Path, index: int, term: int, sequence: int) -> None:
        """A replica installed a leader's snapshot and its log restarts after it in WAL segment `sequence`:
        the archive keeps the snapshot beside the segments, so a reference replay starts from it. Runs in
        the archive pool, ahead of any later segment's copy (and of any replay)."""
        if not self.settings.enabled or self.archive is None or self._stopping:
            return
        snapshot = ArchivedSnapshot(sequence, index, term)
        pending = self.data_dir / "pending-snapshots" / group_id
        held = pending / snapshot.name
        # The replica may delete its copy at its next compaction, before the archive's copy runs, and a
        # crash may come first: hold one durably (start() archives what is still held).
        try:
            make_durable_directories(pending)
            held.unlink(missing_ok=True)
            try:
                os.link(data, held)
            except OSError:
                shutil.copyfile(data, held)  # a file system without hard links
                fsync_file(held)
            fsync_directory(pending)
        except OSError as error:
            self.findings.counters["archive_errors_total"] += 1
            log.error("group %s: cannot hold snapshot %d for the archive: %s", group_id, index, error)
            return
        self._archive_held_snapshot(group_id, held)

    def _archive_held_snapshot(self, group_id: str, held: Path) -> None:
        archive = self.archive
        assert archive is not None

        def copy() -> list[str]:
            if not held.exists():
                return []  # archived already by a copy scheduled earlier (a start finishing an install)
            name = archive_snapshot(archive, group_id, self.node.process_id, held)
            held.unlink(missing_ok=True)  # only once archived: a failed copy is tried again at the next start
            return [name]

        future = asyncio.get_running_loop().run_in_executor(self._archive_pool, copy)
        future.add_done_callback(lambda done: self._archive_done(group_id, done))
        self._archive_jobs[group_id] = future

    def _archive_held_snapshots(self) -> None:
        """Snapshots a crash kept from the archive, ahead of any segment of the logs they start."""
        for held in sorted((self.data_dir / "pending-snapshots").glob("*/*")):
            if archived_snapshot(held.name) is None:
                held.unlink(missing_ok=True)  # a temporary name the archive's copy left behind
                continue
            self._archive_held_snapshot(held.parent.name, held)

    def may_drop_segment(self, group_id: str, segment: Path) -> bool:
        """A compacted WAL segment may be deleted once the archive holds it (the scrub's reference replays
        the archive), or at once when nothing archives."""
        if not self.settings.enabled or self.archive is None:
            return True
        return segment.name in self._archived.get(group_id, ())

    def _schedule_archive(self, group_id: str) -> None:
        group = self.node.groups.get(group_id)
        archive = self.archive
        # A seal applied while the node stops (its groups still apply until the host stops) stays sealed:
        # the next start archives it. The pool is shut down by then, and a submit would close the group.
        if group is None or archive is None or self._stopping:
            return
        sealed = group.wal.closed_segments()
        replica = self.node.process_id

        def copy() -> list[str]:
            archived = self._archived.get(group_id)
            if archived is None:
                archived = self._archived[group_id] = set(archive.names(group_id, replica))
            copied = archive_sealed_segments(archive, group_id, replica, sealed, archived)
            # Only the names of segments the WAL still holds are asked about again (may_drop_segment;
            # sequences only grow): the set stays as small as the WAL, not as the archive.
            archived.intersection_update(segment.name for segment in sealed)
            return copied

        future = asyncio.get_running_loop().run_in_executor(self._archive_pool, copy)
        future.add_done_callback(lambda done: self._archive_done(group_id, done))
        self._archive_jobs[group_id] = future

    def _archive_done(self, group_id: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.findings.counters["archive_errors_total"] += 1
            log.error("group %s: archiving WAL segments failed: %s", group_id, error)
        else:
            self.findings.counters["archive_segments_total"] += len(future.result())

    # ---- rounds -------------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        pause_s = self.settings.interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause_s)
            self._wake.clear()
            pause_s = self.settings.interval_s
            await self._hand_over_pending()
            group_id = self._next_group()
            if group_id is None:
                continue
            try:
                report = await self.scrub_group(group_id)
                # Every replica digested the whole group: pay for it before the next round.
                pause_s = self.settings.pause_after(int(report.get("items_digested", 0)))
            except Exception:
                log.exception("scrub round of %s failed", group_id)
            if self._priority:
                self._wake.set()  # hand-backs waiting: do not sleep a whole interval between them

    async def _hand_over_pending(self) -> None:
        """Repairs this node could not confirm before it lost a group's lead go to the new leader."""
        for group_id in self._pending.groups():
            group = self.node.groups.get(group_id)
            if group is None or group.closed:
                dropped = self._pending.take(group_id)
                log.info("scrub of %s: %d unconfirmed repair(s) dropped: no replica here", group_id, len(dropped))
                continue
            leader = group.leader_hint
            if group.is_leader or leader is None or leader == self.node.process_id:
                continue
            repairs = self._pending.take(group_id)
            try:
                await self.node.peers.get(leader).call(
                    "scrub.request", {"group": group_id, "confirm": repairs}, timeout_s=PEER_TIMEOUT_S
                )
            except (RpcError, RpcTimeout, RpcUnavailable, OSError) as error:
                log.info("scrub of %s: handing unconfirmed repairs to %s failed (retrying): %s", group_id, leader, error)
                self._pending.keep(group_id, repairs)

    def _led_groups(self) -> list[str]:
        return sorted(group_id for group_id, group in self.node.groups.items() if group.is_leader and not group.closed)

    def _next_group(self) -> str | None:
        led = self._led_groups()
        while self._priority:
            group_id = self._priority.popleft()
            if group_id in led:
                return group_id
        if not led:
            return None
        self._cursor = (self._cursor + 1) % len(led)
        return led[self._cursor]

    async def scrub_group(self, group_id: str) -> dict[str, Any]:
        async with self._round_lock:
            # Every round also checks the repairs earlier rounds could not confirm (confirmation.py).
            pending = self._pending.take(group_id)
            report = await self._round(group_id, confirm=False, repaired=pending)
            unconfirmed = report.get("unconfirmed", pending)
            if report.get("repairs"):
                confirmation = await self._round(group_id, confirm=True, repaired=report["repairs"])
                report["confirmation"] = confirmation
                # What the confirming round repaired again waits for a later round like the rest.
                unconfirmed = [
                    *unconfirmed,
                    *confirmation.get("unconfirmed", report["repairs"]),
                    *confirmation.get("repairs", []),
                ]
            self._pending.keep(group_id, unconfirmed)
            return report

    async def _round(
        self, group_id: str, *, confirm: bool, repaired: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        started_s = time.monotonic()
        group = self.node.groups.get(group_id)
        members = self.node.members.get(group_id, [])
        report: dict[str, Any] = {"group": group_id, "leader": self.node.process_id, "clean": False}
        if group is None or not group.is_leader:
            report["undecided"] = f"{self.node.process_id} does not lead {group_id}"
            return report
        seal = (
            self.archive is not None and not confirm
            and started_s - self._last_reference_s.get(group_id, float("-inf")) >= self.settings.reference_interval_s
        )
        try:
            result = await group.propose(encode_marker(seal), PROPOSE_TIMEOUT_S)
            index = int(result["marker"])
        except Exception as error:  # not leader any more, timeout, lost: this round decides nothing
            report["undecided"] = f"marker not committed: {type(error).__name__}: {error}"
            return self._undecided(report)
        report["marker_index"] = index
        own = self._digest(group_id, index)
        report["items_digested"] = own.item_count if own is not None else 0
        self.findings.counters["scrub_items_digested_total"] += report["items_digested"]
        digests = await self._collect_checksums(group_id, members, index)
        checksums = {replica: answer["ranges"] for replica, answer in digests.items()}
        report["replicas"] = sorted(checksums)
        self.findings.counters["scrub_rounds_total"] += 1
        verdicts = compare_ranges(checksums, len(members))
        reference = await self._reference_checksums(group_id, index) if seal else None
        if reference is not None:
            self._last_reference_s[group_id] = started_s
            self.findings.counters["scrub_reference_checks_total"] += 1
            report["reference_checked"] = True
            against_reference = compare_ranges(checksums, len(members), reference)
            majority_damaged = {(v.range_index, replica) for v in verdicts if v.decided for replica in v.damaged}
            for verdict in against_reference:
                extra = [r for r in verdict.damaged if (verdict.range_index, r) not in majority_damaged]
                if extra:
                    self.findings.counters["scrub_reference_mismatches_total"] += 1
                    self.findings.record(
                        "reference-mismatch", group=group_id, replicas=extra, range=verdict.range_index,
                        range_description=describe_range(verdict.range_index), marker_index=index,
                        detected_by=self.node.process_id, reason=verdict.reason,
                    )
            # Where the replicas cannot outvote each other, the archive decides.
            undecided = {v.range_index for v in verdicts if not v.decided}
            verdicts = [v for v in verdicts if v.decided] + [v for v in against_reference if v.range_index in undecided]
        report["repairs"] = []
        report["mismatches"] = []
        for verdict in verdicts:
            if not verdict.decided:
                report.setdefault("undecided_ranges", []).append(verdict.range_index)
                self.findings.record(
                    "undecided", group=group_id, replicas=list(verdict.damaged), range=verdict.range_index,
                    range_description=describe_range(verdict.range_index), marker_index=index,
                    detected_by=self.node.process_id, reason=verdict.reason,
                )
                continue
            for damaged in verdict.damaged:
                outcome = await self._repair(group, verdict, damaged, index, digests, confirm)
                report["mismatches"].append(outcome)
                if outcome.get("repair_committed"):
                    report["repairs"].append(outcome)
        if len(checksums) < len(members):
            report["missing_replicas"] = sorted(set(members) - set(checksums))
        self._count_missing(group_id, members, checksums, index)
        report["clean"] = not verdicts and len(checksums) == len(members)
        damaged_members = {replica for verdict in verdicts for replica in verdict.damaged}
        for replica in checksums:
            if replica not in damaged_members and not any(not v.decided for v in verdicts):
                self._verified_at[(group_id, replica)] = time.monotonic()
        if repaired:
            damaged_now = [(v.range_index, replica) for v in verdicts for replica in v.damaged]
            confirmed, report["unconfirmed"] = confirmed_by_round(repaired, damaged_now, checksums)
            for outcome in confirmed:
                self.findings.record(
                        "repaired", group=group_id, replica=outcome["replica"], range=outcome["range"],
                        range_description=describe_range(outcome["range"]), marker_index=index,
                        keys=outcome["keys"], detected_by=self.node.process_id,
                    )
        report["duration_s"] = round(time.monotonic() - started_s, 4)
        return report

    def _count_missing(self, group_id: str, members: list[str], checksums: dict[str, Any], index: int) -> None:
        for member in members:
            if member in checksums:
                self._missing_rounds.pop((group_id, member), None)
                continue
            missing = self._missing_rounds[(group_id, member)] = self._missing_rounds.get((group_id, member), 0) + 1
            if missing == UNVERIFIABLE_AFTER_ROUNDS:
                self.findings.counters["scrub_unverifiable_total"] += 1
                self.findings.record(
                    "unverifiable", group=group_id, replica=member, marker_index=index,
                    detected_by=self.node.process_id,
                    reason=f"no digest in {missing} rounds in a row (down, or not catching up with the log)",
                )

    def _undecided(self, report: dict[str, Any]) -> dict[str, Any]:
        self.findings.counters["scrub_undecided_rounds_total"] += 1
        return report

    async def _collect_checksums(self, group_id: str, members: list[str], index: int) -> dict[str, dict[str, Any]]:
        async def ask(member: str) -> tuple[str, dict[str, Any] | None]:
            if member == self.node.process_id:
                return member, self._checksums_answer(group_id, index)
            try:
                answer = await self.node.peers.get(member).call(
                    "scrub.checksums", {"group": group_id, "index": index, "wait_s": PEER_APPLY_WAIT_S},
                    timeout_s=PEER_TIMEOUT_S,
                )
            except (RpcError, RpcTimeout, RpcUnavailable, OSError) as error:
                log.info("scrub of %s: no digest from %s: %s", group_id, member, error)
                return member, None
            return member, answer if isinstance(answer, dict) and isinstance(answer.get("ranges"), list) else None

        answers = await asyncio.gather(*(ask(member) for member in members))
        return {member: answer for member, answer in answers if answer is not None}

    async def _reference_checksums(self, group_id: str, index: int) -> list[str] | None:
        job = self._archive_jobs.get(group_id)
        if job is not None:
            with contextlib.suppress(Exception):
                await job
        archive = self.archive
        if archive is None or self._stopping:
            return None
        reference = self._references.get(group_id)
        directory = self._reference_directory(group_id)
        if reference is None:
            # It resumes where an earlier process left it (reference.py: position.json), else starts over.
            reference = self._references[group_id] = ReferenceReplica(directory)
        replica = self.node.process_id
        try:
            digest = await asyncio.get_running_loop().run_in_executor(
                self._archive_pool, reference.digest_at, archive, group_id, replica, index
            )
        except (ArchiveError, WalCorruptionError, OSError, ValueError) as error:
            log.error("scrub of %s: reference replay failed: %s", group_id, error)
            # Start over next time from the whole archive rather than from a half-replayed state.
            self._references.pop(group_id, None)
            reference.close()
            shutil.rmtree(directory, ignore_errors=True)  # our own work files: a fresh start is always right
            return None
        return digest.range_checksums if digest is not None else None

    async def _repair(
        self,
        group: GroupRunner,
        verdict: RangeVerdict,
        damaged: str,
        index: int,
        digests: dict[str, dict[str, Any]],
        confirm: bool,
    ) -> dict[str, Any]:
        group_id = group.group_id
        range_index = verdict.range_index
        healthy = self.node.process_id if self.node.process_id in verdict.healthy else verdict.healthy[0]
        outcome: dict[str, Any] = {
            "replica": damaged, "range": range_index, "healthy_source": healthy, "marker_index": index,
            "incarnation": digests.get(damaged, {}).get("incarnation"), "keys": [],
        }
        damaged_keys = await self._range_keys(group_id, damaged, index, range_index)
        healthy_keys = await self._range_keys(group_id, healthy, index, range_index)
        if damaged_keys is None or healthy_keys is None:
            outcome["repair_error"] = "item digests at the marker are gone or unreachable"
        else:
            plan = plan_key_repairs(damaged_keys, healthy_keys)[:MAX_KEYS_PER_REPAIR]
            outcome["keys"] = [{"hash": key[0], "key": base64.b64encode(key[1]).decode()} for key in
                               (repair.key for repair in plan)]
            current = await self._current_items(group_id, healthy, [repair.key for repair in plan])
            rewrites = [
                ItemRewrite(repair.key[0], repair.key[1], repair.damaged_digest, item_json)
                for repair, item_json in zip(plan, current or [], strict=False)
                # The healthy item must still be what it was at the marker, else a write moved on.
                if item_digest(item_json) == repair.healthy_digest
            ]
            if current is None:
                outcome["repair_error"] = f"cannot read the healthy items from {healthy}"
            elif rewrites:
                try:
                    result = await group.propose(encode_repair(damaged, index, rewrites), PROPOSE_TIMEOUT_S)
                    outcome["repair_committed"] = True
                    outcome["rewritten_items"] = len(rewrites)
                    self.findings.counters["scrub_repairs_total"] += 1
                    self.findings.counters["scrub_repaired_items_total"] += len(rewrites)
                    if isinstance(result, dict) and result.get("target") == self.node.process_id:
                        outcome["applied_here"] = result
                except Exception as error:
                    outcome["repair_error"] = f"repair not committed: {type(error).__name__}: {error}"
        self.findings.counters["scrub_mismatches_total"] += 1
        self.findings.record(
            "mismatch", group=group_id, replica=damaged, range=range_index,
            range_description=describe_range(range_index), marker_index=index, keys=outcome["keys"],
            healthy_source=healthy, repair_committed=bool(outcome.get("repair_committed")),
            repair_error=outcome.get("repair_error"), confirming_round=confirm,
            detected_by=self.node.process_id, reason=verdict.reason, incarnation=outcome["incarnation"],
        )
        return outcome

    async def _range_keys(self, group_id: str, replica: str, index: int, range_index: int) -> dict[KeyId, str] | None:
        if replica == self.node.process_id:
            digest = self._digest(group_id, index)
            return digest.keys_in_range(range_index) if digest is not None and digest.has_items else None
        try:
            answer = await self.node.peers.get(replica).call(
                "scrub.keys", {"group": group_id, "index": index, "range": range_index}, timeout_s=PEER_TIMEOUT_S
            )
            return {(int(h), base64.b64decode(k)): str(d) for h, k, d in answer["keys"]}
        except (RpcError, RpcTimeout, RpcUnavailable, OSError, KeyError, TypeError, ValueError) as error:
            log.warning("scrub of %s: no item digests from %s: %s", group_id, replica, error)
            return None

    async def _current_items(self, group_id: str, replica: str, keys: list[KeyId]) -> list[str | None] | None:
        if replica == self.node.process_id:
            return self._read_items(group_id, keys)
        try:
            answer = await self.node.peers.get(replica).call(
                "scrub.items",
                {"group": group_id, "keys": [[h, base64.b64encode(k).decode()] for h, k in keys]},
                timeout_s=PEER_TIMEOUT_S,
            )
            items = answer["items"]
            return [None if item is None else str(item) for item in items]
        except (RpcError, RpcTimeout, RpcUnavailable, OSError, KeyError, TypeError) as error:
            log.warning("scrub of %s: no items from %s: %s", group_id, replica, error)
            return None

    # ---- what peers answer --------------------------------------------------------------------

    def _digest(self, group_id: str, index: int) -> StateDigest | None:
        state = self.replica_states.get(group_id)
        return state.digests.get(index) if state is not None else None

    def _checksums_answer(self, group_id: str, index: int) -> dict[str, Any] | None:
        digest = self._digest(group_id, index)
        if digest is None:
            return None
        return {"replica": self.node.process_id, "incarnation": self.incarnation, "index": index,
                "ranges": digest.range_checksums}

    def _read_items(self, group_id: str, keys: list[KeyId]) -> list[str | None]:
        group = self.node.groups[group_id]
        store = group.state_machine.store  # type: ignore[attr-defined]
        return [store.get(partition_hash, key) for partition_hash, key in keys]

    def _group_param(self, params: dict[str, Any]) -> str:
        group_id = params.get("group")
        if not isinstance(group_id, str) or group_id not in self.node.groups:
            raise RpcError("NoSuchGroup", f"{self.node.process_id} hosts no replica of {group_id!r}")
        return group_id

    async def handle_checksums(self, params: dict[str, Any]) -> Any:
        group_id = self._group_param(params)
        try:
            index = int(params["index"])
            wait_s = min(float(params.get("wait_s", 0.0)), PEER_APPLY_WAIT_S)
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError("Invalid", f"scrub.checksums needs group and index: {error!r}") from error
        deadline = time.monotonic() + wait_s
        while self.node.groups[group_id].state_machine.applied_index < index and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            if group_id not in self.node.groups:
                raise RpcError("NoSuchGroup", f"{self.node.process_id} dropped {group_id!r}")
        answer = self._checksums_answer(group_id, index)
        if answer is None:
            applied = self.node.groups[group_id].state_machine.applied_index
            raise RpcError("Unavailable", f"{self.node.process_id} holds no digest of {group_id} at {index} "
                                          f"(applied up to {applied})")
        return answer

    async def handle_keys(self, params: dict[str, Any]) -> Any:
        group_id = self._group_param(params)
        digest = self._digest(group_id, int(params.get("index", -1)))
        if digest is None:
            raise RpcError("Unavailable", f"{self.node.process_id} holds no digest of {group_id} at that index")
        if not digest.has_items:
            raise RpcError("Unavailable", f"{self.node.process_id} kept only the checksums of {group_id}'s digest "
                                          "at that index: a newer marker can repair it")
        range_index = int(params.get("range", -1))
        if not 0 <= range_index < RANGE_COUNT:
            raise RpcError("Invalid", f"scrub.keys: no range {range_index} (0..{RANGE_COUNT - 1})")
        return {"keys": [[h, base64.b64encode(k).decode(), d] for (h, k), d in digest.keys_in_range(range_index).items()]}

    async def handle_items(self, params: dict[str, Any]) -> Any:
        group_id = self._group_param(params)
        try:
            keys = [(int(h), base64.b64decode(k)) for h, k in params["keys"]]
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError("Invalid", f"scrub.items needs keys: {error!r}") from error
        return {"items": self._read_items(group_id, keys)}

    async def handle_run(self, params: dict[str, Any]) -> Any:
        """On demand (`gameday scrub`): one round (plus its confirmation) for every group this node leads."""
        if not self.settings.enabled:
            return {"process": self.node.process_id, "enabled": False, "rounds": []}
        rounds = [await self.scrub_group(group_id) for group_id in self._led_groups()]
        return {"process": self.node.process_id, "enabled": True, "rounds": rounds}

    async def handle_request(self, params: dict[str, Any]) -> Any:
        """A member asks for a round of a group this node leads (it just restarted), or a former leader
        hands over the repairs it could not confirm (`confirm`)."""
        group_id = self._group_param(params)
        if not self.node.groups[group_id].is_leader:
            raise RpcError("NotLeader", f"{self.node.process_id} does not lead {group_id}")
        if "confirm" in params:
            try:
                self._pending.keep(group_id, repairs_from_wire(params["confirm"]))
            except ValueError as error:
                raise RpcError("ValidationError", str(error)) from error
        if self.settings.enabled:
            self._request(group_id)
        return {"queued": self.settings.enabled}

    async def handle_findings(self, params: dict[str, Any]) -> Any:
        return {"process": self.node.process_id, "findings": list(self.findings.recent), **self.status()}
