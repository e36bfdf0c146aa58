"""Secondary indexes in requests: CreateTable's GlobalSecondaryIndexes and LocalSecondaryIndexes validated as
DynamoDB validates them, what an index holds of an item, their TableDescription, and Query's and Scan's
IndexName and Select. The last test compares CreateTable answers with dynalite's (no cluster needed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bench.http_load import call as http_call
from cluster.api.attribute_values import KeySchema
from cluster.api.errors import ApiError, ValidationException
from cluster.api.requests import CreateTableRequest, QueryRequest, ScanRequest, parse_request
from cluster.api.secondary_indexes import (
    GLOBAL,
    LOCAL,
    IndexSpec,
    check_attribute_definitions,
    check_index_keys,
    describe_indexes,
    java_hash_set_order,
    parse_secondary_indexes,
)
from cluster.api.tables import TableInfo, describe_table_json, table_info_from_request

INVALID = "One or more parameter values were invalid: "
TYPES = {"pk": "S", "sk": "S", "g": "S", "gr": "N", "l": "N", "b": "B"}
THROUGHPUT = {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}


def keys(*elements: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": key_type} for name, key_type in elements]


TABLE_KEYS = keys(("pk", "HASH"), ("sk", "RANGE"))
GSI = {"IndexName": "by_g", "KeySchema": keys(("g", "HASH"), ("gr", "RANGE")), "Projection": {"ProjectionType": "ALL"}}
LSI = {"IndexName": "by_l", "KeySchema": keys(("pk", "HASH"), ("l", "RANGE")), "Projection": {"ProjectionType": "KEYS_ONLY"}}


def used_definitions(body: dict[str, Any]) -> list[dict[str, str]]:
    """AttributeDefinitions for exactly the key attributes the table and its indexes use (TYPES' types)."""
    names: list[str] = []
    indexes = [*body.get("GlobalSecondaryIndexes", []), *body.get("LocalSecondaryIndexes", [])]
    for schema in [body["KeySchema"], *(index.get("KeySchema") or [] for index in indexes)]:
        for element in schema:
            if element.get("AttributeName") in TYPES and element["AttributeName"] not in names:
                names.append(element["AttributeName"])
    return [{"AttributeName": name, "AttributeType": TYPES[name]} for name in names]


def table(**changes: Any) -> dict[str, Any]:
    """A CreateTable body (PAY_PER_REQUEST, key pk + sk) with `changes`; None removes a member. Without
    AttributeDefinitions in `changes`, they define exactly the keys used."""
    body: dict[str, Any] = {"TableName": "things", "KeySchema": TABLE_KEYS, "BillingMode": "PAY_PER_REQUEST"}
    body.update(changes)
    body = {name: value for name, value in body.items() if value is not None}
    body.setdefault("AttributeDefinitions", used_definitions(body))
    return body


def rejects(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as raised:
        parse_request(operation, body)
    return raised.value.message


def gsi(**changes: Any) -> dict[str, Any]:
    return {name: value for name, value in {**GSI, **changes}.items() if value is not None}


def lsi(**changes: Any) -> dict[str, Any]:
    return {name: value for name, value in {**LSI, **changes}.items() if value is not None}


# ---------------------------------------------------------------------------- CreateTable


def test_a_table_with_a_global_and_a_local_index_is_accepted() -> None:
    include = gsi(IndexName="by_b", KeySchema=keys(("b", "HASH")),
                  Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["z", "a"]})  # fmt: skip
    request = parse_request(
        "CreateTable",
        table(BillingMode=None, ProvisionedThroughput=THROUGHPUT, LocalSecondaryIndexes=[LSI],
              GlobalSecondaryIndexes=[gsi(ProvisionedThroughput=THROUGHPUT),
                                      {**include, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2}}]),
    )  # fmt: skip
    assert isinstance(request, CreateTableRequest)
    assert request.key_schema == KeySchema("pk", "S", "sk", "S")
    assert request.indexes == (
        IndexSpec("by_g", GLOBAL, KeySchema("g", "S", "gr", "N"), "ALL", (), 3, 4),
        IndexSpec("by_b", GLOBAL, KeySchema("b", "B"), "INCLUDE", ("z", "a"), 1, 2),
        IndexSpec("by_l", LOCAL, KeySchema("pk", "S", "l", "N"), "KEYS_ONLY"),
    )
    assert request.attribute_definitions == {"pk": "S", "sk": "S", "g": "S", "gr": "N", "b": "B", "l": "N"}


