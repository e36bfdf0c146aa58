"""The cross-check of canary records against Prometheus' scraped counters (a pure function)."""

from __future__ import annotations

from typing import Any

from gameday.prometheus_crosscheck import EARLY_S, LATE_S, crosscheck

KEY = ("az-a", "az-b", "write", "ok")


def _record(start_s: float, latency_ms: float = 10.0, outcome: str = "ok") -> dict[str, Any]:
    return {
        "canary_az": "az-a", "endpoint_az": "az-b", "operation": "write", "outcome": outcome,
        "wall_time_s": start_s, "latency_ms": latency_ms,
    }  # fmt: skip


def _records_every_half_second(count: int) -> list[dict[str, Any]]:
    return [_record(1000.0 + 0.5 * number) for number in range(count)]


def test_counters_that_match_the_records_at_every_scrape_agree() -> None:
    records = _records_every_half_second(20)  # 1000.0 .. 1009.5
    # A scrape at t has counted every request that completed before t.
    samples = {KEY: [(1000.0 + t, float(sum(1 for r in records if r["wall_time_s"] + 0.01 < 1000.0 + t)))
                     for t in range(1, 11)]}  # fmt: skip
    check = crosscheck(records, samples)
    assert check.agrees, check.describe()
    assert check.samples_checked == 10 and check.series_checked == 1
    assert check.describe().startswith("prometheus agrees")


def test_a_request_in_flight_at_the_scrape_may_be_counted_or_not() -> None:
    records = [_record(1000.0, latency_ms=900.0)]  # from 1000.0 to 1000.9
    for value in (0.0, 1.0):
        assert crosscheck(records, {KEY: [(1000.5, value)]}).agrees


def test_prometheus_counting_more_than_the_file_holds_disagrees() -> None:
    records = _records_every_half_second(4)
    check = crosscheck(records, {KEY: [(1010.0, 5.0)]})
    assert not check.agrees
    assert "prometheus disagrees" in check.describe() and "prometheus 5, canary file 4..4" in check.describe()


def test_records_prometheus_never_counted_disagree() -> None:
    records = _records_every_half_second(10)  # all completed by 1004.6
    check = crosscheck(records, {KEY: [(1003.0, 6.0), (1008.0, 6.0)]})
    assert not check.agrees
    assert [mismatch.time_s for mismatch in check.mismatches] == [1008.0]


def test_the_tolerance_is_the_scrape_instant_only() -> None:
    record = _record(1000.0, latency_ms=0.0)
    # Completed LATE_S and a bit before the scrape: must be counted.
    assert not crosscheck([record], {KEY: [(1000.0 + LATE_S + 0.01, 0.0)]}).agrees
    # Started EARLY_S and a bit after the scrape: cannot be counted.
    assert not crosscheck([record], {KEY: [(1000.0 - EARLY_S - 0.01, 1.0)]}).agrees


def test_a_series_in_the_file_but_never_scraped_disagrees() -> None:
    records = _records_every_half_second(3) + [_record(1000.0, outcome="error")]
    check = crosscheck(records, {KEY: [(1005.0, 3.0)]})
    assert not check.agrees
    assert check.missing_series == [("az-a", "az-b", "write", "error")]
    assert "az-a/az-b/write/error never scraped" in check.describe()


def test_no_sample_at_all_is_not_agreement() -> None:
    check = crosscheck([], {})
    assert not check.agrees and "no canary_requests_total sample" in check.describe()
