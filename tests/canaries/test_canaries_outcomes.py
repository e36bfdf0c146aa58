"""Classification of probe outcomes; the exceptions are real ones, raised by botocore against loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from canaries.outcomes import Operation, classify_exception, classify_read, item_sequence
from canaries.probe import make_dynamodb_client


def item(sequence: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": "k"}, "sequence": {"N": str(sequence)}}


def raised_by(endpoint_url: str, timeout_s: float = 0.3) -> Exception:
    client = make_dynamodb_client(endpoint_url, timeout_s)
    with pytest.raises(Exception) as caught:
        client.get_item(TableName="t", Key={"pk": {"S": "k"}})
    return caught.value


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A socket that listens but never answers: the kernel completes connects, reads time out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_refused_connection_is_named_connection_refused(closed_port: int) -> None:
    error = raised_by(f"http://127.0.0.1:{closed_port}")
    assert type(error).__name__ == "EndpointConnectionError"
    assert classify_exception(error) == "ConnectionRefused"


def test_unanswered_request_is_a_read_timeout(silent_listener: int) -> None:
    assert classify_exception(raised_by(f"http://127.0.0.1:{silent_listener}")) == "ReadTimeoutError"


def test_dynamodb_error_answer_is_named_by_its_code() -> None:
    error = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
    )
    assert classify_exception(error) == "ProvisionedThroughputExceededException"


def test_unexpected_exception_keeps_its_class_name() -> None:
    assert classify_exception(KeyError("Item")) == "KeyError"


@pytest.mark.parametrize(
    ("operation", "written", "read", "expected"),
    [
        ("consistent_read", 5, item(5), "ok"),
        ("eventual_read", 5, item(5), "ok"),
        ("consistent_read", 5, None, "mismatch"),
        ("eventual_read", 5, None, "stale"),
        ("consistent_read", 5, item(4), "mismatch"),
        ("eventual_read", 5, item(4), "stale"),
        ("eventual_read", 5, item(6), "mismatch"),
        ("eventual_read", 5, {"pk": {"S": "k"}}, "mismatch"),
        # the write failed: any well-formed answer is acceptable
        ("consistent_read", None, None, "ok"),
        ("consistent_read", None, item(3), "ok"),
    ],
)
def test_classify_read(
    operation: Operation, written: int | None, read: dict[str, dict[str, str]] | None, expected: str
) -> None:
    assert classify_read(operation, written, read) == expected


@given(written=st.integers(1, 10**6), read=st.one_of(st.none(), st.integers(0, 10**6 + 1)))
def test_consistent_reads_are_never_stale_and_eventual_reads_only_mismatch_from_the_future(
    written: int, read: int | None
) -> None:
    answer = None if read is None else item(read)
    assert classify_read("consistent_read", written, answer) in {"ok", "mismatch"}
    eventual = classify_read("eventual_read", written, answer)
    assert (eventual == "mismatch") == (read is not None and read > written)


def test_item_sequence() -> None:
    assert item_sequence(None) is None
    assert item_sequence(item(7)) == 7
    with pytest.raises(ValueError):
        item_sequence({"pk": {"S": "k"}, "sequence": {"S": "7"}})
