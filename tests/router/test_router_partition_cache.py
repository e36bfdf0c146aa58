"""The router's partition cache as pure logic: how many metadata lookups each request costs, per mode."""

from __future__ import annotations

import pytest

from cluster.metadata.catalogue import PartitionInfo, TableEntry
from cluster.router.partition_cache import CLASSIC, CONSTANT_WORK, PartitionCache


def entry(name: str, version: int = 0) -> TableEntry:
    partition = PartitionInfo(f"{name}-p0-v{version}", 0, 0, 1 << 64, ["node-a1", "node-b1", "node-c1"])
    return TableEntry({"name": name, "status": "ACTIVE"}, [partition])


def lookups(cache: PartitionCache) -> int:
    counters = cache.counters
    return counters.sync_lookups + counters.async_lookups_queued


def serve(cache: PartitionCache, table: str, now_s: float) -> str:
    """One request as the router runs it: a miss waits for its lookup, whose answer is cached."""
    decision = cache.on_request(table, now_s)
    if decision.entry is None:
        cache.store(entry(table), now_s)
    return decision.lookup


def test_constant_work_costs_exactly_one_lookup_per_request_hit_or_miss() -> None:
    cache = PartitionCache(CONSTANT_WORK)
    tables = [f"t{n}" for n in range(5)]
    requests = 0
    for round_number in range(20):
        for table in tables:
            serve(cache, table, float(round_number))
            requests += 1
            assert lookups(cache) == requests
        if round_number == 10:
            assert cache.flush() == len(tables)
    assert cache.counters.misses == 2 * len(tables)  # cold at the start and after the flush
    assert cache.counters.hits == requests - 2 * len(tables)
    assert cache.counters.async_lookups_queued == cache.counters.hits


def test_constant_work_hit_is_served_from_cache_and_queues_its_lookup() -> None:
    cache = PartitionCache(CONSTANT_WORK)
    assert cache.on_request("t", 0.0).lookup == "sync"
    cache.store(entry("t"), 0.0)
    decision = cache.on_request("t", 1.0)
    assert decision.lookup == "async" and decision.entry is not None and decision.entry.name == "t"
    assert cache.next_lookup() == ("t", 1.0)
    assert cache.next_lookup() is None


def test_classic_looks_up_only_on_a_miss_so_its_load_depends_on_the_cache_state() -> None:
    cache = PartitionCache(CLASSIC, ttl_s=1000.0)
    tables = [f"t{n}" for n in range(5)]
    per_round = []
    for round_number in range(20):
        before = lookups(cache)
        for table in tables:
            serve(cache, table, float(round_number))
        per_round.append(lookups(cache) - before)
        if round_number == 10:
            cache.flush()
    # Bimodal: one lookup per table when cold (start, after the flush), none while warm.
    assert per_round[0] == len(tables) and per_round[11] == len(tables)
    assert sum(per_round) == 2 * len(tables)
    assert cache.next_lookup() is None


def test_classic_entry_expires_after_its_ttl() -> None:
    cache = PartitionCache(CLASSIC, ttl_s=10.0)
    serve(cache, "t", 0.0)
    assert cache.on_request("t", 9.9).lookup == "none"
    assert cache.on_request("t", 10.0).lookup == "sync"


def test_async_queue_is_bounded_and_drops_the_oldest() -> None:
    cache = PartitionCache(CONSTANT_WORK, queue_limit=3)
    serve(cache, "t", 0.0)
    for number in range(1, 11):
        cache.on_request("t", float(number))
    assert cache.pending_lookups == 3
    assert cache.counters.async_lookups_dropped == 7
    assert [cache.next_lookup() for _ in range(3)] == [("t", 8.0), ("t", 9.0), ("t", 10.0)]


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    cache = PartitionCache(CONSTANT_WORK)
    assert cache.store(entry("t", version=2), requested_at_s=5.0)
    assert not cache.store(entry("t", version=1), requested_at_s=4.0)
    cached = cache.get("t")
    assert cached is not None and cached.partitions[0].group_id == "t-p0-v2"
    cache.forget("t", requested_at_s=4.0)  # a stale "not found" keeps the newer entry
    assert cache.get("t") is not None
    cache.forget("t", requested_at_s=6.0)
    assert cache.get("t") is None
    assert cache.counters.stale_answers_ignored == 2


def test_flush_counts_and_snapshot() -> None:
    cache = PartitionCache(CLASSIC)
    for table in ("a", "b"):
        serve(cache, table, 0.0)
    assert cache.flush() == 2
    assert cache.flush() == 0
    snapshot = cache.snapshot()
    assert snapshot["mode"] == CLASSIC and snapshot["flushes"] == 2 and snapshot["entries_flushed"] == 2
    assert snapshot["entries"] == 0


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown router cache mode 'lazy'"):
        PartitionCache("lazy")
