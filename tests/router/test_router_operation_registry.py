"""One registry of operations (cluster/api/requests.py OPERATIONS): the router has a handler for each."""

from __future__ import annotations

import inspect

from cluster.api.requests import OPERATIONS, Operation
from cluster.router.dynamodb_service import DynamoDbService


def test_handler_names_follow_the_operation_names() -> None:
    assert Operation("BatchWriteItem", dict).handler_name == "batch_write_item"
    assert Operation("Query", dict).handler_name == "query"
    assert Operation("DescribeTable", dict).handler_name == "describe_table"


def test_every_registered_operation_has_an_async_handler_on_the_router() -> None:
    for operation in OPERATIONS.values():
        handler = getattr(DynamoDbService, operation.handler_name, None)
        assert handler is not None and inspect.iscoroutinefunction(handler), operation.name


def test_only_the_batch_operations_answer_capacity_as_a_list() -> None:
    assert {name for name, operation in OPERATIONS.items() if operation.batch} == {
        "BatchGetItem", "BatchWriteItem", "TransactWriteItems", "TransactGetItems"
    }
