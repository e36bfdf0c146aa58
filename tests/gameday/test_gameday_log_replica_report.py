"""The log-replica verdict from recorded node statuses (pure)."""

from __future__ import annotations

from typing import Any

from gameday.checks.log_replicas import log_replica_events, log_replica_result


def status(events: list[dict[str, Any]], log_left: list[str] | None = None) -> dict[str, Any]:
    membership = {"storage": ["node-a1", "node-b1", "node-c1"], "log": log_left or []}
    return {"processes": [
        {"id": "node-a1", "log_replicas": {"events": events},
         "groups": [{"group": "t-p0", "role": "leader", "membership": membership}]},
        {"id": "node-b2", "log_replicas": {"events": []}, "groups": []},
    ]}


def event(action: str, seconds: float, committed_at: float, failed: bool = False) -> dict[str, Any]:
    recorded: dict[str, Any] = {"group": "t-p0", "action": action, "member": "node-b2", "unhealthy": "node-b1",
                                "detected_at": committed_at - seconds}
    if failed:
        recorded["failed"] = "RpcUnavailable: down"
    else:
        recorded.update(committed_at=committed_at, seconds_after_detection=seconds)
    return recorded


def test_fast_healing_that_ends_clean_is_valid_with_its_numbers() -> None:
    events = [event("add-log-replica", 0.4, 10.0), event("remove-storage-replica", 0.1, 10.2),
              event("add-log-replica", 0.8, 30.0)]
    result = log_replica_result(status(events), enabled=True)
    assert result.valid is True
    assert result.data["add_seconds_after_detection"] == [0.4, 0.8]
    assert result.data["add_seconds_max"] == 0.8 and "2 log replica(s)" in result.detail


def test_a_slow_add_or_a_group_left_stood_in_fails() -> None:
    slow = log_replica_result(status([event("add-log-replica", 2.5, 10.0)]), enabled=True)
    assert slow.valid is False and "2.50s" in slow.detail
    left = log_replica_result(status([event("add-log-replica", 0.5, 10.0)], log_left=["node-b2"]), enabled=True)
    assert left.valid is False and "t-p0" in left.detail


def test_failed_attempts_are_counted_not_judged_and_events_come_in_time_order() -> None:
    events = [event("add-log-replica", 0.5, 20.0), event("add-log-replica", 0.0, 5.0, failed=True)]
    result = log_replica_result(status(events), enabled=True)
    assert result.valid is True and result.data["failed_attempts"] == 1
    assert [e["detected_at"] for e in log_replica_events(status(events))] == [5.0, 19.5]


def test_switched_off_it_says_so() -> None:
    result = log_replica_result(status([]), enabled=False)
    assert result.valid is True and result.detail.startswith("off")


def test_an_add_that_waited_for_a_reachable_spare_is_reported_not_judged() -> None:
    waited = dict(event("add-log-replica", 6.4, 40.0), failed_attempts_before=3)
    result = log_replica_result(status([event("add-log-replica", 0.3, 10.0), waited]), enabled=True)
    assert result.valid is True and "1 more once a spare node" in result.detail
    assert result.data["add_seconds_after_detection"] == [0.3]
    assert result.data["added_after_failed_attempts"][0]["failed_attempts_before"] == 3


def _adds(*seconds: float) -> dict[str, Any]:
    return status([event("add-log-replica", value, 10.0 + number) for number, value in enumerate(seconds)])


def test_one_slow_add_in_ten_is_a_busy_machine_two_are_a_slow_mechanism() -> None:
    busy = log_replica_result(_adds(*[0.4] * 9, 2.4), enabled=True)
    assert busy.valid is True and "0.40s p90 / 2.40s max" in busy.detail
    slow = log_replica_result(_adds(*[0.4] * 8, 2.5, 2.6), enabled=True)
    assert slow.valid is False
    assert "2 of 10 log replicas committed later than 2s" in slow.detail and "2.50s for 90%" in slow.detail


def test_no_add_may_take_over_three_times_the_goal_however_fast_the_others() -> None:
    result = log_replica_result(_adds(*[0.3] * 19, 6.5), enabled=True)
    assert result.valid is False and "6.50s after detection (none may take over 6s)" in result.detail
    assert log_replica_result(_adds(*[0.3] * 19, 5.9), enabled=True).valid is True
