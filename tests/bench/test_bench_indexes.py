from __future__ import annotations

from bench.index_bench import INDEXED, _lag_row, put_body
from cluster.api.requests import parse_request


def test_bench_index_puts_spread_over_items_and_index_keys_of_one_size() -> None:
    requests = [parse_request("PutItem", put_body(INDEXED)(2, sequence)) for sequence in range(200)]
    assert {r.item["pk"]["S"] for r in requests} == {f"c2-{n}" for n in range(100)}
    assert len({r.item["g"]["S"] for r in requests}) == 50
    assert len({len(r.item["v"]["S"]) for r in requests}) == 1


def test_bench_index_lag_row_shows_count_median_p99_and_max_in_milliseconds() -> None:
    lags = [0.010] * 98 + [0.050, 0.200]
    assert _lag_row("x", lags) == "| x | 100 | 10.0 | 200.0 | 200.0 |"