def test_a_table_without_indexes_keeps_its_old_request() -> None:
    request = parse_request("CreateTable", table())
    assert request == CreateTableRequest("things", KeySchema("pk", "S", "sk", "S"), "PAY_PER_REQUEST", None, None, None)


def test_on_demand_indexes_have_no_capacity_and_what_aws_accepts_is_accepted() -> None:
    request = parse_request(
        "CreateTable",
        table(
            GlobalSecondaryIndexes=[gsi(KeySchema=TABLE_KEYS, IndexName="things")],  # the table's key and name
            # An LSI has no ProvisionedThroughput member: ignored. Its range key may be the table's own.
            LocalSecondaryIndexes=[lsi(KeySchema=TABLE_KEYS, ProvisionedThroughput=THROUGHPUT)],
        ),
    )
    assert isinstance(request, CreateTableRequest)
    assert [(spec.read_capacity_units, spec.write_capacity_units) for spec in request.indexes] == [(0, 0), (0, 0)]
    assert request.indexes[1].key_schema == KeySchema("pk", "S", "sk", "S")


def test_the_index_limits_are_inclusive() -> None:
    request = parse_request(
        "CreateTable",
        table(GlobalSecondaryIndexes=[gsi(IndexName=f"g{number:02}") for number in range(20)],
              LocalSecondaryIndexes=[lsi(IndexName=f"l{number:02}") for number in range(5)]),
    )  # fmt: skip
    assert isinstance(request, CreateTableRequest) and len(request.indexes) == 25
    hundred = [gsi(IndexName=f"gsi{number}", Projection={"ProjectionType": "INCLUDE",
                                                       "NonKeyAttributes": [f"a{n}" for n in range(20)]})
               for number in range(5)]  # fmt: skip
    assert len(parse_request("CreateTable", table(GlobalSecondaryIndexes=hundred)).indexes) == 5


def include(names: list[str]) -> dict[str, Any]:
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": names}


