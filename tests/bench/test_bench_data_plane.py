from __future__ import annotations

import json
import os

from bench.data_plane_bench import (
    CELLS,
    PUT,
    QUERY_PAGED,
    QUERY_WHOLE,
    UPDATE,
    Pagination,
    cell_text,
    cpu_per_operation_us,
    goal_lines,
    markdown_table,
    paired_ratio,
    processes_cpu_s,
    put_body,
    update_body,
)
from bench.http_load import LoadResult, error_type
from cluster.api.attribute_values import item_size_bytes
from cluster.api.requests import parse_request


def _page(last_key: dict | None) -> bytes:
    return json.dumps({"Count": 10, **({"LastEvaluatedKey": last_key} if last_key else {})}).encode()


def test_bench_pagination_follows_each_client_s_last_evaluated_key_then_starts_over() -> None:
    pagination = Pagination(10)
    assert "ExclusiveStartKey" not in pagination.body(0, 0)
    assert pagination.body(0, 0)["Limit"] == 10
    middle = {"pk": {"S": "p"}, "sk": {"N": "9"}}
    pagination.observe(0, 200, _page(middle))
    assert pagination.body(0, 1)["ExclusiveStartKey"] == middle
    assert "ExclusiveStartKey" not in pagination.body(1, 0)  # another client walks on its own
    pagination.observe(0, 500, b'{"__type": "InternalServerError"}')
    assert pagination.body(0, 2)["ExclusiveStartKey"] == middle  # a failed page is asked again
    pagination.observe(0, 200, _page(None))
    assert "ExclusiveStartKey" not in pagination.body(0, 3)
    assert pagination.walks == 1


def test_bench_put_and_update_are_valid_requests_writing_items_of_one_size() -> None:
    put = parse_request("PutItem", put_body(3, 7))
    update = parse_request("UpdateItem", update_body(3, 7))
    assert update.key == {"pk": put.item["pk"]}
    assert update.return_values == "NONE"
    # What the update leaves on an item the put wrote (the counter one higher): the same size.
    updated = {**put.item, "n": update.update.parse().actions[0].value.value, "c": {"N": "2"}}
    assert item_size_bytes(updated) == item_size_bytes(put.item)
    assert put_body(3, 7)["Item"] != put_body(3, 8)["Item"]  # every put changes the item


def _results(*rates: float) -> list[LoadResult]:
    return [LoadResult(operations=int(rate), errors=0, duration_s=1.0, latencies_s=[0.001]) for rate in rates]


def test_bench_ratio_pairs_trials_run_back_to_back() -> None:
    # Trial 2 ran on a loaded machine for both: the pairwise ratios stay 0.9, unlike medians' ratio.
    updates, puts = _results(900, 90, 900), _results(1000, 100, 1000)
    assert paired_ratio(updates, puts) == 0.9


def test_bench_table_has_one_row_per_target_and_a_column_per_cell_and_the_ratio() -> None:
    results = {PUT: _results(1000, 1200, 1100), UPDATE: _results(900, 1000, 1100),
               QUERY_WHOLE: _results(500, 600, 700), QUERY_PAGED: _results(2000, 2100, 2200)}
    lines = markdown_table({"ours": results, "theirs": results})
    assert len(lines) == 4
    assert all(line.count("|") == len(CELLS) + 3 for line in lines)
    assert lines[2].startswith("| ours | 1,100 (1,000–1,200) | 1,000 (900–1,100) | 0.90 | 600 (500–700) |")


def test_bench_cells_name_the_kinds_of_errors_they_saw() -> None:
    results = _results(1000, 1100, 1200)
    results[0].errors, results[0].error_types = 3, {"ProvisionedThroughputExceededException": 2, "HTTP 500": 1}
    results[2].errors, results[2].error_types = 1, {"HTTP 500": 1}
    text = cell_text(results)
    assert text == "1,100 (1,000–1,200), 4 errors (2 HTTP 500, 2 ProvisionedThroughputExceededException)"
    assert error_type(400, b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException"}') == "ThrottlingException"
    assert error_type(503, b"<html>not json</html>") == "HTTP 503"


def test_bench_cpu_per_operation_sums_every_trial_and_needs_every_reading() -> None:
    puts, updates = _results(1000, 3000), _results(1000, 1000)
    for result, cpu_s in zip(puts + updates, (2.0, 6.0, 2.5, 2.5), strict=True):
        result.server_cpu_s = cpu_s
    assert cpu_per_operation_us(puts) == 2000.0  # 8 s over 4,000 operations, not the mean of per-trial figures
    assert cpu_per_operation_us(updates) == 2500.0
    assert any("PutItem 2,000 us, UpdateItem 2,500 us (PutItem / UpdateItem 0.80" in line
               for line in goal_lines({PUT: puts, UPDATE: updates, QUERY_WHOLE: puts, QUERY_PAGED: puts}))
    puts[1].server_cpu_s = None  # a reference server's trial: nothing read
    assert cpu_per_operation_us(puts) is None


def test_bench_reads_the_cpu_time_of_processes_that_run() -> None:
    spent = processes_cpu_s([os.getpid()])
    sum(range(3_000_000))  # some CPU of our own
    assert processes_cpu_s([os.getpid(), 2**22 + 7]) > spent  # a pid that is gone counts nothing
