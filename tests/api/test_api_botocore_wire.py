"""Our wire shapes against the real botocore client, with the HTTP layer replaced by a
`before-send` hook: botocore serialises real requests and parses our responses exactly as
it would over a socket, so what passes here works with unmodified SDKs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.awsrequest
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError

from cluster.api import errors
from cluster.api.attribute_values import KeySchema
from cluster.api.requests import (
    CreateTableRequest,
    DeleteItemRequest,
    GetItemRequest,
    PutItemRequest,
    ScanRequest,
    parse_request,
)
from cluster.api.tables import TableInfo, describe_table_json


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class FakeDynamoDB:
    """Records what botocore sends and answers with a canned status and body."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        self.body: dict[str, Any] = {}
        session = botocore.session.get_session()
        self.client = session.create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        self.client.meta.events.register("before-send.dynamodb", self._answer)

    def _answer(
        self, request: botocore.awsrequest.AWSPreparedRequest, **_: Any
    ) -> botocore.awsrequest.AWSResponse:
        target = request.headers["X-Amz-Target"].decode()
        self.sent.append((target.split(".", 1)[1], json.loads(request.body)))
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return botocore.awsrequest.AWSResponse(
            request.url, self.status, headers, _RawBody(json.dumps(self.body).encode())
        )

    def last_request(self) -> tuple[str, dict[str, Any]]:
        return self.sent[-1]


@pytest.fixture()
def fake() -> FakeDynamoDB:
    return FakeDynamoDB()


ALL_ERRORS = [
    errors.ValidationException("bad"),
    errors.SerializationException("bad json"),
    errors.UnknownOperationException("what"),
    errors.ResourceNotFoundException(),
    errors.ResourceInUseException("busy"),
    errors.ConditionalCheckFailedException(),
    errors.ProvisionedThroughputExceededException(),
    errors.ThrottlingException("slow down"),
    errors.LimitExceededException("too many"),
    errors.InternalServerError(),
    errors.ServiceUnavailable(),
]


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda error: type(error).__name__)
def test_api_every_error_reaches_boto_with_its_code_status_and_message(
    fake: FakeDynamoDB, error: errors.ApiError
) -> None:
    fake.status, fake.body = error.http_status, error.body()
    with pytest.raises(ClientError) as raised:
        fake.client.get_item(TableName="things", Key={"id": {"S": "a"}})
    assert raised.value.response["Error"]["Code"] == error.code
    assert raised.value.response["Error"]["Message"] == error.message
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == error.http_status


def test_api_modeled_errors_become_the_client_exception_classes(fake: FakeDynamoDB) -> None:
    fake.status, fake.body = 400, errors.ResourceNotFoundException().body()
    with pytest.raises(fake.client.exceptions.ResourceNotFoundException):
        fake.client.describe_table(TableName="missing")
    fake.body = errors.ProvisionedThroughputExceededException().body()
    with pytest.raises(fake.client.exceptions.ProvisionedThroughputExceededException):
        fake.client.put_item(TableName="things", Item={"id": {"S": "a"}})


def test_api_conditional_check_failure_returns_the_old_item_to_boto(fake: FakeDynamoDB) -> None:
    old_item = {"id": {"S": "a"}, "count": {"N": "3"}}
    error = errors.ConditionalCheckFailedException(item=old_item)
    fake.status, fake.body = error.http_status, error.body()
    with pytest.raises(fake.client.exceptions.ConditionalCheckFailedException) as raised:
        fake.client.put_item(
            TableName="things",
            Item={"id": {"S": "a"}},
            ConditionExpression="attribute_not_exists(id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert raised.value.response["Item"] == old_item
    assert raised.value.response["Error"]["Message"] == "The conditional request failed"


def test_api_error_bodies_use_dynamodb_type_prefixes() -> None:
    assert errors.ValidationException("x").body() == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "x",
    }
    assert errors.ResourceNotFoundException().body()["__type"] == (
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    )
    assert "Item" not in errors.ConditionalCheckFailedException().body()


