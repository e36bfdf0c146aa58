"""TransactWriteItems and TransactGetItems parsing, the transaction errors, and their wire shapes
through a real botocore client (the in-process FakeDynamoDB of test_api_botocore_wire)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cluster.api import errors
from cluster.api.errors import ValidationException
from cluster.api.request_types import ConditionSource, TransactWriteItemsRequest, UpdateSource
from cluster.api.transact_requests import (
    duplicate_item_error,
    parse_transact_get_items,
    parse_transact_write_items,
)
from tests.api.test_api_botocore_wire import FakeDynamoDB

Body = dict[str, Any]
KEY = {"id": {"S": "a"}}


def put(**changes: Any) -> Body:
    return {"Put": {"TableName": "things", "Item": {"id": {"S": "p"}, "n": {"N": "1"}}, **changes}}


def update(**changes: Any) -> Body:
    action = {
        "TableName": "things",
        "Key": KEY,
        "UpdateExpression": "SET #name = :name",
        "ExpressionAttributeNames": {"#name": "name"},
        "ExpressionAttributeValues": {":name": {"S": "x"}},
        **changes,
    }
    return {"Update": {name: value for name, value in action.items() if value is not None}}


def delete(**changes: Any) -> Body:
    return {"Delete": {"TableName": "things", "Key": {"id": {"S": "d"}}, **changes}}


def check(**changes: Any) -> Body:
    action = {"TableName": "things", "Key": {"id": {"S": "c"}}, "ConditionExpression": "attribute_exists(id)"}
    action.update(changes)
    return {"ConditionCheck": {name: value for name, value in action.items() if value is not None}}


def get(**changes: Any) -> Body:
    action = {"TableName": "things", "Key": KEY, **changes}
    return {"Get": {name: value for name, value in action.items() if value is not None}}


def writes_body(*items: Any, **members: Any) -> Body:
    return {"TransactItems": list(items), **members}


def rejects(parse: Callable[[Body], object], body: Body) -> str:
    with pytest.raises(ValidationException) as raised:
        parse(body)
    return raised.value.message


def one_problem(problem: str) -> str:
    return f"1 validation error detected: {problem}"


# ---------------------------------------------------------------------------- TransactWriteItems


def test_api_transact_writes_parse_into_typed_actions_in_order() -> None:
    request = parse_transact_write_items(
        writes_body(
            put(ConditionExpression="attribute_not_exists(id)"),
            update(),
            delete(ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            check(),
            ClientRequestToken="token-1",
            ReturnConsumedCapacity="TOTAL",
            ReturnItemCollectionMetrics="SIZE",
        )
    )
    assert request.client_request_token == "token-1"
    assert [write.kind for write in request.writes] == ["Put", "Update", "Delete", "ConditionCheck"]
    put_write, update_write, delete_write, check_write = request.writes
    assert (put_write.key, put_write.item) == (None, {"id": {"S": "p"}, "n": {"N": "1"}})
    assert put_write.condition == ConditionSource("attribute_not_exists(id)", None, None)
    assert (update_write.key, update_write.item, update_write.condition) == (KEY, None, None)
    assert update_write.update == UpdateSource("SET #name = :name", {"#name": "name"}, {":name": {"S": "x"}})
    assert (delete_write.key, delete_write.condition, delete_write.return_on_failure) == (
        {"id": {"S": "d"}},
        None,
        "ALL_OLD",
    )
    assert check_write.condition is not None and check_write.condition.expression == "attribute_exists(id)"
    assert {write.table_name for write in request.writes} == {"things"}
    assert put_write.return_on_failure == check_write.return_on_failure == "NONE"


def test_api_transact_update_splits_shared_placeholders_between_its_two_expressions() -> None:
    # Each source keeps only its own placeholders, so each re-parses alone on a replica.
    request = parse_transact_write_items(
        writes_body(
            update(
                ConditionExpression="#count < :limit",
                ExpressionAttributeNames={"#name": "name", "#count": "count"},
                ExpressionAttributeValues={":name": {"S": "x"}, ":limit": {"N": "10"}},
            )
        )
    )
    write = request.writes[0]
    assert write.update == UpdateSource("SET #name = :name", {"#name": "name"}, {":name": {"S": "x"}})
    assert write.condition == ConditionSource("#count < :limit", {"#count": "count"}, {":limit": {"N": "10"}})
    assert write.update is not None and write.condition is not None
    write.update.parse()
    write.condition.parse()


def test_api_transact_items_and_keys_are_normalized_like_put_item() -> None:
    request = parse_transact_write_items(
        writes_body(put(Item={"id": {"S": "p"}, "n": {"N": "01.50"}}), delete(Key={"id": {"N": "2.0"}}))
    )
    assert request.writes[0].item == {"id": {"S": "p"}, "n": {"N": "1.5"}}
    assert request.writes[1].key == {"id": {"N": "2"}}


def test_api_transact_legacy_and_foreign_members_are_ignored_not_applied() -> None:
    # They are not members of the transaction shapes: DynamoDB ignores them, so must we (never act on them).
    request = parse_transact_write_items(
        writes_body(
            put(Expected={"id": {"Exists": False}}, ReturnValues="ALL_OLD"),
            update(AttributeUpdates={"x": {"Action": "DELETE"}}, ConditionalOperator="OR"),
        )
    )
    assert request.writes[0].condition is None
    assert request.writes[1].update is not None
    assert request.writes[1].update.expression == "SET #name = :name"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {},
            one_problem(
                "Value null at 'transactItems' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            writes_body(),
            one_problem(
                "Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1"
            ),
        ),
        (
            writes_body({}),
            "Invalid Request: TransactWriteRequest should contain Delete or Put or Update request",
        ),
        (
            writes_body({"PUT": put()["Put"]}),
            "Invalid Request: TransactWriteRequest should contain Delete or Put or Update request",
        ),
        (
            writes_body({**put(), **delete()}),
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ),
        (
            writes_body(put(), {**update(), **check()}),
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ),
        (
            writes_body(put(), update(UpdateExpression=None)),
            one_problem(
                "Value null at 'transactItems.2.member.update.updateExpression' failed to satisfy constraint: "
                "Member must not be null"
            ),
        ),
        (
            writes_body(check(ConditionExpression=None)),
            one_problem(
                "Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy "
                "constraint: Member must not be null"
            ),
        ),
        (
            writes_body({"Put": {"TableName": "things"}}),
            one_problem(
                "Value null at 'transactItems.1.member.put.item' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            writes_body({"Delete": {"TableName": "things"}}),
            one_problem(
                "Value null at 'transactItems.1.member.delete.key' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            writes_body(put(), update(TableName="bad!name")),
            one_problem(
                "Value 'bad!name' at 'transactItems.2.member.update.tableName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
            ),
        ),
        (
            writes_body(check(ReturnValuesOnConditionCheckFailure="ALL_NEW")),
            one_problem(
                "Value 'ALL_NEW' at 'transactItems.1.member.conditionCheck.returnValuesOnConditionCheckFailure' "
                "failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
            ),
        ),
        (
            writes_body(put(), ReturnConsumedCapacity="BOGUS"),
            one_problem(
                "Value 'BOGUS' at 'returnConsumedCapacity' failed to satisfy constraint: "
                "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
            ),
        ),
        (
            writes_body(put(), ReturnItemCollectionMetrics="BOGUS"),
            one_problem(
                "Value 'BOGUS' at 'returnItemCollectionMetrics' failed to satisfy constraint: "
                "Member must satisfy enum value set: [SIZE, NONE]"
            ),
        ),
        (
            writes_body(put(), ClientRequestToken="x" * 37),
            one_problem(
                f"Value '{'x' * 37}' at 'clientRequestToken' failed to satisfy constraint: "
                "Member must have length less than or equal to 36"
            ),
        ),
        (
            writes_body(put(), ClientRequestToken=""),
            one_problem(
                "Value '' at 'clientRequestToken' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            ),
        ),
        (
            writes_body(update(ExpressionAttributeValues={":name": {"S": "x"}, ":v": {"S": "y"}})),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}",
        ),
        (
            writes_body(check(ExpressionAttributeValues={":v": {"S": "x"}})),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}",
        ),
        (
            writes_body(delete(ExpressionAttributeNames={"#a": "a"})),
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            writes_body(check(ConditionExpression="attribute_not_exists(")),
            'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "("',
        ),
        (
            writes_body(put(ConditionExpression="")),
            "Invalid ConditionExpression: The expression can not be empty;",
        ),
        (
            writes_body(update(UpdateExpression="")),
            "Invalid UpdateExpression: The expression can not be empty;",
        ),
        (
            writes_body(put(Item={"id": {"S": "p"}, "blob": {"S": "x" * 400 * 1024}})),
            "Item size has exceeded the maximum allowed size",
        ),
    ],
)
def test_api_transact_write_validation(body: Body, message: str) -> None:
    assert rejects(parse_transact_write_items, body) == message


def test_api_transact_write_token_of_36_and_100_actions_are_accepted() -> None:
    request = parse_transact_write_items(
        writes_body(*[put(Item={"id": {"S": str(n)}}) for n in range(100)], ClientRequestToken="x" * 36)
    )
    assert len(request.writes) == 100


def test_api_transact_write_more_than_100_actions_names_the_limit_and_echoes_each_action_briefly() -> None:
    message = rejects(
        parse_transact_write_items, writes_body(*[put(Item={"id": {"S": str(n)}}) for n in range(101)])
    )
    assert message.startswith(
        "1 validation error detected: Value '[com.amazonaws.dynamodb.v20120810.TransactWriteItem@"
    )
    assert message.endswith(
        "]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"
    )
    assert message.count("TransactWriteItem@") == 101
    # Deterministic: the same request, the same message.
    again = rejects(
        parse_transact_write_items, writes_body(*[put(Item={"id": {"S": str(n)}}) for n in range(101)])
    )
    assert again == message


def test_api_duplicate_item_error_is_dynamodbs_validation_exception() -> None:
    error = duplicate_item_error()
    assert type(error) is ValidationException
    assert error.message == "Transaction request cannot include multiple operations on one item"


# ---------------------------------------------------------------------------- digest


def parsed_digest(body: Body) -> str:
    return parse_transact_write_items(body).digest()


BASE = writes_body(
    put(ConditionExpression="attribute_not_exists(id)"), update(), delete(), check(), ClientRequestToken="t1"
)


def test_api_digest_is_stable_for_equal_requests_and_ignores_token_and_return_options() -> None:
    digest = parsed_digest(BASE)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert parsed_digest(copy.deepcopy(BASE)) == digest
    assert parsed_digest({**BASE, "ClientRequestToken": "another"}) == digest
    assert parsed_digest({**BASE, "ClientRequestToken": None}) == digest
    assert (
        parsed_digest({**BASE, "ReturnConsumedCapacity": "TOTAL", "ReturnItemCollectionMetrics": "SIZE"})
        == digest
    )
    # Placeholder maps in another order are the same parameters.
    reordered = copy.deepcopy(BASE)
    reordered["TransactItems"][1]["Update"]["ExpressionAttributeNames"] = {"#name": "name"}
    assert parsed_digest(reordered) == digest


def changed(position: int, kind: str, **members: Any) -> Body:
    body = copy.deepcopy(BASE)
    body["TransactItems"][position][kind].update(members)
    return body


@pytest.mark.parametrize(
    "different",
    [
        changed(0, "Put", Item={"id": {"S": "p"}, "n": {"N": "2"}}),
        changed(0, "Put", TableName="others"),
        changed(0, "Put", ConditionExpression="attribute_exists(id)"),
        changed(0, "Put", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        changed(1, "Update", Key={"id": {"S": "b"}}),
        changed(1, "Update", ExpressionAttributeValues={":name": {"S": "y"}}),
        changed(1, "Update", ExpressionAttributeNames={"#name": "other"}),
        changed(2, "Delete", ConditionExpression="attribute_exists(id)"),
        changed(3, "ConditionCheck", ConditionExpression="attribute_not_exists(id)"),
        {**BASE, "TransactItems": BASE["TransactItems"][:3]},
        {**BASE, "TransactItems": list(reversed(BASE["TransactItems"]))},
    ],
)
def test_api_digest_changes_when_any_write_changes(different: Body) -> None:
    assert parsed_digest(different) != parsed_digest(BASE)


def test_api_digest_tells_apart_actions_that_differ_only_in_kind() -> None:
    same_key_and_condition = {"Key": {"id": {"S": "d"}}, "ConditionExpression": "attribute_exists(id)"}
    as_delete = parsed_digest(writes_body(delete(**same_key_and_condition)))
    as_check = parsed_digest(writes_body(check(**same_key_and_condition)))
    assert as_delete != as_check


def test_api_digest_is_a_pure_function_of_the_writes() -> None:
    request = parse_transact_write_items(BASE)
    rebuilt = TransactWriteItemsRequest(writes=request.writes, client_request_token=None)
    assert rebuilt.digest() == request.digest()


# ---------------------------------------------------------------------------- TransactGetItems


def test_api_transact_gets_parse_with_projection_and_names() -> None:
    request = parse_transact_get_items(
        {
            "TransactItems": [
                get(ProjectionExpression="#a, b.c", ExpressionAttributeNames={"#a": "alpha"}),
                get(TableName="others", Key={"id": {"N": "1.50"}}),
            ],
            "ReturnConsumedCapacity": "INDEXES",
        }
    )
    first, second = request.gets
    assert (first.table_name, first.key, first.projection) == ("things", KEY, (("alpha",), ("b", "c")))
    assert (second.table_name, second.projection) == ("others", None)
    assert (
        second.key == parse_transact_get_items({"TransactItems": [get(Key={"id": {"N": "1.5"}})]}).gets[0].key
    )


def test_api_transact_get_ignores_members_a_get_does_not_have() -> None:
    request = parse_transact_get_items(
        {
            "TransactItems": [
                get(AttributesToGet=["x"], ExpressionAttributeValues={":v": {"S": "x"}}, ConsistentRead=True)
            ]
        }
    )
    assert request.gets[0].projection is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {},
            one_problem(
                "Value null at 'transactItems' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            {"TransactItems": []},
            one_problem(
                "Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1"
            ),
        ),
        (
            {"TransactItems": [get(), {}]},
            one_problem(
                "Value null at 'transactItems.2.member.get' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            {"TransactItems": [get(Key=None)]},
            one_problem(
                "Value null at 'transactItems.1.member.get.key' failed to satisfy constraint: Member must not be null"
            ),
        ),
        (
            {"TransactItems": [get(TableName="x")]},
            one_problem(
                "Value 'x' at 'transactItems.1.member.get.tableName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 3"
            ),
        ),
        (
            {"TransactItems": [get(ProjectionExpression="a", ExpressionAttributeNames={"#b": "b"})]},
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}",
        ),
        (
            {"TransactItems": [get(ExpressionAttributeNames={"#b": "b"})]},
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            {"TransactItems": [get()], "ReturnConsumedCapacity": "ALL"},
            one_problem(
                "Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: "
                "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
            ),
        ),
    ],
)
def test_api_transact_get_validation(body: Body, message: str) -> None:
    assert rejects(parse_transact_get_items, body) == message


def test_api_transact_get_more_than_100_is_refused() -> None:
    message = rejects(
        parse_transact_get_items, {"TransactItems": [get(Key={"id": {"S": str(n)}}) for n in range(101)]}
    )
    assert message.count("com.amazonaws.dynamodb.v20120810.TransactGetItem@") == 101
    assert message.endswith("Member must have length less than or equal to 100")


# ---------------------------------------------------------------------------- errors and reasons


def test_api_cancellation_message_lists_every_reason_code_in_order() -> None:
    reasons = [
        errors.reason_none(),
        errors.reason_condition_failed({"id": {"S": "a"}}),
        errors.reason_conflict(),
        errors.reason_validation("Item size to update has exceeded the maximum allowed size"),
    ]
    error = errors.TransactionCanceledException(reasons)
    assert error.message == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed, TransactionConflict, ValidationError]"
    )
    assert error.http_status == 400
    assert error.body()["CancellationReasons"] == reasons
    assert reasons[0] == {"Code": "None"}
    assert reasons[1] == {
        "Code": "ConditionalCheckFailed",
        "Message": "The conditional request failed",
        "Item": {"id": {"S": "a"}},
    }
    assert errors.reason_condition_failed(None) == {
        "Code": "ConditionalCheckFailed",
        "Message": "The conditional request failed",
    }
    assert reasons[2] == {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    assert reasons[3]["Code"] == "ValidationError"


@pytest.fixture(scope="module")
def fake() -> FakeDynamoDB:
    # One client for the module: creating a botocore client is most of this file's run time.
    return FakeDynamoDB()


def put_one(fake: FakeDynamoDB) -> None:
    fake.client.put_item(TableName="things", Item={"id": {"S": "a"}})


def transact_one(fake: FakeDynamoDB) -> None:
    fake.client.transact_write_items(
        TransactItems=[{"Put": {"TableName": "things", "Item": {"id": {"S": "a"}}}}]
    )


def test_api_botocore_reads_cancellation_reasons(fake: FakeDynamoDB) -> None:
    reasons = [errors.reason_none(), errors.reason_condition_failed({"id": {"S": "a"}, "n": {"N": "3"}})]
    error = errors.TransactionCanceledException(reasons)
    fake.status, fake.body = error.http_status, error.body()
    with pytest.raises(fake.client.exceptions.TransactionCanceledException) as raised:
        transact_one(fake)
    response = raised.value.response
    assert response["Error"] == {"Code": "TransactionCanceledException", "Message": error.message}
    assert response["Message"] == error.message  # the modeled member, as the real service sends it
    assert response["CancellationReasons"] == reasons


@pytest.mark.parametrize(
    ("error", "send"),
    [
        # A single-item write meets a transaction's item; the others answer TransactWriteItems.
        (errors.TransactionConflictException(), put_one),
        (errors.IdempotentParameterMismatchException(), transact_one),
        (errors.TransactionInProgressException(), transact_one),
    ],
    ids=lambda value: type(value).__name__,
)
def test_api_botocore_raises_the_modeled_transaction_errors(
    fake: FakeDynamoDB, error: errors.ApiError, send: Callable[[FakeDynamoDB], None]
) -> None:
    fake.status, fake.body = error.http_status, error.body()
    with pytest.raises(getattr(fake.client.exceptions, error.code)) as raised:
        send(fake)
    assert raised.value.response["Error"] == {"Code": error.code, "Message": error.message}
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_api_transaction_conflict_default_message() -> None:
    assert errors.TransactionConflictException().message == "Transaction is ongoing for the item"


def test_api_parsers_accept_what_botocore_sends(fake: FakeDynamoDB) -> None:
    fake.status, fake.body = 200, {}
    fake.client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "things",
                    "Key": {"id": {"S": "a"}},
                    "UpdateExpression": "ADD #c :one",
                    "ConditionExpression": "attribute_exists(id)",
                    "ExpressionAttributeNames": {"#c": "count"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": "things",
                    "Key": {"id": {"S": "b"}},
                    "ConditionExpression": "attribute_exists(id)",
                }
            },
        ]
    )
    operation, sent = fake.last_request()
    assert operation == "TransactWriteItems"
    request = parse_transact_write_items(sent)
    # botocore fills the idempotency token itself when the caller gives none: every SDK write carries one.
    assert request.client_request_token is not None and len(request.client_request_token) == 36
    assert [write.kind for write in request.writes] == ["Update", "ConditionCheck"]
    assert request.writes[0].return_on_failure == "ALL_OLD"
    fake.body = {"Responses": [{}]}
    fake.client.transact_get_items(
        TransactItems=[{"Get": {"TableName": "things", "Key": {"id": {"S": "a"}}}}]
    )
    operation, sent = fake.last_request()
    assert operation == "TransactGetItems"
    assert parse_transact_get_items(sent).gets[0].key == {"id": {"S": "a"}}
