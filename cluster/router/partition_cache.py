"""The router's cache of partition metadata, in one of two modes. Pure: no I/O, time is passed in.

`constant-work` (MemDS, DynamoDB 2022 §"Metadata availability"): every request, hit or miss, costs the
metadata service exactly one lookup. A hit is served from the cache and queues an asynchronous lookup
whose answer refreshes the entry; a miss waits for its lookup. The metadata service's load is then the
request rate whatever the cache holds, so a cold cache (router restart, flush) cannot cause a burst.

`classic`: lookups only on a miss (or an entry older than its TTL), and the request waits for it. Cheap
while the cache is warm, but the metadata load depends on the cache's state: about zero in steady
state, a burst of one lookup per request in flight when every cache is cold at once (bimodal).

The asynchronous queue is bounded (drop-oldest, counted): a dead metadata service must not grow memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

from cluster.metadata.catalogue import TableEntry

CONSTANT_WORK = "constant-work"
CLASSIC = "classic"
CACHE_MODES = (CONSTANT_WORK, CLASSIC)
DEFAULT_CACHE_MODE = CONSTANT_WORK
# A classic cache must notice a deleted or recreated table some day; constant-work refreshes per request.
CLASSIC_TTL_S = 60.0
# Pending asynchronous lookups per router; beyond this the oldest is dropped (its table has a newer one).
LOOKUP_QUEUE_LIMIT = 256

LookupKind = Literal["sync", "async", "none"]


@dataclass(frozen=True)
class CacheDecision:
    """What a request does with the cache: serve `entry` now (None: wait for a lookup), and which lookup."""

    entry: TableEntry | None
    lookup: LookupKind


@dataclass
class CacheCounters:
    hits: int = 0
    misses: int = 0
    sync_lookups: int = 0  # a miss waited for these
    async_lookups_queued: int = 0
    async_lookups_dropped: int = 0  # queue full: the oldest pending lookup was dropped
    stale_answers_ignored: int = 0  # an answer older than the entry it would have replaced
    flushes: int = 0
    entries_flushed: int = 0


@dataclass
class _Cached:
    entry: TableEntry
    requested_at_s: float  # when the lookup that produced this entry was sent


class PartitionCache:
    def __init__(
        self, mode: str = DEFAULT_CACHE_MODE, ttl_s: float = CLASSIC_TTL_S, queue_limit: int = LOOKUP_QUEUE_LIMIT
    ) -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"unknown router cache mode {mode!r}; expected one of {', '.join(CACHE_MODES)}")
        if ttl_s <= 0 or queue_limit < 1:
            raise ValueError("ttl_s must be positive and queue_limit at least 1")
        self.mode = mode
        self.ttl_s = ttl_s
        self.queue_limit = queue_limit
        self.counters = CacheCounters()
        self._entries: dict[str, _Cached] = {}
        self._pending: deque[tuple[str, float]] = deque()  # (table, queued_at_s)

    # ---- the request path ----------------------------------------------------------------------------

    def on_request(self, table: str, now_s: float) -> CacheDecision:
        cached = self._entries.get(table)
        fresh = cached is not None and (self.mode == CONSTANT_WORK or now_s - cached.requested_at_s < self.ttl_s)
        if cached is None or not fresh:
            self.counters.misses += 1
            self.counters.sync_lookups += 1
            return CacheDecision(None, "sync")
        self.counters.hits += 1
        if self.mode == CLASSIC:
            return CacheDecision(cached.entry, "none")
        self._enqueue(table, now_s)
        return CacheDecision(cached.entry, "async")

    def _enqueue(self, table: str, now_s: float) -> None:
        if len(self._pending) >= self.queue_limit:
            self._pending.popleft()
            self.counters.async_lookups_dropped += 1
        self._pending.append((table, now_s))
        self.counters.async_lookups_queued += 1

    def next_lookup(self) -> tuple[str, float] | None:
        """The oldest pending asynchronous lookup (table, queued_at_s), or None."""
        return self._pending.popleft() if self._pending else None

    @property
    def pending_lookups(self) -> int:
        return len(self._pending)

    # ---- answers ---------------------------------------------------------------------------------------

    def store(self, entry: TableEntry, requested_at_s: float) -> bool:
        """Caches a lookup's answer unless a newer answer is already cached; True when stored."""
        cached = self._entries.get(entry.name)
        if cached is not None and cached.requested_at_s > requested_at_s:
            self.counters.stale_answers_ignored += 1
            return False
        self._entries[entry.name] = _Cached(entry, requested_at_s)
        return True

    def forget(self, table: str, requested_at_s: float | None = None) -> None:
        """Drops a table the metadata service says is gone (unless a newer answer found it since)."""
        cached = self._entries.get(table)
        if cached is None:
            return
        if requested_at_s is not None and cached.requested_at_s > requested_at_s:
            self.counters.stale_answers_ignored += 1
            return
        del self._entries[table]

    def flush(self) -> int:
        """Forgets every entry (a cold cache, as after a restart); returns how many were dropped."""
        dropped = len(self._entries)
        self._entries.clear()
        self.counters.flushes += 1
        self.counters.entries_flushed += dropped
        return dropped

    # ---- reading ---------------------------------------------------------------------------------------

    def get(self, table: str) -> TableEntry | None:
        cached = self._entries.get(table)
        return cached.entry if cached is not None else None

    def tables(self) -> list[str]:
        return sorted(self._entries)

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "entries": len(self._entries),
            "pending_lookups": len(self._pending),
            **asdict(self.counters),
        }