REFUSALS = [
    # Empty lists and counts.
    ("empty-gsi-list", table(GlobalSecondaryIndexes=[]), f"{INVALID}List of GlobalSecondaryIndexes is empty"),
    ("empty-lsi-list", table(LocalSecondaryIndexes=[]), f"{INVALID}List of LocalSecondaryIndexes is empty"),
    ("21-gsis", table(GlobalSecondaryIndexes=[gsi(IndexName=f"g{n:02}") for n in range(21)]),
     f"{INVALID}GlobalSecondaryIndex count exceeds the per-table limit of 20"),
    ("6-lsis", table(LocalSecondaryIndexes=[lsi(IndexName=f"l{n:02}") for n in range(6)]),
     f"{INVALID}Number of LocalSecondaryIndexes exceeds per-table limit of 5"),
    # Names.
    ("duplicate-gsi-names", table(GlobalSecondaryIndexes=[GSI, GSI]), f"{INVALID}Duplicate index name: by_g"),
    ("gsi-and-lsi-share-a-name", table(GlobalSecondaryIndexes=[GSI], LocalSecondaryIndexes=[lsi(IndexName="by_g")]),
     f"{INVALID}Duplicate index name: by_g"),
    ("short-name", table(GlobalSecondaryIndexes=[gsi(IndexName="ab")]),
     "1 validation error detected: Value 'ab' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy "
     "constraint: Member must have length greater than or equal to 3"),
    ("bad-name", table(LocalSecondaryIndexes=[lsi(IndexName="a b")]),
     "1 validation error detected: Value 'a b' at 'localSecondaryIndexes.1.member.indexName' failed to satisfy "
     "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
    ("null-name", table(GlobalSecondaryIndexes=[gsi(IndexName=None)]),
     "1 validation error detected: Value null at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy "
     "constraint: Member must not be null"),
    # Key schemas.
    ("no-key-schema", table(GlobalSecondaryIndexes=[gsi(KeySchema=None)]),
     "1 validation error detected: Value null at 'globalSecondaryIndexes.1.member.keySchema' failed to satisfy "
     "constraint: Member must not be null"),
    ("empty-key-schema", table(GlobalSecondaryIndexes=[gsi(KeySchema=[])]),
     "1 validation error detected: Value '[]' at 'globalSecondaryIndexes.1.member.keySchema' failed to satisfy "
     "constraint: Member must have length greater than or equal to 1"),
    ("three-keys", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("g", "HASH"), ("gr", "RANGE"), ("b", "RANGE")))]),
     "1 validation error detected: Value '[{\"AttributeName\":\"g\",\"KeyType\":\"HASH\"}, {\"AttributeName\":\"gr\","
     "\"KeyType\":\"RANGE\"}, {\"AttributeName\":\"b\",\"KeyType\":\"RANGE\"}]' at 'globalSecondaryIndexes.1.member."
     "keySchema' failed to satisfy constraint: Member must have length less than or equal to 2"),
    ("bad-key-type", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("g", "SIDEWAYS")))]),
     "1 validation error detected: Value 'SIDEWAYS' at 'globalSecondaryIndexes.1.member.keySchema.1.member.keyType' "
     "failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"),
    ("range-first", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("gr", "RANGE"), ("g", "HASH")))]),
     "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ("two-hash-keys", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("g", "HASH"), ("gr", "HASH")))]),
     "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
    ("gsi-repeats-a-key", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("g", "HASH"), ("g", "RANGE")))]),
     "The KeySchema contains multiple key attributes with the same name"),
    ("lsi-repeats-a-key", table(LocalSecondaryIndexes=[lsi(KeySchema=keys(("pk", "HASH"), ("pk", "RANGE")))]),
     "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
    # AttributeDefinitions against the keys of the table and its indexes.
    ("undefined-index-key", table(GlobalSecondaryIndexes=[GSI], AttributeDefinitions=used_definitions(
        {"KeySchema": TABLE_KEYS, "GlobalSecondaryIndexes": [gsi(KeySchema=keys(("g", "HASH")))]})),
     f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. Keys: [gr], "
     "AttributeDefinitions: [sk, pk, g]"),
    ("unused-definition", table(GlobalSecondaryIndexes=[gsi(KeySchema=keys(("g", "HASH")))],
                                AttributeDefinitions=used_definitions({"KeySchema": TABLE_KEYS,
                                                                       "GlobalSecondaryIndexes": [GSI]})),
     f"{INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: [sk, pk, gr, g], keys used: [g, sk, pk]"),
    ("duplicate-definition", table(AttributeDefinitions=used_definitions({"KeySchema": TABLE_KEYS}) * 2),
     "Attribute Name is duplicated: pk"),
    # Local indexes.
    ("lsi-on-a-hash-only-table", table(KeySchema=keys(("pk", "HASH")), LocalSecondaryIndexes=[LSI]),
     f"{INVALID}Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"),
    ("lsi-other-hash-key", table(LocalSecondaryIndexes=[lsi(KeySchema=keys(("g", "HASH"), ("l", "RANGE")))]),
     f"{INVALID}Index KeySchema does not have the same leading hash key as table KeySchema for index: by_l. "
     "index hash key: g, table hash key: pk"),
    ("lsi-without-range-key", table(LocalSecondaryIndexes=[lsi(KeySchema=keys(("pk", "HASH")))]),
     f"{INVALID}Index KeySchema does not have a range key for index: by_l"),
    # Projections.
    ("no-projection", table(GlobalSecondaryIndexes=[gsi(Projection=None)]),
     "1 validation error detected: Value null at 'globalSecondaryIndexes.1.member.projection' failed to satisfy "
     "constraint: Member must not be null"),
    ("no-projection-type", table(GlobalSecondaryIndexes=[gsi(Projection={})]), f"{INVALID}Unknown ProjectionType: null"),
    ("bad-projection-type", table(LocalSecondaryIndexes=[lsi(Projection={"ProjectionType": "all"})]),
     "1 validation error detected: Value 'all' at 'localSecondaryIndexes.1.member.projection.projectionType' failed to "
     "satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"),
    ("include-without-attributes", table(GlobalSecondaryIndexes=[gsi(Projection={"ProjectionType": "INCLUDE"})]),
     f"{INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified"),
    ("all-with-attributes", table(GlobalSecondaryIndexes=[gsi(Projection={"ProjectionType": "ALL", "NonKeyAttributes": ["a"]})]),
     f"{INVALID}ProjectionType is ALL, but NonKeyAttributes is specified"),
    ("keys-only-with-attributes", table(LocalSecondaryIndexes=[lsi(Projection={"ProjectionType": "KEYS_ONLY",
                                                                               "NonKeyAttributes": ["a"]})]),
     f"{INVALID}ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"),
    ("empty-attributes", table(GlobalSecondaryIndexes=[gsi(Projection=include([]))]),
     "1 validation error detected: Value '[]' at 'globalSecondaryIndexes.1.member.projection.nonKeyAttributes' failed "
     "to satisfy constraint: Member must have length greater than or equal to 1"),
    ("21-attributes", table(GlobalSecondaryIndexes=[gsi(Projection=include([f"a{n}" for n in range(21)]))]),
     "1 validation error detected: Value '[" + ", ".join(f"a{n}" for n in range(21)) + "]' at 'globalSecondaryIndexes."
     "1.member.projection.nonKeyAttributes' failed to satisfy constraint: Member must have length less than or equal to 20"),
    ("duplicate-attribute", table(GlobalSecondaryIndexes=[gsi(Projection=include(["a", "b", "a"]))]),
     f"{INVALID}Duplicate element in NonKeyAttributes: a"),
    ("101-attributes-in-all",
     table(GlobalSecondaryIndexes=[gsi(IndexName=f"gsi{n}", Projection=include([f"a{k}" for k in range(20)])) for n in range(5)],
           LocalSecondaryIndexes=[lsi(Projection=include(["x"]))]),
     f"{INVALID}Number of projected attributes in all indexes exceeds limit of 100"),
    # Capacity.
    ("provisioned-gsi-without-throughput", table(BillingMode=None, ProvisionedThroughput=THROUGHPUT,
                                                 GlobalSecondaryIndexes=[GSI]),
     f"{INVALID}ProvisionedThroughput is not specified for index: by_g"),
    ("on-demand-gsi-with-throughput", table(GlobalSecondaryIndexes=[gsi(ProvisionedThroughput=THROUGHPUT)]),
     f"{INVALID}ProvisionedThroughput should not be specified for index: by_g when BillingMode is PAY_PER_REQUEST"),
    ("gsi-throughput-zero", table(GlobalSecondaryIndexes=[gsi(ProvisionedThroughput={"ReadCapacityUnits": 0})]),
     "2 validation errors detected: Value null at 'globalSecondaryIndexes.1.member.provisionedThroughput."
     "writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value '0' at 'globalSecondaryIndexes."
     "1.member.provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater "
     "than or equal to 1"),
    # The indexes' member constraints are reported with the table's.
    ("with-the-table's-problems", table(BillingMode="FREE", KeySchema=keys(("pk", "SIDEWAYS")), LocalSecondaryIndexes=[
        {"IndexName": "by_l", "KeySchema": [{}], "Projection": {}}]),
     "3 validation errors detected: Value 'SIDEWAYS' at 'keySchema.1.member.keyType' failed to satisfy constraint: "
     "Member must satisfy enum value set: [HASH, RANGE]; Value null at 'localSecondaryIndexes.1.member.keySchema.1."
     "member.attributeName' failed to satisfy constraint: Member must not be null; Value null at 'localSecondaryIndexes."
     "1.member.keySchema.1.member.keyType' failed to satisfy constraint: Member must not be null"),
    # AWS checks the definitions before the other index rules (here: the missing projection type).
    ("definitions-first", table(GlobalSecondaryIndexes=[gsi(Projection={})],
                                AttributeDefinitions=[*used_definitions({"KeySchema": TABLE_KEYS,
                                                                         "GlobalSecondaryIndexes": [GSI]}),
                                                      {"AttributeName": "x", "AttributeType": "S"}]),
     f"{INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: [sk, x, pk, gr, g], keys used: "
     "[g, sk, pk, gr]"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), [(body, message) for _, body, message in REFUSALS],
                         ids=[label for label, _, _ in REFUSALS])  # fmt: skip
