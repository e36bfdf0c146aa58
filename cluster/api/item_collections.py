"""Item collections of a table with local secondary indexes: every item under one partition key. DynamoDB
limits each to 10 GB (ItemCollectionSizeLimitExceededException) and reports its size when a write asks
(ReturnItemCollectionMetrics=SIZE): the ItemCollectionMetrics member of a response. Pure.

A collection's size here is its items' sizes as DynamoDB counts an item (the attributes an LSI projects
are not counted again: the store keeps no copy of them).
"""

from __future__ import annotations

from typing import Any

ITEM_COLLECTION_LIMIT_BYTES = 10 * 2**30
_GB = 2**30
# A handler's answer carries {table: [[collection key, bytes], ...]} under this key; the service pops it and
# shapes ItemCollectionMetrics as the request asked.
COLLECTION_SIZES = "_collection_sizes"


def written_collection(item: dict[str, Any], hash_name: str, size_bytes: int) -> list[Any]:
    """One entry of a COLLECTION_SIZES list: the collection of `item` (its partition key) and its size."""
    return [{hash_name: item[hash_name]}, size_bytes]


def size_estimate_range_gb(size_bytes: int) -> list[float]:
    """DynamoDB's [lower, upper] estimate in GB: the whole gigabytes around the size ([0.0, 1.0] for any
    collection under one)."""
    lower = size_bytes // _GB
    return [float(lower), float(lower + 1)]


def _one(key: dict[str, Any], size_bytes: int) -> dict[str, Any]:
    return {"ItemCollectionKey": key, "SizeEstimateRangeGB": size_estimate_range_gb(size_bytes)}


def item_collection_metrics(mode: str, sizes: dict[str, list[list[Any]]], batch: bool) -> Any:
    """None unless SIZE was asked and a collection was written; BatchWriteItem and TransactWriteItems get
    {table: [metrics, ...]}, the single-item writes the one collection's metrics."""
    if mode != "SIZE" or not any(sizes.values()):
        return None
    if batch:
        return {table: [_one(key, size) for key, size in written] for table, written in sizes.items() if written}
    key, size = next(written for written in sizes.values() if written)[0]
    return _one(key, size)


def collection_fits(collection_bytes: int, old_size: int, new_size: int, limit_bytes: int) -> bool:
    """Whether a write that replaces an item of `old_size` bytes (0: absent) by one of `new_size` keeps its
    collection within the limit. A write that does not grow it always fits, so a collection over the
    limit can still shrink."""
    return new_size <= old_size or collection_bytes - old_size + new_size <= limit_bytes
