"""Outcome classification: what the history may honestly claim after each kind of failure."""

from __future__ import annotations

import random

import pytest
from botocore import exceptions as botocore_exceptions
from greenlet import GreenletExit

from loadgen.operations import UniqueValues
from loadgen.outcomes import Failure, FailureKind, classify, failure_from_exception
from loadgen.register_workload import RegisterWeights, RegisterWorkload

WRITES = ("write", "cas", "add", "incr", "transfer", "txn")
READS = ("read", "read-set")


def service_error(code: str, status: int) -> Failure:
    return Failure(FailureKind.SERVICE_ERROR, code, status)


@pytest.mark.parametrize("function", WRITES)
@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Failure(FailureKind.CONNECTION_REFUSED), "fail"),
        (Failure(FailureKind.CONNECT_TIMEOUT), "fail"),
        (Failure(FailureKind.READ_TIMEOUT), "info"),
        (Failure(FailureKind.CONNECTION_LOST), "info"),
        (Failure(FailureKind.INTERRUPTED), "info"),
        (Failure(FailureKind.UNEXPECTED), "info"),
        (service_error("ConditionalCheckFailedException", 400), "fail"),
        (service_error("ValidationException", 400), "fail"),
        (service_error("ResourceNotFoundException", 400), "fail"),
        (service_error("ProvisionedThroughputExceededException", 400), "fail"),
        (service_error("ThrottlingException", 400), "fail"),
        (service_error("SomeFutureRejection", 400), "fail"),
        (service_error("InternalServerError", 500), "info"),
        (service_error("ServiceUnavailable", 503), "info"),
        (service_error("ThrottlingException", None), "fail"),
        (service_error(None, None), "info"),  # no code, no status: cannot prove it was rejected
        (service_error("TransactionCanceledException", 400), "fail"),
        # A 400 that proves nothing: the transaction under the same token is undecided and may commit.
        (service_error("TransactionInProgressException", 400), "info"),
    ],
)
def test_loadgen_write_outcomes(function: str, failure: Failure, expected: str) -> None:
    assert classify(function, failure) == expected


@pytest.mark.parametrize("function", READS)
@pytest.mark.parametrize("kind", list(FailureKind))
def test_loadgen_any_read_error_is_fail(function: str, kind: FailureKind) -> None:
    assert classify(function, Failure(kind, "InternalServerError", 500)) == "fail"


def client_error(code: str, status: int) -> botocore_exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore_exceptions.ClientError(response, "PutItem")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (botocore_exceptions.EndpointConnectionError(endpoint_url="u"), Failure(FailureKind.CONNECTION_REFUSED)),
        (botocore_exceptions.ConnectTimeoutError(endpoint_url="u"), Failure(FailureKind.CONNECT_TIMEOUT)),
        (botocore_exceptions.ReadTimeoutError(endpoint_url="u"), Failure(FailureKind.READ_TIMEOUT)),
        (botocore_exceptions.ConnectionClosedError(endpoint_url="u"), Failure(FailureKind.CONNECTION_LOST)),
        (botocore_exceptions.ProxyConnectionError(proxy_url="p"), Failure(FailureKind.UNEXPECTED)),
        (client_error("ValidationException", 400), service_error("ValidationException", 400)),
        (client_error("InternalServerError", 500), service_error("InternalServerError", 500)),
        (GreenletExit(), Failure(FailureKind.INTERRUPTED)),
        (ValueError("bad answer"), Failure(FailureKind.UNEXPECTED)),
    ],
)
def test_loadgen_exception_mapping(error: BaseException, expected: Failure) -> None:
    assert failure_from_exception(error) == expected


def test_loadgen_unique_values_blocks_do_not_overlap() -> None:
    first, second = UniqueValues(0), UniqueValues(1)
    drawn = [first.next() for _ in range(1000)] + [second.next() for _ in range(1000)]
    assert len(set(drawn)) == 2000


def test_loadgen_register_cas_expects_a_value_it_saw() -> None:
    workload = RegisterWorkload(1, RegisterWeights(read=0, write=0, cas=1), UniqueValues(0), random.Random(7))
    first = workload.plan()
    assert first.function == "read"  # nothing known yet: a cas on null could never succeed
    workload.observe(first, "ok", 41)
    cas = workload.plan()
    assert cas.function == "cas" and cas.value[0] == 41 and cas.value[1] != 41
    workload.observe(cas, "fail", cas.value)  # a failed cas teaches nothing
    assert workload.plan().value[0] == 41
    workload.observe(cas, "ok", cas.value)
    assert workload.plan().value[0] == cas.value[1]
