"""A process that hosts replicas of many groups: peer transport, the tick clock and the pump.

Storage nodes and metadata replicas are both replica hosts; they differ in the groups they hold and
the requests they answer. Raft messages to one peer produced in one pump pass travel in one frame.
Both serve their groups' snapshot files to a follower that installs one, and fetch a leader's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster.core.config import RaftConfig
from cluster.core.messages import Message, MessageDecodeError, message_from_wire, message_to_wire
from cluster.replication.group_runner import GroupRunner
from cluster.replication.leader_calls import LeaderHints
from cluster.runtime.peer_clients import PeerClients
from cluster.runtime.rpc import RpcClient, RpcError, RpcServer
from cluster.runtime.task_cancel import cancel_and_wait
from cluster.runtime.topology import Topology

log = logging.getLogger(__name__)

RAFT_METHOD = "raft"
# Stable prefixes of the log lines that say the store closed a group, or lost a loop, because of an error.
GROUP_ERROR_MARKER = "group-error"
HOST_LOOP_ERROR_MARKER = "host-loop-error"
# PLANTED BUG crash-group-loop (harness self-tests only): a storage replica's I/O loop raises once every
# this many applied entries; the host closes the group and the next metadata report reopens it.
PLANTED_CRASH_EVERY_APPLIED_ENTRIES = 150
# Bounded per-peer queue of frames waiting for a connection; beyond it Raft's retransmission covers.
MAX_QUEUED_FRAMES_PER_PEER = 256
SNAPSHOT_CHUNK_METHOD = "node.snapshot_chunk"
SNAPSHOT_CHUNK_TIMEOUT_S = 5.0  # one 1 MiB chunk of a snapshot file, over a link a fault may have slowed

# The clock-skew fault (chaos/faults/clock_skew.py) starts a host with this variable: its ticks run
# `rate` times as fast as configured, so its Raft timers (elections, leases, heartbeats) drift against
# the other hosts' the way a fast or slow hardware clock would. Bounded: a rate far outside this range
# is a typo, not a drift any real clock has.
CLOCK_RATE_ENVIRONMENT_VARIABLE = "GAMEDAY_CLOCK_RATE"
CLOCK_RATE_MINIMUM = 0.1
CLOCK_RATE_MAXIMUM = 10.0


class ClockRateError(ValueError):
    """GAMEDAY_CLOCK_RATE is not a number in [CLOCK_RATE_MINIMUM, CLOCK_RATE_MAXIMUM]."""


def parse_clock_rate(text: str | None) -> float:
    """The tick-rate multiplier from GAMEDAY_CLOCK_RATE's value; unset or empty means 1.0 (no skew)."""
    if text is None or not text.strip():
        return 1.0
    try:
        rate = float(text)
    except ValueError as error:
        raise ClockRateError(f"{CLOCK_RATE_ENVIRONMENT_VARIABLE}={text!r} is not a number") from error
    if not math.isfinite(rate) or not CLOCK_RATE_MINIMUM <= rate <= CLOCK_RATE_MAXIMUM:
        raise ClockRateError(
            f"{CLOCK_RATE_ENVIRONMENT_VARIABLE}={text!r} is outside {CLOCK_RATE_MINIMUM}..{CLOCK_RATE_MAXIMUM}"
        )
    return rate


