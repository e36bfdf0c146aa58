"""Classify a failed DynamoDB request as `fail` (did not happen) or `info` (may have happened).

Pure: no sockets, no clock. The client layer turns an exception into a `Failure` with
`failure_from_exception`, and `classify` decides what the history may honestly claim.
The rule of thumb (Jepsen's): claim `fail` only when the request provably changed nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from botocore import exceptions as botocore_exceptions

Outcome = Literal["ok", "fail", "info"]

# Functions that change nothing: any error means the read simply did not happen.
READ_FUNCTIONS = frozenset({"read", "read-set", "read-index"})

# DynamoDB error codes that mean "rejected before execution" (or, for the conditional check,
# "evaluated and did not apply"). A 4xx code outside this list is also a rejection by
# DynamoDB's contract; the list exists so the intent is explicit and tested.
REJECTION_CODES = frozenset(
    {
        "ConditionalCheckFailedException",
        "ValidationException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "SerializationException",
        "ItemCollectionSizeLimitExceededException",
        "TransactionConflictException",
        # A cancelled transaction never commits: only its coordinator asks for a commit, and it did not.
        "TransactionCanceledException",
        "IdempotentParameterMismatchException",
    }
)
# 4xx codes that do not mean "did not happen": the transaction under this token is still undecided.
UNDECIDED_CODES = frozenset({"TransactionInProgressException"})


class FailureKind(enum.Enum):
    CONNECTION_REFUSED = "connection-refused"  # no connection: nothing was sent
    CONNECT_TIMEOUT = "connect-timeout"  # no connection within the timeout: nothing was sent
    READ_TIMEOUT = "read-timeout"  # sent, no answer in time
    CONNECTION_LOST = "connection-lost"  # connection closed before a complete answer
    SERVICE_ERROR = "service-error"  # the server answered with a DynamoDB error
    INTERRUPTED = "interrupted"  # our side gave up mid-request (user stopped, greenlet killed)
    UNEXPECTED = "unexpected"  # anything else (malformed answer, checksum mismatch, ...)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    error_code: str | None = None  # DynamoDB's __type suffix, e.g. "ValidationException"
    http_status: int | None = None

    def describe(self) -> str:
        if self.kind is FailureKind.SERVICE_ERROR:
            return f"{self.error_code} (HTTP {self.http_status})"
        return self.kind.value


def classify(function: str, failure: Failure) -> Literal["fail", "info"]:
    """What a history may claim about an operation whose request ended in `failure`."""
    if function in READ_FUNCTIONS:
        return "fail"  # a read that returned nothing constrains nothing
    if failure.kind in (FailureKind.CONNECTION_REFUSED, FailureKind.CONNECT_TIMEOUT):
        return "fail"
    if failure.kind is FailureKind.SERVICE_ERROR:
        if failure.error_code in UNDECIDED_CODES:
            return "info"
        if failure.error_code in REJECTION_CODES:
            return "fail"
        if failure.http_status is not None and 400 <= failure.http_status < 500:
            return "fail"
        return "info"  # 5xx or unknown status: the write may have been applied before the error
    return "info"


def failure_from_exception(error: BaseException) -> Failure:
    """Map botocore's exception types (see botocore/httpsession.py) onto `FailureKind`."""
    if isinstance(error, botocore_exceptions.ClientError):
        details = error.response.get("Error", {})
        metadata = error.response.get("ResponseMetadata", {})
        status = metadata.get("HTTPStatusCode")
        return Failure(
            FailureKind.SERVICE_ERROR,
            error_code=details.get("Code") or None,
            http_status=status if isinstance(status, int) else None,
        )
    # ConnectTimeoutError subclasses ConnectionError like EndpointConnectionError: test it first.
    if isinstance(error, botocore_exceptions.ConnectTimeoutError):
        return Failure(FailureKind.CONNECT_TIMEOUT)
    if isinstance(error, botocore_exceptions.ReadTimeoutError):
        return Failure(FailureKind.READ_TIMEOUT)
    if isinstance(error, botocore_exceptions.ConnectionClosedError):
        return Failure(FailureKind.CONNECTION_LOST)
    if isinstance(error, botocore_exceptions.ProxyConnectionError | botocore_exceptions.SSLError):
        # A proxy or TLS failure can happen after bytes left this machine: not provably unsent.
        return Failure(FailureKind.UNEXPECTED)
    if isinstance(error, botocore_exceptions.EndpointConnectionError):
        return Failure(FailureKind.CONNECTION_REFUSED)
    if not isinstance(error, Exception):  # GreenletExit, KeyboardInterrupt, SystemExit
        return Failure(FailureKind.INTERRUPTED)
    return Failure(FailureKind.UNEXPECTED)