def test_create_table_refuses_what_dynamodb_refuses(body: dict[str, Any], message: str) -> None:
    assert rejects("CreateTable", body) == message


def test_the_table_key_definitions_keep_their_messages_without_indexes() -> None:
    only_pk = [{"AttributeName": "pk", "AttributeType": "S"}]
    assert rejects("CreateTable", table(AttributeDefinitions=only_pk)) == (
        "Invalid KeySchema: Some index key attribute have no definition"
    )
    other = [*only_pk, {"AttributeName": "x", "AttributeType": "S"}]
    assert rejects("CreateTable", table(AttributeDefinitions=other)) == (
        f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. Keys: [sk, pk], "
        "AttributeDefinitions: [x, pk]"
    )
    extra = [*used_definitions({"KeySchema": TABLE_KEYS}), {"AttributeName": "x", "AttributeType": "S"}]
    assert rejects("CreateTable", table(AttributeDefinitions=extra)) == (
        f"{INVALID}Number of attributes in KeySchema does not exactly match number of attributes defined in "
        "AttributeDefinitions"
    )


def test_attribute_names_are_listed_in_the_order_of_a_java_hash_set() -> None:
    # The orders of real AWS messages: definitions sent as [key, assignedTo, roles, tt] came back as
    # [tt, key, assignedTo, roles], keys used as [tt, key, assignedTo]; [pk, sk, a, b, c] as
    # [sk, a, b, pk, c] with keys used [a, sk, pk].
    assert java_hash_set_order(["key", "assignedTo", "roles", "tt"], 4) == ["tt", "key", "assignedTo", "roles"]
    assert java_hash_set_order(["key", "assignedTo", "tt"]) == ["tt", "key", "assignedTo"]
    assert java_hash_set_order(["pk", "sk", "a", "b", "c"], 5) == ["sk", "a", "b", "pk", "c"]
    assert java_hash_set_order(["pk", "sk", "a"]) == ["a", "sk", "pk"]
    with pytest.raises(ValidationException) as raised:
        check_attribute_definitions(["pk", "sk", "a", "b", "c"], ["pk", "sk"], [["a"]])
    assert raised.value.message == (
        f"{INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: [sk, a, b, pk, c], keys used: [a, sk, pk]"
    )
    check_attribute_definitions(["sk", "pk"], ["pk", "sk"], [])  # the same set in another order is fine


