"""Typed DynamoDB errors and their wire shape.

Every error a router returns is one of these classes, so the HTTP status, the `__type`
string and the message are decided in one place. SDKs read only the part of `__type`
after the last `#` as the error code (botocore's JSON parser does exactly that), but we
keep the prefixes DynamoDB itself sends so captured traffic looks like the real service.
"""

from __future__ import annotations

from typing import Any, ClassVar

DYNAMODB_PREFIX = "com.amazonaws.dynamodb.v20120810"
CORAL_VALIDATE_PREFIX = "com.amazon.coral.validate"
CORAL_SERVICE_PREFIX = "com.amazon.coral.service"
CORAL_AVAILABILITY_PREFIX = "com.amazon.coral.availability"

# DynamoDB's messages for a failed condition and for an item a transaction holds, the same whether
# they come as an error of their own or as a transaction's cancellation reason.
CONDITIONAL_CHECK_FAILED_MESSAGE = "The conditional request failed"
TRANSACTION_CONFLICT_MESSAGE = "Transaction is ongoing for the item"


class ApiError(Exception):
    """Base of every error that travels back to a DynamoDB client."""

    code: ClassVar[str] = "InternalServerError"
    http_status: ClassVar[int] = 500
    type_prefix: ClassVar[str] = DYNAMODB_PREFIX
    # The member DynamoDB's model names the message by: "message" for most errors, "Message" for the
    # transaction ones; botocore reads either as the error's Message, and the modeled one as a field.
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"__type": f"{self.type_prefix}#{self.code}", self.message_key: self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationException(ApiError):
    code = "ValidationException"
    http_status = 400
    type_prefix = CORAL_VALIDATE_PREFIX


class SerializationException(ApiError):
    code = "SerializationException"
    http_status = 400
    type_prefix = CORAL_SERVICE_PREFIX


class UnknownOperationException(ApiError):
    code = "UnknownOperationException"
    http_status = 400
    type_prefix = CORAL_SERVICE_PREFIX


class ResourceNotFoundException(ApiError):
    code = "ResourceNotFoundException"
    http_status = 400

    def __init__(self, message: str = "Requested resource not found") -> None:
        super().__init__(message)


def table_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")


class ResourceInUseException(ApiError):
    code = "ResourceInUseException"
    http_status = 400


class ConditionalCheckFailedException(ApiError):
    """A condition evaluated to false; `item` is the old item when the client asked for
    ReturnValuesOnConditionCheckFailure=ALL_OLD (and an item existed)."""

    code = "ConditionalCheckFailedException"
    http_status = 400

    def __init__(
        self, message: str = CONDITIONAL_CHECK_FAILED_MESSAGE, item: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.item = item

    def body(self) -> dict[str, Any]:
        body = super().body()
        if self.item is not None:
            body["Item"] = self.item
        return body


class ProvisionedThroughputExceededException(ApiError):
    code = "ProvisionedThroughputExceededException"
    http_status = 400

    def __init__(
        self,
        message: str = (
            "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API."
        ),
    ) -> None:
        super().__init__(message)


class ThrottlingException(ApiError):
    """Control-plane rate limiting; botocore retries this code as a throttle."""

    code = "ThrottlingException"
    http_status = 400
    type_prefix = CORAL_AVAILABILITY_PREFIX


class LimitExceededException(ApiError):
    code = "LimitExceededException"
    http_status = 400


class InternalServerError(ApiError):
    code = "InternalServerError"
    http_status = 500

    def __init__(self, message: str = "Internal server error") -> None:
        super().__init__(message)


class ServiceUnavailable(ApiError):
    """No quorum or no leader reachable: botocore retries any 503, whatever the code."""

    code = "ServiceUnavailable"
    http_status = 503
    type_prefix = CORAL_AVAILABILITY_PREFIX

    def __init__(self, message: str = "Service unavailable") -> None:
        super().__init__(message)


class ItemCollectionSizeLimitExceededException(ApiError):
    """A write would grow an item collection (a table with LSIs) past its limit (cluster/api/item_collections.py)."""

    code = "ItemCollectionSizeLimitExceededException"
    http_status = 400

    # The API reference's description of the error; AWS's exact message is not verified here.
    def __init__(self, message: str = "An item collection is too large.") -> None:
        super().__init__(message)


# ---------------------------------------------------------------------------- transactions


class TransactionCanceledException(ApiError):
    """TransactWriteItems or TransactGetItems cancelled as a whole: one reason per action, in request
    order, so the client can see which action failed and why (see the reason_* constructors)."""

    code = "TransactionCanceledException"
    http_status = 400
    message_key = "Message"

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        codes = ", ".join(reason["Code"] for reason in reasons)
        super().__init__(
            f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
        )
        self.reasons = reasons

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["CancellationReasons"] = self.reasons
        return body


class TransactionConflictException(ApiError):
    """A single-item write (PutItem, UpdateItem, DeleteItem) met an item a transaction holds."""

    code = "TransactionConflictException"
    http_status = 400

    def __init__(self, message: str = TRANSACTION_CONFLICT_MESSAGE) -> None:
        super().__init__(message)


class IdempotentParameterMismatchException(ApiError):
    """A ClientRequestToken reused within its window with different parameters."""

    code = "IdempotentParameterMismatchException"
    http_status = 400
    message_key = "Message"

    def __init__(
        self,
        message: str = (
            "DynamoDB rejected the request because you retried a request with a different payload but "
            "with an idempotent token that was already used."
        ),
    ) -> None:
        super().__init__(message)


class TransactionInProgressException(ApiError):
    """The transaction of this ClientRequestToken is still running; the client retries later."""

    code = "TransactionInProgressException"
    http_status = 400
    message_key = "Message"

    def __init__(self, message: str = "Transaction from previous request is still in progress") -> None:
        super().__init__(message)


# ---------------------------------------------------------------------------- cancellation reasons
# The entries of TransactionCanceledException's CancellationReasons, by DynamoDB's codes and messages.


def reason_none() -> dict[str, Any]:
    """An action that did not fail: the literal string "None", and no Message at all (as DynamoDB)."""
    return {"Code": "None"}


def reason_condition_failed(item: dict[str, Any] | None) -> dict[str, Any]:
    """`item` is the old item, given when the action asked ReturnValuesOnConditionCheckFailure=ALL_OLD
    and an item existed."""
    reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": CONDITIONAL_CHECK_FAILED_MESSAGE}
    if item is not None:
        reason["Item"] = item
    return reason


def reason_conflict() -> dict[str, Any]:
    return {"Code": "TransactionConflict", "Message": TRANSACTION_CONFLICT_MESSAGE}


def reason_validation(message: str) -> dict[str, Any]:
    return {"Code": "ValidationError", "Message": message}


def reason_collection_too_large() -> dict[str, Any]:
    return {"Code": "ItemCollectionSizeLimitExceeded", "Message": ItemCollectionSizeLimitExceededException().message}


def validation_errors_detected(problems: list[str]) -> ValidationException:
    """DynamoDB's wording for failed member constraints: '2 validation errors detected: a; b'."""
    noun = "error" if len(problems) == 1 else "errors"
    return ValidationException(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))
