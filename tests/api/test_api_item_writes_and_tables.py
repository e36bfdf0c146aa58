from __future__ import annotations

import ast
import pathlib

import pytest

from cluster.api.attribute_values import KeySchema
from cluster.api.item_writes import WriteOutcome, apply_delete, apply_put, items_equal
from cluster.api.projection import project
from cluster.api.requests import ConditionSource, CreateTableRequest
from cluster.api.tables import TableInfo, describe_table_json, table_info_from_request

OLD = {"id": {"S": "a"}, "version": {"N": "1"}}
NEW = {"id": {"S": "a"}, "version": {"N": "2"}}
ONLY_IF_ABSENT = ConditionSource("attribute_not_exists(id)", None, None)
ONLY_IF_VERSION_1 = ConditionSource("version = :v", None, {":v": {"N": "1"}})


def test_api_unconditional_put_replaces_the_item() -> None:
    assert apply_put(NEW, None, OLD) == WriteOutcome(
        new_item=NEW, old_item=OLD, condition_failed=False, changed=True
    )
    assert apply_put(NEW, None, None) == WriteOutcome(
        new_item=NEW, old_item=None, condition_failed=False, changed=True
    )


def test_api_put_of_an_equal_item_changes_nothing() -> None:
    same = {"version": {"N": "1.0"}, "id": {"S": "a"}}
    assert apply_put(same, None, OLD).changed is False


def test_api_conditional_put() -> None:
    failed = apply_put(NEW, ONLY_IF_ABSENT, OLD)
    assert failed == WriteOutcome(new_item=OLD, old_item=OLD, condition_failed=True, changed=False)
    assert apply_put(NEW, ONLY_IF_ABSENT, None).condition_failed is False
    assert apply_put(NEW, ONLY_IF_VERSION_1, OLD).new_item == NEW
    assert apply_put(NEW, ONLY_IF_VERSION_1, NEW).condition_failed is True
    # A comparison against an absent item is false: a compare-and-set on a missing key fails.
    assert apply_put(NEW, ONLY_IF_VERSION_1, None).condition_failed is True


def test_api_delete() -> None:
    assert apply_delete(None, OLD) == WriteOutcome(
        new_item=None, old_item=OLD, condition_failed=False, changed=True
    )
    assert apply_delete(None, None) == WriteOutcome(
        new_item=None, old_item=None, condition_failed=False, changed=False
    )
    assert apply_delete(ONLY_IF_VERSION_1, NEW) == WriteOutcome(
        new_item=NEW, old_item=NEW, condition_failed=True, changed=False
    )
    assert apply_delete(ONLY_IF_VERSION_1, OLD).new_item is None


def test_api_items_equal_ignores_set_order_and_number_spelling() -> None:
    assert items_equal({"s": {"NS": ["1", "2"]}}, {"s": {"NS": ["2.0", "1"]}})
    assert not items_equal({"s": {"NS": ["1"]}}, {"s": {"SS": ["1"]}})
    assert not items_equal({"a": {"S": "x"}}, {"a": {"S": "x"}, "b": {"S": "y"}})
    assert items_equal(None, None) and not items_equal(None, {})
    # Numbers by value: two spellings of one value are equal, two integers in DynamoDB's form are not.
    assert items_equal({"n": {"N": "10"}}, {"n": {"N": "1E1"}}) and items_equal({"n": {"N": "-0"}}, {"n": {"N": "0"}})
    assert not items_equal({"n": {"N": "10"}}, {"n": {"N": "11"}}) and not items_equal({"n": {"N": "-1"}}, {"n": {"N": "1"}})
    assert not items_equal({"n": {"N": "10"}}, {"n": {"N": "1.5E1"}})


def test_api_project_keeps_requested_top_level_attributes() -> None:
    item = {"a": {"S": "1"}, "b": {"N": "2"}, "c": {"BOOL": True}}
    assert project(item, None) == item
    assert project(item, [("c",), ("a",), ("missing",)]) == {"c": {"BOOL": True}, "a": {"S": "1"}}
    assert project(item, []) == {}


def test_api_table_info_round_trips_through_json() -> None:
    request = CreateTableRequest(
        "things", KeySchema("id", "S", "at", "N"), "PAY_PER_REQUEST", None, None, None
    )
    table = table_info_from_request(request, table_id="tid", creation_time_s=12.5, default_partition_count=4)
    assert (table.status, table.partition_count, table.read_capacity_units) == ("CREATING", 4, 0)
    assert TableInfo.from_json(table.to_json()) == table


def test_api_describe_table_for_on_demand_and_hash_only_tables() -> None:
    table = TableInfo("things", KeySchema("id", "S"), "ACTIVE", 1.0, "tid", "PAY_PER_REQUEST", 0, 0, 2)
    described = describe_table_json(table)
    assert described["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["TableArn"] == "arn:aws:dynamodb:local:000000000000:table/things"
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 0


# The API layer runs inside the store and must stay pure (DESIGN.md §5): no sockets,
# files, clocks, processes or randomness, and only the standard library.
FORBIDDEN_MODULES = {
    "asyncio",
    "socket",
    "time",
    "os",
    "subprocess",
    "random",
    "threading",
    "sqlite3",
    "io",
    "pathlib",
    "shutil",
    "select",
    "selectors",
    "http",
    "urllib",
    "datetime",
    "uuid",
    "logging",
}
ALLOWED_MODULES = {
    "__future__",
    "base64",
    "binascii",
    "collections",
    "copy",
    "dataclasses",
    "decimal",
    "functools",  # lru_cache of pure functions (tokens of an expression text)
    "hashlib",
    "json",
    "re",
    "typing",
}
API_SOURCES = sorted((pathlib.Path(__file__).parents[2] / "cluster" / "api").glob("*.py"))


@pytest.mark.parametrize("source", API_SOURCES, ids=lambda path: path.name)
def test_api_modules_import_no_io_and_no_third_party_code(source: pathlib.Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_MODULES
    assert imported <= ALLOWED_MODULES | {"cluster"}


def test_api_purity_check_sees_every_module() -> None:
    assert {path.name for path in API_SOURCES} >= {
        "errors.py",
        "attribute_values.py",
        "expressions.py",
        "requests.py",
        "item_writes.py",
        "tables.py",
        "projection.py",
        "update_expressions.py",
    }
