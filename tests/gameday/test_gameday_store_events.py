"""The store's own events (log replicas, scrub, splits) become history events on the history's clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday.checks.history import check_history_file
from gameday.store_events import (
    STORE_EVENTS_FILE,
    add_store_events,
    collect_store_events,
    log_replica_store_events,
    scrub_store_events,
    split_store_events,
)
from verify.history import HistoryError, HistoryWriter, parse_history_lines, read_history

# Wall clock 1,000,000 s when the monotonic clock read 100 s.
OFFSET_S = 1_000_000.0 - 100.0


def test_log_replica_changes_are_placed_on_the_monotonic_clock_with_what_changed() -> None:
    events = log_replica_store_events(
        [
            {"action": "add-log-replica", "group": "g1", "member": "node-a2", "committed_at": 1_000_002.5,
             "seconds_after_detection": 0.2, "detected_at": 1_000_002.3, "recorded_by": "node-b1"},
            {"action": "remove-log-replica", "group": "g1", "member": "node-a2", "detected_at": 1_000_009.0},
            {"action": None, "committed_at": 1_000_003.0},  # malformed: skipped
        ],
        OFFSET_S,
    )
    assert [(e["f"], e["time"]) for e in events] == [("add-log-replica", 102_500_000_000),
                                                     ("remove-log-replica", 109_000_000_000)]
    assert events[0]["value"] == {"group": "g1", "member": "node-a2", "seconds_after_detection": 0.2,
                                  "recorded_by": "node-b1"}
    assert all(e["process"] == "store" and e["type"] == "info" for e in events)


def test_scrub_findings_keep_their_details_and_splits_give_a_begin_and_an_end() -> None:
    scrub = scrub_store_events([
        {"kind": "mismatch", "time_monotonic_s": 101.0, "time_s": 1.0, "group": "g2", "replica": "node-c1"},
        {"kind": "repaired", "time_monotonic_s": 101.5, "group": "g2", "replica": "node-c1", "items": 3},
        {"time_monotonic_s": 102.0},  # no kind: skipped
    ])
    assert [(e["f"], e["time"]) for e in scrub] == [("scrub-mismatch", 101_000_000_000),
                                                    ("scrub-repaired", 101_500_000_000)]
    assert scrub[0]["value"] == {"group": "g2", "replica": "node-c1"}
    splits = split_store_events(
        [{"table": "t", "parent": "p0", "child": "p4", "split_hash": 7, "reason": "hot",
          "begun_wall_s": 1_000_010.0, "finished_wall_s": None}],
        OFFSET_S,
    )
    assert [(e["f"], e["time"]) for e in splits] == [("split-begun", 110_000_000_000)]


def _history(path: Path, clock_ns: list[int]) -> None:
    times = iter(clock_ns)
    writer = HistoryWriter(path, clock=lambda: next(times))
    writer.invoke(1, "write", "k", 1)
    writer.complete(1, "ok", "write", "k", 1)
    writer.invoke(2, "read", "k")
    writer.complete(2, "ok", "read", "k", 1)
    writer.close()


def test_events_are_merged_into_the_history_in_time_order_and_the_checker_ignores_them(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    _history(history, [100_000_000_000, 101_000_000_000, 102_000_000_000, 103_000_000_000])
    (tmp_path / "scrub.jsonl").write_text(json.dumps({"kind": "repaired", "time_monotonic_s": 101.5}) + "\n")
    summary = {
        "run_start_wall_s": 1_000_000.0, "run_start_monotonic_s": 100.0,
        "log_replicas": {"events": [{"action": "add-log-replica", "group": "g", "committed_at": 1_000_000.5}]},
    }
    assert add_store_events(tmp_path, summary, [history, tmp_path / "history-set.jsonl"]) == 2
    events = list(read_history(history))
    assert [(e.process, e.function) for e in events] == [
        (1, "write"), ("store", "add-log-replica"), (1, "write"), ("store", "scrub-repaired"), (2, "read"),
        (2, "read"),
    ]
    assert [e.index for e in events] == list(range(6))
    assert not (tmp_path / "history-set.jsonl").exists()  # a history that was not written stays absent
    assert (tmp_path / STORE_EVENTS_FILE).read_text().count("\n") == 2
    verdict = check_history_file(history, "register").verdict
    assert verdict["valid"] is True and verdict["nemesis_event_count"] == 0
    assert verdict["store_event_count"] == 2


def test_a_run_without_store_events_leaves_the_history_untouched(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    _history(history, [1, 2, 3, 4])
    before = history.read_bytes()
    assert collect_store_events(tmp_path, {}) == []
    assert add_store_events(tmp_path, {}, [history]) == 0
    assert history.read_bytes() == before


def test_store_events_must_be_info_events_with_a_name() -> None:
    with pytest.raises(HistoryError, match="store events are of type info"):
        list(parse_history_lines(['{"time": 1, "process": "store", "type": "invoke", "f": "x"}']))
    with pytest.raises(HistoryError, match="store 'f' must be a string"):
        list(parse_history_lines(['{"time": 1, "process": "store", "type": "info", "f": 3}']))
