"""UpdateTable's request (cluster/api/update_table_request.py): valid bodies parse into the right request, invalid
ones get DynamoDB's exact message, then the checks against the table. The last tests send the dynalite-agreed
refusals to a real dynalite (no cluster) and compare error codes and messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.http_load import call as http_call
from cluster.api.attribute_values import KeySchema
from cluster.api.errors import ApiError
from cluster.api.secondary_indexes import GLOBAL, IndexSpec
from cluster.api.update_table_request import (
    GlobalIndexThroughput,
    UpdateTableRequest,
    create_index_specs,
    parse_update_table,
    table_throughput_change_problem,
)

INVALID = "One or more parameter values were invalid: "
THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
AT_LEAST_ONE = (
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, "
    "SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, "
    "DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required"
)


def keys(*elements: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": key_type} for name, key_type in elements]


GSI = {"IndexName": "by_g", "KeySchema": keys(("g", "HASH"), ("gr", "RANGE")), "Projection": {"ProjectionType": "ALL"}}
DEFINITIONS = [{"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "gr", "AttributeType": "N"}]


def body(**members: Any) -> dict[str, Any]:
    """An UpdateTable body for table "things" with `members`; None leaves a member out."""
    return {name: value for name, value in {"TableName": "things", **members}.items() if value is not None}


def create(**changes: Any) -> dict[str, Any]:
    return {"Create": {name: value for name, value in {**GSI, **changes}.items() if value is not None}}


def update(name: str = "by_g", read: int = 3, write: int = 4) -> dict[str, Any]:
    return {"Update": {"IndexName": name, "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write}}}


def delete(name: str = "by_g") -> dict[str, Any]:
    return {"Delete": {"IndexName": name}}


def answer(body: dict[str, Any]) -> tuple[str, str]:
    try:
        parse_update_table(body)
    except ApiError as error:
        return error.code, error.message
    return "OK", ""


def one_error(value: str, member: str, constraint: str) -> str:
    shown = "null" if value == "null" else f"'{value}'"
    return f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {constraint}"


# ---------------------------------------------------------------------------- what parses


def test_each_kind_of_change_parses_into_the_request() -> None:
    assert parse_update_table(body(ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})) == (
        UpdateTableRequest("things", None, 5, 6, None)
    )
    assert parse_update_table(body(BillingMode="PAY_PER_REQUEST")) == UpdateTableRequest(
        "things", "PAY_PER_REQUEST", None, None, None
    )
    switched = parse_update_table(body(BillingMode="PROVISIONED", ProvisionedThroughput=THROUGHPUT))
    assert (switched.billing_mode, switched.read_capacity_units, switched.write_capacity_units) == ("PROVISIONED", 5, 5)
    created = parse_update_table(body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create()]))
    assert created == UpdateTableRequest("things", None, None, None, {"g": "S", "gr": "N"}, create_indexes=(GSI,))
    assert parse_update_table(body(GlobalSecondaryIndexUpdates=[delete()])).delete_indexes == ("by_g",)
    updated = parse_update_table(body(GlobalSecondaryIndexUpdates=[update("a.b"), update("c-d", 7, 8)]))
    assert updated.update_indexes == (GlobalIndexThroughput("a.b", 3, 4), GlobalIndexThroughput("c-d", 7, 8))
    # A Create without throughput (AWS-verified, for on-demand tables) and an Update beside a Create.
    both = parse_update_table(body(GlobalSecondaryIndexUpdates=[create(IndexName="new"), update()]))
    assert [index["IndexName"] for index in both.create_indexes] == ["new"] and len(both.update_indexes) == 1


def test_what_every_table_here_already_is_is_accepted_as_no_change() -> None:
    for no_op in ({"DeletionProtectionEnabled": False}, {"TableClass": "STANDARD"}):
        assert parse_update_table(body(**no_op)) == UpdateTableRequest("things", None, None, None, None)


# ---------------------------------------------------------------------------- what is refused

# (label, body, error code, message). The labels in DYNALITE_AGREES are also checked against dynalite below.
REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("nothing-to-change", body(), "ValidationException", AT_LEAST_ONE),
    ("empty-index-updates", body(GlobalSecondaryIndexUpdates=[]), "ValidationException", AT_LEAST_ONE),
    ("definitions-alone", body(AttributeDefinitions=DEFINITIONS), "ValidationException", AT_LEAST_ONE),
    # AWS leaves the members the request has out of the list (AWS catalogue: MultiRegionConsistency alone).
    ("consistency-alone", body(MultiRegionConsistency="STRONG"), "ValidationException",
     AT_LEAST_ONE.replace(" MultiRegionConsistency,", "")),
    ("no-table-name", {"BillingMode": "PAY_PER_REQUEST"}, "ValidationException",
     one_error("null", "tableName", "Member must not be null")),
    ("short-table-name", body(TableName="ab", BillingMode="PAY_PER_REQUEST"), "ValidationException",
     one_error("ab", "tableName", "Member must have length greater than or equal to 3")),
    ("bad-table-name", body(TableName="a b c", BillingMode="PAY_PER_REQUEST"), "ValidationException",
     one_error("a b c", "tableName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")),
    ("throughput-zero", body(ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}),
     "ValidationException",
     "2 validation errors detected: Value '0' at 'provisionedThroughput.writeCapacityUnits' failed to satisfy "
     "constraint: Member must have value greater than or equal to 1; Value '0' at "
     "'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than "
     "or equal to 1"),
    ("throughput-empty", body(ProvisionedThroughput={}), "ValidationException",
     "2 validation errors detected: Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy "
     "constraint: Member must not be null; Value null at 'provisionedThroughput.readCapacityUnits' failed to "
     "satisfy constraint: Member must not be null"),
    ("bad-billing-mode", body(BillingMode="FREE"), "ValidationException",
     one_error("FREE", "billingMode", "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")),
    ("provisioned-without-throughput", body(BillingMode="PROVISIONED"), "ValidationException",
     f"{INVALID}ProvisionedThroughput must be specified when BillingMode is PROVISIONED"),
    ("read-out-of-bounds",
     body(ProvisionedThroughput={"ReadCapacityUnits": 1_000_000_000_001, "WriteCapacityUnits": 1_000_000_000_002}),
     "ValidationException", "Given value 1000000000001 for ReadCapacityUnits is out of bounds"),
    ("write-out-of-bounds", body(ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1_000_000_000_001}),
     "ValidationException", "Given value 1000000000001 for WriteCapacityUnits is out of bounds"),
    ("empty-index-update", body(GlobalSecondaryIndexUpdates=[{}]), "ValidationException",
     f"{INVALID}One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, "
     "GlobalSecondaryIndexUpdate.Delete must not be null"),
    ("unknown-index-action", body(GlobalSecondaryIndexUpdates=[{"Dog": GSI}]), "ValidationException",
     f"{INVALID}One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, "
     "GlobalSecondaryIndexUpdate.Delete must not be null"),
    ("two-updates-of-one-index", body(GlobalSecondaryIndexUpdates=[update(), update(read=9)]), "ValidationException",
     f"{INVALID}Only one global secondary index update per index is allowed simultaneously. Index: by_g"),
    ("update-and-delete-one-index", body(GlobalSecondaryIndexUpdates=[update(), delete()]), "ValidationException",
     f"{INVALID}Only one global secondary index update per index is allowed simultaneously. Index: by_g"),
    ("update-without-name",
     body(GlobalSecondaryIndexUpdates=[{"Update": {"ProvisionedThroughput": THROUGHPUT}}]), "ValidationException",
     one_error("null", "globalSecondaryIndexUpdates.1.member.update.indexName", "Member must not be null")),
    ("update-without-throughput", body(GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": "by_g"}}]),
     "ValidationException",
     one_error("null", "globalSecondaryIndexUpdates.1.member.update.provisionedThroughput", "Member must not be null")),
    ("update-throughput-zero", body(GlobalSecondaryIndexUpdates=[update(read=0)]), "ValidationException",
     one_error("0", "globalSecondaryIndexUpdates.1.member.update.provisionedThroughput.readCapacityUnits",
               "Member must have value greater than or equal to 1")),
    ("update-out-of-bounds", body(GlobalSecondaryIndexUpdates=[update(write=1_000_000_000_001)]), "ValidationException",
     "This operation cannot be performed with given input values. Please contact DynamoDB service team for more "
     "info: Action Blocked: IndexUpdate"),
    ("delete-short-name", body(GlobalSecondaryIndexUpdates=[delete("ab")]), "ValidationException",
     one_error("ab", "globalSecondaryIndexUpdates.1.member.delete.indexName",
               "Member must have length greater than or equal to 3")),
    ("delete-bad-name", body(GlobalSecondaryIndexUpdates=[delete("a!")]), "ValidationException",
     "2 validation errors detected: Value 'a!' at 'globalSecondaryIndexUpdates.1.member.delete.indexName' failed "
     "to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a!' at "
     "'globalSecondaryIndexUpdates.1.member.delete.indexName' failed to satisfy constraint: Member must have "
     "length greater than or equal to 3"),
    ("delete-long-name", body(GlobalSecondaryIndexUpdates=[delete("n" * 256)]), "ValidationException",
     one_error("n" * 256, "globalSecondaryIndexUpdates.1.member.delete.indexName",
               "Member must have length less than or equal to 255")),
    # At most 10 violations are reported (dynalite; the 11th and 12th are dropped).
    ("twelve-violations", body(GlobalSecondaryIndexUpdates=[delete(f"{n}!") for n in range(6)]), "ValidationException",
     "10 validation errors detected: " + "; ".join(
         f"Value '{n}!' at 'globalSecondaryIndexUpdates.{n + 1}.member.delete.indexName' failed to satisfy "
         f"constraint: {constraint}"
         for n in range(5)
         for constraint in ("Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
                            "Member must have length greater than or equal to 3"))),
    # A Create's members, in dynalite's order: projection, indexName, provisionedThroughput, keySchema.
    ("create-with-only-throughput",
     body(GlobalSecondaryIndexUpdates=[{"Create": {"ProvisionedThroughput": THROUGHPUT}}]), "ValidationException",
     "3 validation errors detected: Value null at 'globalSecondaryIndexUpdates.1.member.create.projection' failed "
     "to satisfy constraint: Member must not be null; Value null at "
     "'globalSecondaryIndexUpdates.1.member.create.indexName' failed to satisfy constraint: Member must not be "
     "null; Value null at 'globalSecondaryIndexUpdates.1.member.create.keySchema' failed to satisfy constraint: "
     "Member must not be null"),
    ("create-bad-projection-type",
     body(GlobalSecondaryIndexUpdates=[create(Projection={"ProjectionType": "SOME"}, ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     one_error("SOME", "globalSecondaryIndexUpdates.1.member.create.projection.projectionType",
               "Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]")),
    ("create-empty-non-key-attributes",
     body(GlobalSecondaryIndexUpdates=[create(Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": []},
                                              ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     one_error("[]", "globalSecondaryIndexUpdates.1.member.create.projection.nonKeyAttributes",
               "Member must have length greater than or equal to 1")),
    ("create-throughput-zero",
     body(GlobalSecondaryIndexUpdates=[create(ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 0})]),
     "ValidationException",
     one_error("0", "globalSecondaryIndexUpdates.1.member.create.provisionedThroughput.writeCapacityUnits",
               "Member must have value greater than or equal to 1")),
    ("create-empty-key-schema", body(GlobalSecondaryIndexUpdates=[create(KeySchema=[], ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     one_error("[]", "globalSecondaryIndexUpdates.1.member.create.keySchema",
               "Member must have length greater than or equal to 1")),
    ("create-three-keys",
     body(GlobalSecondaryIndexUpdates=[create(KeySchema=keys(("g", "HASH"), ("gr", "RANGE"), ("b", "RANGE")),
                                              ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     one_error('[{"AttributeName":"g","KeyType":"HASH"}, {"AttributeName":"gr","KeyType":"RANGE"}, '
               '{"AttributeName":"b","KeyType":"RANGE"}]', "globalSecondaryIndexUpdates.1.member.create.keySchema",
               "Member must have length less than or equal to 2")),
    ("create-empty-key-element", body(GlobalSecondaryIndexUpdates=[create(KeySchema=[{}], ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     "2 validation errors detected: Value null at "
     "'globalSecondaryIndexUpdates.1.member.create.keySchema.1.member.attributeName' failed to satisfy constraint: "
     "Member must not be null; Value null at 'globalSecondaryIndexUpdates.1.member.create.keySchema.1.member."
     "keyType' failed to satisfy constraint: Member must not be null"),
    ("create-short-name", body(GlobalSecondaryIndexUpdates=[create(IndexName="ab", ProvisionedThroughput=THROUGHPUT)]),
     "ValidationException",
     one_error("ab", "globalSecondaryIndexUpdates.1.member.create.indexName",
               "Member must have length greater than or equal to 3")),
    # AWS's rules that dynalite does not have (AWS-verified or AWS catalogue; see the module).
    ("bad-key-type", body(GlobalSecondaryIndexUpdates=[create(KeySchema=keys(("g", "SIDEWAYS")))]),
     "ValidationException",
     one_error("SIDEWAYS", "globalSecondaryIndexUpdates.1.member.create.keySchema.1.member.keyType",
               "Member must satisfy enum value set: [HASH, RANGE]")),
    ("bad-attribute-type",
     body(AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "BOOL"}], GlobalSecondaryIndexUpdates=[create()]),
     "ValidationException",
     one_error("BOOL", "attributeDefinitions.1.member.attributeType", "Member must satisfy enum value set: [B, N, S]")),
    ("create-and-delete-in-one-update", body(GlobalSecondaryIndexUpdates=[{**create(), **delete("other")}]),
     "ValidationException",
     f"{INVALID}Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object"),
    ("two-creates", body(GlobalSecondaryIndexUpdates=[create(), create(IndexName="by_h")]), "LimitExceededException",
     "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"),
    ("create-and-delete", body(GlobalSecondaryIndexUpdates=[create(), delete("other")]), "LimitExceededException",
     "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"),
    ("empty-list-beside-a-change", body(BillingMode="PAY_PER_REQUEST", GlobalSecondaryIndexUpdates=[]),
     "ValidationException", f"{INVALID}List of GlobalSecondaryIndexUpdates is empty"),
    ("duplicate-definition", body(AttributeDefinitions=DEFINITIONS * 2, GlobalSecondaryIndexUpdates=[create()]),
     "ValidationException", "Attribute Name is duplicated: g"),
    ("stream-disabled", body(StreamSpecification={"StreamEnabled": False}), "ValidationException",
     "Table has no stream to disable: TableName: things"),
    ("stream-without-enabled", body(StreamSpecification={}), "ValidationException",
     one_error("null", "streamSpecification.streamEnabled", "Member must not be null")),
    # Members this store has nothing behind.
    ("stream-enabled", body(StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}),
     "ValidationException", "Parameter StreamSpecification is not supported by this store; streams do not exist"),
    ("encryption", body(SSESpecification={"Enabled": True}), "ValidationException",
     "Parameter SSESpecification is not supported by this store"),
    ("replicas", body(ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]), "ValidationException",
     "Parameter ReplicaUpdates is not supported by this store"),
    ("table-class", body(TableClass="STANDARD_INFREQUENT_ACCESS"), "ValidationException",
     "Parameter TableClass STANDARD_INFREQUENT_ACCESS is not supported by this store"),
    ("deletion-protection", body(DeletionProtectionEnabled=True), "ValidationException",
     "Parameter DeletionProtectionEnabled is not supported by this store"),
]  # fmt: skip

# dynalite answers these as we do. The others: AWS's wording differs from dynalite's ("nothing-to-change",
# "empty-index-updates", table names), AWS has rules dynalite lacks (the rest, after "create-short-name"), or
# dynalite lets the body through to its table lookup ("definitions-alone", "consistency-alone" and the
# "not supported" ones, whose members dynalite drops).
DYNALITE_AGREES = [
    "bad-table-name", "throughput-zero", "throughput-empty", "bad-billing-mode", "provisioned-without-throughput",
    "read-out-of-bounds", "write-out-of-bounds", "empty-index-update", "unknown-index-action",
    "two-updates-of-one-index", "update-and-delete-one-index", "update-without-name", "update-without-throughput",
    "update-throughput-zero", "update-out-of-bounds", "delete-short-name", "delete-bad-name", "delete-long-name",
    "twelve-violations", "create-with-only-throughput", "create-bad-projection-type",
    "create-empty-non-key-attributes", "create-throughput-zero", "create-empty-key-schema", "create-three-keys",
    "create-empty-key-element", "create-short-name",
]  # fmt: skip


@pytest.mark.parametrize(("label", "request_body", "code", "message"), REFUSALS, ids=[case[0] for case in REFUSALS])
def test_each_invalid_body_gets_dynamodbs_error(label: str, request_body: dict[str, Any], code: str, message: str) -> None:
    assert answer(request_body) == (code, message)


def test_a_body_of_the_wrong_shape_is_refused_with_a_readable_message() -> None:
    assert answer(body(GlobalSecondaryIndexUpdates={"Create": GSI})) == (
        "ValidationException", "Expected a list of objects for GlobalSecondaryIndexUpdates"
    )
    assert answer(body(GlobalSecondaryIndexUpdates=[{"Create": "by_g"}]))[1] == "Expected an object for Create"
    assert answer(body(ProvisionedThroughput={"ReadCapacityUnits": "5", "WriteCapacityUnits": 5}))[1] == (
        "Expected an integer for ReadCapacityUnits, got str"
    )
    assert answer(body(TableName=7, BillingMode="PAY_PER_REQUEST"))[1] == "Expected a string for TableName, got int"


# ---------------------------------------------------------------------------- against the table

TABLE = KeySchema("pk", "S")
TABLE_TYPES = {"pk": "S", "l": "N"}


def specs_or_error(request_body: dict[str, Any], billing_mode: str = "PAY_PER_REQUEST",
                   existing: set[str] | None = None) -> tuple[IndexSpec, ...] | tuple[str, str]:  # fmt: skip
    try:
        return create_index_specs(parse_update_table(request_body), TABLE, TABLE_TYPES, billing_mode,
                                  {"old", "by_l"} if existing is None else existing, local_index_names={"by_l"})  # fmt: skip
    except ApiError as error:
        return error.code, error.message


def test_a_create_becomes_a_global_index_spec_with_the_tables_billing_mode() -> None:
    on_demand = body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create()])
    assert specs_or_error(on_demand) == (IndexSpec("by_g", GLOBAL, KeySchema("g", "S", "gr", "N"), "ALL"),)
    provisioned = body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create(ProvisionedThroughput={
        "ReadCapacityUnits": 3, "WriteCapacityUnits": 4})])  # fmt: skip
    assert specs_or_error(provisioned, "PROVISIONED") == (
        IndexSpec("by_g", GLOBAL, KeySchema("g", "S", "gr", "N"), "ALL", (), 3, 4),
    )
    # Definitions no key uses are ignored, as AWS does (AWS-verified), and the table's own key may be an index key.
    extra = [*DEFINITIONS, {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "z", "AttributeType": "B"}]
    keyed_on_table_key = create(KeySchema=keys(("pk", "HASH"), ("g", "RANGE")),
                                Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]})  # fmt: skip
    assert specs_or_error(body(AttributeDefinitions=extra, GlobalSecondaryIndexUpdates=[keyed_on_table_key])) == (
        IndexSpec("by_g", GLOBAL, KeySchema("pk", "S", "g", "S"), "INCLUDE", ("a",)),
    )
    assert specs_or_error(body(GlobalSecondaryIndexUpdates=[delete("old")])) == ()  # no Create, no spec


def test_the_request_billing_mode_is_the_one_a_new_index_gets() -> None:
    switched = body(BillingMode="PROVISIONED", ProvisionedThroughput=THROUGHPUT, AttributeDefinitions=DEFINITIONS,
                    GlobalSecondaryIndexUpdates=[create()])  # fmt: skip
    assert specs_or_error(switched, "PAY_PER_REQUEST") == (
        "ValidationException", f"{INVALID}ProvisionedThroughput must be specified for index: by_g"
    )


TABLE_REFUSALS = [
    ("name-in-use", body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create(IndexName="old")]),
     "PAY_PER_REQUEST", ("ValidationException", "Attempting to create an index which already exists")),
    # Before the index's own schema is looked at.
    ("lsi-name-in-use", body(GlobalSecondaryIndexUpdates=[create(IndexName="by_l", KeySchema=keys(("x", "RANGE")))]),
     "PAY_PER_REQUEST", ("ValidationException", "Attempting to create an index which already exists")),
    ("delete-missing-index", body(GlobalSecondaryIndexUpdates=[delete("ghost")]), "PAY_PER_REQUEST",
     ("ResourceNotFoundException", "Requested resource not found: Index ghost for table things")),
    ("update-missing-index", body(GlobalSecondaryIndexUpdates=[update("ghost")]), "PROVISIONED",
     ("ResourceNotFoundException", "Requested resource not found: Index ghost for table things")),
    ("delete-local-index", body(GlobalSecondaryIndexUpdates=[delete("by_l")]), "PAY_PER_REQUEST",
     ("ValidationException", "Cannot delete an index that is not a GlobalSecondaryIndex: by_l")),
    ("update-local-index", body(GlobalSecondaryIndexUpdates=[update("by_l")]), "PROVISIONED",
     ("ValidationException", "Cannot update an index that is not a GlobalSecondaryIndex: by_l")),
    ("no-definitions", body(GlobalSecondaryIndexUpdates=[create()]), "PAY_PER_REQUEST",
     ("ValidationException", f"{INVALID}AttributeDefinitions is not specified for index: by_g")),
    ("undefined-key", body(AttributeDefinitions=DEFINITIONS[:1], GlobalSecondaryIndexUpdates=[create()]),
     "PAY_PER_REQUEST",
     ("ValidationException", f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
                             "Keys: [gr], AttributeDefinitions: [g]")),
    ("redefined-attribute",
     body(AttributeDefinitions=[{"AttributeName": "l", "AttributeType": "S"}],
          GlobalSecondaryIndexUpdates=[create(KeySchema=keys(("l", "HASH")))]),
     "PAY_PER_REQUEST",
     ("ValidationException", f"{INVALID}Attributes cannot be redefined. Please check that your attribute has the "
                             "same type as previously defined. Existing schema: Schema:[SchemaElement: key{l:N:HASH}] "
                             "New schema: Schema:[SchemaElement: key{l:S:HASH}]")),
    ("range-first", body(AttributeDefinitions=DEFINITIONS,
                         GlobalSecondaryIndexUpdates=[create(KeySchema=keys(("gr", "RANGE"), ("g", "HASH")))]),
     "PAY_PER_REQUEST", ("ValidationException", "Invalid KeySchema: The first KeySchemaElement is not a HASH key type")),
    ("include-without-attributes",
     body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create(Projection={"ProjectionType": "INCLUDE"})]),
     "PAY_PER_REQUEST",
     ("ValidationException", f"{INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified")),
    ("on-demand-with-throughput",
     body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create(ProvisionedThroughput=THROUGHPUT)]),
     "PAY_PER_REQUEST",
     ("ValidationException", f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for "
                             "index: by_g when BillingMode is PAY_PER_REQUEST")),
    ("provisioned-without-throughput", body(AttributeDefinitions=DEFINITIONS, GlobalSecondaryIndexUpdates=[create()]),
     "PROVISIONED", ("ValidationException", f"{INVALID}ProvisionedThroughput must be specified for index: by_g")),
]  # fmt: skip


@pytest.mark.parametrize(("label", "request_body", "billing_mode", "expected"), TABLE_REFUSALS,
                         ids=[case[0] for case in TABLE_REFUSALS])  # fmt: skip
def test_what_the_table_refuses(label: str, request_body: dict[str, Any], billing_mode: str,
                                expected: tuple[str, str]) -> None:  # fmt: skip
    assert specs_or_error(request_body, billing_mode) == expected


def unchanged(subject: str, noun: str, read: int, write: int) -> str:
    return (
        f"The provisioned throughput for the {subject} will not change. The requested value equals the current "
        f"value. Current ReadCapacityUnits provisioned for the {noun}: {read}. Requested ReadCapacityUnits: {read}. "
        f"Current WriteCapacityUnits provisioned for the {noun}: {write}. Requested WriteCapacityUnits: {write}. "
        "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
    )


def test_throughput_changes_against_the_tables() -> None:
    def problem(request_body: dict[str, Any], mode: str, indexes: dict[str, tuple[int, int]] | None = None) -> str | None:
        read, write = (5, 6) if mode == "PROVISIONED" else (0, 0)  # an on-demand table's throughput reads 0
        return table_throughput_change_problem(parse_update_table(request_body), mode, read, write, index_throughputs=indexes)

    neither = f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
    same = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6}
    assert problem(body(ProvisionedThroughput=same), "PAY_PER_REQUEST") == neither
    assert problem(body(BillingMode="PAY_PER_REQUEST", ProvisionedThroughput=THROUGHPUT), "PROVISIONED") == neither
    assert problem(body(ProvisionedThroughput=same), "PROVISIONED") == unchanged("table", "table", 5, 6)
    assert problem(body(ProvisionedThroughput=THROUGHPUT), "PROVISIONED") is None
    assert problem(body(BillingMode="PROVISIONED", ProvisionedThroughput=same), "PAY_PER_REQUEST", {}) is None
    assert problem(body(BillingMode="PROVISIONED", ProvisionedThroughput=same), "PAY_PER_REQUEST",
                   {"a_1": (0, 0), "by_g": (0, 0), "b_2": (0, 0)}) == (  # fmt: skip
        f"{INVALID}ProvisionedThroughput must be specified for index: a_1,by_g,b_2"
    )
    assert problem(body(BillingMode="PROVISIONED", ProvisionedThroughput=same, GlobalSecondaryIndexUpdates=[update()]),
                   "PAY_PER_REQUEST", {"by_g": (0, 0)}) is None  # fmt: skip
    assert problem(body(GlobalSecondaryIndexUpdates=[update()]), "PAY_PER_REQUEST") == (
        f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: by_g when "
        "BillingMode is PAY_PER_REQUEST"
    )
    assert problem(body(GlobalSecondaryIndexUpdates=[update(read=3, write=4)]), "PROVISIONED", {"by_g": (3, 4)}) == (
        unchanged("index by_g", "index", 3, 4)
    )
    assert problem(body(GlobalSecondaryIndexUpdates=[update(read=3, write=4)]), "PROVISIONED", {"by_g": (3, 5)}) is None
    assert problem(body(BillingMode="PAY_PER_REQUEST"), "PROVISIONED") is None


# ---------------------------------------------------------------------------- against dynalite


async def _theirs(port: int, operation: str, request_body: dict[str, Any]) -> tuple[str, str]:
    status, reply = await http_call("127.0.0.1", port, operation, request_body)
    if status == 200:
        return "OK", ""
    return str(reply.get("__type", "")).rsplit("#", 1)[-1], str(reply.get("message") or reply.get("Message") or "")


def _table(name: str, billing: dict[str, Any], index_throughput: dict[str, Any]) -> dict[str, Any]:
    return {
        "TableName": name, "KeySchema": keys(("pk", "HASH")), **billing,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, DEFINITIONS[0]],
        "GlobalSecondaryIndexes": [{**GSI, "KeySchema": keys(("g", "HASH")), **index_throughput}],
    }  # fmt: skip


async def _create_tables(port: int) -> None:
    provisioned = _table("provisioned", {"ProvisionedThroughput": THROUGHPUT}, {"ProvisionedThroughput": THROUGHPUT})
    on_demand = _table("on-demand", {"BillingMode": "PAY_PER_REQUEST"}, {})
    for table in (provisioned, on_demand):
        assert await _theirs(port, "CreateTable", table) == ("OK", "")
    for _ in range(100):  # ACTIVE at once (--createTableMs 0), but after a timer
        statuses = [(await http_call("127.0.0.1", port, "DescribeTable", {"TableName": name}))[1]["Table"]["TableStatus"]
                    for name in ("provisioned", "on-demand")]  # fmt: skip
        if statuses == ["ACTIVE", "ACTIVE"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"dynalite tables not ACTIVE: {statuses}")


# (table, body, our table's billing mode and throughputs) refused by dynalite's actions/updateTable.js.
TABLE_CHECKS = [
    ("provisioned", body(ProvisionedThroughput=THROUGHPUT)),
    ("provisioned", body(BillingMode="PAY_PER_REQUEST", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2})),
    ("on-demand", body(ProvisionedThroughput=THROUGHPUT)),
    ("on-demand", body(BillingMode="PROVISIONED", ProvisionedThroughput=THROUGHPUT)),
]  # fmt: skip
TABLES = {"provisioned": ("PROVISIONED", 5, 5, {"by_g": (5, 5)}), "on-demand": ("PAY_PER_REQUEST", 0, 0, {"by_g": (0, 0)})}


def _our_table_answer(table: str, request_body: dict[str, Any]) -> tuple[str, str]:
    mode, read, write, indexes = TABLES[table]
    message = table_throughput_change_problem(parse_update_table(request_body), mode, read, write, index_throughputs=indexes)
    return ("OK", "") if message is None else ("ValidationException", message)


def test_update_table_refusals_agree_with_dynalite(dynalite_port: int) -> None:
    refusals = {label: (request_body, (code, message)) for label, request_body, code, message in REFUSALS}
    bodies = [{**refusals[label][0], "TableName": "provisioned"} if label != "bad-table-name" else refusals[label][0]
              for label in DYNALITE_AGREES]  # fmt: skip
    table_bodies = [{**request_body, "TableName": table} for table, request_body in TABLE_CHECKS]

    async def answers() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        await _create_tables(dynalite_port)
        theirs = [await _theirs(dynalite_port, "UpdateTable", request_body) for request_body in bodies]
        return theirs, [await _theirs(dynalite_port, "UpdateTable", request_body) for request_body in table_bodies]

    theirs, theirs_for_tables = asyncio.run(answers())
    ours = [refusals[label][1] for label in DYNALITE_AGREES]
    assert [answer(request_body) for request_body in bodies] == ours  # the table's name changes no message
    differences = [(label, mine, their) for label, mine, their in zip(DYNALITE_AGREES, ours, theirs, strict=True)
                   if mine != their]  # fmt: skip
    assert not differences, "\n".join(f"{label}\n  ours     {mine}\n  dynalite {their}" for label, mine, their in differences)
    ours_for_tables = [_our_table_answer(table, request_body) for (table, _), request_body in zip(TABLE_CHECKS, table_bodies, strict=True)]
    assert ours_for_tables == theirs_for_tables
    assert all(code == "ValidationException" for code, _ in ours_for_tables)