def test_parse_secondary_indexes_alone_refuses_what_create_table_refuses() -> None:
    schema = KeySchema("pk", "S", "sk", "S")
    with pytest.raises(ValidationException, match="Unknown ProjectionType: null"):
        parse_secondary_indexes({"GlobalSecondaryIndexes": [gsi(Projection={})]}, schema,
                                {"pk": "S", "sk": "S", "g": "S", "gr": "N"}, "PAY_PER_REQUEST")  # fmt: skip
    with pytest.raises(ValidationException, match="Some AttributeDefinitions are not used"):
        parse_secondary_indexes({"GlobalSecondaryIndexes": [GSI]}, schema,
                                {"pk": "S", "sk": "S", "g": "S", "gr": "N", "x": "S"}, "PAY_PER_REQUEST")  # fmt: skip
    assert parse_secondary_indexes({}, schema, {"pk": "S", "sk": "S"}, "PROVISIONED") == ()


# ---------------------------------------------------------------------------- the spec


SPEC = IndexSpec("by_g", GLOBAL, KeySchema("g", "S", "gr", "N"), "INCLUDE", ("a", "c"), 5, 6)
TABLE_SCHEMA = KeySchema("pk", "S", "sk", "S")
ITEM = {"pk": {"S": "p"}, "sk": {"S": "s"}, "g": {"S": "x"}, "gr": {"N": "1"}, "a": {"N": "2"}, "f": {"BOOL": True}}


def test_a_spec_round_trips_through_json() -> None:
    assert IndexSpec.from_json(json.loads(json.dumps(SPEC.to_json()))) == SPEC
    local = IndexSpec("by_l", LOCAL, KeySchema("pk", "S", "l", "N"), "ALL")
    assert IndexSpec.from_json(local.to_json()) == local
    minimal = {"name": "n", "kind": GLOBAL, "key_schema": KeySchema("g", "S").to_json(), "projection_type": "ALL"}
    assert IndexSpec.from_json(minimal) == IndexSpec("n", GLOBAL, KeySchema("g", "S"), "ALL")


