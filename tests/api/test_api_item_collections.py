"""ItemCollectionMetrics as DynamoDB shapes it, and the limit rule every replica applies alike."""

from __future__ import annotations

from cluster.api.item_collections import collection_fits, item_collection_metrics, size_estimate_range_gb

KEY = {"pk": {"S": "a"}}


def test_the_size_estimate_is_the_whole_gigabytes_around_the_size() -> None:
    assert size_estimate_range_gb(0) == [0.0, 1.0]
    assert size_estimate_range_gb(2**30 - 1) == [0.0, 1.0]
    assert size_estimate_range_gb(2**30) == [1.0, 2.0]
    assert size_estimate_range_gb(int(9.5 * 2**30)) == [9.0, 10.0]


def test_metrics_come_only_when_asked_and_in_each_operations_shape() -> None:
    sizes = {"t": [[KEY, 10]], "u": []}
    assert item_collection_metrics("NONE", sizes, batch=False) is None
    assert item_collection_metrics("SIZE", {"t": []}, batch=False) is None  # a table without LSIs
    one = {"ItemCollectionKey": KEY, "SizeEstimateRangeGB": [0.0, 1.0]}
    assert item_collection_metrics("SIZE", sizes, batch=False) == one
    assert item_collection_metrics("SIZE", sizes, batch=True) == {"t": [one]}


def test_a_write_fits_unless_it_grows_its_collection_past_the_limit() -> None:
    assert collection_fits(90, 0, 10, 100)
    assert not collection_fits(90, 0, 11, 100)
    assert collection_fits(95, 10, 15, 100)  # replaces 10 bytes by 15: 100
    assert collection_fits(500, 20, 10, 100)  # over the limit already, but it shrinks