class _PeerOutbox:
    """Sends frames to one peer from its own task, so a slow or dead peer never blocks the pump."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED_FRAMES_PER_PEER)
        self.task = asyncio.ensure_future(self._run())

    def offer(self, params: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(params)

    async def _run(self) -> None:
        while True:
            params = await self.queue.get()
            delivered = await self.client.notify(RAFT_METHOD, params)
            if not delivered:
                # Peer down: drop what queued up (stale by now) and retry connecting a little later.
                while not self.queue.empty():
                    self.queue.get_nowait()
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        await cancel_and_wait(self.task)
        await self.client.close()


class ReplicaHost:
    def __init__(self, process_id: str, topology: Topology, seed: int | None = None) -> None:
        self.process_id = process_id
        self.topology = topology
        timing = topology.timing
        self.raft_config = RaftConfig(
            election_ticks_min=timing.election_ticks_min,
            election_ticks_max=timing.election_ticks_max,
            heartbeat_ticks=timing.heartbeat_ticks,
            lease_ticks=timing.lease_ticks,
            unsafe_truncate_uncommitted_on_election="forget-on-leader-change" in topology.faults_enabled,
        )
        # Read once at start: a refused rate stops the host loudly rather than running it unskewed.
        self.clock_rate = parse_clock_rate(os.environ.get(CLOCK_RATE_ENVIRONMENT_VARIABLE))
        self.tick_s = timing.tick_ms / 1000.0 / self.clock_rate
        self.rng = random.Random(seed)
        self.groups: dict[str, GroupRunner] = {}
        self._dirty: set[GroupRunner] = set()
        self._wakeup = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._sync_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="wal-sync")
        self._outgoing: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._outboxes: dict[str, _PeerOutbox] = {}
        self.server = RpcServer(self._dispatch_request, self._on_notification)
        self._request_handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        # This host's clients to its peers (requests, not Raft's frames), shared by everything it runs.
        self.peers = PeerClients(topology, process_id)
        self.leader_hints = LeaderHints()  # per group id: whom everything in this process asks first
        self.register(SNAPSHOT_CHUNK_METHOD, self.handle_snapshot_chunk)
        self._tick_task: asyncio.Task[None] | None = None
        self.wal_sync = "skip-fsync" not in topology.faults_enabled
        self._crash_group_loop = "crash-group-loop" in topology.faults_enabled and (
            topology.get(process_id).role == "node"
        )
        # Read by the /metrics collector at scrape time (cluster/runtime/metrics_raft.py): plain counts
        # and an optional fsync observer cost next to nothing on the hot path.
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.on_fsync_s: Callable[[float], None] | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        spec = self.topology.get(self.process_id)
        await self.server.start(spec.host, spec.port)
        self._tick_task = asyncio.ensure_future(self._tick_loop())
        self._pump_task = asyncio.ensure_future(self._pump_forever())
        self._tick_task.add_done_callback(lambda task: self._loop_ended("tick", task))
        self._pump_task.add_done_callback(lambda task: self._loop_ended("pump", task))

    async def stop(self) -> None:
        for task in (self._tick_task, self._pump_task):
            if task is not None:
                task.cancel()
        await self.peers.close()
        await self.server.stop()
        for outbox in self._outboxes.values():
            await outbox.close()
        for group in list(self.groups.values()):
            group.close()
        self._sync_pool.shutdown(wait=True)

    # ---- groups -------------------------------------------------------------------------------

    def new_rng(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))

    def add_group(self, group: GroupRunner) -> None:
        if self._crash_group_loop and self.process_id in group.voters:  # storage replicas, not log replicas
            group.planted_crash_every_applied_entries = PLANTED_CRASH_EVERY_APPLIED_ENTRIES
        # A lease read waits while the tick clock is more than two ticks behind: the lease's margin below
        # the election timeout is three ticks (RaftConfig.lease_ticks).
        group.max_tick_gap_s = 2 * self.tick_s
        self.groups[group.group_id] = group
        self.mark_dirty(group)

    def remove_group(self, group_id: str) -> GroupRunner | None:
        group = self.groups.pop(group_id, None)
        if group is not None:
            self._dirty.discard(group)
            group.close()
        return group

    def send(self, group_id: str, recipient: str, message: Message) -> None:
        self._outgoing[recipient].append({"g": group_id, "m": message_to_wire(message)})

    def mark_dirty(self, group: GroupRunner) -> None:
        self._dirty.add(group)
        self._wakeup.set()

    async def _pump_forever(self) -> None:
        """Group commit: every dirty group writes its Ready, their fsyncs run at once, then all send.

        Concurrent fsyncs of different WAL files share the file system's journal commits, and
        whatever arrives while they run is batched into the next round.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            dirty, self._dirty = self._dirty, set()
            prepared = []
            for group in dirty:
                try:
                    ready = group.prepare()
                except Exception as error:
                    # Loud, and contained: one broken replica (say, a full disk) must not stop the rest.
                    self._close_failed_group(group, "prepare", error)
                    continue
                if ready is not None:
                    prepared.append((group, ready))
            syncing = [group for group, _ in prepared if group.needs_sync]
            failed: set[GroupRunner] = set()
            if syncing:
                outcomes = await asyncio.gather(
                    *(loop.run_in_executor(self._sync_pool, self._timed_sync, group) for group in syncing),
                    return_exceptions=True,
                )
                for group, outcome in zip(syncing, outcomes, strict=True):
                    if isinstance(outcome, BaseException):
                        if group.closed:  # dropped on purpose (say, a log replica) while its fsync waited
                            log.info("group %s was closed during its WAL fsync (%r)", group.group_id, outcome)
                        else:
                            self._log_group_error(group, "fsync", outcome)
                        failed.add(group)
            for group, ready in prepared:
                if group in failed or group.closed:
                    if self.groups.get(group.group_id) is group:
                        self.remove_group(group.group_id)
                    continue
                try:
                    group.finish(ready)
                except Exception as error:
                    self._close_failed_group(group, "finish", error)
            self._flush_outgoing()

    def _log_group_error(self, group: GroupRunner, phase: str, error: BaseException) -> None:
        # One stable line (and the traceback) per group an error closes: the store reopens the group at the
        # next metadata report, so this line is the only trace of the crash, and gameday/checks/store_errors.py
        # reads it from the outside. Keep the format: `group-error group=<id> host=<id> phase=<step> ...`.
        log.error(
            "%s group=%s host=%s phase=%s action=close error=%r",
            GROUP_ERROR_MARKER, group.group_id, self.process_id, phase, error, exc_info=error,
        )

    def _close_failed_group(self, group: GroupRunner, phase: str, error: BaseException) -> None:
        self._log_group_error(group, phase, error)
        self.remove_group(group.group_id)

    def _loop_ended(self, name: str, task: asyncio.Task[None]) -> None:
        """A host loop that ends with an error stops every group's ticks or I/O while the process lives on
        (a task's exception is otherwise only seen when it is awaited, which these never are)."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.critical(
            "%s host=%s loop=%s error=%r", HOST_LOOP_ERROR_MARKER, self.process_id, name, error, exc_info=error
        )

    def _timed_sync(self, group: GroupRunner) -> None:
        if group.closed:  # dropped while this sync waited for a thread: its WAL is closed, nothing to sync
            return
        started_s = time.perf_counter()
        group.wal.sync()
        if self.on_fsync_s is not None:
            self.on_fsync_s(time.perf_counter() - started_s)

    def _flush_outgoing(self) -> None:
        for recipient, messages in self._outgoing.items():
            if not messages:
                continue
            outbox = self._outboxes.get(recipient)
            if outbox is None:
                try:
                    address = self.topology.address(self.process_id, recipient)
                except Exception:
                    log.warning("no address for %s; dropping %d messages", recipient, len(messages))
                    continue
                outbox = self._outboxes[recipient] = _PeerOutbox(RpcClient(address))
            outbox.offer({"from": self.process_id, "messages": messages})
        self._outgoing.clear()

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += self.tick_s
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            # Tick once per elapsed period even if the loop was late (e.g. after SIGSTOP), but never
            # burst: a paused process must not wake up and instantly expire every timer. Its leases do
            # count the missed time, though: a lease that outlived a pause would serve stale reads.
            late_s = loop.time() - next_tick
            if late_s > self.tick_s * 4:
                missed = int(late_s / self.tick_s)
                for group in list(self.groups.values()):
                    group.advance_clock(missed)
                next_tick = loop.time()
            for group in list(self.groups.values()):
                group.tick()
            self.on_tick()

    def on_tick(self) -> None:
        """Hook for periodic work of the host (reports, rebalancing)."""

    # ---- snapshots ----------------------------------------------------------------------------

    def snapshot_fetcher(self, group_id: str) -> Callable[[str, int, int], Awaitable[tuple[bytes, int]]]:
        """How a replica of `group_id` here fetches a chunk of a peer's snapshot (GroupRunner's fetch_chunk)."""

        async def fetch_chunk(peer: str, index: int, offset: int) -> tuple[bytes, int]:
            answer = await self.peers.get(peer).call(
                SNAPSHOT_CHUNK_METHOD, {"group": group_id, "index": index, "offset": offset},
                timeout_s=SNAPSHOT_CHUNK_TIMEOUT_S,
            )  # fmt: skip
            return base64.b64decode(answer["data"]), int(answer["size"])

        return fetch_chunk

    def handle_snapshot_chunk(self, params: dict[str, Any]) -> dict[str, Any]:
        """One chunk of a snapshot a replica here holds, for a follower that installs it."""
        group = self.groups.get(str(params.get("group")))
        if group is None or group.closed:
            raise RpcError("NoSuchGroup", f"{self.process_id} does not host {params.get('group')!r}")
        try:
            data, size = group.snapshot_files.read_chunk(int(params["index"]), int(params["offset"]))
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError("BadRequest", f"malformed snapshot chunk request: {error!r}") from None
        except FileNotFoundError:
            raise RpcError("NoSuchSnapshot", f"{self.process_id} holds no snapshot {params.get('index')} of {group.group_id}") from None
        return {"data": base64.b64encode(data).decode("ascii"), "size": size}

    # ---- requests -----------------------------------------------------------------------------

    def register(self, method: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self._request_handlers[method] = handler

    async def _dispatch_request(self, method: str, params: dict[str, Any]) -> Any:
        handler = self._request_handlers.get(method)
        if handler is None:
            self.request_counts["unknown", "error"] += 1
            raise RpcError("UnknownMethod", f"{self.process_id} does not answer {method!r}")
        try:
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except Exception:
            self.request_counts[method, "error"] += 1
            raise
        self.request_counts[method, "ok"] += 1
        return result

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method != RAFT_METHOD:
            return
        messages = params.get("messages")
        if not isinstance(messages, list):
            return
        for item in messages:
            if not isinstance(item, dict):
                continue
            group = self.groups.get(item.get("g"))  # type: ignore[arg-type]
            if group is None or group.closed:
                continue
            try:
                message = message_from_wire(item.get("m"))
            except MessageDecodeError as error:
                log.warning("dropping malformed raft message from %s: %s", params.get("from"), error)
                continue
            if message.recipient != self.process_id:
                continue
            group.deliver(message)