def test_index_key_is_none_when_a_key_attribute_is_missing() -> None:
    assert SPEC.index_key(ITEM) == {"g": {"S": "x"}, "gr": {"N": "1"}}
    assert SPEC.index_key({name: value for name, value in ITEM.items() if name != "gr"}) is None
    assert SPEC.index_key({name: value for name, value in ITEM.items() if name != "g"}) is None
    hash_only = IndexSpec("by_b", GLOBAL, KeySchema("b", "B"), "KEYS_ONLY")
    assert hash_only.index_key({"b": {"B": "AQ=="}, "c": {"S": "y"}}) == {"b": {"B": "AQ=="}}


def test_project_keeps_what_each_projection_type_keeps() -> None:
    assert SPEC.project(ITEM, TABLE_SCHEMA) == {name: ITEM[name] for name in ("pk", "sk", "g", "gr", "a")}
    assert SPEC.projected_names(TABLE_SCHEMA) == {"pk", "sk", "g", "gr", "a", "c"}
    keys_only = IndexSpec("k", GLOBAL, KeySchema("g", "S"), "KEYS_ONLY")
    assert keys_only.project(ITEM, TABLE_SCHEMA) == {name: ITEM[name] for name in ("pk", "sk", "g")}
    assert keys_only.projected_names(TABLE_SCHEMA) == {"pk", "sk", "g"}
    everything = IndexSpec("e", GLOBAL, KeySchema("g", "S"), "ALL")
    projected = everything.project(ITEM, TABLE_SCHEMA)
    assert projected == ITEM and projected is not ITEM
    assert everything.projected_names(TABLE_SCHEMA) is None


def test_check_index_keys_refuses_wrong_types_and_empty_values() -> None:
    local = IndexSpec("by_l", LOCAL, KeySchema("pk", "S", "l", "N"), "ALL")
    binary = IndexSpec("by_b", GLOBAL, KeySchema("b", "B"), "ALL")
    specs = [SPEC, local, binary]
    check_index_keys(ITEM, specs)
    check_index_keys({"pk": {"S": "p"}, "sk": {"S": "s"}}, specs)  # not in any index: fine
    cases = [
        ({"gr": {"S": "1"}}, f"{INVALID}Type mismatch for Index Key gr Expected: N Actual: S IndexName: by_g"),
        ({"l": {"SS": ["1"]}}, f"{INVALID}Type mismatch for Index Key l Expected: N Actual: SS IndexName: by_l"),
        ({"g": {"S": ""}}, "One or more parameter values are not valid. A value specified for a secondary index key "
                           "is not supported. The AttributeValue for a key attribute cannot contain an empty string "
                           "value. IndexName: by_g, IndexKey: g"),
        ({"b": {"B": ""}}, "One or more parameter values are not valid. A value specified for a secondary index key "
                           "is not supported. The AttributeValue for a key attribute cannot contain an empty binary "
                           "value. IndexName: by_b, IndexKey: b"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(ValidationException) as raised:
            check_index_keys({**ITEM, **change}, specs)
        assert raised.value.message == message


# ---------------------------------------------------------------------------- TableDescription


def test_describe_indexes_has_dynamodb_s_shape() -> None:
    local = IndexSpec("by_l", LOCAL, KeySchema("pk", "S", "l", "N"), "KEYS_ONLY")
    described = describe_indexes([SPEC, local], "ACTIVE", "arn:aws:dynamodb:r:1:table/t")
    assert described == {
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_g",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gr", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "c"]},
            "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
            "IndexSizeBytes": 0,
            "ItemCount": 0,
            "IndexArn": "arn:aws:dynamodb:r:1:table/t/index/by_g",
        }],
        "LocalSecondaryIndexes": [{
            "IndexName": "by_l",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "IndexSizeBytes": 0,
            "ItemCount": 0,
            "IndexArn": "arn:aws:dynamodb:r:1:table/t/index/by_l",
        }],
    }  # fmt: skip
    assert describe_indexes([SPEC], "CREATING", "arn")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    assert describe_indexes([], "ACTIVE", "arn") == {}
    unsorted = IndexSpec("u", GLOBAL, KeySchema("g", "S"), "INCLUDE", ("zz", "aa", "mm"))
    # DescribeTable sorts NonKeyAttributes by name.
    assert describe_indexes([unsorted], "ACTIVE", "arn")["GlobalSecondaryIndexes"][0]["Projection"] == {
        "ProjectionType": "INCLUDE", "NonKeyAttributes": ["aa", "mm", "zz"]}  # fmt: skip


