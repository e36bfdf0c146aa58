from __future__ import annotations

from bench.http_load import LoadResult
from bench.transaction_bench import PUT, TRANSACT, put_body, summary, transact_body
from cluster.api.requests import parse_request


def test_bench_transaction_moves_one_unit_between_two_items_of_its_own_client() -> None:
    request = parse_request("TransactWriteItems", transact_body(3, 7))
    assert [write.kind for write in request.writes] == ["Update", "Update"]
    keys = [write.key["pk"]["S"] for write in request.writes]
    assert len(set(keys)) == 2 and all(key.startswith("c3-") for key in keys)
    amounts = [write.update.parse().actions[0].value["N"] for write in request.writes]
    assert sorted(int(amount) for amount in amounts) == [-1, 1]  # money neither made nor lost
    other = parse_request("TransactWriteItems", transact_body(4, 7))
    assert not {w.key["pk"]["S"] for w in other.writes} & set(keys)  # clients do not contend
    assert parse_request("PutItem", put_body(3, 7)).item["pk"]["S"].startswith("c3-")


def test_bench_transaction_summary_is_the_median_paired_ratio_and_the_p99() -> None:
    def results(rate: float, latency_s: float) -> LoadResult:
        return LoadResult(int(rate), 0, 1.0, [latency_s] * 10)

    row = summary("t", {PUT: [results(100, 0.01), results(200, 0.01), results(100, 0.01)],
                        TRANSACT: [results(50, 0.02), results(40, 0.03), results(30, 0.05)]})  # fmt: skip
    assert row.startswith("| t | 100 | 40 | 0.30 | 50.0 |")
