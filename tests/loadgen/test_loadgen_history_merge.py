"""Merging client shards and a nemesis file by time, with indexes renumbered and sequencing re-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.history_merge import merge_histories
from verify.history import HistoryError, HistoryWriter, read_history


class FixedClock:
    def __init__(self, times_ns: list[int]) -> None:
        self._times_ns = iter(times_ns)

    def __call__(self) -> int:
        return next(self._times_ns)


def test_loadgen_merge_orders_by_time_and_renumbers(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "a.jsonl", FixedClock([10, 40])) as shard:
        shard.invoke(1, "write", "r0", 5)
        shard.complete(1, "ok", "write", "r0", 5)
    with HistoryWriter(tmp_path / "b.jsonl", FixedClock([20, 50])) as shard:
        shard.invoke(2, "read", "r0")
        shard.complete(2, "ok", "read", "r0", 5)
    with HistoryWriter(tmp_path / "nemesis.jsonl", FixedClock([30])) as nemesis:
        nemesis.nemesis("start-partition", {"nodes": ["a"]})
    out = tmp_path / "merged.jsonl"
    count = merge_histories([tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "nemesis.jsonl"], out)
    events = list(read_history(out))
    assert count == 5
    assert [(event.time_ns, event.process, event.index) for event in events] == [
        (10, 1, 0), (20, 2, 1), (30, "nemesis", 2), (40, 1, 3), (50, 2, 4),
    ]  # fmt: skip


def test_loadgen_merge_rejects_a_process_number_used_by_two_shards(tmp_path: Path) -> None:
    for name, times_ns in (("a", [10, 30]), ("b", [20, 40])):
        with HistoryWriter(tmp_path / f"{name}.jsonl", FixedClock(times_ns)) as shard:
            shard.invoke(7, "write", "r0", times_ns[0])
            shard.complete(7, "ok", "write", "r0", times_ns[0])
    out = tmp_path / "merged.jsonl"
    with pytest.raises(HistoryError, match="process 7 invokes while"):
        merge_histories([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], out)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
