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


class ApiError(Exception):
    """Base of every error that travels back to a DynamoDB client."""

    code: ClassVar[str] = "InternalServerError"
    http_status: ClassVar[int] = 500
    type_prefix: ClassVar[str] = DYNAMODB_PREFIX

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"__type": f"{self.type_prefix}#{self.code}", "message": self.message}

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


class ResourceInUseException(ApiError):
    code = "ResourceInUseException"
    http_status = 400


class ConditionalCheckFailedException(ApiError):
    """A condition evaluated to false; `item` is the old item when the client asked for
    ReturnValuesOnConditionCheckFailure=ALL_OLD (and an item existed)."""

    code = "ConditionalCheckFailedException"
    http_status = 400

    def __init__(
        self, message: str = "The conditional request failed", item: dict[str, Any] | None = None
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


def validation_errors_detected(problems: list[str]) -> ValidationException:
    """DynamoDB's wording for failed member constraints: '2 validation errors detected: a; b'."""
    noun = "error" if len(problems) == 1 else "errors"
    return ValidationException(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))