def test_api_describe_table_json_is_parsed_by_boto(fake: FakeDynamoDB) -> None:
    table = TableInfo(
        name="things",
        key_schema=KeySchema("id", "S", "at", "N"),
        status="ACTIVE",
        creation_time_s=1_700_000_000.5,
        table_id="3f1c-id",
        billing_mode="PROVISIONED",
        read_capacity_units=5,
        write_capacity_units=7,
        partition_count=4,
        item_count=2,
        size_bytes=99,
    )
    fake.body = {"Table": describe_table_json(table, region="eu-west-1", account="123456789012")}
    described = fake.client.describe_table(TableName="things")["Table"]
    assert described["CreationDateTime"].timestamp() == pytest.approx(1_700_000_000.5)
    assert described["KeySchema"] == [
        {"AttributeName": "id", "KeyType": "HASH"},
        {"AttributeName": "at", "KeyType": "RANGE"},
    ]
    assert described["AttributeDefinitions"] == [
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "at", "AttributeType": "N"},
    ]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert described["TableArn"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/things"
    assert (described["ItemCount"], described["TableSizeBytes"], described["TableId"]) == (2, 99, "3f1c-id")
    assert described["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


def test_api_parse_request_accepts_what_boto_serialises(fake: FakeDynamoDB) -> None:
    fake.client.create_table(
        TableName="things",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "gameday:partition-count", "Value": "8"}],
    )
    create = parse_request(*fake.last_request())
    assert create == CreateTableRequest("things", KeySchema("id", "S"), "PAY_PER_REQUEST", None, None, 8)

    fake.client.put_item(
        TableName="things",
        Item={"id": {"S": "a"}, "n": {"N": "1.50"}, "blob": {"B": b"\x00\x01"}},
        ConditionExpression="attribute_not_exists(#i) OR #n < :limit",
        ExpressionAttributeNames={"#i": "id", "#n": "n"},
        ExpressionAttributeValues={":limit": {"N": "10"}},
        ReturnValues="ALL_OLD",
    )
    put = parse_request(*fake.last_request())
    assert isinstance(put, PutItemRequest)
    assert put.item["n"] == {"N": "1.5"}
    assert put.item["blob"] == {"B": "AAE="}
    assert put.return_values == "ALL_OLD"
    assert put.condition is not None and put.condition.parse().evaluate(None)

    fake.client.get_item(
        TableName="things",
        Key={"id": {"S": "a"}},
        ConsistentRead=True,
        ProjectionExpression="#n, #b",
        ExpressionAttributeNames={"#n": "n", "#b": "blob"},
    )
    get = parse_request(*fake.last_request())
    assert get == GetItemRequest("things", {"id": {"S": "a"}}, True, (("n",), ("blob",)))

    fake.client.delete_item(TableName="things", Key={"id": {"S": "a"}})
    delete = parse_request(*fake.last_request())
    assert delete == DeleteItemRequest("things", {"id": {"S": "a"}}, None, "NONE")

    fake.client.scan(
        TableName="things",
        Limit=10,
        FilterExpression="n > :low",
        ExpressionAttributeValues={":low": {"N": "0"}},
        ExclusiveStartKey={"id": {"S": "a"}},
        Select="COUNT",
    )
    scan = parse_request(*fake.last_request())
    assert isinstance(scan, ScanRequest)
    assert (scan.limit, scan.select_count, scan.exclusive_start_key) == (10, True, {"id": {"S": "a"}})
    assert scan.filter is not None and scan.filter.parse().evaluate({"n": {"N": "2"}})

    fake.body = {"TableNames": []}
    fake.client.list_tables(ExclusiveStartTableName="abc", Limit=5)
    listing = parse_request(*fake.last_request())
    assert (listing.exclusive_start_table_name, listing.limit) == ("abc", 5)