def test_a_table_with_indexes_is_described_with_them() -> None:
    request = parse_request("CreateTable", table(GlobalSecondaryIndexes=[GSI], LocalSecondaryIndexes=[LSI]))
    assert isinstance(request, CreateTableRequest)
    info = table_info_from_request(request, table_id="tid", creation_time_s=1.0, default_partition_count=2)
    assert TableInfo.from_json(json.loads(json.dumps(info.to_json()))) == info
    described = describe_table_json(info)
    assert described["AttributeDefinitions"] == [
        {"AttributeName": name, "AttributeType": TYPES[name]} for name in ("pk", "sk", "g", "gr", "l")
    ]
    assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == ["by_g"]
    assert described["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    assert described["GlobalSecondaryIndexes"][0]["IndexArn"] == described["TableArn"] + "/index/by_g"
    assert [index["IndexName"] for index in described["LocalSecondaryIndexes"]] == ["by_l"]


def test_a_table_saved_before_indexes_still_loads_and_describes() -> None:
    old = {"name": "t", "key_schema": KeySchema("pk", "S", "sk", "N").to_json(), "status": "ACTIVE",
           "creation_time_s": 1.0, "table_id": "tid", "billing_mode": "PAY_PER_REQUEST", "read_capacity_units": 0,
           "write_capacity_units": 0, "partition_count": 1, "item_count": 0, "size_bytes": 0}  # fmt: skip
    info = TableInfo.from_json(old)
    assert (info.indexes, info.attribute_definitions) == ([], None)
    described = describe_table_json(info)
    assert described["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}]  # fmt: skip
    assert "GlobalSecondaryIndexes" not in described and "LocalSecondaryIndexes" not in described


# ---------------------------------------------------------------------------- Query and Scan


QUERY = {"TableName": "things", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}}
SCAN = {"TableName": "things"}


@pytest.mark.parametrize("operation", ["Query", "Scan"])
def test_index_name_is_parsed_and_selects_the_projected_attributes_by_default(operation: str) -> None:
    base = QUERY if operation == "Query" else SCAN
    request = parse_request(operation, {**base, "IndexName": "by_g"})
    assert isinstance(request, QueryRequest | ScanRequest)
    assert (request.index_name, request.select) == ("by_g", "ALL_PROJECTED_ATTRIBUTES")
    request = parse_request(operation, base)
    assert (request.index_name, request.select) == (None, "ALL_ATTRIBUTES")
    for select in ("ALL_PROJECTED_ATTRIBUTES", "ALL_ATTRIBUTES", "COUNT"):
        assert parse_request(operation, {**base, "IndexName": "by_g", "Select": select}).select == select
    projected = parse_request(operation, {**base, "IndexName": "by_g", "ProjectionExpression": "a"})
    assert (projected.select, projected.projection) == ("SPECIFIC_ATTRIBUTES", (("a",),))
    assert parse_request(operation, {**base, "IndexName": "by_g", "Select": "COUNT"}).select == "COUNT"
    if operation == "Scan":
        assert parse_request(operation, {**base, "IndexName": "by_g", "Select": "COUNT"}).select_count


@pytest.mark.parametrize("operation", ["Query", "Scan"])
def test_select_is_refused_as_dynamodb_refuses_it(operation: str) -> None:
    base = QUERY if operation == "Query" else SCAN
    prefix = "1 validation error detected: " if operation == "Query" else ""  # AWS's own asymmetry
    assert rejects(operation, {**base, "Select": "ALL_PROJECTED_ATTRIBUTES"}) == (
        f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
    )
    for select, wanted in (("ALL_PROJECTED_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"),
                           ("ALL_ATTRIBUTES", "ALL_ATTRIBUTES"), ("COUNT", "only the Count")):  # fmt: skip
        for index in ({"IndexName": "by_g"}, {}):
            body = {**base, **index, "Select": select, "ProjectionExpression": "a"}
            assert rejects(operation, body) == f"{prefix}Cannot specify the ProjectionExpression when choosing to get {wanted}"
    legacy = {"TableName": "things", "IndexName": "by_g", "AttributesToGet": ["a"], "Select": "ALL_PROJECTED_ATTRIBUTES"}
    if operation == "Query":
        legacy["KeyConditions"] = {"g": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}
    assert rejects(operation, legacy) == f"{prefix}Cannot specify the AttributesToGet when choosing to get ALL_PROJECTED_ATTRIBUTES"
    assert rejects(operation, {**base, "IndexName": "by_g", "Select": "SPECIFIC_ATTRIBUTES"}) == (
        f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
    )
    assert rejects(operation, {**base, "Select": "count"}) == (
        "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: Member must satisfy "
        "enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
    )


@pytest.mark.parametrize("operation", ["Query", "Scan"])
def test_index_name_must_look_like_one(operation: str) -> None:
    base = QUERY if operation == "Query" else SCAN
    assert rejects(operation, {**base, "IndexName": ""}) == (
        "2 validation errors detected: Value '' at 'indexName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'indexName' failed to satisfy constraint: Member "
        "must have length greater than or equal to 3"
    )
    assert rejects(operation, {**base, "IndexName": "x" * 256}).endswith(
        "at 'indexName' failed to satisfy constraint: Member must have length less than or equal to 255"
    )
    assert parse_request(operation, {**base, "IndexName": "a.b-c_9"}).index_name == "a.b-c_9"


# ---------------------------------------------------------------------------- against dynalite


# CreateTable cases where dynalite answers as we do. Where dynalite and AWS differ, REFUSALS above holds
# AWS's answer and the case is not here: INCLUDE without NonKeyAttributes, a PROVISIONED GSI without
# ProvisionedThroughput, a duplicate NonKeyAttribute, more than 20 NonKeyAttributes or 100 in all, an unused
# definition beside indexes, a duplicate definition, a bad index KeyType, a GSI repeating a key attribute,
# and the order attribute names are listed in. One difference is kept on purpose: AWS now accepts
# multi-attribute GSI keys ("two-hash-keys", "three-keys"); this store refuses them, as dynalite does.
AGREED = [
    "empty-gsi-list", "empty-lsi-list", "21-gsis", "6-lsis", "duplicate-gsi-names", "gsi-and-lsi-share-a-name",
    "short-name", "bad-name", "null-name", "no-key-schema", "empty-key-schema", "three-keys", "range-first",
    "two-hash-keys", "lsi-repeats-a-key", "lsi-on-a-hash-only-table", "lsi-other-hash-key", "lsi-without-range-key",
    "no-projection", "no-projection-type", "bad-projection-type", "all-with-attributes", "keys-only-with-attributes",
    "empty-attributes", "on-demand-gsi-with-throughput", "gsi-throughput-zero",
]  # fmt: skip


def _ours(body: dict[str, Any]) -> tuple[str, str]:
    try:
        parse_request("CreateTable", body)
    except ApiError as error:
        return error.code, error.message
    return "OK", ""


async def _theirs(port: int, body: dict[str, Any]) -> tuple[str, str]:
    status, answer = await http_call("127.0.0.1", port, "CreateTable", body)
    if status == 200:
        return "OK", ""
    return str(answer.get("__type", "")).rsplit("#", 1)[-1], str(answer.get("message") or answer.get("Message") or "")


def test_create_table_with_indexes_agrees_with_dynalite(dynalite_port: int) -> None:
    refusals = {label: body for label, body, _ in REFUSALS}
    accepted = [table(GlobalSecondaryIndexes=[GSI], LocalSecondaryIndexes=[LSI]),
                table(LocalSecondaryIndexes=[lsi(KeySchema=TABLE_KEYS, ProvisionedThroughput=THROUGHPUT)]),
                table(BillingMode=None, ProvisionedThroughput=THROUGHPUT,
                      GlobalSecondaryIndexes=[gsi(ProvisionedThroughput=THROUGHPUT)])]  # fmt: skip
    bodies = [dict(refusals[label]) for label in AGREED] + accepted
    for number, body in enumerate(bodies):
        body["TableName"] = f"indexes-{number:03}"  # each success creates a table in dynalite

    async def answers() -> list[tuple[str, str]]:
        return [await _theirs(dynalite_port, body) for body in bodies]

    theirs = asyncio.run(answers())
    differences = [(body, _ours(body), answer) for body, answer in zip(bodies, theirs, strict=True) if _ours(body) != answer]
    assert not differences, "\n".join(f"{json.dumps(body)[:200]}\n  ours {ours}\n  dynalite {answer}"
                                      for body, ours, answer in differences)  # fmt: skip
    assert [answer for answer in theirs[-len(accepted):]] == [("OK", "")] * len(accepted)
